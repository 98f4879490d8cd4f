//! The HTTP API: CloudEvents ingest, a live tap, status, error records, outside
//! subscriptions and the orchestrator probes.
//!
//! | route | what | module |
//! |---|---|---|
//! | `POST /v1/events/{topic}` | publish: binary, structured or batch CloudEvents; 202 once durable | `ingest` |
//! | `POST /v1/requests/{topic}?timeout=T` | request-reply: publish, then hold the caller until the reply | `requests` |
//! | `GET /v1/replies/{id}` | a reply that came after its caller stopped waiting | `requests` |
//! | `GET /v1/tap?pattern=P` | server-sent events of every event accepted on topics matching `P` | `tap` |
//! | `GET /v1/asyncapi.json` | the event catalog (AsyncAPI 3.0) of the running modules and the mesh link | `catalog` |
//! | `GET /v1/status` | modules, their versions and queue depths, refused files | `status` |
//! | `GET /v1/errors?module=&topic=&reason=&since=&until=&status=` | error records, filtered | `repair` |
//! | `GET /v1/errors/{module}[/{seq}]` | one module's records, or one record with its history | `repair` |
//! | `POST /v1/errors/replay`, `POST /v1/errors/purge` | the repair station | `repair` |
//! | `GET /v1/subscriptions`, `PUT`/`DELETE /v1/subscriptions/{name}` | outside consumers' subscriptions | `subscriptions` |
//! | `GET /v1/subscriptions/{name}/events?max=N`, `POST .../ack?upto=SEQ`, `GET .../stream` | pull, acknowledge, stream | `subscriptions` |
//! | `GET /v1/openapi.json` | this table as an OpenAPI 3.1 document, generated from the handlers | `openapi` |
//! | `GET /metrics` | Prometheus text format; a token granted `metrics` or admin when there are tokens | `metrics` |
//! | `GET /healthz`, `GET /readyz` | alive; ready (store open, modules loaded) | here |
//! | `GET /ui`, `POST /ui/sign-in` | the web dashboard (`weft_ops::dashboard`) | `weft-ops` |
//!
//! Every `/v1/*` route wants `Authorization: Bearer TOKEN` when the host config has
//! tokens; what each token may do is in [`crate::auth`]. Every error is a problem
//! answer ([`crate::problem`]). Handlers share [`AppState`]; nothing here is imported
//! by the modules it uses, so the graph stays one way:
//! `api → {auth, problem, subscriptions, supervisor::Board}`.

mod catalog;
pub mod extract;
mod ingest;
mod metrics;
pub mod openapi;
mod repair;
mod requests;
mod state;
mod status;
mod subscriptions;
mod tap;

use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};

pub use state::AppState;

use crate::problem::{Kind, problem};

/// Every route the host serves: the API, `hooks` (the webhook routes) beside
/// it, the answers for unknown paths and wrong methods, and [`ensure`] around
/// all of it, so that every error that leaves is a problem.
///
/// [`ensure`]: crate::problem::ensure
pub fn app(state: AppState, max_body: usize, hooks: Router) -> Router {
    let (auth, auth_405) = (state.auth.clone(), state.auth.clone());
    let dashboard = weft_ops::dashboard::router(state.auth.clone(), state.auth.sessions.clone());
    router(state, max_body)
        .merge(hooks)
        .merge(dashboard)
        .fallback(move |req: Request| not_found(auth.clone(), req))
        .method_not_allowed_fallback(move |req: Request| method_not_allowed(auth_405.clone(), req))
        .layer(axum::middleware::map_response(crate::problem::ensure))
}

/// An unknown path. Under `/v1` the caller is authenticated first: without a
/// known token it gets `401` (or a non-admin token `403`) whether the route
/// exists or not, so probing tells it nothing.
async fn not_found(auth: std::sync::Arc<crate::auth::Auth>, req: Request) -> Response {
    let path = req.uri().path();
    if path.starts_with("/v1/")
        && let Err(refused) = crate::auth::authorize(&auth, req.headers(), path)
    {
        return refused.into_response();
    }
    problem(
        Kind::NotFound,
        format!(
            "no route {} {path}: the API is under /v1 (events, requests, replies, tap, status, errors, subscriptions), webhooks under /hooks/NAME, probes at /healthz and /readyz",
            req.method()
        ),
    )
}

async fn method_not_allowed(auth: std::sync::Arc<crate::auth::Auth>, req: Request) -> Response {
    let path = req.uri().path();
    if path.starts_with("/v1/")
        && let Err(refused) = crate::auth::authenticate(&auth, req.headers(), path)
    {
        return refused.into_response();
    }
    problem(
        Kind::MethodNotAllowed,
        format!(
            "{} is not a method of {}: the `Allow` header lists those that are",
            req.method(),
            req.uri().path()
        ),
    )
}

/// Every `/v1` route, as axum writes its path. The OpenAPI document
/// ([`openapi::ApiDoc`]) must describe exactly these, with their methods:
/// `tests/openapi.rs` asks the running router about each.
fn v1() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/v1/events/{*topic}", post(ingest::ingest)),
        ("/v1/requests/{*topic}", post(requests::request)),
        ("/v1/replies/{id}", get(requests::fetch)),
        ("/v1/tap", get(tap::tap)),
        ("/v1/status", get(status::status)),
        ("/v1/asyncapi.json", get(catalog::asyncapi)),
        ("/v1/errors", get(repair::list)),
        ("/v1/errors/{module}", get(repair::list_module)),
        ("/v1/errors/{module}/{seq}", get(repair::show)),
        ("/v1/errors/replay", post(repair::replay)),
        ("/v1/errors/purge", post(repair::purge)),
        ("/v1/subscriptions", get(subscriptions::list)),
        (
            "/v1/subscriptions/{name}",
            put(subscriptions::put).delete(subscriptions::delete),
        ),
        ("/v1/subscriptions/{name}/events", get(subscriptions::pull)),
        ("/v1/subscriptions/{name}/ack", post(subscriptions::ack)),
        (
            "/v1/subscriptions/{name}/stream",
            get(subscriptions::stream),
        ),
        ("/v1/openapi.json", get(openapi::document)),
    ]
}

/// The paths of every `/v1` route the router has.
pub fn v1_paths() -> Vec<&'static str> {
    v1().into_iter().map(|(path, _)| path).collect()
}

fn router(state: AppState, max_body: usize) -> Router {
    v1().into_iter()
        .fold(Router::new(), |r, (path, handlers)| r.route(path, handlers))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::scrape))
        // Last, so that it wraps every route above: bearer tokens on `/v1/*`; the
        // guard lets other paths (probes, webhooks) through.
        .route_layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            crate::auth::guard,
        ))
        .route_layer(axum::middleware::from_fn(metrics::count))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

async fn readyz(State(app): State<AppState>) -> Response {
    if app.ready.load(Ordering::Relaxed) {
        "ready".into_response()
    } else {
        problem(Kind::Unavailable, "starting: the modules are being loaded")
    }
}

//! The HTTP API: CloudEvents ingest, a live tap, status, error records and the
//! orchestrator probes.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/events/{topic}` | publish: binary, structured or batch CloudEvents; 202 once durable |
//! | `GET /v1/tap?pattern=P` | server-sent events of every event accepted on topics matching `P` |
//! | `GET /v1/status` | modules, their versions and queue depths, refused files |
//! | `GET /v1/errors?module=&topic=&reason=&since=&until=&status=` | error records, filtered |
//! | `GET /v1/errors/{module}[/{seq}]` | one module's records, or one record with its history |
//! | `POST /v1/errors/replay`, `POST /v1/errors/purge` | the repair station (see `repair_api`) |
//! | `GET /v1/subscriptions/{name}/events?max=N` | pull: the oldest events of a configured subscription |
//! | `POST /v1/subscriptions/{name}/ack?upto=SEQ` | acknowledge (remove) them, up to and including `SEQ` |
//! | `GET /healthz`, `GET /readyz` | alive; ready (store open, modules loaded) |
//!
//! Every `/v1/*` route wants `Authorization: Bearer TOKEN` when the host config has
//! tokens; what each token may do is in [`crate::auth`].

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::auth::Access;
use crate::subscriptions;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use weft_core::{Full, Hub, Pattern, PublishError, Topic, cloudevents};

#[derive(Clone)]
pub struct AppState {
    pub hub: Hub,
    pub limits: cloudevents::Limits,
    pub ready: Arc<AtomicBool>,
    /// Modules, their versions and history, refused files: kept by the supervisor.
    pub board: crate::supervisor::Board,
    /// How often one event may be replayed from an error queue.
    pub max_replays: u32,
    pub subscriptions: Arc<crate::subscriptions::Registry>,
    /// Tells the host to stop (the store failed).
    pub fatal: tokio::sync::mpsc::Sender<String>,
    /// The API's tokens and grants (`auth`); empty: open, on loopback only.
    pub auth: Arc<crate::auth::Auth>,
}

pub fn router(state: AppState, max_body: usize) -> Router {
    Router::new()
        .route("/v1/events/{*topic}", post(ingest))
        .route("/v1/tap", get(tap))
        .route("/v1/status", get(status))
        .route("/v1/errors", get(crate::repair_api::list))
        .route("/v1/errors/{module}", get(crate::repair_api::list_module))
        .route("/v1/errors/{module}/{seq}", get(crate::repair_api::show))
        .route("/v1/errors/replay", post(crate::repair_api::replay))
        .route("/v1/errors/purge", post(crate::repair_api::purge))
        .route("/v1/subscriptions", get(subscriptions::list))
        .route(
            "/v1/subscriptions/{name}",
            axum::routing::put(subscriptions::put).delete(subscriptions::delete),
        )
        .route("/v1/subscriptions/{name}/events", get(subscriptions::pull))
        .route("/v1/subscriptions/{name}/ack", post(subscriptions::ack))
        .route(
            "/v1/subscriptions/{name}/stream",
            get(subscriptions::stream),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        // Last, so that it wraps every route above: bearer tokens on `/v1/*`; the
        // guard lets other paths (probes, webhooks) through.
        .route_layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            crate::auth::guard,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

pub(crate) fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn ingest(
    State(app): State<AppState>,
    Extension(access): Extension<Access>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let topic = match Topic::parse(&topic) {
        Ok(t) => t,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                format!("bad topic in the URL: {e}"),
            );
        }
    };
    if let Err(refused) = access.check_publish(topic.as_str()) {
        return refused.into_response();
    }
    let events = match cloudevents::decode(&headers, &body, &topic, &app.limits) {
        Ok(e) => e,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e.to_string()),
    };
    // Every event of a batch, whatever its topic: one refused, nothing stored.
    if let Some(refused) = events
        .iter()
        .find_map(|e| access.check_publish(&e.topic).err())
    {
        return refused.into_response();
    }
    match app.hub.publish(events).await {
        Ok(accepted) => (
            StatusCode::ACCEPTED,
            Json(json!({
                "accepted": accepted
                    .iter()
                    .map(|a| json!({ "id": a.id, "duplicate": a.duplicate }))
                    .collect::<Vec<_>>()
            })),
        )
            .into_response(),
        Err(e) => {
            tracing::debug!(%topic, "publish not accepted");
            refused(&app.fatal, e)
        }
    }
}

/// The answer to a publish the hub did not accept: `429`/`507` with
/// `Retry-After` for no room, `503` for a store failure (which, if the store
/// failed for good, also tells the host to stop). Ingest and webhooks share it.
pub(crate) fn refused(fatal: &tokio::sync::mpsc::Sender<String>, e: PublishError) -> Response {
    match e {
        PublishError::Full(full) => {
            let (status, retry_after) = match full {
                Full::Subscription { .. } => (StatusCode::TOO_MANY_REQUESTS, "1"),
                Full::Disk { .. } | Full::NoSpace { .. } => {
                    (StatusCode::INSUFFICIENT_STORAGE, "10")
                }
            };
            tracing::debug!(reason = %full, "publish refused for room");
            let mut r = problem(status, format!("nothing stored: {full}"));
            r.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static(retry_after),
            );
            r
        }
        PublishError::Store(e) => {
            tracing::error!(error = %e, "cannot store published events");
            if matches!(e, weft_store::Error::Failed(_)) {
                let _ = fatal.try_send(e.to_string());
            }
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not stored, publish again later: {e}"),
            )
        }
    }
}

#[derive(Deserialize)]
struct TapQuery {
    #[serde(default = "all")]
    pattern: String,
}

fn all() -> String {
    ">".into()
}

async fn tap(
    State(app): State<AppState>,
    Extension(access): Extension<Access>,
    Query(q): Query<TapQuery>,
) -> Response {
    let pattern = match Pattern::parse(&q.pattern) {
        Ok(p) => p,
        Err(e) => return problem(StatusCode::BAD_REQUEST, format!("bad tap pattern: {e}")),
    };
    if let Err(refused) = access.check_tap(&pattern) {
        return refused.into_response();
    }
    Sse::new(tap_stream(app.hub.tap(), TapFilter { pattern, access }))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// What a tap shows: topics matching its pattern that the caller's grants show.
struct TapFilter {
    pattern: Pattern,
    access: Access,
}

impl TapFilter {
    fn shows(&self, topic: &Topic) -> bool {
        self.pattern.matches(topic) && self.access.sees(topic)
    }
}

fn tap_stream(
    rx: tokio::sync::broadcast::Receiver<Arc<weft_core::Event>>,
    filter: TapFilter,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    futures::stream::unfold((rx, filter), |(mut rx, filter)| async move {
        loop {
            match rx.recv().await {
                Ok(event) => {
                    let Ok(topic) = Topic::parse(&event.topic) else {
                        continue;
                    };
                    if !filter.shows(&topic) {
                        continue;
                    }
                    let data = cloudevents::to_json(&event).to_string();
                    let sse = SseEvent::default()
                        .event("cloudevent")
                        .id(event.id.clone())
                        .data(data);
                    return Some((Ok(sse), (rx, filter)));
                }
                Err(RecvError::Lagged(n)) => {
                    // A tap is a live view: a viewer too slow to keep up is told
                    // what it missed rather than slowing the host down.
                    let sse = SseEvent::default()
                        .event("lagged")
                        .data(json!({ "skipped": n }).to_string());
                    return Some((Ok(sse), (rx, filter)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

async fn status(State(app): State<AppState>) -> Response {
    let store = app.hub.store();
    let now = chrono::Utc::now().timestamp_millis().max(0) as u64;
    let queue = |name: &str| {
        let Some(q) = store.queue_id(name) else {
            return json!({ "queue_depth": 0, "queued_bytes": 0, "oldest_age_ms": null });
        };
        let oldest = store
            .oldest(q)
            .ok()
            .flatten()
            .map(|t| now.saturating_sub(t));
        json!({ "queue_depth": store.depth(q), "queued_bytes": store.queued_bytes(q), "oldest_age_ms": oldest })
    };
    let merge = |mut base: serde_json::Value, extra: serde_json::Value| {
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        base
    };
    let modules: Vec<_> = app
        .board
        .modules()
        .into_iter()
        .map(|m| {
            let q = queue(&m.name);
            merge(serde_json::to_value(m).unwrap_or_default(), q)
        })
        .collect();
    let subscriptions: Vec<_> = store
        .queue_names()
        .into_iter()
        .filter_map(|(n, _)| match weft_core::QueueOwner::parse(&n) {
            Ok(weft_core::QueueOwner::Subscription(name)) => Some(name),
            _ => None,
        })
        .map(|name| {
            let q = queue(&weft_core::name::queue_of_subscription(&name));
            merge(json!({ "name": name }), q)
        })
        .collect();
    let refused = app.board.refused();
    Json(json!({
        "engine": store.engine_name(),
        "disk_usage_bytes": store.disk_usage(),
        "disk_free_bytes": store.disk_free(),
        "modules": modules,
        "subscriptions": subscriptions,
        "refused": refused,
    }))
    .into_response()
}

async fn readyz(State(app): State<AppState>) -> Response {
    if app.ready.load(Ordering::Relaxed) {
        "ready".into_response()
    } else {
        problem(StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

pub(crate) fn hundred() -> usize {
    100
}

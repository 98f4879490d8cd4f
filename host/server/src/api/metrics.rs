//! `GET /metrics`: the Prometheus text format (the exporter is `weft_ops::metrics`),
//! and the layer that counts HTTP requests by route pattern and status.
//!
//! The route is outside `/v1` (where Prometheus looks by default) and checks its
//! caller itself: open on a host without tokens, else a token granted `metrics`
//! or admin ([`crate::auth::authorize_metrics`]).

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use weft_core::name::QueueOwner;

use super::state::AppState;
use crate::problem::{Kind, problem};

pub async fn scrape(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(refused) = crate::auth::authorize_metrics(&app.auth, &headers) {
        return refused.into_response();
    }
    let Some(handle) = app.metrics.as_ref() else {
        return problem(
            Kind::NotFound,
            "metrics are off on this host (`[telemetry] metrics = false`)",
        );
    };
    let text = weft_ops::metrics::render(handle, &Scrape(&app));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The host's state as gauges, set at scrape time.
struct Scrape<'a>(&'a AppState);

impl weft_ops::metrics::Gauges for Scrape<'_> {
    fn set_gauges(&self) {
        let store = self.0.hub.store();
        let now = chrono::Utc::now().timestamp_millis().max(0) as u64;
        for (queue, id) in store.queue_names() {
            let (key, name) = match QueueOwner::parse(&queue) {
                Ok(QueueOwner::Module(n)) => ("module", n.as_str().to_owned()),
                Ok(QueueOwner::Subscription(n)) => ("subscription", n.as_str().to_owned()),
                Ok(QueueOwner::Export(n)) => ("export", n.as_str().to_owned()),
                Err(_) => continue,
            };
            let age = store
                .oldest(id)
                .ok()
                .flatten()
                .map_or(0.0, |t| now.saturating_sub(t) as f64 / 1000.0);
            metrics::gauge!("weft_queue_depth", key => name.clone()).set(store.depth(id) as f64);
            metrics::gauge!("weft_queue_bytes", key => name.clone())
                .set(store.queued_bytes(id) as f64);
            metrics::gauge!("weft_queue_oldest_age_seconds", key => name).set(age);
        }
        metrics::gauge!("weft_store_size_bytes").set(store.disk_usage() as f64);
    }
}

/// Counts each request by its route pattern (axum's `MatchedPath`, never the raw
/// path, so labels stay bounded) and status.
pub async fn count(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let response = next.run(req).await;
    if let Some(route) = route {
        let status = response.status().as_u16().to_string();
        metrics::counter!("weft_http_requests_total", "route" => route, "status" => status)
            .increment(1);
    }
    response
}

//! `GET /v1/status`: modules, subscriptions, queues, refused files and the disk.
//!
//! Besides its state, each module carries its totals since the host started
//! (`weft_core::counts::ModuleTotals`): `events_in` (taken off its queue, whatever
//! became of them), `events_out` (outputs stored or replies handed over),
//! `events_failed` (moved to its error queue) and `retries` (attempts that will be
//! tried again). Each subscription carries `delivered` (handed out; a repeated
//! pull counts again) and `acknowledged`. They are counted at the same points as
//! the Prometheus counters of `/metrics`; a client takes rates from two readings.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use weft_core::name::QueueOwner;

use super::state::AppState;

pub async fn status(State(app): State<AppState>) -> Response {
    let store = app.hub.store();
    let counts = app.hub.counts();
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
    let merge = |mut base: Value, extra: Value| {
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
            let q = match weft_core::Name::parse(&m.name) {
                Ok(name) => queue(&weft_core::name::queue_of_module(&name)),
                Err(_) => json!({}),
            };
            let totals = serde_json::to_value(counts.module_totals(&m.name)).unwrap_or_default();
            merge(
                merge(serde_json::to_value(m).unwrap_or_default(), q),
                totals,
            )
        })
        .collect();
    let subscriptions: Vec<_> = store
        .queue_names()
        .into_iter()
        .filter_map(|(n, _)| match QueueOwner::parse(&n) {
            Ok(QueueOwner::Subscription(name)) => Some((name, n)),
            _ => None,
        })
        .map(|(name, q)| {
            let totals = counts.subscription_totals(name.as_str());
            let totals = serde_json::to_value(totals).unwrap_or_default();
            merge(merge(json!({ "name": name }), queue(&q)), totals)
        })
        .collect();
    Json(json!({
        "engine": store.engine_name(),
        "disk_usage_bytes": store.disk_usage(),
        "disk_free_bytes": store.disk_free(),
        "modules": modules,
        "subscriptions": subscriptions,
        "refused": app.board.refused(),
        "mesh": app.mesh.as_ref().map(|m| m.status()),
        "auth": app.auth.refusals(),
        "requests": app.hub.replies().counts(),
    }))
    .into_response()
}

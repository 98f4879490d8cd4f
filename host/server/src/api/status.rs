//! `GET /v1/status`: modules, subscriptions, queues, refused files and the disk.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use weft_core::name::QueueOwner;

use super::state::AppState;

pub async fn status(State(app): State<AppState>) -> Response {
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
            merge(serde_json::to_value(m).unwrap_or_default(), q)
        })
        .collect();
    let subscriptions: Vec<_> = store
        .queue_names()
        .into_iter()
        .filter_map(|(n, _)| match QueueOwner::parse(&n) {
            Ok(QueueOwner::Subscription(name)) => Some((name, n)),
            _ => None,
        })
        .map(|(name, q)| merge(json!({ "name": name }), queue(&q)))
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

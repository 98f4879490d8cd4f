//! `GET /v1/status`: modules, subscriptions, queues, refused files and the disk.
//!
//! The answer is typed ([`Status`]) so that the OpenAPI document describes it
//! field by field; parts owned by other crates (the mesh's link, request-reply
//! counts, token refusals) are embedded as they serialize themselves.
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
use serde::Serialize;
use utoipa::ToSchema;
use weft_core::name::QueueOwner;

use super::state::AppState;
use crate::supervisor::{ModuleStatus, Refusal};

/// What a host is and holds right now.
#[derive(Serialize, ToSchema)]
pub struct Status {
    /// The store engine (`redb`, `sled`).
    engine: &'static str,
    disk_usage_bytes: u64,
    disk_free_bytes: Option<u64>,
    modules: Vec<ModuleRow>,
    subscriptions: Vec<SubscriptionRow>,
    /// Files of the modules folder that did not load, and why.
    refused: Vec<Refusal>,
    /// The link to other hosts, when the config has `[mesh]`.
    #[schema(value_type = Option<Object>)]
    mesh: Option<serde_json::Value>,
    /// Requests refused per token, and without a known token.
    #[schema(value_type = Object)]
    auth: serde_json::Value,
    /// Request-reply: callers waiting, answered, timed out.
    #[schema(value_type = Object)]
    requests: serde_json::Value,
}

/// A module and its input queue.
#[derive(Serialize, ToSchema)]
pub struct ModuleRow {
    #[serde(flatten)]
    module: ModuleStatus,
    #[serde(flatten)]
    queue: Queue,
    #[serde(flatten)]
    totals: ModuleTotals,
}

/// A module's totals since the host started.
#[derive(Serialize, ToSchema)]
pub struct ModuleTotals {
    /// Taken off its queue, whatever became of them.
    events_in: u64,
    /// Outputs stored, or replies handed over.
    events_out: u64,
    /// Moved to its error queue.
    events_failed: u64,
    /// Attempts that will be tried again.
    retries: u64,
}

/// A subscription's totals since the host started.
#[derive(Serialize, ToSchema)]
pub struct SubscriptionTotals {
    /// Handed out; a repeated pull counts again.
    delivered: u64,
    /// Acknowledged, and so removed from the queue.
    acknowledged: u64,
}

/// A subscription of an outside consumer and its queue.
#[derive(Serialize, ToSchema)]
pub struct SubscriptionRow {
    name: String,
    #[serde(flatten)]
    queue: Queue,
    #[serde(flatten)]
    totals: SubscriptionTotals,
}

/// What waits in a queue.
#[derive(Serialize, ToSchema, Default)]
pub struct Queue {
    queue_depth: u64,
    queued_bytes: u64,
    /// Age of the oldest waiting event; `null` when none waits.
    oldest_age_ms: Option<u64>,
}

#[utoipa::path(get, path = "/v1/status", tag = "status",
    responses(
        (status = 200, description = "The host's modules, subscriptions, queues, refused files and disk", body = Status),
    ))]
pub async fn status(State(app): State<AppState>) -> Json<Status> {
    let store = app.hub.store();
    let counts = app.hub.counts();
    let now = chrono::Utc::now().timestamp_millis().max(0) as u64;
    let queue = |name: &str| {
        let Some(q) = store.queue_id(name) else {
            return Queue::default();
        };
        Queue {
            queue_depth: store.depth(q),
            queued_bytes: store.queued_bytes(q),
            oldest_age_ms: store
                .oldest(q)
                .ok()
                .flatten()
                .map(|t| now.saturating_sub(t)),
        }
    };
    let modules = app
        .board
        .modules()
        .into_iter()
        .map(|m| {
            let q = match weft_core::Name::parse(&m.name) {
                Ok(name) => queue(&weft_core::name::queue_of_module(&name)),
                Err(_) => Queue::default(),
            };
            let t = counts.module_totals(&m.name);
            ModuleRow {
                module: m,
                queue: q,
                totals: ModuleTotals {
                    events_in: t.events_in,
                    events_out: t.events_out,
                    events_failed: t.events_failed,
                    retries: t.retries,
                },
            }
        })
        .collect();
    let subscriptions = store
        .queue_names()
        .into_iter()
        .filter_map(|(n, _)| match QueueOwner::parse(&n) {
            Ok(QueueOwner::Subscription(name)) => {
                let t = counts.subscription_totals(name.as_str());
                Some(SubscriptionRow {
                    name: name.to_string(),
                    queue: queue(&n),
                    totals: SubscriptionTotals {
                        delivered: t.delivered,
                        acknowledged: t.acknowledged,
                    },
                })
            }
            _ => None,
        })
        .collect();
    Json(Status {
        engine: store.engine_name(),
        disk_usage_bytes: store.disk_usage(),
        disk_free_bytes: store.disk_free(),
        modules,
        subscriptions,
        refused: app.board.refused(),
        mesh: app
            .mesh
            .as_ref()
            .and_then(|m| serde_json::to_value(m.status()).ok()),
        auth: app.auth.refusals(),
        requests: serde_json::to_value(app.hub.replies().counts()).unwrap_or_default(),
    })
}

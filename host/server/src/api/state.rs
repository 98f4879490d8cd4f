//! What every API handler shares.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use weft_core::{Hub, cloudevents};

use crate::auth::Auth;
use crate::subscriptions::Registry;
use crate::supervisor::Board;

#[derive(Clone)]
pub struct AppState {
    pub hub: Hub,
    pub limits: cloudevents::Limits,
    pub ready: Arc<AtomicBool>,
    /// Modules, their versions and history, refused files: kept by the supervisor.
    pub board: Board,
    /// How often one event may be replayed from an error queue.
    pub max_replays: u32,
    pub subscriptions: Arc<Registry>,
    /// Tells the host to stop (the store failed).
    pub fatal: tokio::sync::mpsc::Sender<String>,
    /// The API's tokens and grants; empty: open, on loopback only.
    pub auth: Arc<Auth>,
    /// How long request callers wait (`[requests]`).
    pub requests: crate::config::RequestsConfig,
    /// The link to other hosts, when the config has `[mesh]`.
    pub mesh: Option<weft_mesh::Mesh>,
    /// The Prometheus exporter's handle; none with `[telemetry] metrics = false`.
    pub metrics: Option<weft_ops::metrics::PrometheusHandle>,
}

impl AppState {
    /// Tells the host to stop when a store error means it failed for good:
    /// nothing more can be acknowledged safely.
    pub fn on_store_error(&self, e: &weft_store::Error) {
        if matches!(e, weft_store::Error::Failed(_)) {
            let _ = self.fatal.try_send(e.to_string());
        }
    }
}

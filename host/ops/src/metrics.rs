//! The Prometheus exporter behind `GET /metrics`.
//!
//! Counters and histograms are recorded where things happen (store, core, server)
//! through the `metrics` facade; this module installs the process's one recorder,
//! `metrics-exporter-prometheus`, and renders it in the text format. Gauges of
//! state that already lives elsewhere (queue depths, bytes, ages, the store's
//! size) are not tracked on every change: the host sets them at scrape time
//! through [`Gauges`], so they cost nothing between scrapes.
//!
//! The recorder is global to the process (the facade's design): installed once,
//! by the first host that asks; a second host in the same process (tests) shares
//! it. Without it every facade call is a no-op, which is what
//! `[telemetry] metrics = false` gives.

use std::sync::OnceLock;

pub use metrics_exporter_prometheus::PrometheusHandle;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// Bucket bounds (seconds) for every `_seconds` histogram: from a fast module
/// call (tens of microseconds) to a slow fsync or a guest near its time budget.
const SECONDS_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// Bucket bounds for counts per commit (group commit gathers up to thousands).
const COUNT_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// What the host tells the exporter at scrape time: the gauges of its state.
pub trait Gauges {
    /// Sets every gauge (`metrics::gauge!(...).set(...)`) to its current value.
    fn set_gauges(&self);
}

/// Installs the recorder (once per process) and returns its handle; `None` when
/// another recorder was installed first, which is logged.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_per_commit".into()), COUNT_BUCKETS))
                .map_err(|e| e.to_string())
                .and_then(|b| b.install_recorder().map_err(|e| e.to_string()));
            match built {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics exporter not installed: /metrics will be empty");
                    None
                }
            }
        })
        .clone()
}

/// The text a scrape gets: gauges set now, then everything in Prometheus' format.
pub fn render(handle: &PrometheusHandle, gauges: &dyn Gauges) -> String {
    gauges.set_gauges();
    handle.run_upkeep();
    handle.render()
}

/// The help lines Prometheus shows; names follow its conventions (`_total`,
/// `_seconds`, `_bytes`), labels are bounded (module, subscription, route).
fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "weft_module_events_in_total",
        "Events taken off a module's queue"
    );
    describe_counter!(
        "weft_module_events_out_total",
        "Events a module emitted that were stored or replied"
    );
    describe_counter!(
        "weft_module_events_failed_total",
        "Events moved to a module's error queue, by kind"
    );
    describe_counter!(
        "weft_module_retries_total",
        "Attempts that will be tried again"
    );
    describe_counter!(
        "weft_module_call_failures_total",
        "Calls into a module that failed whole (trap, timeout)"
    );
    describe_histogram!(
        "weft_module_call_duration_seconds",
        Unit::Seconds,
        "One call into a module (a batch on one lane)"
    );
    describe_counter!(
        "weft_subscription_delivered_total",
        "Events handed out to an outside subscription's readers"
    );
    describe_counter!(
        "weft_subscription_acknowledged_total",
        "Events an outside subscription's readers acknowledged"
    );
    describe_gauge!(
        "weft_queue_depth",
        "Events waiting in a module's or subscription's queue"
    );
    describe_gauge!(
        "weft_queue_bytes",
        Unit::Bytes,
        "Bytes waiting in a module's or subscription's queue"
    );
    describe_gauge!(
        "weft_queue_oldest_age_seconds",
        Unit::Seconds,
        "Age of the oldest event waiting"
    );
    describe_histogram!(
        "weft_store_commit_duration_seconds",
        Unit::Seconds,
        "One store commit (group commit, with its fsync)"
    );
    describe_histogram!(
        "weft_store_operations_per_commit",
        "Requests (appends, completions) one commit carried"
    );
    describe_histogram!(
        "weft_store_events_per_commit",
        "New events (published or a module's outputs) one commit stored"
    );
    describe_counter!(
        "weft_route_events_total",
        "Events stored for a route (a module's, subscription's or mesh export's patterns)"
    );
    describe_gauge!(
        "weft_module_instance_memory_bytes",
        Unit::Bytes,
        "Linear memory of a module's live instances after their last call"
    );
    describe_counter!(
        "weft_module_recycles_total",
        "Instances replaced at the memory watermark or after `recycle_after` calls"
    );
    describe_counter!(
        "weft_module_swaps_total",
        "New versions a module's worker took on (hot swap)"
    );
    describe_counter!(
        "weft_module_rollbacks_total",
        "New versions put back to the previous one after failing on probation"
    );
    describe_counter!(
        "weft_store_fsyncs_total",
        "Durable commits (fsyncs) of the store"
    );
    describe_gauge!(
        "weft_store_size_bytes",
        Unit::Bytes,
        "Size of the store's files on disk"
    );
    describe_counter!(
        "weft_http_requests_total",
        "HTTP requests by route pattern and status"
    );
}

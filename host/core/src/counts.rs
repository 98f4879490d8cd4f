//! What flows through the core, counted where it happens: totals per module and
//! per outside subscription since the host started.
//!
//! Each count is kept twice at the same point: in the hub, as plain totals that
//! `/v1/status` (and `weft top`, which reads it) shows for this host, and through
//! the `metrics` facade, which the Prometheus exporter renders when the server
//! installed one (without a recorder the facade's handles do nothing). The hub's
//! totals are per hub, so two hosts in one process (tests) do not mix them.
//!
//! The facade's handles are registered once per module or subscription, when its
//! worker or reader starts, so counting an event costs an atomic add, not a lookup
//! by name. Labels are the module's or subscription's name: bounded by what the
//! operator deployed, never a topic or an event id.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use serde::Serialize;

/// Why an event went to a module's error queue: the `kind` label of
/// `weft_module_events_failed_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// The module rejected it.
    Rejected,
    /// Its attempts ran out (retries, failed calls).
    GaveUp,
    /// An output was refused (an ungranted topic, a bad attribute).
    OutputRefused,
    /// The stored bytes could not be read by this build.
    Unreadable,
}

impl FailKind {
    const ALL: [FailKind; 4] = [
        FailKind::Rejected,
        FailKind::GaveUp,
        FailKind::OutputRefused,
        FailKind::Unreadable,
    ];

    pub fn label(self) -> &'static str {
        match self {
            FailKind::Rejected => "rejected",
            FailKind::GaveUp => "gave_up",
            FailKind::OutputRefused => "output_refused",
            FailKind::Unreadable => "unreadable",
        }
    }
}

/// A module's totals as status shows them.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ModuleTotals {
    /// Events taken off the module's queue, whatever became of them (handled,
    /// rejected, moved to the error queue).
    pub events_in: u64,
    /// Events the module emitted that were stored (or, for replies, handed to
    /// their caller).
    pub events_out: u64,
    /// Events moved to the module's error queue.
    pub events_failed: u64,
    /// Attempts that ended in a retry later (a `retry` outcome or a failed call).
    pub retries: u64,
}

/// An outside subscription's totals as status shows them.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct SubscriptionTotals {
    /// Events handed out (a pull repeated without acknowledging counts again).
    pub delivered: u64,
    /// Events acknowledged, and so removed from the queue.
    pub acknowledged: u64,
}

/// One module's counters; see the module docs.
pub struct ModuleCounts {
    events_in: AtomicU64,
    events_out: AtomicU64,
    events_failed: AtomicU64,
    retries: AtomicU64,
    m_in: Counter,
    m_out: Counter,
    m_failed: [Counter; 4],
    m_retries: Counter,
    m_call_failures: [Counter; 3],
    m_call_seconds: Histogram,
    m_memory: Gauge,
    m_recycles: Counter,
    m_swaps: Counter,
    m_rollbacks: Counter,
}

impl ModuleCounts {
    fn new(module: &str) -> Self {
        let m = module.to_owned();
        let failed = FailKind::ALL.map(|k| {
            counter!("weft_module_events_failed_total", "module" => m.clone(), "kind" => k.label())
        });
        let call_failures = ["trap", "timeout", "other"].map(
            |k| counter!("weft_module_call_failures_total", "module" => m.clone(), "kind" => k),
        );
        Self {
            events_in: AtomicU64::new(0),
            events_out: AtomicU64::new(0),
            events_failed: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            m_in: counter!("weft_module_events_in_total", "module" => m.clone()),
            m_out: counter!("weft_module_events_out_total", "module" => m.clone()),
            m_failed: failed,
            m_retries: counter!("weft_module_retries_total", "module" => m.clone()),
            m_call_failures: call_failures,
            m_call_seconds: histogram!("weft_module_call_duration_seconds", "module" => m.clone()),
            m_memory: gauge!("weft_module_instance_memory_bytes", "module" => m.clone()),
            m_recycles: counter!("weft_module_recycles_total", "module" => m.clone()),
            m_swaps: counter!("weft_module_swaps_total", "module" => m.clone()),
            m_rollbacks: counter!("weft_module_rollbacks_total", "module" => m),
        }
    }

    /// `n` events taken off the queue, `out` of their outputs stored.
    pub fn handled(&self, n: u64, out: u64) {
        self.events_in.fetch_add(n, Ordering::Relaxed);
        self.events_out.fetch_add(out, Ordering::Relaxed);
        self.m_in.increment(n);
        self.m_out.increment(out);
    }

    pub fn failed(&self, kind: FailKind, n: u64) {
        self.events_failed.fetch_add(n, Ordering::Relaxed);
        self.m_failed[kind as usize].increment(n);
    }

    pub fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        self.m_retries.increment(1);
    }

    /// A call that failed as a whole: `kind` is `trap`, `timeout` or anything else.
    pub fn call_failed(&self, error: &crate::CallError) {
        let i = match error {
            crate::CallError::Trap(_) => 0,
            crate::CallError::Timeout(_) => 1,
            crate::CallError::Other(_) => 2,
        };
        self.m_call_failures[i].increment(1);
    }

    /// How long one call into the module took (a batch on one lane).
    pub fn call_took(&self, took: std::time::Duration) {
        self.m_call_seconds.record(took.as_secs_f64());
    }

    /// The module's live instances after a batch: their memory together, and how
    /// many were recycled during it.
    pub fn instances(&self, memory: u64, recycled: u64) {
        self.m_memory.set(memory as f64);
        self.m_recycles.increment(recycled);
    }

    /// The worker took on a new version.
    pub fn swapped(&self) {
        self.m_swaps.increment(1);
    }

    /// The worker put the previous version back.
    pub fn rolled_back(&self) {
        self.m_rollbacks.increment(1);
    }

    pub fn totals(&self) -> ModuleTotals {
        ModuleTotals {
            events_in: self.events_in.load(Ordering::Relaxed),
            events_out: self.events_out.load(Ordering::Relaxed),
            events_failed: self.events_failed.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }
}

/// One outside subscription's counters; see the module docs.
pub struct SubscriptionCounts {
    delivered: AtomicU64,
    acknowledged: AtomicU64,
    m_delivered: Counter,
    m_acknowledged: Counter,
}

impl SubscriptionCounts {
    fn new(subscription: &str) -> Self {
        let s = subscription.to_owned();
        Self {
            delivered: AtomicU64::new(0),
            acknowledged: AtomicU64::new(0),
            m_delivered: counter!("weft_subscription_delivered_total", "subscription" => s.clone()),
            m_acknowledged: counter!("weft_subscription_acknowledged_total", "subscription" => s),
        }
    }

    pub fn delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Ordering::Relaxed);
        self.m_delivered.increment(n);
    }

    pub fn acknowledged(&self, n: u64) {
        self.acknowledged.fetch_add(n, Ordering::Relaxed);
        self.m_acknowledged.increment(n);
    }

    pub fn totals(&self) -> SubscriptionTotals {
        SubscriptionTotals {
            delivered: self.delivered.load(Ordering::Relaxed),
            acknowledged: self.acknowledged.load(Ordering::Relaxed),
        }
    }
}

/// The hub's counters, by module and subscription name.
#[derive(Default)]
pub struct Counts {
    modules: Mutex<BTreeMap<String, Arc<ModuleCounts>>>,
    subscriptions: Mutex<BTreeMap<String, Arc<SubscriptionCounts>>>,
}

impl Counts {
    /// Module `name`'s counters, created on first use; a swapped or restarted
    /// worker finds the same ones, so totals run on.
    pub fn module(&self, name: &str) -> Arc<ModuleCounts> {
        // Recovered: the map only ever gains complete entries.
        let mut map = self.modules.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(name.to_owned())
            .or_insert_with(|| Arc::new(ModuleCounts::new(name)))
            .clone()
    }

    pub fn subscription(&self, name: &str) -> Arc<SubscriptionCounts> {
        // Recovered: as above.
        let mut map = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(name.to_owned())
            .or_insert_with(|| Arc::new(SubscriptionCounts::new(name)))
            .clone()
    }

    /// Module `name`'s totals; zeros for a module that has not run here.
    pub fn module_totals(&self, name: &str) -> ModuleTotals {
        let map = self.modules.lock().unwrap_or_else(|p| p.into_inner());
        map.get(name).map(|c| c.totals()).unwrap_or_default()
    }

    pub fn subscription_totals(&self, name: &str) -> SubscriptionTotals {
        let map = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        map.get(name).map(|c| c.totals()).unwrap_or_default()
    }
}

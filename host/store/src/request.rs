//! What callers hand the store to write, and what a reader gets back.

use crate::keys::QueueId;

/// An event to store, with the queues that should hold it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The publisher's dedup key; `None` skips deduplication (e.g. processor outputs,
    /// whose ids are derived and whose inputs are consumed in the same transaction).
    pub dedup: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub queues: Vec<QueueId>,
}

/// Everything one worker's batch changed, committed as one transaction.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub queue: QueueId,
    /// Queue sequence numbers handled (successfully or not) and so removed.
    pub consumed: Vec<u64>,
    /// What the handling produced.
    pub outputs: Vec<NewEvent>,
    /// Error records for inputs that failed for good, written to this queue's error queue.
    pub failed: Vec<Vec<u8>>,
    /// Error records of this queue that are dealt with (replayed or purged) and removed.
    pub resolved: Vec<u64>,
    /// Error records of this queue rewritten in place (a repair's history), by sequence.
    pub updated: Vec<(u64, Vec<u8>)>,
    /// A module's own key-value state, set (`Some`) or removed (`None`) with the
    /// rest of the batch: a connector's cursor moves exactly when its events land.
    pub state: Vec<StateChange>,
    /// Failed attempts counted in this batch, by queue sequence, for entries that
    /// stay queued to be tried again; written into the entry, so a restart
    /// resumes the count instead of granting the event its attempts afresh.
    pub retried: Vec<(u64, Attempts)>,
}

/// How often a queued event failed and will be tried again, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    pub count: u32,
    /// When the first of them failed (ms since the Unix epoch).
    pub first_failure_ms: u64,
}

/// One change to a module's `state`: (owner, key, new value or removal).
pub type StateChange = (String, String, Option<Vec<u8>>);

/// One queued event, as a worker sees it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub seq: u64,
    pub payload: Vec<u8>,
    /// The failed attempts recorded for it, if it failed before.
    pub attempts: Option<Attempts>,
}

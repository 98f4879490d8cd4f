//! What the edge implements: the core calls a handler with a batch of events and
//! commits what it returns. The component runtime is one implementation; tests and
//! benchmarks can bring their own.

use crate::Event;

/// What a handler made of one input event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The events to emit; empty filters the input out.
    Emit(Vec<Event>),
    /// Transient: deliver this event (and the ones after it) again later.
    Retry(String),
    /// Permanent: the event goes to the error queue with this reason.
    Reject(String),
}

/// The whole call failed; no outcome of the batch can be trusted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("trapped: {0}")]
    Trap(String),
    #[error("ran past its time budget of {0:?} and was interrupted")]
    Timeout(std::time::Duration),
    #[error("{0}")]
    Other(String),
}

/// A loaded processor. Owned by one worker at a time, so it may keep an instance
/// (and its memory) between batches.
pub trait Handler: Send + 'static {
    /// Handles `batch` in order and returns exactly one outcome per input.
    fn process(&mut self, batch: &[Event]) -> Result<Vec<Outcome>, CallError>;

    /// The version serving (a content hash), for error records and status.
    fn version(&self) -> &str;

    /// The handler's own key-value changes (a connector's `state`) made by the
    /// last successful call, to commit with that call's results.
    fn take_state(&mut self) -> Vec<(String, Option<Vec<u8>>)> {
        Vec::new()
    }

    /// Memory the handler's instance holds after its last call, if it knows.
    fn memory(&self) -> Option<u64> {
        None
    }

    /// How often the handler replaced its instance to bound its memory.
    fn recycled(&self) -> u64 {
        0
    }
}

//! The record kept in a module's error queue for an event that failed for good.

use serde::{Deserialize, Serialize};

/// Everything a repair needs: the event as it was, where it was going, who failed
/// it, why, and how often.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailureRecord {
    /// The event, in CloudEvents structured JSON (with its `topic`), as the exact text
    /// [`crate::cloudevents::to_json`] wrote: a replay sends its data on unaltered.
    pub event: Box<serde_json::value::RawValue>,
    pub topic: String,
    pub module: String,
    /// Content hash of the module version that failed it.
    pub version: String,
    pub reason: String,
    pub attempts: u32,
    /// RFC 3339.
    pub first_failure: String,
    pub last_failure: String,
    /// How often this event had been replayed before it failed this time.
    #[serde(default)]
    pub replays: u32,
    /// `failed` until a repair replays it; kept afterwards, with its history, until purged.
    #[serde(default)]
    pub status: Status,
    /// What repairs did with this record, oldest first.
    #[serde(default)]
    pub history: Vec<RepairEntry>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Failed,
    Replayed,
}

/// One repair done to a record: when, where the event went, what was changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RepairEntry {
    pub at: String,
    pub action: String,
    pub to: String,
    #[serde(default)]
    pub changes: Vec<String>,
}

/// The extension carrying an event's replay count, so a replay loop stops.
pub const REPLAYS_EXTENSION: &str = "weftreplays";

impl FailureRecord {
    /// The replay count an event carries.
    pub fn replays_of(event: &crate::Event) -> u32 {
        match event.extension(REPLAYS_EXTENSION) {
            Some(crate::ExtValue::Integer(n)) => u32::try_from(*n).unwrap_or(0),
            Some(other) => other.canonical().parse().unwrap_or(0),
            None => 0,
        }
    }

    /// The event's JSON as a [`serde_json::Value`], to look into (its data re-encoded).
    pub fn event_value(&self) -> serde_json::Value {
        serde_json::from_str(self.event.get()).unwrap_or_default()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

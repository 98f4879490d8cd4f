//! The record kept in a module's error queue for an event that failed for good.

use serde::{Deserialize, Serialize};

/// Everything a repair needs: the event as it was, where it was going, who failed
/// it, why, and how often.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailureRecord {
    /// The event, in CloudEvents structured JSON (with its `topic`).
    pub event: serde_json::Value,
    pub topic: String,
    pub module: String,
    /// Content hash of the module version that failed it.
    pub version: String,
    pub reason: String,
    pub attempts: u32,
    /// RFC 3339.
    pub first_failure: String,
    pub last_failure: String,
}

impl FailureRecord {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

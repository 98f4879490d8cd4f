//! What `weft status` shows about the mesh: the link, each export's outbox, each
//! import's consumer. The link's tasks write here as things happen; readers take
//! a snapshot.

use std::sync::{Mutex, PoisonError};

use serde::Serialize;

/// The link to NATS.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub state: LinkState,
    /// The server connected to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The last ping's round trip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Since when the link is in this state (RFC 3339).
    pub since: String,
    /// Why it is not linked (the last error), in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Not connected yet, or connection lost: exports wait in their outboxes.
    Disconnected,
    /// Connected, setting up the stream and claiming this host's name.
    Connecting,
    /// Another live host holds this host's mesh name: nothing is sent or received.
    NameTaken,
    /// Exporting and importing.
    Linked,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Export {
    pub name: String,
    pub topics: Vec<String>,
    pub mode: String,
    /// Events waiting in the outbox, its bytes and its oldest one's age.
    pub outbox_depth: u64,
    pub outbox_bytes: u64,
    pub oldest_age_ms: Option<u64>,
    /// Events JetStream acknowledged since start.
    pub published: u64,
    /// Of those, how many it had already (a republish within its duplicate window).
    pub duplicates: u64,
    /// Events moved to the outbox's error queue since start (`weft errors list
    /// --module export/NAME`).
    pub failed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Import {
    pub name: String,
    pub topics: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The durable JetStream consumer's name.
    pub consumer: String,
    /// Messages the consumer has not delivered yet (its lag), at the last look.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<u64>,
    /// Events stored locally since start.
    pub imported: u64,
    /// Events already stored (a redelivery), not stored again.
    pub duplicates: u64,
    /// Messages this host exported itself, not imported back.
    pub own: u64,
    /// Messages that were no event weft reads (terminated, not redelivered).
    pub refused: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MeshStatus {
    /// This host's mesh name.
    pub name: String,
    pub stream: String,
    pub link: Link,
    pub exports: Vec<Export>,
    pub imports: Vec<Import>,
}

/// The live status, shared by the link's tasks.
#[derive(Debug)]
pub struct Board {
    status: Mutex<MeshStatus>,
    /// What the link is when connected: a reconnection returns to it.
    connected: Mutex<(LinkState, Option<String>)>,
}

impl Board {
    pub fn new(status: MeshStatus) -> Self {
        Self {
            status: Mutex::new(status),
            connected: Mutex::new((LinkState::Connecting, None)),
        }
    }

    /// Changes the status. A writer that panicked left whole fields behind, so the
    /// status is used as it is rather than go dark.
    pub fn with<T>(&self, f: impl FnOnce(&mut MeshStatus) -> T) -> T {
        f(&mut self.status.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The link's state while connected (`Connecting`, `NameTaken`, `Linked`),
    /// shown now and again after each reconnection.
    pub fn connected(&self, state: LinkState, reason: Option<String>) {
        *self
            .connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (state, reason.clone());
        self.link(state, reason);
    }

    /// The connection came back.
    pub fn reconnected(&self) {
        let (state, reason) = self
            .connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        self.link(state, reason);
    }

    pub fn snapshot(&self) -> MeshStatus {
        self.with(|s| s.clone())
    }

    pub fn link(&self, state: LinkState, reason: Option<String>) {
        self.with(|s| {
            if s.link.state != state || s.link.reason != reason {
                s.link.since = now();
            }
            s.link.state = state;
            s.link.reason = reason;
        });
    }

    pub fn export(&self, name: &str, f: impl FnOnce(&mut Export)) {
        self.with(|s| {
            if let Some(e) = s.exports.iter_mut().find(|e| e.name == name) {
                f(e);
            }
        });
    }

    pub fn import(&self, name: &str, f: impl FnOnce(&mut Import)) {
        self.with(|s| {
            if let Some(i) = s.imports.iter_mut().find(|i| i.name == name) {
                f(i);
            }
        });
    }
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

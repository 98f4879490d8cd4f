//! The board: what `weft status` shows about modules, kept by the supervisor and
//! read by the API. Every load, swap, refusal, rollback and removal is recorded
//! here with version hashes and timings, newest last, [`HISTORY`] entries per
//! module.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use serde::Serialize;

/// Entries of history kept per module.
pub const HISTORY: usize = 32;

/// Where a module is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModuleState {
    /// Serving.
    Running,
    /// A new version serving while it proves itself, the previous one at hand.
    Probation,
    /// Its files are gone; its subscription keeps collecting for `keep_removed`.
    Removed,
}

/// What happened to a module, as its history records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Started for the first time.
    Loaded,
    /// A new version took over.
    Swapped,
    /// A new version failed a check; the one running stays.
    Refused,
    /// A new version failed where the previous one did not, and was replaced by it.
    RolledBack,
    /// A new version served its probation.
    Proven,
    /// The same version's Cranelift code took over from Winch's (tiered compilation).
    TieredUp,
    /// Its files were taken away.
    Removed,
    /// Its files came back after a removal.
    Restored,
    /// Removed longer than `keep_removed`: its subscription stopped collecting.
    StoppedCollecting,
}

/// What `weft status` shows about modules: shared with the API.
#[derive(Clone, Default)]
pub struct Board(Arc<RwLock<BoardInner>>);

#[derive(Default, Serialize)]
pub(super) struct BoardInner {
    pub(super) modules: BTreeMap<String, ModuleStatus>,
    pub(super) refused: BTreeMap<String, Refusal>,
}

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct ModuleStatus {
    pub name: String,
    /// `processor`, `ingress` or `egress`.
    #[schema(value_type = String)]
    pub kind: &'static str,
    pub state: ModuleState,
    pub version: String,
    pub subscribe: Vec<String>,
    pub publish: Vec<String>,
    /// Whose code serves: `cranelift`, `winch (cranelift compiling)`, or a
    /// fallback with its reason (tiered compilation).
    pub compiler: String,
    /// Swaps, refusals, rollbacks, removals, newest last.
    pub history: Vec<Change>,
    /// What a removed module's subscription did not collect once full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap: Option<GapStatus>,
}

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct Change {
    pub at: String,
    pub action: Action,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Compile and validation time of the new version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile_ms: Option<u64>,
    /// From the files settling to the new version taking over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap_ms: Option<u64>,
}

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct GapStatus {
    pub events: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    /// Since when nothing is collected at all (after `keep_removed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_collecting_since: Option<String>,
}

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct Refusal {
    pub file: String,
    pub reason: String,
    pub at: String,
}

impl Board {
    pub fn modules(&self) -> Vec<ModuleStatus> {
        let b = self.0.read().unwrap_or_else(PoisonError::into_inner);
        b.modules.values().cloned().collect()
    }

    pub fn refused(&self) -> Vec<Refusal> {
        let b = self.0.read().unwrap_or_else(PoisonError::into_inner);
        b.refused.values().cloned().collect()
    }

    /// Changes the board. A writer that panicked left whole entries behind
    /// (each change is one insert or field assignment), so the board is used as
    /// it was rather than stop showing status.
    pub(super) fn with(&self, f: impl FnOnce(&mut BoardInner)) {
        f(&mut self.0.write().unwrap_or_else(PoisonError::into_inner));
    }

    pub(super) fn refuse(&self, file: &Path, reason: &str) {
        let file = file.display().to_string();
        self.with(|b| {
            b.refused.insert(
                file.clone(),
                Refusal {
                    file,
                    reason: weft_core::excerpt::bounded(reason),
                    at: now(),
                },
            );
        });
    }

    pub(super) fn clear_refusal(&self, name: &str, dir: &Path) {
        let wasm = dir.join(format!("{name}.wasm")).display().to_string();
        let toml = dir.join(format!("{name}.toml")).display().to_string();
        self.with(|b| {
            b.refused.remove(&wasm);
            b.refused.remove(&toml);
        });
    }

    pub(super) fn record(&self, name: &str, change: Change) {
        self.with(|b| {
            if let Some(m) = b.modules.get_mut(name) {
                m.history.push(change);
                let extra = m.history.len().saturating_sub(HISTORY);
                m.history.drain(..extra);
            }
        });
    }
}

/// The time of an entry, RFC 3339.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

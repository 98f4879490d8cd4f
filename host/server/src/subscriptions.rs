//! Durable subscriptions for consumers that are not modules: which exist, and
//! where those created over the API are kept.
//!
//! A subscription is a named queue with topic patterns: it collects every matching
//! event from the moment it exists, whether its consumer is connected or not, and
//! gives them out in order (the HTTP side is `api::subscriptions`). Subscriptions
//! come from the host config (`[subscriptions.NAME]`) or are created over the API
//! (`PUT /v1/subscriptions/NAME`); the latter are kept in
//! `DATA/subscriptions.json`, written atomically (a temporary file, fsynced,
//! renamed, and the folder fsynced), so they survive restarts and crashes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use weft_core::{Patterns, Quota};

/// A subscription created over the API, as kept on disk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub subscribe: Vec<String>,
    #[serde(default)]
    pub max_queue_events: Option<u64>,
    #[serde(default)]
    pub max_queue_bytes: Option<u64>,
}

impl Definition {
    pub fn patterns(&self) -> Result<Patterns, String> {
        let p = Patterns::parse(&self.subscribe).map_err(|e| e.to_string())?;
        if p.is_empty() {
            return Err("`subscribe` is empty: give at least one topic pattern".into());
        }
        Ok(p)
    }

    pub fn quota(&self) -> Quota {
        let mut q = Quota::default();
        q.max_events = self.max_queue_events.unwrap_or(q.max_events);
        q.max_bytes = self.max_queue_bytes.unwrap_or(q.max_bytes);
        q
    }
}

/// The subscriptions created over the API, and the names the config owns.
pub struct Registry {
    path: PathBuf,
    /// Names defined in the host config: the API may not change them.
    pub configured: Vec<String>,
    /// Those created over the API; the lock is held across a save, so two
    /// changes never interleave on disk.
    pub api: tokio::sync::Mutex<BTreeMap<String, Definition>>,
}

impl Registry {
    pub fn load(path: PathBuf, configured: Vec<String>) -> anyhow::Result<Self> {
        let api = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is damaged: fix or remove it", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Ok(Self {
            path,
            configured,
            api: tokio::sync::Mutex::new(api),
        })
    }

    pub async fn definitions(&self) -> BTreeMap<String, Definition> {
        self.api.lock().await.clone()
    }

    pub fn save(&self, defs: &BTreeMap<String, Definition>) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(defs).unwrap_or_default();
        let file = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut &file, &bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

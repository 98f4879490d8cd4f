//! An ingress connector and its one instance, and the commit of what a trigger
//! call returns.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use weft_core::{CallError, Event, Hub, PublishError, stamp_ingress};
use weft_runtime::{Module, Source, StateChanges};

/// How long a trigger waits after the host could not take its events.
pub(super) const FULL_BACKOFF: Duration = Duration::from_secs(1);

/// The ingress connectors with a webhook route, by name: swapped by the
/// supervisor as connectors come, go and change version, read by the routes.
pub type HookRegistry = Arc<RwLock<HashMap<String, Arc<Connector>>>>;

/// An ingress connector and its one instance.
pub struct Connector {
    pub module: Arc<Module>,
    pub(crate) hub: Hub,
    source: Mutex<Source>,
}

/// Why a commit failed: for the trigger to back off, or the host to stop.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The connector's own fault (an ungranted topic, no `type`): nothing published.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

impl Connector {
    pub fn new(module: Arc<Module>, hub: Hub) -> Arc<Self> {
        Arc::new(Self {
            source: Mutex::new(module.source()),
            module,
            hub,
        })
    }

    pub fn name(&self) -> &str {
        &self.module.name
    }

    /// Runs `f` on the connector's instance, off the async threads.
    pub async fn call<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Source) -> Result<T, CallError> + Send + 'static,
    ) -> Result<T, CallError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || match this.source.lock() {
            Ok(mut source) => f(&mut source),
            Err(_) => Err(CallError::Other(
                "the connector's instance was lost to a panic".into(),
            )),
        })
        .await
        .unwrap_or_else(|e| Err(CallError::Other(format!("the call did not finish: {e}"))))
    }

    /// Publishes `events` with `state` (and any host-side `extra` state) in one
    /// transaction. Returns how many were new (not duplicates).
    pub async fn commit(
        &self,
        events: Vec<Event>,
        state: StateChanges,
        extra: Vec<weft_store::StateChange>,
    ) -> Result<usize, CommitError> {
        let events = stamp_ingress(&self.module.name, &self.module.manifest.publish, events)
            .map_err(CommitError::Refused)?;
        // Enforced schemas refuse the whole batch, like an ungranted topic.
        weft_core::check_outputs(&self.module.manifest.schemas, &events)
            .map_err(CommitError::Refused)?;
        let owner = &self.module.name;
        let mut changes: Vec<weft_store::StateChange> = state
            .into_iter()
            .map(|(k, v)| (owner.clone(), k, v))
            .collect();
        changes.extend(extra);
        if events.is_empty() && changes.is_empty() {
            return Ok(0);
        }
        let accepted = self.hub.publish_with_state(events, changes).await?;
        Ok(accepted.iter().filter(|a| !a.duplicate).count())
    }
}

/// What a trigger does after a failed commit: wait, or stop the host.
pub(crate) fn after_commit_error(name: &str, trigger: &str, e: CommitError) -> anyhow::Result<()> {
    match e {
        CommitError::Refused(reason) => {
            tracing::error!(module = name, trigger, %reason, "connector output refused; nothing published");
            Ok(())
        }
        CommitError::Publish(PublishError::Full(full)) => {
            tracing::warn!(module = name, trigger, reason = %full, "no room for the connector's events; will call again");
            Ok(())
        }
        CommitError::Publish(PublishError::Store(e)) => Err(anyhow::anyhow!(
            "cannot store the events of connector `{name}`: {e}"
        )),
    }
}

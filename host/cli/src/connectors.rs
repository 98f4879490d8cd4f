//! Ingress connectors at work: the triggers that call them (a timer, a watched
//! folder; the webhook route lives in `hooks`) and the commit of what they return.
//!
//! Each trigger call returns events and the `state` changes the guest made; both
//! are committed in one store transaction ([`Hub::publish_with_state`]), so a
//! poller's cursor moves exactly when its page is stored, and a crash anywhere
//! leaves either both or neither. A batch the host cannot take (a full quota, an
//! ungranted topic) is refused whole, state included: the next call sees the old
//! cursor and fetches the same page again, so nothing is lost.
//!
//! One instance serves all triggers of a connector, one call at a time: a guest
//! never runs twice at once, so it needs no locking of its own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use weft_core::{CallError, Event, Hub, PublishError, stamp_ingress};
use weft_runtime::{Batch, Module, Source, StateChanges, TriggerFailure};

/// How long a trigger waits after the host could not take its events.
const FULL_BACKOFF: Duration = Duration::from_secs(1);
/// How often a watched folder is looked at; a file is taken once it looked the
/// same (size and modification time) twice in a row.
const WATCH_EVERY: Duration = Duration::from_millis(250);
/// Largest file the folder trigger hands to a connector.
pub const MAX_WATCHED_FILE: u64 = 16 * 1024 * 1024;
/// Longest a failing file waits before it is tried again.
const MAX_FILE_BACKOFF: Duration = Duration::from_secs(60);

/// An ingress connector and its one instance.
pub struct Connector {
    pub module: Arc<Module>,
    hub: Hub,
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
fn after_commit_error(name: &str, trigger: &str, e: CommitError) -> anyhow::Result<()> {
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

/// The timer trigger: `poll` every `interval`, and again at once while it says
/// there is more. Returns on shutdown, or with an error when the store fails.
pub async fn run_timer(
    conn: Arc<Connector>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let name = conn.name().to_owned();
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let mut wait = interval;
        match conn.call(|s| s.poll()).await {
            Ok((Ok(Batch { events, more }), state)) => {
                let n = events.len();
                match conn.commit(events, state, Vec::new()).await {
                    Ok(new) => {
                        if n > 0 {
                            tracing::debug!(module = %name, events = n, new, more, "polled");
                        }
                        if more {
                            wait = Duration::ZERO;
                        }
                    }
                    Err(e) => {
                        after_commit_error(&name, "interval", e)?;
                        wait = wait.max(FULL_BACKOFF);
                    }
                }
            }
            Ok((Err(TriggerFailure::Retry(reason)), _)) => {
                tracing::warn!(module = %name, %reason, "poll asked to retry at the next tick")
            }
            Ok((Err(TriggerFailure::Reject(reason)), _)) => {
                tracing::error!(module = %name, %reason, "poll failed")
            }
            Err(e) => tracing::error!(module = %name, error = %e, "poll call failed"),
        }
        if wait.is_zero() {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// The folder trigger. A file goes to the connector once it has settled; its
/// events are committed together with a record of the file (name, size, time),
/// then the file is removed. A crash after the commit and before the removal
/// finds the record at the next look and removes the file without calling the
/// connector again: each file is published once.
pub async fn run_watch(
    conn: Arc<Connector>,
    dir: PathBuf,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let name = conn.name().to_owned();
    let owner = watch_owner(&name);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::error!(module = %name, folder = %dir.display(), error = %e, "cannot create the watched folder; the folder trigger is off");
        return Ok(());
    }
    let mut seen: HashMap<String, Signature> = HashMap::new();
    let mut backoff: HashMap<String, (Instant, Duration)> = HashMap::new();
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let files = match settled(&dir, &mut seen) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(module = %name, folder = %dir.display(), error = %e, "cannot list the watched folder");
                Vec::new()
            }
        };
        for (file, sig) in files {
            if *stop.borrow() {
                return Ok(());
            }
            if backoff
                .get(&file)
                .is_some_and(|(at, _)| Instant::now() < *at)
            {
                continue;
            }
            let path = dir.join(&file);
            let record = sig.to_string().into_bytes();
            let store = conn.hub.store().clone();
            if store.state_get(&owner, &file)?.as_deref() == Some(record.as_slice()) {
                // Committed before a crash, not yet removed.
                finish(&conn, &owner, &path, &file).await?;
                continue;
            }
            if sig.len > MAX_WATCHED_FILE {
                reject(
                    &dir,
                    &file,
                    &format!(
                        "is {} bytes, over the folder trigger's limit of {MAX_WATCHED_FILE}",
                        sig.len
                    ),
                );
                continue;
            }
            let contents = match std::fs::read(&path) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(module = %name, file = %path.display(), error = %e, "cannot read a watched file");
                    continue;
                }
            };
            let f = file.clone();
            let failed = match conn.call(move |s| s.file(&f, &contents)).await {
                Ok((Ok(batch), state)) => {
                    let extra = vec![(owner.clone(), file.clone(), Some(record))];
                    match conn.commit(batch.events, state, extra).await {
                        Ok(new) => {
                            tracing::info!(module = %name, file = %file, new, "file published");
                            finish(&conn, &owner, &path, &file).await?;
                            backoff.remove(&file);
                            None
                        }
                        Err(e) => {
                            after_commit_error(&name, "watch", e)?;
                            Some("the host could not take its events".to_owned())
                        }
                    }
                }
                Ok((Err(TriggerFailure::Reject(reason)), _)) => {
                    reject(&dir, &file, &reason);
                    backoff.remove(&file);
                    None
                }
                Ok((Err(TriggerFailure::Retry(reason)), _)) => Some(reason),
                Err(e) => Some(e.to_string()),
            };
            if let Some(reason) = failed {
                let next = backoff.get(&file).map_or(Duration::from_secs(1), |(_, d)| {
                    (*d * 2).min(MAX_FILE_BACKOFF)
                });
                tracing::warn!(module = %name, file = %file, %reason, retry_in = ?next, "file will be tried again");
                backoff.insert(file, (Instant::now() + next, next));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(WATCH_EVERY) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Where the folder trigger records committed files: an owner no module name can
/// take (module names have no `:`).
fn watch_owner(module: &str) -> String {
    format!("watch:{module}")
}

/// Removes a published file, then forgets its record.
async fn finish(conn: &Connector, owner: &str, path: &Path, file: &str) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            // The record stays, so the file is never published twice; the operator
            // must remove it.
            tracing::error!(module = %conn.name(), file = %path.display(), error = %e, "published file cannot be removed");
            return Ok(());
        }
    }
    conn.hub
        .store()
        .complete(weft_store::Completion {
            state: vec![(owner.to_owned(), file.to_owned(), None)],
            ..Default::default()
        })
        .await?;
    Ok(())
}

/// Moves a file the connector rejected to `rejected/`, with the reason beside it.
fn reject(dir: &Path, file: &str, reason: &str) {
    let rejected = dir.join("rejected");
    let moved = std::fs::create_dir_all(&rejected)
        .and_then(|()| std::fs::rename(dir.join(file), rejected.join(file)))
        .and_then(|()| std::fs::write(rejected.join(format!("{file}.reason")), reason));
    match moved {
        Ok(()) => {
            tracing::warn!(file = %dir.join(file).display(), %reason, "file rejected, moved to rejected/")
        }
        Err(e) => {
            tracing::error!(file = %dir.join(file).display(), %reason, error = %e, "file rejected but cannot be moved")
        }
    }
}

/// A file's size and modification time: unchanged between two looks = settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Signature {
    len: u64,
    modified_ns: u128,
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.len, self.modified_ns)
    }
}

/// The regular, visible files of `dir` that look as they did at the last look, by name.
fn settled(
    dir: &Path,
    seen: &mut HashMap<String, Signature>,
) -> std::io::Result<Vec<(String, Signature)>> {
    let mut now = HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        // Hidden files are how writers stage a file before renaming it into place.
        if name.starts_with('.') {
            continue;
        }
        let meta = entry.metadata()?;
        if !meta.file_type().is_file() {
            continue;
        }
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        now.insert(
            name,
            Signature {
                len: meta.len(),
                modified_ns,
            },
        );
    }
    let mut ready: Vec<(String, Signature)> = now
        .iter()
        .filter(|(name, sig)| seen.get(*name) == Some(sig))
        .map(|(n, s)| (n.clone(), *s))
        .collect();
    ready.sort_by(|a, b| a.0.cmp(&b.0));
    *seen = now;
    Ok(ready)
}

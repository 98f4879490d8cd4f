//! The folder trigger: each file that settles in a watched folder goes to the
//! connector once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use weft_runtime::TriggerFailure;

use super::connector::{Connector, after_commit_error};

/// How often a watched folder is looked at; a file is taken once it looked the
/// same (size and modification time) twice in a row.
const WATCH_EVERY: Duration = Duration::from_millis(250);
/// Largest file the folder trigger hands to a connector.
pub const MAX_WATCHED_FILE: u64 = 16 * 1024 * 1024;
/// Longest a failing file waits before it is tried again.
const MAX_FILE_BACKOFF: Duration = Duration::from_secs(60);

/// The folder trigger. A file goes to the connector once it has settled; its
/// events are committed together with a record of the file (name, size, time),
/// then the file is removed. A crash after the commit and before the removal
/// finds the record at the next look and removes the file without calling the
/// connector again: each file is published once.
pub async fn run(
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

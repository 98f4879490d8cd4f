//! Ingress connectors at work: the triggers that call them and the commit of
//! what they return.
//!
//! | trigger | manifest | module |
//! |---|---|---|
//! | a timer: `poll` every interval, at once again while it says `more` | `[ingress] interval` | `timer` |
//! | a watched folder: `file` for each settled file | `[ingress] watch` | `folder` |
//! | a webhook: `webhook` for requests to `/hooks/NAME[/...]` | `[ingress] route = true` | `webhook` |
//!
//! Each trigger call returns events and the `state` changes the guest made; both
//! are committed in one store transaction (`Hub::publish_with_state`), so a
//! poller's cursor moves exactly when its page is stored, and a crash anywhere
//! leaves either both or neither. A batch the host cannot take (a full quota, an
//! ungranted topic) is refused whole, state included: the next call sees the old
//! cursor and fetches the same page again, so nothing is lost.
//!
//! One instance serves all triggers of a connector, one call at a time: a guest
//! never runs twice at once, so it needs no locking of its own.

mod connector;
mod folder;
mod timer;
pub mod webhook;

use std::sync::{Arc, PoisonError};

use tokio::sync::watch;

pub use connector::{CommitError, Connector, HookRegistry};
pub use folder::MAX_WATCHED_FILE;

/// Starts an ingress connector's triggers; its webhook route goes live too.
pub fn start(
    conn: &Arc<Connector>,
    stop: watch::Receiver<bool>,
    hooks: &HookRegistry,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let mut tasks = Vec::new();
    let Some(t) = conn.module.manifest.ingress.clone() else {
        return tasks;
    };
    if let Some(every) = t.interval {
        tasks.push(tokio::spawn(timer::run(conn.clone(), every, stop.clone())));
    }
    if let Some(dir) = t.watch {
        tasks.push(tokio::spawn(folder::run(conn.clone(), dir, stop.clone())));
    }
    if t.route {
        hooks
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(conn.name().to_owned(), conn.clone());
    }
    tasks
}

/// Takes a connector's webhook route down (it was removed or is being replaced).
pub fn unroute(hooks: &HookRegistry, name: &str) {
    hooks
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(name);
}

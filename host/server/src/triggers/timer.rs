//! The timer trigger: `poll` every `interval`, and again at once while the
//! connector says there is more.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use weft_runtime::{Batch, TriggerFailure};

use super::connector::{Connector, FULL_BACKOFF, after_commit_error};

/// The timer trigger: `poll` every `interval`, and again at once while it says
/// there is more. Returns on shutdown, or with an error when the store fails.
pub async fn run(
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

//! `[limits]`: what one instance may use (memory, time per call) and what may
//! wait in the module's queue. Bounded above so that no manifest can ask for
//! more than the instance pool reserves or a worker can wait for.

use std::time::Duration;

use serde::Deserialize;
use weft_core::Quota;

use super::field;

/// Upper bounds no manifest may exceed. Every slot of the instance pool has
/// room for `MAX_MEMORY` (see `crate::engine`), so a module that loads with the
/// pool loads without it.
pub const MAX_MEMORY: u64 = 4 * 1024 * 1024 * 1024;
pub const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsFile {
    memory: Option<String>,
    call_timeout: Option<String>,
    max_queue_events: Option<u64>,
    max_queue_bytes: Option<String>,
    recycle_after: Option<u64>,
}

/// `[limits]` checked, with the host's defaults where the manifest is silent.
pub(super) struct Limits {
    pub memory: u64,
    pub call_timeout: Duration,
    pub quota: Quota,
    pub recycle_after: Option<u64>,
}

/// Reads `[limits]` over `defaults`; each wrong value keeps its default and
/// pushes a problem.
pub(super) fn parse(file: &LimitsFile, defaults: Limits, problems: &mut Vec<String>) -> Limits {
    let memory = match &file.memory {
        None => defaults.memory,
        Some(s) => match field::size(s, "limits.memory", "64MiB", problems) {
            Some(b) if (1024 * 1024..=MAX_MEMORY).contains(&b) => b,
            Some(_) => {
                problems.push(format!(
                    "limits.memory = \"{s}\" is out of range: between 1MiB and 4GiB"
                ));
                defaults.memory
            }
            None => defaults.memory,
        },
    };
    let call_timeout = field::duration(
        file.call_timeout.as_deref(),
        "limits.call_timeout",
        defaults.call_timeout,
        problems,
    );
    if call_timeout > MAX_CALL_TIMEOUT || call_timeout.is_zero() {
        problems.push(format!(
            "limits.call_timeout = {call_timeout:?} is out of range: above zero and at most 5m"
        ));
    }
    let mut quota = defaults.quota;
    quota.max_events = file.max_queue_events.unwrap_or(quota.max_events);
    if let Some(s) = &file.max_queue_bytes
        && let Some(b) = field::size(s, "limits.max_queue_bytes", "256MiB", problems)
    {
        quota.max_bytes = b;
    }
    Limits {
        memory,
        call_timeout,
        quota,
        recycle_after: file.recycle_after.filter(|n| *n > 0),
    }
}

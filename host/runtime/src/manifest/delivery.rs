//! `[delivery]`: how events reach the module: batch size, retries, parallel
//! lanes and the attribute that keeps order within a lane.

use serde::Deserialize;
use weft_core::RetryPolicy;

use super::field;

/// Largest `[delivery] batch_max`.
pub const MAX_BATCH: usize = 10_000;
/// Most lanes (instances) one module may run; each takes a slot of the pool.
const MAX_WORKERS: usize = 64;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct DeliveryFile {
    batch_max: Option<usize>,
    retry: Option<RetryFile>,
    workers: Option<usize>,
    key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryFile {
    attempts: Option<u32>,
    initial: Option<String>,
    max: Option<String>,
}

/// `[delivery]` checked.
pub(super) struct Delivery {
    pub batch_max: usize,
    pub retry: RetryPolicy,
    pub workers: usize,
    pub key: String,
}

/// Reads `[delivery]`; `batch_max` and `retry` default to the host's, one lane
/// ordered by `subject` otherwise.
pub(super) fn parse(
    file: &DeliveryFile,
    batch_max: usize,
    retry: RetryPolicy,
    problems: &mut Vec<String>,
) -> Delivery {
    let batch_max = file.batch_max.unwrap_or(batch_max);
    if batch_max == 0 || batch_max > MAX_BATCH {
        problems.push(format!(
            "delivery.batch_max = {batch_max} is out of range: 1 to {MAX_BATCH}"
        ));
    }
    let workers = file.workers.unwrap_or(1);
    if workers == 0 || workers > MAX_WORKERS {
        problems.push(format!(
            "delivery.workers = {workers} is out of range: 1 to {MAX_WORKERS}"
        ));
    }
    let key = file.key.clone().unwrap_or_else(|| "subject".into());
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        problems.push(format!(
            "delivery.key = \"{key}\" is not an attribute name: id, source, type, subject, topic or an extension"
        ));
    }
    Delivery {
        batch_max,
        retry: file
            .retry
            .as_ref()
            .map_or(retry, |r| parse_retry(r, retry, problems)),
        workers,
        key,
    }
}

/// `[delivery] retry`, over the host's policy.
fn parse_retry(
    file: &RetryFile,
    mut retry: RetryPolicy,
    problems: &mut Vec<String>,
) -> RetryPolicy {
    retry.attempts = file.attempts.unwrap_or(retry.attempts);
    if retry.attempts == 0 {
        problems.push("delivery.retry.attempts = 0: at least 1 (the first try)".into());
    }
    retry.initial = field::duration(
        file.initial.as_deref(),
        "delivery.retry.initial",
        retry.initial,
        problems,
    );
    retry.max = field::duration(
        file.max.as_deref(),
        "delivery.retry.max",
        retry.max,
        problems,
    );
    retry
}

//! `[delivery]`: how events reach the module: batch size, retries, parallel
//! lanes and the attribute that keeps order within a lane.

use std::time::Duration;

use serde::Deserialize;
use weft_core::RetryPolicy;

use super::field;

/// Largest `[delivery] batch_max`.
pub const MAX_BATCH: usize = 10_000;
/// Most lanes (instances) one module may run; each takes a slot of the pool.
const MAX_WORKERS: usize = 64;
/// The shortest backoff between attempts (`retry.initial`, `retry.max`): a
/// failing event retried without a wait spins a core and floods the log.
pub const MIN_BACKOFF: Duration = Duration::from_millis(10);
/// Most attempts per event: past this, an event that keeps failing belongs in
/// the error queue, where an operator can see it, not in a retry loop.
pub const MAX_ATTEMPTS: u32 = 1000;

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
    if retry.attempts == 0 || retry.attempts > MAX_ATTEMPTS {
        problems.push(format!(
            "delivery.retry.attempts = {} is out of range: 1 (the first try only) to {MAX_ATTEMPTS}; an event that fails them all goes to the error queue",
            retry.attempts
        ));
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
    for (field, value, written) in [
        ("initial", retry.initial, &file.initial),
        ("max", retry.max, &file.max),
    ] {
        if let Some(written) = written
            && value < MIN_BACKOFF
        {
            problems.push(format!(
                "delivery.retry.{field} = \"{written}\" is too short: at least {}ms between attempts, e.g. \"100ms\"",
                MIN_BACKOFF.as_millis()
            ));
        }
    }
    if retry.max < retry.initial {
        problems.push(format!(
            "delivery.retry.max ({:?}) is shorter than delivery.retry.initial ({:?}): the backoff grows from initial up to max",
            retry.max, retry.initial
        ));
    }
    retry
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn problems_of(retry: &str) -> Vec<String> {
        let file: DeliveryFile = toml::from_str(&format!("retry = {retry}")).unwrap();
        let mut problems = Vec::new();
        parse(&file, 64, RetryPolicy::default(), &mut problems);
        problems
    }

    #[test]
    fn a_retry_without_backoff_or_with_endless_attempts_is_refused() {
        let p = problems_of(r#"{ initial = "0ms", attempts = 4000000000 }"#);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].contains("attempts = 4000000000 is out of range: 1 (the first try only) to 1000"),
            "{p:?}"
        );
        assert!(
            p[1].contains("delivery.retry.initial = \"0ms\" is too short: at least 10ms"),
            "{p:?}"
        );
        let p = problems_of(r#"{ max = "1ms" }"#);
        assert!(
            p.iter()
                .any(|p| p.contains("delivery.retry.max = \"1ms\" is too short")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|p| p.contains("shorter than delivery.retry.initial")),
            "{p:?}"
        );
        assert!(problems_of(r#"{ attempts = 0 }"#)[0].contains("out of range"));
    }

    #[test]
    fn a_retry_at_the_bounds_is_accepted() {
        assert!(problems_of(r#"{ initial = "10ms", max = "10ms", attempts = 1000 }"#).is_empty());
        assert!(problems_of(r#"{ attempts = 1 }"#).is_empty());
    }
}

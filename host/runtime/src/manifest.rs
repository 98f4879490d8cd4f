//! `NAME.toml`, the manifest beside each `NAME.wasm`: what the module subscribes
//! to, where it may publish, its limits, delivery settings and config.
//!
//! Parsing is strict (unknown fields are errors, units are explicit in the value)
//! and reports every problem at once, so an operator fixes a manifest in one go.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use weft_core::{Patterns, RetryPolicy};

/// Limits a manifest may leave out, from the host config.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub memory: u64,
    pub call_timeout: Duration,
    pub batch_max: usize,
    pub retry: RetryPolicy,
    pub quota: weft_core::Quota,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            memory: 64 * 1024 * 1024,
            call_timeout: Duration::from_millis(500),
            batch_max: 64,
            retry: RetryPolicy::default(),
            quota: weft_core::Quota::default(),
        }
    }
}

/// Upper bounds no manifest may exceed.
pub const MAX_MEMORY: u64 = 4 * 1024 * 1024 * 1024;
pub const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(300);
pub const MAX_BATCH: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Manifest {
    pub subscribe: Patterns,
    pub publish: Patterns,
    pub memory: u64,
    pub call_timeout: Duration,
    pub batch_max: usize,
    pub retry: RetryPolicy,
    /// What may wait in the module's queue before publishers get 429.
    pub quota: weft_core::Quota,
    /// Parallel lanes (instances); order is kept per value of `key`.
    pub workers: usize,
    pub key: String,
    /// The `[config]` table, flattened to strings for the guest's `config` import.
    pub config: Vec<(String, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    subscribe: Vec<String>,
    #[serde(default)]
    publish: Vec<String>,
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    delivery: DeliveryFile,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    memory: Option<String>,
    call_timeout: Option<String>,
    max_queue_events: Option<u64>,
    max_queue_bytes: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DeliveryFile {
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

impl Manifest {
    /// Parses a manifest; the error lists every problem found, one per line.
    pub fn parse(text: &str, defaults: &Defaults) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
        let mut problems = Vec::new();
        let subscribe = patterns(&file.subscribe, "subscribe", &mut problems);
        let publish = patterns(&file.publish, "publish", &mut problems);
        if file.subscribe.is_empty() {
            problems.push("`subscribe` is empty: a processor needs at least one topic pattern to receive events, e.g. subscribe = [\"orders/>\"]".into());
        }
        let memory = match &file.limits.memory {
            None => defaults.memory,
            Some(s) => match s.parse::<bytesize::ByteSize>() {
                Ok(b) if b.as_u64() >= 1024 * 1024 && b.as_u64() <= MAX_MEMORY => b.as_u64(),
                Ok(_) => {
                    problems.push(format!(
                        "limits.memory = \"{s}\" is out of range: between 1MiB and 4GiB"
                    ));
                    defaults.memory
                }
                Err(_) => {
                    problems.push(format!(
                        "limits.memory = \"{s}\" is not a size: write it with its unit, e.g. \"64MiB\""
                    ));
                    defaults.memory
                }
            },
        };
        let call_timeout = duration(
            file.limits.call_timeout.as_deref(),
            "limits.call_timeout",
            defaults.call_timeout,
            &mut problems,
        );
        if call_timeout > MAX_CALL_TIMEOUT || call_timeout.is_zero() {
            problems.push(format!(
                "limits.call_timeout = {call_timeout:?} is out of range: above zero and at most 5m"
            ));
        }
        let mut quota = defaults.quota;
        quota.max_events = file.limits.max_queue_events.unwrap_or(quota.max_events);
        if let Some(s) = &file.limits.max_queue_bytes {
            match s.parse::<bytesize::ByteSize>() {
                Ok(b) => quota.max_bytes = b.as_u64(),
                Err(_) => problems.push(format!(
                    "limits.max_queue_bytes = \"{s}\" is not a size: write it with its unit, e.g. \"256MiB\""
                )),
            }
        }
        let batch_max = file.delivery.batch_max.unwrap_or(defaults.batch_max);
        if batch_max == 0 || batch_max > MAX_BATCH {
            problems.push(format!(
                "delivery.batch_max = {batch_max} is out of range: 1 to {MAX_BATCH}"
            ));
        }
        let workers = file.delivery.workers.unwrap_or(1);
        if workers == 0 || workers > 64 {
            problems.push(format!(
                "delivery.workers = {workers} is out of range: 1 to 64"
            ));
        }
        let key = file
            .delivery
            .key
            .clone()
            .unwrap_or_else(|| "subject".into());
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            problems.push(format!(
                "delivery.key = \"{key}\" is not an attribute name: id, source, type, subject, topic or an extension"
            ));
        }
        let mut retry = defaults.retry;
        if let Some(r) = &file.delivery.retry {
            retry.attempts = r.attempts.unwrap_or(retry.attempts);
            if retry.attempts == 0 {
                problems.push("delivery.retry.attempts = 0: at least 1 (the first try)".into());
            }
            retry.initial = duration(
                r.initial.as_deref(),
                "delivery.retry.initial",
                retry.initial,
                &mut problems,
            );
            retry.max = duration(
                r.max.as_deref(),
                "delivery.retry.max",
                retry.max,
                &mut problems,
            );
        }
        if !problems.is_empty() {
            return Err(problems.join("\n"));
        }
        Ok(Self {
            subscribe,
            publish,
            memory,
            call_timeout,
            batch_max,
            retry,
            quota,
            workers,
            key,
            config: file
                .config
                .into_iter()
                .map(|(k, v)| (k, config_value(v)))
                .collect(),
        })
    }
}

fn patterns(items: &[String], field: &str, problems: &mut Vec<String>) -> Patterns {
    let mut ok = Vec::new();
    for item in items {
        match weft_core::Pattern::parse(item) {
            Ok(p) => ok.push(p),
            Err(e) => problems.push(format!("{field}: {e}")),
        }
    }
    Patterns::new(ok)
}

fn duration(
    value: Option<&str>,
    field: &str,
    default: Duration,
    problems: &mut Vec<String>,
) -> Duration {
    match value {
        None => default,
        Some(s) => humantime::parse_duration(s).unwrap_or_else(|e| {
            problems.push(format!(
                "{field} = \"{s}\" is not a duration ({e}): write it with its unit, e.g. \"100ms\" or \"5s\""
            ));
            default
        }),
    }
}

/// Strings as they are; other scalars in their TOML form; arrays and tables as JSON.
fn config_value(v: toml::Value) -> String {
    match v {
        toml::Value::String(s) => s,
        toml::Value::Array(_) | toml::Value::Table(_) => {
            serde_json::to_string(&v).unwrap_or_default()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn a_full_manifest_parses_with_units() {
        let m = Manifest::parse(
            r#"
subscribe = ["orders/>"]
publish = ["orders/enriched/>"]
[limits]
memory = "32MiB"
call_timeout = "250ms"
[delivery]
batch_max = 16
retry = { attempts = 3, initial = "10ms", max = "1s" }
[config]
currency = "EUR"
rate = 2
on = true
[config.rename]
cust = "customer"
"#,
            &Defaults::default(),
        )
        .unwrap();
        assert_eq!(m.memory, 32 * 1024 * 1024);
        assert_eq!(m.call_timeout, Duration::from_millis(250));
        assert_eq!(m.batch_max, 16);
        assert_eq!(m.retry.attempts, 3);
        assert_eq!(m.retry.max, Duration::from_secs(1));
        let get = |k: &str| m.config.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("currency"), "EUR");
        assert_eq!(get("rate"), "2");
        assert_eq!(get("on"), "true");
        assert_eq!(get("rename"), r#"{"cust":"customer"}"#);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Manifest::parse(
            r#"
subscribe = ["a//b"]
publish = ["x/>/y"]
[limits]
memory = "lots"
call_timeout = "soon"
"#,
            &Defaults::default(),
        )
        .unwrap_err();
        for needle in [
            "subscribe:",
            "publish:",
            "limits.memory",
            "limits.call_timeout",
        ] {
            assert!(err.contains(needle), "{needle} missing in: {err}");
        }
    }

    #[test]
    fn unknown_fields_and_missing_subscriptions_are_refused() {
        let err = Manifest::parse(
            "subscribe = [\"a\"]\nsubscrbe = [\"b\"]",
            &Defaults::default(),
        )
        .unwrap_err();
        assert!(err.contains("unknown field `subscrbe`"), "{err}");
        let err = Manifest::parse("publish = [\"a\"]", &Defaults::default()).unwrap_err();
        assert!(err.contains("`subscribe` is empty"), "{err}");
    }
}

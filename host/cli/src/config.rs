//! The host config file (`--config`, TOML): what the flags do not cover.
//!
//! Strict like manifests: unknown fields are errors and units are in the values.
//! Flags (with `WEFT_*` environment twins) say where things run; this file says how.

use std::path::Path;
use std::time::Duration;

use std::collections::BTreeMap;

use anyhow::Context as _;
use serde::Deserialize;
use weft_runtime::Defaults;

use crate::auth::Grant;
use crate::secrets::{SecretSource, Secrets};

#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Largest request body accepted by the ingest endpoint.
    pub max_body: usize,
    /// Most events in one batch request.
    pub max_batch_events: usize,
    pub dedup_window: Duration,
    /// Most events merged into one store commit (group commit).
    pub commit_max_events: usize,
    /// Longest the store waits for more writes before committing.
    pub commit_max_delay: Duration,
    pub modules: Defaults,
    /// How the runtime is set up (`[modules] pool_instances`).
    pub runtime: weft_runtime::RuntimeConfig,
    /// Durable subscriptions for consumers that are not modules, by name; they
    /// collect from the host's start and are read with the pull API.
    pub subscriptions: Vec<(weft_core::Name, weft_core::Patterns, weft_core::Quota)>,
    pub disk: weft_core::DiskQuota,
    /// `always` (fsync before every acknowledgement, grouped) or `interval`.
    pub durable: bool,
    pub sync_interval: Duration,
    pub engine: weft_store::EngineKind,
    /// The store engine's page cache.
    pub store_cache: u64,
    /// How often one event may be replayed from an error queue before replays of
    /// it are refused (a repair loop stops).
    pub max_replays: u32,
    /// How long error records are kept before they are purged.
    pub error_retention: Duration,
    /// Most error records one module may hold; at the limit its worker pauses
    /// (events wait in its queue) rather than drop a failure.
    pub max_error_records: usize,
    /// How long a removed module's subscription keeps collecting, so that putting
    /// the module back resumes with nothing missed.
    pub keep_removed: Duration,
    /// `[secrets]`, resolved at start; module manifests and tokens refer to them by name.
    pub secrets: Secrets,
    /// `[tokens.NAME]`: the API's clients and their grants. None: the API is open,
    /// on loopback only.
    pub tokens: Vec<Grant>,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            max_body: 1024 * 1024,
            max_batch_events: 1000,
            dedup_window: Duration::from_secs(24 * 3600),
            commit_max_events: 1024,
            commit_max_delay: Duration::ZERO,
            modules: Defaults::default(),
            runtime: weft_runtime::RuntimeConfig::default(),
            subscriptions: Vec::new(),
            disk: weft_core::DiskQuota::default(),
            durable: true,
            sync_interval: Duration::from_millis(100),
            engine: weft_store::EngineKind::default(),
            store_cache: 64 * 1024 * 1024,
            max_replays: 3,
            error_retention: Duration::from_secs(7 * 24 * 3600),
            max_error_records: 100_000,
            keep_removed: Duration::from_secs(3600),
            secrets: Secrets::default(),
            tokens: Vec::new(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    ingest: IngestFile,
    #[serde(default)]
    store: StoreFile,
    #[serde(default)]
    modules: ModulesFile,
    #[serde(default)]
    subscriptions: std::collections::BTreeMap<String, SubscriptionFile>,
    #[serde(default)]
    errors: ErrorsFile,
    #[serde(default)]
    secrets: BTreeMap<String, SecretSource>,
    #[serde(default)]
    tokens: BTreeMap<String, TokenFile>,
}

/// `[tokens.NAME]`: one API client. The token itself is always a secret's value.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    /// `{ secret = "NAME" }`; read as a plain value to explain what else is refused.
    token: toml::Value,
    #[serde(default)]
    publish: Vec<String>,
    #[serde(default)]
    tap: Vec<String>,
    #[serde(default)]
    admin: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ErrorsFile {
    max_replays: Option<u32>,
    retention: Option<String>,
    max_records: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionFile {
    subscribe: Vec<String>,
    max_queue_events: Option<u64>,
    max_queue_bytes: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct IngestFile {
    max_body: Option<String>,
    max_batch_events: Option<usize>,
    dedup_window: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    commit_max_events: Option<usize>,
    commit_max_delay: Option<String>,
    max_disk: Option<String>,
    min_free_disk: Option<String>,
    durability: Option<String>,
    sync_interval: Option<String>,
    engine: Option<String>,
    cache: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ModulesFile {
    memory: Option<String>,
    call_timeout: Option<String>,
    batch_max: Option<usize>,
    max_queue_events: Option<u64>,
    max_queue_bytes: Option<String>,
    keep_removed: Option<String>,
    pool_instances: Option<u32>,
}

impl HostConfig {
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: File = toml::from_str(text)?;
        let mut c = Self::default();
        let mut problems = Vec::new();
        if let Some(s) = &file.ingest.max_body {
            match s.parse::<bytesize::ByteSize>() {
                Ok(b) => c.max_body = usize::try_from(b.as_u64()).unwrap_or(usize::MAX),
                Err(_) => problems.push(format!(
                    "ingest.max_body = \"{s}\" is not a size like \"1MiB\""
                )),
            }
        }
        c.max_batch_events = file.ingest.max_batch_events.unwrap_or(c.max_batch_events);
        dur(
            &file.ingest.dedup_window,
            "ingest.dedup_window",
            &mut c.dedup_window,
            &mut problems,
        );
        c.commit_max_events = file.store.commit_max_events.unwrap_or(c.commit_max_events);
        dur(
            &file.store.commit_max_delay,
            "store.commit_max_delay",
            &mut c.commit_max_delay,
            &mut problems,
        );
        if let Some(s) = &file.modules.memory {
            match s.parse::<bytesize::ByteSize>() {
                Ok(b) => c.modules.memory = b.as_u64(),
                Err(_) => problems.push(format!(
                    "modules.memory = \"{s}\" is not a size like \"64MiB\""
                )),
            }
        }
        dur(
            &file.modules.call_timeout,
            "modules.call_timeout",
            &mut c.modules.call_timeout,
            &mut problems,
        );
        c.modules.batch_max = file.modules.batch_max.unwrap_or(c.modules.batch_max);
        c.runtime.pool_instances = file
            .modules
            .pool_instances
            .unwrap_or(c.runtime.pool_instances);
        dur(
            &file.modules.keep_removed,
            "modules.keep_removed",
            &mut c.keep_removed,
            &mut problems,
        );
        c.max_replays = file.errors.max_replays.unwrap_or(c.max_replays);
        dur(
            &file.errors.retention,
            "errors.retention",
            &mut c.error_retention,
            &mut problems,
        );
        c.max_error_records = file.errors.max_records.unwrap_or(c.max_error_records);
        match file.store.durability.as_deref() {
            None | Some("always") => c.durable = true,
            Some("interval") => c.durable = false,
            Some(other) => problems.push(format!(
                "store.durability = \"{other}\": \"always\" (fsync before every acknowledgement) or \"interval\""
            )),
        }
        dur(
            &file.store.sync_interval,
            "store.sync_interval",
            &mut c.sync_interval,
            &mut problems,
        );
        size(
            &file.store.cache,
            "store.cache",
            &mut c.store_cache,
            &mut problems,
        );
        if let Some(e) = &file.store.engine {
            match e.parse() {
                Ok(kind) => c.engine = kind,
                Err(_) => problems.push(format!("store.engine = \"{e}\": \"redb\" or \"sled\"")),
            }
        }
        size(
            &file.store.max_disk,
            "store.max_disk",
            &mut c.disk.max_bytes,
            &mut problems,
        );
        size(
            &file.store.min_free_disk,
            "store.min_free_disk",
            &mut c.disk.min_free,
            &mut problems,
        );
        let q = &mut c.modules.quota;
        q.max_events = file.modules.max_queue_events.unwrap_or(q.max_events);
        size(
            &file.modules.max_queue_bytes,
            "modules.max_queue_bytes",
            &mut q.max_bytes,
            &mut problems,
        );
        for (name, sub) in file.subscriptions {
            let valid = weft_core::Name::parse(&name)
                .map_err(|e| problems.push(format!("subscriptions.{name}: {e}")))
                .ok();
            let mut quota = weft_core::Quota::default();
            quota.max_events = sub.max_queue_events.unwrap_or(quota.max_events);
            let field = format!("subscriptions.{name}.max_queue_bytes");
            size(
                &sub.max_queue_bytes,
                &field,
                &mut quota.max_bytes,
                &mut problems,
            );
            match weft_core::Patterns::parse(&sub.subscribe) {
                Ok(p) if !p.is_empty() => c.subscriptions.extend(valid.map(|n| (n, p, quota))),
                Ok(_) => problems.push(format!("subscriptions.{name}.subscribe is empty")),
                Err(e) => problems.push(format!("subscriptions.{name}.subscribe: {e}")),
            }
        }
        match Secrets::resolve(&file.secrets, |var| std::env::var(var)) {
            Ok(secrets) => c.secrets = secrets,
            Err(p) => problems.extend(p),
        }
        c.tokens = tokens(file.tokens, &file.secrets, &c.secrets, &mut problems);
        if problems.is_empty() {
            Ok(c)
        } else {
            anyhow::bail!("{}", problems.join("\n"))
        }
    }
}

/// The grants of `[tokens]`, each token the value of a secret. A secret that is
/// declared but could not be resolved was reported already.
fn tokens(
    files: BTreeMap<String, TokenFile>,
    declared: &BTreeMap<String, SecretSource>,
    secrets: &Secrets,
    problems: &mut Vec<String>,
) -> Vec<Grant> {
    let mut grants: Vec<Grant> = Vec::new();
    for (name, t) in files {
        let at = format!("tokens.{name}");
        if let Err(e) = weft_core::Name::parse(&name) {
            problems.push(format!(
                "{at}: a token name is {} ({})",
                weft_core::name::NAME_RULE,
                e.problem
            ));
        }
        let secret = match t.token.get("secret").and_then(toml::Value::as_str) {
            Some(s) if t.token.as_table().is_some_and(|table| table.len() == 1) => s.to_owned(),
            _ => {
                problems.push(format!(
                    "{at}.token must be {{ secret = \"NAME\" }}, naming an entry of [secrets]: token values are never written in the config"
                ));
                continue;
            }
        };
        let mut patterns = |field: &str, list: &[String]| match weft_core::Patterns::parse(list) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("{at}.{field}: {e}"));
                weft_core::Patterns::default()
            }
        };
        let publish = patterns("publish", &t.publish);
        let tap = patterns("tap", &t.tap);
        if t.publish.is_empty() && t.tap.is_empty() && !t.admin {
            problems.push(format!(
                "{at} grants nothing: give `publish`, `tap` or `admin = true`"
            ));
        }
        let Some(value) = secrets.get(&secret) else {
            if !declared.contains_key(&secret) {
                problems.push(format!(
                    "{at}.token: no secret `{secret}`; declare it under [secrets], e.g. {secret} = {{ env = \"{secret}\" }}"
                ));
            }
            continue;
        };
        let grant = Grant::new(name.clone(), value, publish, tap, t.admin);
        if let Some(other) = grants.iter().find(|g| g.same_token(&grant)) {
            problems.push(format!(
                "{at} and tokens.{} have the same token value: give each client its own",
                other.name
            ));
        }
        grants.push(grant);
    }
    grants
}

fn dur(value: &Option<String>, field: &str, into: &mut Duration, problems: &mut Vec<String>) {
    if let Some(s) = value {
        match humantime::parse_duration(s) {
            Ok(d) => *into = d,
            Err(e) => problems.push(format!(
                "{field} = \"{s}\" is not a duration like \"5s\" ({e})"
            )),
        }
    }
}

fn size(value: &Option<String>, field: &str, into: &mut u64, problems: &mut Vec<String>) {
    if let Some(s) = value {
        match s.parse::<bytesize::ByteSize>() {
            Ok(b) => *into = b.as_u64(),
            Err(_) => problems.push(format!("{field} = \"{s}\" is not a size like \"256MiB\"")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn a_full_config_parses_with_units() {
        let c = HostConfig::parse(
            r#"
[ingest]
max_body = "2MiB"
dedup_window = "1h"
[store]
durability = "interval"
sync_interval = "50ms"
engine = "sled"
cache = "16MiB"
max_disk = "1GiB"
min_free_disk = "10MiB"
[modules]
memory = "32MiB"
max_queue_events = 10
pool_instances = 16
[errors]
max_replays = 5
retention = "2d"
[subscriptions.audit]
subscribe = ["orders/>"]
max_queue_bytes = "1MiB"
"#,
        )
        .unwrap();
        assert_eq!(c.max_body, 2 * 1024 * 1024);
        assert!(!c.durable);
        assert_eq!(c.sync_interval, Duration::from_millis(50));
        assert_eq!(c.engine, weft_store::EngineKind::Sled);
        assert_eq!(c.store_cache, 16 * 1024 * 1024);
        assert_eq!(c.disk.max_bytes, 1024 * 1024 * 1024);
        assert_eq!(c.modules.quota.max_events, 10);
        assert_eq!(c.runtime.pool_instances, 16);
        assert_eq!(c.max_replays, 5);
        assert_eq!(c.subscriptions[0].0, "audit");
        assert_eq!(c.subscriptions[0].2.max_bytes, 1024 * 1024);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = HostConfig::parse(
            "[store]\ndurability = \"sometimes\"\ncache = \"big\"\n[ingest]\ndedup_window = \"long\"\n",
        )
        .unwrap_err()
        .to_string();
        for needle in ["store.durability", "store.cache", "ingest.dedup_window"] {
            assert!(err.contains(needle), "{needle} missing in: {err}");
        }
        let err = HostConfig::parse("[store]\nengin = \"redb\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `engin`"), "{err}");
    }

    fn secret_file(dir: &tempfile::TempDir, name: &str, value: &str) -> String {
        let path = dir.path().join(name);
        std::fs::write(&path, value).unwrap();
        format!("{:?}", path.display().to_string())
    }

    #[test]
    fn tokens_take_their_values_from_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let c = HostConfig::parse(&format!(
            r#"
[secrets]
CI = {{ file = {} }}
OPS = {{ file = {} }}
[tokens.ci]
token = {{ secret = "CI" }}
publish = ["orders/>"]
tap = ["orders/*"]
[tokens.ops]
token = {{ secret = "OPS" }}
admin = true
"#,
            secret_file(&dir, "ci", "ci-token\n"),
            secret_file(&dir, "ops", "ops-token"),
        ))
        .unwrap();
        assert_eq!(c.secrets.get("CI"), Some("ci-token"));
        let names: Vec<_> = c.tokens.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["ci", "ops"]);
        let auth = crate::auth::Auth::new(c.tokens.clone());
        let ci = auth.authenticate("ci-token").unwrap();
        assert_eq!(ci.publish.iter().next().unwrap().as_str(), "orders/>");
        assert!(!ci.admin);
        assert!(auth.authenticate("ops-token").unwrap().admin);
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("ci-token") && !shown.contains("ops-token"),
            "{shown}"
        );
    }

    #[test]
    fn every_token_problem_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let err = HostConfig::parse(&format!(
            r#"
[secrets]
SAME = {{ file = {} }}
[tokens.inline]
token = "abc"
publish = [">"]
[tokens.undeclared]
token = {{ secret = "NOPE" }}
publish = [">"]
[tokens.empty]
token = {{ secret = "SAME" }}
[tokens.bad]
token = {{ secret = "SAME" }}
publish = ["orders//x"]
[tokens.twin]
token = {{ secret = "SAME" }}
tap = [">"]
[tokens."a b"]
token = {{ secret = "SAME" }}
admin = true
"#,
            secret_file(&dir, "same", "same"),
        ))
        .unwrap_err()
        .to_string();
        for needle in [
            "tokens.inline.token must be { secret = \"NAME\" }",
            "tokens.undeclared.token: no secret `NOPE`",
            "tokens.empty grants nothing",
            "tokens.bad.publish: topic `orders//x` has an empty level",
            "have the same token value",
            "tokens.a b: a token name is",
        ] {
            assert!(err.contains(needle), "{needle} missing in: {err}");
        }
        let err = HostConfig::parse("[tokens.x]\ntoken = { secret = \"A\" }\npublsh = []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `publsh`"), "{err}");
    }

    #[test]
    fn a_missing_secret_names_the_secret_and_its_source() {
        let err = HostConfig::parse(
            "[secrets]\nGH = { env = \"WEFT_TEST_SURELY_UNSET_VARIABLE\" }\nF = { file = \"/nonexistent/weft\" }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(
                "secrets.GH: environment variable `WEFT_TEST_SURELY_UNSET_VARIABLE` is not set"
            ),
            "{err}"
        );
        assert!(
            err.contains("secrets.F: cannot read the file /nonexistent/weft"),
            "{err}"
        );
    }
}

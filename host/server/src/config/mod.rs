//! The host config: where a host keeps things (the flags) and how it runs (the
//! config file, `--config`, TOML).
//!
//! The config is composed of the parts' own settings, not a flat list: the store's
//! [`StoreConfig`], the runtime's [`RuntimeConfig`], the manifests' [`Defaults`],
//! the disk quota, each read from its table. Like manifests, the file is strict
//! (unknown fields are errors), units are written in the values (`"64MiB"`,
//! `"5s"`, parsed by [`weft_core::units`]), and every problem is reported at once.
//! Flags (with `WEFT_*` environment twins) say where things are; the file says how.
//!
//! | module | what |
//! |---|---|
//! | `file` | the file's tables as read, every field optional |
//! | `tokens` | `[tokens.NAME]`: API clients, each token a secret's value |
//! | here | [`HostConfig`], its parts and their defaults, and [`HostConfig::parse`] |

mod file;
mod tokens;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use weft_core::secrets::Secrets;
use weft_core::{DiskQuota, Patterns, Quota, units};
use weft_runtime::{Defaults, RuntimeConfig};
use weft_store::StoreConfig;

use crate::auth::Grant;

/// Where a host keeps and finds things (the flags of `weft run`).
#[derive(Debug, Clone)]
pub struct Paths {
    pub modules: PathBuf,
    pub data: PathBuf,
    /// The compile cache; `None` puts it under the data folder.
    pub cache: Option<PathBuf>,
}

impl Default for Paths {
    fn default() -> Self {
        Self {
            modules: "modules".into(),
            data: "data".into(),
            cache: None,
        }
    }
}

impl Paths {
    /// The store's file (redb) or the base of its folder (sled).
    pub fn store(&self) -> PathBuf {
        self.data.join("weft.redb")
    }

    pub fn cache(&self) -> PathBuf {
        self.cache
            .clone()
            .unwrap_or_else(|| self.data.join("cache"))
    }

    /// Where subscriptions created over the API are kept.
    pub fn subscriptions(&self) -> PathBuf {
        self.data.join("subscriptions.json")
    }
}

/// `[ingest]`: what one request may carry.
#[derive(Debug, Clone, Copy)]
pub struct IngestConfig {
    /// Largest request body accepted (ingest and webhooks).
    pub max_body: usize,
    /// Most events in one batch request.
    pub max_batch_events: usize,
}

/// `[modules]` beyond the manifests' defaults: how modules are run.
#[derive(Debug, Clone)]
pub struct ModulesConfig {
    /// Limits a manifest may leave out; its `secrets` are the host's.
    pub defaults: Defaults,
    /// How the runtime is set up (`pool_instances`).
    pub runtime: RuntimeConfig,
    /// How long a removed module's subscription keeps collecting, so that putting
    /// the module back resumes with nothing missed.
    pub keep_removed: Duration,
    /// Tiered compilation (`tiered`): a new version serves first from Winch's
    /// code while Cranelift's is compiled in the background (see the supervisor).
    pub tiered: bool,
}

/// `[errors]`: the error queues.
#[derive(Debug, Clone, Copy)]
pub struct ErrorsConfig {
    /// How often one event may be replayed before replays of it are refused (a
    /// repair loop stops).
    pub max_replays: u32,
    /// How long records are kept before they are purged.
    pub retention: Duration,
    /// Most records one module may hold; at the limit its worker pauses (events
    /// wait in its queue) rather than drop a failure.
    pub max_records: usize,
}

/// `[requests]`: how long callers of `POST /v1/requests/{topic}` wait for
/// their reply, and what is kept for those who stopped waiting.
#[derive(Debug, Clone, Copy)]
pub struct RequestsConfig {
    /// The wait when the request names none (`?timeout=`).
    pub timeout: Duration,
    /// The longest wait a request may ask for.
    pub max_timeout: Duration,
    /// How many callers may wait at once, and how long an unread reply is kept.
    pub replies: weft_core::reply::Settings,
}

/// `[subscriptions.NAME]`: a durable subscription for a consumer that is not a
/// module; it collects from the host's start and is read with the pull API.
#[derive(Debug, Clone)]
pub struct SubscriptionConfig {
    pub name: weft_core::Name,
    pub patterns: Patterns,
    pub quota: Quota,
}

#[derive(Debug, Clone)]
pub struct HostConfig {
    pub paths: Paths,
    pub ingest: IngestConfig,
    /// `[http]`: the listener's timeouts and connection cap.
    pub http: crate::edge::Settings,
    /// The store's own settings; `path` follows [`Paths::store`] (see
    /// [`HostConfig::with_paths`]).
    pub store: StoreConfig,
    pub disk: DiskQuota,
    pub modules: ModulesConfig,
    pub errors: ErrorsConfig,
    pub requests: RequestsConfig,
    pub subscriptions: Vec<SubscriptionConfig>,
    /// `[secrets]`, resolved at start; manifests and tokens refer to them by name.
    pub secrets: Secrets,
    /// `[tokens.NAME]`: the API's clients and their grants. None: the API is open,
    /// on loopback only.
    pub tokens: Vec<Grant>,
    /// `[mesh]`: the link to other hosts through NATS; none without the table.
    pub mesh: Option<weft_mesh::MeshConfig>,
    /// `[telemetry] metrics`: serve `/metrics` (on by default).
    pub metrics: bool,
}

impl Default for HostConfig {
    fn default() -> Self {
        let paths = Paths::default();
        Self {
            store: StoreConfig {
                // A format-1 store's events are re-encoded at open (store format 2).
                upgrade: Some(weft_core::event::upgrade_v1),
                ..StoreConfig::new(paths.store())
            },
            paths,
            ingest: IngestConfig {
                max_body: 1024 * 1024,
                max_batch_events: 1000,
            },
            http: crate::edge::Settings::default(),
            disk: DiskQuota::default(),
            modules: ModulesConfig {
                defaults: Defaults::default(),
                runtime: RuntimeConfig::default(),
                keep_removed: Duration::from_secs(3600),
                tiered: false,
            },
            errors: ErrorsConfig {
                max_replays: 3,
                retention: Duration::from_secs(7 * 24 * 3600),
                max_records: 100_000,
            },
            requests: RequestsConfig {
                timeout: Duration::from_secs(30),
                max_timeout: Duration::from_secs(300),
                replies: weft_core::reply::Settings::default(),
            },
            subscriptions: Vec::new(),
            secrets: Secrets::default(),
            tokens: Vec::new(),
            mesh: None,
            metrics: true,
        }
    }
}

impl HostConfig {
    /// The config of `path` (the defaults without one).
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// The same config with its folders at `paths`.
    pub fn with_paths(mut self, paths: Paths) -> Self {
        self.store.path = paths.store();
        self.paths = paths;
        self
    }

    /// Parses a config file's text; the error lists every problem, one per line.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: file::File = toml::from_str(text).map_err(|e| {
            anyhow::anyhow!(weft_core::excerpt::toml_error(text, e.span(), e.message()))
        })?;
        let mut c = Self::default();
        let mut p = Problems::default();
        // 1. [ingest]
        p.size_usize(
            &file.ingest.max_body,
            "ingest.max_body",
            &mut c.ingest.max_body,
        );
        c.ingest.max_batch_events = file
            .ingest
            .max_batch_events
            .unwrap_or(c.ingest.max_batch_events);
        p.duration(
            &file.ingest.dedup_window,
            "ingest.dedup_window",
            &mut c.store.dedup_window,
        );
        // 2. [http]
        http(&file.http, &mut c.http, &mut p);
        // 3. [store]
        store(&file.store, &mut c, &mut p);
        // 4. [modules]
        modules(&file.modules, &mut c.modules, &mut p);
        // 5. [errors]
        let e = &file.errors;
        c.errors.max_replays = e.max_replays.unwrap_or(c.errors.max_replays);
        p.duration(&e.retention, "errors.retention", &mut c.errors.retention);
        c.errors.max_records = e.max_records.unwrap_or(c.errors.max_records);
        // 5b. [requests]
        let r = &file.requests;
        let req = &mut c.requests;
        p.duration(&r.timeout, "requests.timeout", &mut req.timeout);
        p.duration(&r.max_timeout, "requests.max_timeout", &mut req.max_timeout);
        let keep = &mut req.replies.keep;
        p.duration(&r.keep_replies, "requests.keep_replies", keep);
        req.replies.max_waiting = r.max_waiting.unwrap_or(req.replies.max_waiting);
        if req.timeout > req.max_timeout {
            p.0.push(format!(
                "requests.timeout ({:?}) is longer than requests.max_timeout ({:?}): raise max_timeout or lower timeout",
                req.timeout, req.max_timeout
            ));
        }
        // 6. [subscriptions.NAME]
        for (name, sub) in file.subscriptions {
            let mut quota = Quota::default();
            quota.max_events = sub.max_queue_events.unwrap_or(quota.max_events);
            let field = format!("subscriptions.{name}.max_queue_bytes");
            p.size(&sub.max_queue_bytes, &field, &mut quota.max_bytes);
            let valid = weft_core::Name::parse(&name)
                .map_err(|e| p.0.push(format!("subscriptions.{name}: {e}")))
                .ok();
            match Patterns::parse(&sub.subscribe) {
                Ok(patterns) if !patterns.is_empty() => {
                    if let Some(name) = valid {
                        c.subscriptions.push(SubscriptionConfig {
                            name,
                            patterns,
                            quota,
                        });
                    }
                }
                Ok(_) => p.0.push(format!("subscriptions.{name}.subscribe is empty")),
                Err(e) => p.0.push(format!("subscriptions.{name}.subscribe: {e}")),
            }
        }
        // 7. [secrets], then [tokens] that name them. Manifests see the secrets too.
        let scopes = crate::secrets::scopes(
            &file.secrets,
            &tokens::token_secrets(&file.tokens),
            &mut p.0,
        );
        match crate::secrets::resolve(&file.secrets, |var| std::env::var(var)) {
            Ok(secrets) => c.secrets = secrets.with_scopes(scopes),
            Err(problems) => p.0.extend(problems),
        }
        c.modules.defaults.secrets = c.secrets.clone();
        c.tokens = tokens::tokens(file.tokens, &file.secrets, &c.secrets, &mut p.0);
        // 7. [mesh], whose credentials are secrets too.
        if let Some(mesh) = file.mesh {
            c.mesh = weft_mesh::MeshConfig::parse(mesh, &c.secrets, &mut p.0);
        }
        c.metrics = file.telemetry.metrics.unwrap_or(true);
        if p.0.is_empty() {
            Ok(c)
        } else {
            anyhow::bail!("{}", weft_core::excerpt::bounded(&p.0.join("\n")))
        }
    }
}

/// `[http]`. Timeouts must be more than zero: a zero would close every
/// connection at once. The rate is written per second (`"16KiB/s"`).
fn http(f: &file::HttpFile, h: &mut crate::edge::Settings, p: &mut Problems) {
    for (value, field, into) in [
        (
            &f.header_timeout,
            "http.header_timeout",
            &mut h.header_timeout,
        ),
        (&f.idle_timeout, "http.idle_timeout", &mut h.idle_timeout),
        (&f.body_timeout, "http.body_timeout", &mut h.body_timeout),
    ] {
        p.duration(value, field, into);
        if into.is_zero() {
            p.0.push(format!(
                "{field} = \"0s\": a timeout must be more than zero"
            ));
        }
    }
    if let Some(rate) = &f.body_min_rate {
        match rate.strip_suffix("/s").map(|size| units::parse_size(size.trim())) {
            Some(Ok(bytes)) if bytes > 0 => h.body_min_rate = bytes,
            _ => p.0.push(format!(
                "http.body_min_rate = \"{rate}\" is not a rate like \"16KiB/s\" (more than zero bytes per second)"
            )),
        }
    }
    match &f.max_connections {
        None => {}
        Some(toml::Value::String(s)) if s == "auto" => h.max_connections = None,
        Some(toml::Value::Integer(n)) if *n > 0 => {
            h.max_connections = Some(usize::try_from(*n).unwrap_or(usize::MAX));
        }
        Some(other) => p.0.push(format!(
            "http.max_connections = {other}: a number of connections (1 or more) or \"auto\" (half the open-file limit, at most 10000)"
        )),
    }
    h.tls = f.tls.as_ref().map(|t| crate::edge::tls::TlsFiles {
        cert: t.cert.clone(),
        key: t.key.clone(),
    });
}

fn store(f: &file::StoreFile, c: &mut HostConfig, p: &mut Problems) {
    let s = &mut c.store;
    s.max_batch = f.commit_max_events.unwrap_or(s.max_batch);
    p.duration(
        &f.commit_max_delay,
        "store.commit_max_delay",
        &mut s.max_delay,
    );
    match f.durability.as_deref() {
        None | Some("always") => s.durable = true,
        Some("interval") => s.durable = false,
        Some(other) => p.0.push(format!(
            "store.durability = \"{other}\": \"always\" (fsync before every acknowledgement) or \"interval\""
        )),
    }
    p.duration(
        &f.sync_interval,
        "store.sync_interval",
        &mut s.sync_interval,
    );
    p.size_usize(&f.cache, "store.cache", &mut s.cache_bytes);
    if let Some(e) = &f.engine {
        match e.parse() {
            Ok(kind) => s.engine = kind,
            Err(_) => {
                p.0.push(format!("store.engine = \"{e}\": \"redb\" or \"sled\""))
            }
        }
    }
    p.size(&f.max_disk, "store.max_disk", &mut c.disk.max_bytes);
    p.size(
        &f.min_free_disk,
        "store.min_free_disk",
        &mut c.disk.min_free,
    );
}

fn modules(f: &file::ModulesFile, m: &mut ModulesConfig, p: &mut Problems) {
    let d = &mut m.defaults;
    p.size(&f.memory, "modules.memory", &mut d.memory);
    p.duration(&f.call_timeout, "modules.call_timeout", &mut d.call_timeout);
    d.batch_max = f.batch_max.unwrap_or(d.batch_max);
    d.quota.max_events = f.max_queue_events.unwrap_or(d.quota.max_events);
    p.size(
        &f.max_queue_bytes,
        "modules.max_queue_bytes",
        &mut d.quota.max_bytes,
    );
    m.runtime.pool_instances = f.pool_instances.unwrap_or(m.runtime.pool_instances);
    m.tiered = f.tiered.unwrap_or(m.tiered);
    p.duration(&f.keep_removed, "modules.keep_removed", &mut m.keep_removed);
}

/// Every problem found, one line each, naming the field and its value.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn duration(&mut self, value: &Option<String>, field: &str, into: &mut Duration) {
        if let Some(s) = value {
            match units::parse_duration(s) {
                Ok(d) => *into = d,
                Err(e) => self.0.push(format!("{field} = {e}")),
            }
        }
    }

    fn size(&mut self, value: &Option<String>, field: &str, into: &mut u64) {
        if let Some(s) = value {
            match units::parse_size(s) {
                Ok(b) => *into = b,
                Err(e) => self.0.push(format!("{field} = {e}")),
            }
        }
    }

    fn size_usize(&mut self, value: &Option<String>, field: &str, into: &mut usize) {
        let mut v = *into as u64;
        self.size(value, field, &mut v);
        *into = usize::try_from(v).unwrap_or(usize::MAX);
    }
}

#[cfg(test)]
mod tests;

//! `NAME.toml`, the manifest beside each `NAME.wasm`: what the module subscribes
//! to, where it may publish, its limits, delivery settings and config.
//!
//! Parsing is strict (unknown fields are errors, units are explicit in the value)
//! and reports every problem at once, so an operator fixes a manifest in one go.
//!
//! What a module may touch beyond its topics is granted here and nowhere else:
//! `[http]` (outbound origins, see [`crate::http`]) and `[folders]` (host folders
//! mapped into the guest, read-only unless `write = true`). Which fields apply
//! depends on the module's world, known only once its `.wasm` is compiled, so
//! [`Manifest::check_world`] finishes the check then.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
    /// Values a manifest's config may refer to by name (`{ secret = "NAME" }`).
    pub secrets: Secrets,
}

/// Secret values held by the host (its config's `[secrets]`), by name. Never
/// printed: `Debug` shows the names only.
#[derive(Clone, Default)]
pub struct Secrets(Arc<BTreeMap<String, String>>);

impl Secrets {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        Self(Arc::new(values))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            memory: 64 * 1024 * 1024,
            call_timeout: Duration::from_millis(500),
            batch_max: 64,
            retry: RetryPolicy::default(),
            quota: weft_core::Quota::default(),
            secrets: Secrets::default(),
        }
    }
}

/// Upper bounds no manifest may exceed.
pub const MAX_MEMORY: u64 = 4 * 1024 * 1024 * 1024;
pub const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(300);
pub const MAX_BATCH: usize = 10_000;

#[derive(Clone)]
pub struct Manifest {
    pub subscribe: Patterns,
    pub publish: Patterns,
    pub memory: u64,
    pub call_timeout: Duration,
    /// Recycle an instance after this many calls (besides the memory watermark,
    /// see `module::RECYCLE_AT_PERCENT`).
    pub recycle_after: Option<u64>,
    pub batch_max: usize,
    pub retry: RetryPolicy,
    /// What may wait in the module's queue before publishers get 429.
    pub quota: weft_core::Quota,
    /// Parallel lanes (instances); order is kept per value of `key`.
    pub workers: usize,
    pub key: String,
    /// The `[config]` table, flattened to strings for the guest's `config` import.
    /// Holds resolved secrets: never log it whole (see `secret_keys`).
    pub config: Vec<(String, String)>,
    /// Config keys whose value is a host secret, shown by name only.
    pub secret_keys: BTreeMap<String, String>,
    /// An ingress connector's triggers.
    pub ingress: Option<Triggers>,
    /// Outbound HTTP this module may make.
    pub http: Arc<crate::http::HttpGrant>,
    /// Host folders mapped into the guest.
    pub folders: Vec<Folder>,
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manifest")
            .field("subscribe", &self.subscribe)
            .field("publish", &self.publish)
            .field("ingress", &self.ingress)
            .field("folders", &self.folders)
            .field(
                "config_keys",
                &self.config.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// What calls an ingress connector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Triggers {
    /// `poll` every so often.
    pub interval: Option<Duration>,
    /// `webhook` for requests to `/hooks/NAME`.
    pub route: bool,
    /// `file` for each file that settles in this host folder.
    pub watch: Option<PathBuf>,
}

/// A host folder mapped into the guest at `guest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub guest: String,
    pub host: PathBuf,
    pub write: bool,
}

/// The world a module's `.wasm` turned out to implement; see [`Manifest::check_world`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Processor,
    Ingress,
    Egress,
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
    ingress: Option<IngressFile>,
    http: Option<HttpFile>,
    #[serde(default)]
    folders: BTreeMap<String, FolderFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IngressFile {
    interval: Option<String>,
    route: Option<bool>,
    watch: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    addresses: Vec<String>,
    timeout: Option<String>,
    max_response: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FolderFile {
    path: String,
    write: Option<bool>,
}

/// Outbound HTTP defaults: a slow or huge answer fails the request, not the host.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
const HTTP_MAX_RESPONSE: u64 = 4 * 1024 * 1024;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    memory: Option<String>,
    call_timeout: Option<String>,
    max_queue_events: Option<u64>,
    max_queue_bytes: Option<String>,
    recycle_after: Option<u64>,
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
        let ingress = file.ingress.as_ref().map(|i| Triggers {
            interval: i.interval.as_deref().map(|s| {
                let d = duration(
                    Some(s),
                    "ingress.interval",
                    Duration::from_secs(1),
                    &mut problems,
                );
                if d < Duration::from_millis(10) {
                    problems.push(format!(
                        "ingress.interval = \"{s}\" is too short: at least 10ms"
                    ));
                }
                d
            }),
            route: i.route.unwrap_or(false),
            watch: i.watch.as_ref().map(PathBuf::from),
        });
        if let Some(t) = &ingress
            && t.interval.is_none()
            && !t.route
            && t.watch.is_none()
        {
            problems.push(
                "[ingress] turns on no trigger: set `interval`, `route = true` or `watch`".into(),
            );
        }
        let http = match &file.http {
            None => crate::http::HttpGrant::none(),
            Some(h) => {
                let timeout = duration(
                    h.timeout.as_deref(),
                    "http.timeout",
                    HTTP_TIMEOUT,
                    &mut problems,
                );
                let max_response = match &h.max_response {
                    None => HTTP_MAX_RESPONSE,
                    Some(s) => s.parse::<bytesize::ByteSize>().map(|b| b.as_u64()).unwrap_or_else(|_| {
                        problems.push(format!("http.max_response = \"{s}\" is not a size: write it with its unit, e.g. \"4MiB\""));
                        HTTP_MAX_RESPONSE
                    }),
                };
                crate::http::HttpGrant::new(&h.allow, &h.addresses, timeout, max_response)
                    .unwrap_or_else(|errors| {
                        problems.extend(errors.problems.into_iter().map(|e| format!("http: {e}")));
                        crate::http::HttpGrant::none()
                    })
            }
        };
        let mut folders = Vec::new();
        for (guest, f) in &file.folders {
            let valid = guest.starts_with('/')
                && guest.len() > 1
                && !guest.split('/').any(|part| part == ".." || part == ".");
            if !valid {
                problems.push(format!(
                    "folders: \"{guest}\" is not a guest path: an absolute path such as \"/out\", without `.` or `..`"
                ));
            }
            if f.path.is_empty() {
                problems.push(format!(
                    "folders.\"{guest}\".path is empty: name a host folder"
                ));
            }
            folders.push(Folder {
                guest: guest.clone(),
                host: PathBuf::from(&f.path),
                write: f.write.unwrap_or(false),
            });
        }
        let mut config = Vec::new();
        let mut secret_keys = BTreeMap::new();
        for (key, value) in file.config {
            match secret_ref(&value) {
                Some(name) => match defaults.secrets.get(name) {
                    Some(v) => {
                        secret_keys.insert(key.clone(), name.to_owned());
                        config.push((key, v.to_owned()));
                    }
                    None => problems.push(format!(
                        "config.{key} refers to secret `{name}`, which the host does not hold: define it in the host config's [secrets]"
                    )),
                },
                None => config.push((key, config_value(value))),
            }
        }
        if !problems.is_empty() {
            return Err(problems.join("\n"));
        }
        Ok(Self {
            subscribe,
            publish,
            memory,
            call_timeout,
            recycle_after: file.limits.recycle_after.filter(|n| *n > 0),
            batch_max,
            retry,
            quota,
            workers,
            key,
            config,
            secret_keys,
            ingress,
            http: Arc::new(http),
            folders,
        })
    }

    /// Finishes the check once the module's world is known: each kind has its
    /// own required and forbidden fields.
    pub fn check_world(&self, kind: Kind) -> Result<(), String> {
        let mut problems = Vec::new();
        let has_subscribe = self.subscribe.iter().next().is_some();
        let has_publish = self.publish.iter().next().is_some();
        match kind {
            Kind::Processor | Kind::Egress => {
                if !has_subscribe {
                    problems.push("`subscribe` is empty: it needs at least one topic pattern to receive events, e.g. subscribe = [\"orders/>\"]".to_owned());
                }
                if self.ingress.is_some() {
                    problems.push("has an [ingress] table, but the module is not an ingress connector (it does not export `weft:integration/source`)".to_owned());
                }
                if kind == Kind::Egress && has_publish {
                    problems.push(
                        "`publish` is set, but an egress connector emits no events: remove it"
                            .to_owned(),
                    );
                }
            }
            Kind::Ingress => {
                if has_subscribe {
                    problems.push("`subscribe` is set, but an ingress connector receives no events: remove it".to_owned());
                }
                if !has_publish {
                    problems.push("`publish` is empty: an ingress connector needs the topics it may emit to, e.g. publish = [\"github/>\"]".to_owned());
                }
                if self.ingress.is_none() {
                    problems.push("has no [ingress] table: turn on a trigger (`interval`, `route = true` or `watch`)".to_owned());
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// Makes relative folder paths relative to `base` (the modules folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        for f in &mut self.folders {
            if f.host.is_relative() {
                f.host = base.join(&f.host);
            }
        }
        if let Some(t) = &mut self.ingress
            && let Some(w) = &mut t.watch
            && w.is_relative()
        {
            *w = base.join(&*w);
        }
    }

    /// The config as it may be shown: secret values replaced by their names.
    pub fn shown_config(&self) -> Vec<(String, String)> {
        self.config
            .iter()
            .map(|(k, v)| match self.secret_keys.get(k) {
                Some(name) => (k.clone(), format!("<secret {name}>")),
                None => (k.clone(), v.clone()),
            })
            .collect()
    }
}

/// `{ secret = "NAME" }`: a value the host holds, named instead of written.
fn secret_ref(v: &toml::Value) -> Option<&str> {
    let t = v.as_table()?;
    if t.len() != 1 {
        return None;
    }
    t.get("secret")?.as_str()
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
        let m = Manifest::parse("publish = [\"a\"]", &Defaults::default()).unwrap();
        let err = m.check_world(Kind::Processor).unwrap_err();
        assert!(err.contains("`subscribe` is empty"), "{err}");
    }

    #[test]
    fn each_world_gets_its_own_fields_checked() {
        let d = Defaults::default();
        let ingress = Manifest::parse(
            "publish = [\"hooks/>\"]\n[ingress]\nroute = true\ninterval = \"5s\"\nwatch = \"inbox\"",
            &d,
        )
        .unwrap();
        ingress.check_world(Kind::Ingress).unwrap();
        let t = ingress.ingress.clone().unwrap();
        assert_eq!(t.interval, Some(Duration::from_secs(5)));
        assert!(t.route);
        let err = ingress.check_world(Kind::Processor).unwrap_err();
        assert!(
            err.contains("[ingress]") && err.contains("subscribe"),
            "{err}"
        );
        let egress = Manifest::parse("subscribe = [\"a/>\"]\npublish = [\"b\"]", &d).unwrap();
        let err = egress.check_world(Kind::Egress).unwrap_err();
        assert!(err.contains("`publish` is set"), "{err}");
        let err = Manifest::parse("publish = [\"a\"]\n[ingress]\n", &d).unwrap_err();
        assert!(err.contains("no trigger"), "{err}");
        let err =
            Manifest::parse("publish = [\"a\"]\n[ingress]\ninterval = \"1us\"", &d).unwrap_err();
        assert!(err.contains("too short"), "{err}");
    }

    #[test]
    fn folders_need_absolute_guest_paths_and_resolve_against_the_modules_folder() {
        let d = Defaults::default();
        let err = Manifest::parse(
            "subscribe = [\"a\"]\n[folders]\n\"out\" = { path = \"x\" }\n\"/a/../b\" = { path = \"y\" }",
            &d,
        )
        .unwrap_err();
        assert!(err.contains("\"out\" is not a guest path"), "{err}");
        assert!(err.contains("\"/a/../b\" is not a guest path"), "{err}");
        let mut m = Manifest::parse(
            "subscribe = [\"a\"]\n[folders]\n\"/out\" = { path = \"out\", write = true }\n\"/in\" = { path = \"/srv/in\" }",
            &d,
        )
        .unwrap();
        m.resolve_paths(Path::new("/mods"));
        assert_eq!(
            m.folders,
            vec![
                Folder {
                    guest: "/in".into(),
                    host: "/srv/in".into(),
                    write: false
                },
                Folder {
                    guest: "/out".into(),
                    host: "/mods/out".into(),
                    write: true
                },
            ]
        );
    }

    #[test]
    fn secrets_resolve_by_name_and_are_never_shown() {
        let d = Defaults {
            secrets: Secrets::new(BTreeMap::from([("GH".to_owned(), "s3cr3t".to_owned())])),
            ..Defaults::default()
        };
        let m = Manifest::parse(
            "subscribe = [\"a\"]\n[config]\ntoken = { secret = \"GH\" }\nplain = \"x\"",
            &d,
        )
        .unwrap();
        assert!(
            m.config
                .contains(&("token".to_owned(), "s3cr3t".to_owned()))
        );
        let shown = format!("{:?} {:?} {:?}", m.shown_config(), m, d);
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("<secret GH>"), "{shown}");
        let err = Manifest::parse(
            "subscribe = [\"a\"]\n[config]\ntoken = { secret = \"NOPE\" }",
            &d,
        )
        .unwrap_err();
        assert!(
            err.contains("secret `NOPE`") && err.contains("[secrets]"),
            "{err}"
        );
    }
}

//! `[mesh]` in the host config: where NATS is, who this host is, what goes out
//! and what comes in.
//!
//! ```toml
//! [mesh]
//! servers = ["nats://127.0.0.1:4222"]   # or tls://...; several for a cluster
//! name = "edge-1"                       # default: the machine's host name
//! prefix = "weft"                       # subjects are PREFIX.level.level
//! stream = "WEFT"                       # created if missing, else bound to as it is
//! replicas = 1                          # when created: R1, or R3 on a cluster
//! max_age = "7d"                        # when created: JetStream's retention
//! max_bytes = "10GiB"
//! duplicate_window = "2m"               # JetStream drops a republish within it
//! max_hops = 8                          # a cycle through processors stops here
//! window = 256                          # publishes in flight per export
//! credentials = { secret = "NATS_CREDS" }   # a .creds file's text, or:
//! # nkey = { secret = "NATS_SEED" } / user = "edge1" + password = { secret = "..." } / token = { secret = "..." }
//! [mesh.tls]
//! ca = "/etc/weft/nats-ca.pem"
//! cert = "/etc/weft/edge-1.pem"
//! key = "/etc/weft/edge-1.key"
//! [mesh.export]                         # one export; or [mesh.export.NAME] for several
//! topics = ["orders/>"]
//! mode = "structured"                   # or "binary"
//! [mesh.import.commands]
//! topics = ["commands/>"]
//! group = "workers"                     # hosts of one group share the work
//! start = "new"                         # or "all": what a new consumer starts from
//! ack_wait = "30s"                      # then an unacknowledged message goes to another host
//! ```
//!
//! Strict like the rest of the config: unknown fields are refused, units are in the
//! values, every problem is reported at once, and secrets are named, never written.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use weft_core::secrets::Secrets;
use weft_core::{Patterns, Quota, units};

use crate::subject::Prefix;

/// How a host links to the mesh.
#[derive(Debug, Clone)]
pub struct MeshConfig {
    pub servers: Vec<String>,
    /// This host in the mesh: `Weft-Origin`, its consumers' names, its claim.
    pub name: String,
    pub auth: Auth,
    pub tls: Option<Tls>,
    pub prefix: Prefix,
    pub stream: StreamConfig,
    pub exports: Vec<ExportConfig>,
    pub imports: Vec<ImportConfig>,
    pub max_hops: u32,
    /// Publishes in flight per export before it waits for acknowledgements.
    pub window: usize,
}

/// How the host proves who it is to NATS. Values come from `[secrets]`; `Debug`
/// shows which kind, never a value.
#[derive(Clone, Default)]
pub enum Auth {
    #[default]
    None,
    /// The text of a `.creds` file (JWT and nkey seed).
    Credentials(String),
    /// An nkey seed.
    Nkey(String),
    UserPassword {
        user: String,
        password: String,
    },
    Token(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Credentials(_) => f.write_str("Credentials(..)"),
            Auth::Nkey(_) => f.write_str("Nkey(..)"),
            Auth::UserPassword { user, .. } => write!(f, "UserPassword({user}, ..)"),
            Auth::Token(_) => f.write_str("Token(..)"),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// The CA that signed the servers' certificates (else the system's roots).
    pub ca: Option<PathBuf>,
    /// This host's certificate and key, for servers that verify clients.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// The JetStream stream the mesh's events live in.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    pub name: String,
    pub replicas: usize,
    pub max_age: Duration,
    /// `None`: no limit.
    pub max_bytes: Option<u64>,
    pub duplicate_window: Duration,
}

/// How events are put on the wire (the CloudEvents NATS protocol binding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The JSON event format as the payload, `content-type: application/cloudevents+json`.
    #[default]
    Structured,
    /// `ce-` headers, the data as the payload.
    Binary,
}

/// Local topics that go to the mesh, through a durable outbox.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    pub name: String,
    pub topics: Patterns,
    pub mode: Mode,
    /// What the outbox may hold while NATS is away; then publishers get 429.
    pub quota: Quota,
}

/// Where a new durable consumer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// With what is published from now on.
    #[default]
    New,
    /// With everything the stream still holds.
    All,
}

/// Mesh topics that come in and are published locally.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    pub name: String,
    pub topics: Patterns,
    /// Hosts whose import names the same group share one durable consumer.
    pub group: Option<String>,
    pub start: Start,
    /// How long JetStream waits for this host's acknowledgement before it hands a
    /// message to another host of the group (or to this one again).
    pub ack_wait: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    servers: Vec<String>,
    name: Option<String>,
    prefix: Option<String>,
    stream: Option<String>,
    replicas: Option<usize>,
    max_age: Option<String>,
    max_bytes: Option<String>,
    duplicate_window: Option<String>,
    max_hops: Option<u32>,
    window: Option<usize>,
    credentials: Option<SecretRef>,
    nkey: Option<SecretRef>,
    user: Option<String>,
    password: Option<SecretRef>,
    token: Option<SecretRef>,
    tls: Option<TlsFile>,
    #[serde(default)]
    export: Option<ExportsFile>,
    #[serde(default)]
    import: BTreeMap<String, ImportFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretRef {
    secret: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

/// `[mesh.export]` with `topics` is one export, named `default`; otherwise each
/// `[mesh.export.NAME]` is one.
#[derive(Deserialize)]
#[serde(untagged)]
enum ExportsFile {
    One(ExportFile),
    Named(BTreeMap<String, ExportFile>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportFile {
    topics: Vec<String>,
    #[serde(default)]
    mode: Mode,
    max_queue_events: Option<u64>,
    max_queue_bytes: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportFile {
    topics: Vec<String>,
    group: Option<String>,
    #[serde(default)]
    start: Start,
    ack_wait: Option<String>,
}

/// Defaults of what a created stream gets.
const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
const MAX_HOPS: u32 = 8;
const WINDOW: usize = 256;
const ACK_WAIT: Duration = Duration::from_secs(30);

/// Names of exports, imports and groups: they become queue and consumer names.
fn valid_name(name: &str) -> bool {
    weft_core::Name::parse(name).is_ok()
}

/// A host name as NATS and the KV bucket take it: letters, digits, `-`, `_`, `.`.
fn valid_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
}

impl MeshConfig {
    /// Reads `[mesh]`; problems are added to `problems`, one line each, naming
    /// the field (`mesh.export.eu.topics: ...`).
    pub fn parse(
        value: toml::Value,
        secrets: &Secrets,
        problems: &mut Vec<String>,
    ) -> Option<MeshConfig> {
        let file: File = match value.try_into() {
            Ok(f) => f,
            Err(e) => {
                problems.push(format!("mesh: {}", e.to_string().trim()));
                return None;
            }
        };
        let before = problems.len();
        let mut p = |s: String| problems.push(s);
        if file.servers.is_empty() {
            p("mesh.servers is empty: give at least one, e.g. [\"nats://127.0.0.1:4222\"]".into());
        }
        for s in &file.servers {
            let ok = ["nats://", "tls://", "ws://", "wss://"]
                .iter()
                .any(|scheme| s.starts_with(scheme) && s.len() > scheme.len());
            if !ok {
                p(format!(
                    "mesh.servers: \"{s}\" is not a NATS server URL: nats://HOST:PORT or tls://HOST:PORT"
                ));
            }
        }
        let name = match file.name.clone() {
            Some(n) => n,
            None => default_host_name(),
        };
        if !valid_host_name(&name) {
            p(format!(
                "mesh.name = \"{name}\": this host's mesh name is 1 to 64 letters, digits, `-`, `_` and `.` (set it; the machine's host name does not fit)"
            ));
        }
        let prefix = Prefix::parse(file.prefix.as_deref().unwrap_or("weft"))
            .map_err(|e| p(format!("mesh.prefix: {e}")))
            .ok();
        let stream_name = file.stream.clone().unwrap_or_else(|| "WEFT".into());
        if !stream_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            || stream_name.is_empty()
        {
            p(format!(
                "mesh.stream = \"{stream_name}\": a stream name is letters, digits, `-` and `_`"
            ));
        }
        let mut dur = |v: &Option<String>, field: &str, default: Duration| match v {
            None => default,
            Some(s) => units::parse_duration(s).unwrap_or_else(|e| {
                p(format!("mesh.{field} = {e}"));
                default
            }),
        };
        let max_age = dur(&file.max_age, "max_age", MAX_AGE);
        let duplicate_window = dur(&file.duplicate_window, "duplicate_window", DUPLICATE_WINDOW);
        let max_bytes = file.max_bytes.as_ref().and_then(|s| {
            units::parse_size(s)
                .map_err(|e| problems.push(format!("mesh.max_bytes = {e}")))
                .ok()
        });
        let replicas = file.replicas.unwrap_or(1);
        if !(1..=5).contains(&replicas) {
            problems.push(format!(
                "mesh.replicas = {replicas}: JetStream keeps 1 to 5 replicas"
            ));
        }
        let window = file.window.unwrap_or(WINDOW);
        if !(1..=65_536).contains(&window) {
            problems.push(format!(
                "mesh.window = {window}: 1 to 65536 publishes in flight"
            ));
        }
        let max_hops = file.max_hops.unwrap_or(MAX_HOPS);
        if max_hops == 0 {
            problems.push("mesh.max_hops = 0: at least 1 (an event leaving its first host)".into());
        }
        let auth = auth(&file, secrets, problems);
        let tls = file.tls.map(|t| Tls {
            ca: t.ca,
            client: match (t.cert, t.key) {
                (Some(c), Some(k)) => Some((c, k)),
                (None, None) => None,
                _ => {
                    problems.push(
                        "mesh.tls: give both `cert` and `key` for a client certificate, or neither"
                            .into(),
                    );
                    None
                }
            },
        });
        let exports = exports(file.export, problems);
        let imports = imports(file.import, problems);
        if problems.len() > before {
            return None;
        }
        Some(MeshConfig {
            servers: file.servers,
            name,
            auth,
            tls,
            prefix: prefix?,
            stream: StreamConfig {
                name: stream_name,
                replicas,
                max_age,
                max_bytes,
                duplicate_window,
            },
            exports,
            imports,
            max_hops,
            window,
        })
    }
}

fn auth(file: &File, secrets: &Secrets, problems: &mut Vec<String>) -> Auth {
    let mut secret = |field: &str, r: &SecretRef| match secrets.get(&r.secret) {
        Some(v) => Some(v.to_owned()),
        None => {
            problems.push(format!(
                "mesh.{field}: no secret `{}`; declare it under [secrets]",
                r.secret
            ));
            None
        }
    };
    let chosen = [
        file.credentials.is_some(),
        file.nkey.is_some(),
        file.user.is_some() || file.password.is_some(),
        file.token.is_some(),
    ]
    .iter()
    .filter(|c| **c)
    .count();
    if chosen > 1 {
        problems.push(
            "mesh: give one way to authenticate: credentials, nkey, user + password, or token"
                .into(),
        );
        return Auth::None;
    }
    if let Some(r) = &file.credentials {
        return secret("credentials", r).map_or(Auth::None, Auth::Credentials);
    }
    if let Some(r) = &file.nkey {
        return secret("nkey", r).map_or(Auth::None, Auth::Nkey);
    }
    if let Some(r) = &file.token {
        return secret("token", r).map_or(Auth::None, Auth::Token);
    }
    match (&file.user, &file.password) {
        (Some(user), Some(r)) => {
            secret("password", r).map_or(Auth::None, |password| Auth::UserPassword {
                user: user.clone(),
                password,
            })
        }
        (None, None) => Auth::None,
        _ => {
            problems.push("mesh: `user` and `password` go together".into());
            Auth::None
        }
    }
}

fn patterns(list: &[String], field: &str, problems: &mut Vec<String>) -> Patterns {
    match Patterns::parse(list) {
        Ok(p) if !p.is_empty() => p,
        Ok(p) => {
            problems.push(format!("{field} is empty: give at least one topic pattern"));
            p
        }
        Err(e) => {
            problems.push(format!("{field}: {e}"));
            Patterns::default()
        }
    }
}

fn exports(file: Option<ExportsFile>, problems: &mut Vec<String>) -> Vec<ExportConfig> {
    let named = match file {
        None => return Vec::new(),
        Some(ExportsFile::One(e)) => BTreeMap::from([("default".to_owned(), e)]),
        Some(ExportsFile::Named(m)) => m,
    };
    named
        .into_iter()
        .map(|(name, e)| {
            let at = format!("mesh.export.{name}");
            if !valid_name(&name) {
                problems.push(format!(
                    "{at}: an export name is 1 to 64 letters, digits, `-`, `_`"
                ));
            }
            let mut quota = Quota::default();
            quota.max_events = e.max_queue_events.unwrap_or(quota.max_events);
            if let Some(s) = &e.max_queue_bytes {
                match units::parse_size(s) {
                    Ok(b) => quota.max_bytes = b,
                    Err(err) => problems.push(format!("{at}.max_queue_bytes = {err}")),
                }
            }
            ExportConfig {
                topics: patterns(&e.topics, &format!("{at}.topics"), problems),
                name,
                mode: e.mode,
                quota,
            }
        })
        .collect()
}

fn imports(file: BTreeMap<String, ImportFile>, problems: &mut Vec<String>) -> Vec<ImportConfig> {
    file.into_iter()
        .map(|(name, i)| {
            let at = format!("mesh.import.{name}");
            if !valid_name(&name) {
                problems.push(format!(
                    "{at}: an import name is 1 to 64 letters, digits, `-`, `_`"
                ));
            }
            if let Some(g) = &i.group
                && !valid_name(g)
            {
                problems.push(format!(
                    "{at}.group = \"{g}\": a group name is 1 to 64 letters, digits, `-`, `_`"
                ));
            }
            let ack_wait = match &i.ack_wait {
                None => ACK_WAIT,
                Some(s) => match units::parse_duration(s) {
                    Ok(d) if d >= Duration::from_secs(1) => d,
                    Ok(_) => {
                        problems.push(format!("{at}.ack_wait = \"{s}\": at least 1s"));
                        ACK_WAIT
                    }
                    Err(e) => {
                        problems.push(format!("{at}.ack_wait = {e}"));
                        ACK_WAIT
                    }
                },
            };
            ImportConfig {
                topics: patterns(&i.topics, &format!("{at}.topics"), problems),
                name,
                group: i.group,
                start: i.start,
                ack_wait,
            }
        })
        .collect()
}

/// The machine's host name, as the kernel has it.
fn default_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn parse(text: &str) -> Result<MeshConfig, String> {
        let secrets = Secrets::new(BTreeMap::from([
            ("PASS".to_owned(), "hunter2".to_owned()),
            (
                "CREDS".to_owned(),
                "-----BEGIN NATS USER JWT-----".to_owned(),
            ),
        ]));
        let value: toml::Value = toml::from_str(text).unwrap();
        let mut problems = Vec::new();
        MeshConfig::parse(value, &secrets, &mut problems).ok_or_else(|| problems.join("\n"))
    }

    #[test]
    fn a_full_mesh_config_parses() {
        let c = parse(
            r#"
servers = ["nats://127.0.0.1:4222", "tls://nats.example.com:4222"]
name = "edge-1.site"
prefix = "acme.weft"
stream = "ACME"
replicas = 3
max_age = "1d"
max_bytes = "1GiB"
duplicate_window = "5m"
max_hops = 4
window = 64
user = "edge1"
password = { secret = "PASS" }
[tls]
ca = "/ca.pem"
cert = "/c.pem"
key = "/k.pem"
[export.eu]
topics = ["orders/eu/>"]
mode = "binary"
max_queue_events = 10
[export.us]
topics = ["orders/us/>"]
[import.commands]
topics = ["commands/>"]
group = "workers"
start = "all"
"#,
        )
        .unwrap();
        assert_eq!(c.name, "edge-1.site");
        assert_eq!(c.prefix.as_str(), "acme.weft");
        assert_eq!(c.stream.replicas, 3);
        assert_eq!(c.stream.max_bytes, Some(1 << 30));
        assert_eq!(c.stream.duplicate_window, Duration::from_secs(300));
        assert!(
            matches!(&c.auth, Auth::UserPassword { user, password } if user == "edge1" && password == "hunter2")
        );
        assert!(!format!("{c:?}").contains("hunter2"), "never shown");
        assert_eq!(c.exports.len(), 2);
        assert_eq!(c.exports[0].name, "eu");
        assert_eq!(c.exports[0].mode, Mode::Binary);
        assert_eq!(c.exports[0].quota.max_events, 10);
        assert_eq!(c.imports[0].group.as_deref(), Some("workers"));
        assert_eq!(c.imports[0].start, Start::All);
    }

    #[test]
    fn one_export_table_is_the_default_export() {
        let c = parse("servers = [\"nats://h:4222\"]\nname = \"a\"\n[export]\ntopics = [\">\"]\n")
            .unwrap();
        assert_eq!(c.exports[0].name, "default");
        assert_eq!(c.exports[0].mode, Mode::Structured);
        assert_eq!(c.prefix.as_str(), "weft");
        assert_eq!(c.stream.name, "WEFT");
        assert_eq!(c.max_hops, 8);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = parse(
            r#"
servers = ["http://x"]
name = "has space"
prefix = "we.*"
max_age = "long"
replicas = 9
token = { secret = "NOPE" }
[export]
topics = ["a//b"]
[import."bad name"]
topics = []
"#,
        )
        .unwrap_err();
        for needle in [
            "mesh.servers: \"http://x\"",
            "mesh.name = \"has space\"",
            "mesh.prefix:",
            "mesh.max_age = \"long\"",
            "mesh.replicas = 9",
            "mesh.token: no secret `NOPE`",
            "mesh.export.default.topics: topic `a//b`",
            "mesh.import.bad name: an import name",
            "mesh.import.bad name.topics is empty",
        ] {
            assert!(err.contains(needle), "{needle} missing in:\n{err}");
        }
        let err = parse("servers = [\"nats://h\"]\nname = \"a\"\nstreem = \"X\"\n").unwrap_err();
        assert!(err.contains("unknown field `streem`"), "{err}");
        let err = parse("servers = [\"nats://h\"]\nname = \"a\"\ntoken = { secret = \"PASS\" }\nnkey = { secret = \"PASS\" }\n").unwrap_err();
        assert!(err.contains("one way to authenticate"), "{err}");
    }
}

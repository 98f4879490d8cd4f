//! What the host config file says, as read: one struct per table, every field
//! optional (the defaults live in [`super::HostConfig`]), unknown fields refused.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::secrets::SecretSource;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    #[serde(default)]
    pub(super) ingest: IngestFile,
    #[serde(default)]
    pub(super) http: HttpFile,
    #[serde(default)]
    pub(super) store: StoreFile,
    #[serde(default)]
    pub(super) modules: ModulesFile,
    #[serde(default)]
    pub(super) subscriptions: std::collections::BTreeMap<String, SubscriptionFile>,
    #[serde(default)]
    pub(super) errors: ErrorsFile,
    #[serde(default)]
    pub(super) requests: RequestsFile,
    #[serde(default)]
    pub(super) secrets: BTreeMap<String, SecretSource>,
    #[serde(default)]
    pub(super) tokens: BTreeMap<String, TokenFile>,
    /// `[mesh]`, read by the mesh's own parser (`weft_mesh::MeshConfig`).
    pub(super) mesh: Option<toml::Value>,
    #[serde(default)]
    pub(super) telemetry: TelemetryFile,
}

/// `[telemetry]`: what the host exports about itself.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct TelemetryFile {
    /// `false` installs no metrics recorder: `/metrics` answers 404.
    pub(super) metrics: Option<bool>,
}

/// `[tokens.NAME]`: one API client: its token a secret's value, or only the
/// token's digest (`weft token new` writes those).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenFile {
    /// `{ secret = "NAME" }`; read as a plain value to explain what else is refused.
    pub(super) token: Option<toml::Value>,
    /// `"sha256:HEX"`: the SHA-256 of the token.
    pub(super) digest: Option<String>,
    /// RFC 3339: after it the token is refused (`401`).
    pub(super) expires: Option<String>,
    #[serde(default)]
    pub(super) publish: Vec<String>,
    #[serde(default)]
    pub(super) tap: Vec<String>,
    #[serde(default)]
    pub(super) admin: bool,
    /// May scrape `/metrics` (admin may too).
    #[serde(default)]
    pub(super) metrics: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RequestsFile {
    pub(super) timeout: Option<String>,
    pub(super) max_timeout: Option<String>,
    pub(super) keep_replies: Option<String>,
    pub(super) max_waiting: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ErrorsFile {
    pub(super) max_replays: Option<u32>,
    pub(super) retention: Option<String>,
    pub(super) max_records: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SubscriptionFile {
    pub(super) subscribe: Vec<String>,
    pub(super) max_queue_events: Option<u64>,
    pub(super) max_queue_bytes: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct IngestFile {
    pub(super) max_body: Option<String>,
    pub(super) max_batch_events: Option<usize>,
    pub(super) dedup_window: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct StoreFile {
    pub(super) commit_max_events: Option<usize>,
    pub(super) commit_max_delay: Option<String>,
    pub(super) max_disk: Option<String>,
    pub(super) min_free_disk: Option<String>,
    pub(super) durability: Option<String>,
    pub(super) sync_interval: Option<String>,
    pub(super) engine: Option<String>,
    pub(super) cache: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ModulesFile {
    pub(super) memory: Option<String>,
    pub(super) call_timeout: Option<String>,
    pub(super) batch_max: Option<usize>,
    pub(super) max_queue_events: Option<u64>,
    pub(super) max_queue_bytes: Option<String>,
    pub(super) keep_removed: Option<String>,
    pub(super) pool_instances: Option<u32>,
    pub(super) tiered: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpFile {
    pub(super) header_timeout: Option<String>,
    pub(super) idle_timeout: Option<String>,
    pub(super) body_timeout: Option<String>,
    pub(super) body_min_rate: Option<String>,
    /// A count, or `"auto"`; read as a plain value to word what else is refused.
    pub(super) max_connections: Option<toml::Value>,
    pub(super) tls: Option<TlsFile>,
}

/// `[http.tls]`: PEM files, read at start and again when they change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TlsFile {
    pub(super) cert: std::path::PathBuf,
    pub(super) key: std::path::PathBuf,
}

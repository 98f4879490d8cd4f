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
//!
//! [`Manifest::parse`] reads the tables in order, one file each; each returns
//! its part and pushes its problems, so adding a table touches one file and one
//! step: `limits.rs`, `delivery.rs` (with `retry`), `ingress.rs` (triggers),
//! `http.rs`, `folders.rs`, `config.rs` (with secret references) and
//! `schemas.rs` (JSON Schemas of what the module publishes; their files are
//! read by [`Manifest::load_schemas`], see [`crate::schema`]).
//! `field.rs` words the problems of sizes and durations for all of them.

mod config;
mod delivery;
mod field;
mod folders;
mod http;
mod ingress;
mod limits;
mod schemas;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use weft_core::{Patterns, Quota, RetryPolicy};

pub use delivery::MAX_BATCH;
pub use folders::Folder;
pub use ingress::Triggers;
pub use limits::{MAX_CALL_TIMEOUT, MAX_MEMORY};
/// Kept here for the callers that knew it as `weft_runtime::manifest::Secrets`.
pub use weft_core::secrets::Secrets;

/// Limits a manifest may leave out, from the host config.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub memory: u64,
    pub call_timeout: Duration,
    pub batch_max: usize,
    pub retry: RetryPolicy,
    pub quota: Quota,
    /// Values a manifest's config may refer to by name (`{ secret = "NAME" }`).
    pub secrets: Secrets,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            memory: 64 * 1024 * 1024,
            call_timeout: Duration::from_millis(500),
            batch_max: 64,
            retry: RetryPolicy::default(),
            quota: Quota::default(),
            secrets: Secrets::default(),
        }
    }
}

/// Why a manifest was refused. The message is what the operator reads: every
/// problem at once, one per line, each naming its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not TOML, a field the manifest does not have, or a value of the wrong
    /// type: the TOML parser's message, with the line and column and a
    /// bounded excerpt of the line (see [`weft_core::excerpt`]).
    #[error("{0}")]
    Syntax(String),
    /// Well-formed, but values that cannot be accepted (or, from
    /// [`Manifest::check_world`], fields that do not fit the module's world).
    #[error("{}", .0.join("\n"))]
    Problems(Vec<String>),
}

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
    pub quota: Quota,
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
    /// JSON Schemas of what the module publishes (`[schemas]`), compiled by
    /// [`Manifest::load_schemas`].
    pub schemas: crate::schema::Schemas,
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manifest")
            .field("subscribe", &self.subscribe)
            .field("publish", &self.publish)
            .field("ingress", &self.ingress)
            .field("folders", &self.folders)
            .field("schemas", &self.schemas)
            .field(
                "config_keys",
                &self.config.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The world a module's `.wasm` turned out to implement; see [`Manifest::check_world`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Processor,
    Ingress,
    Egress,
}

/// The manifest as written; each table's type belongs to the file that reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    subscribe: Vec<String>,
    #[serde(default)]
    publish: Vec<String>,
    #[serde(default)]
    limits: limits::LimitsFile,
    #[serde(default)]
    delivery: delivery::DeliveryFile,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
    ingress: Option<ingress::IngressFile>,
    http: Option<http::HttpFile>,
    #[serde(default)]
    folders: BTreeMap<String, folders::FolderFile>,
    schemas: Option<schemas::SchemasFile>,
}

impl Manifest {
    /// Parses a manifest; the error lists every problem found, one per line.
    /// Secret scopes are not applied (offline use: `weft check`, `weft test`).
    pub fn parse(text: &str, defaults: &Defaults) -> Result<Self, ManifestError> {
        Self::parse_for(text, defaults, None)
    }

    /// Parses module `module`'s manifest, which may read only the secrets
    /// scoped to it (or to every module).
    pub fn parse_for(
        text: &str,
        defaults: &Defaults,
        module: Option<&str>,
    ) -> Result<Self, ManifestError> {
        let file: File = toml::from_str(text).map_err(|e| {
            ManifestError::Syntax(weft_core::excerpt::toml_error(text, e.span(), e.message()))
        })?;
        let mut problems = Vec::new();
        // 1. Topics: what the module receives and where it may publish.
        let subscribe = patterns(&file.subscribe, "subscribe", &mut problems);
        let publish = patterns(&file.publish, "publish", &mut problems);
        // 2. [limits], over the host's defaults.
        let limits = limits::parse(
            &file.limits,
            limits::Limits {
                memory: defaults.memory,
                call_timeout: defaults.call_timeout,
                quota: defaults.quota,
                recycle_after: None,
            },
            &mut problems,
        );
        // 3. [delivery], with its retry policy.
        let delivery = delivery::parse(
            &file.delivery,
            defaults.batch_max,
            defaults.retry,
            &mut problems,
        );
        // 4. [ingress]: an ingress connector's triggers.
        let ingress = ingress::parse(file.ingress.as_ref(), &mut problems);
        // 5. [http]: outbound origins; none without the table.
        let http = http::parse(file.http.as_ref(), &mut problems);
        // 6. [folders]: host folders mapped into the guest.
        let folders = folders::parse(&file.folders, &mut problems);
        // 7. [config], secret references resolved.
        let config = config::parse(file.config, &defaults.secrets, module, &mut problems);
        // 8. [schemas]: patterns and file names; the files are read later.
        let schemas = schemas::parse(file.schemas.as_ref(), &publish, &mut problems);
        if !problems.is_empty() {
            // Problems quote values, which may be huge: each is cut to a line.
            let problems = problems
                .iter()
                .map(|p| weft_core::excerpt::bounded(p))
                .collect();
            return Err(ManifestError::Problems(problems));
        }
        Ok(Self {
            subscribe,
            publish,
            memory: limits.memory,
            call_timeout: limits.call_timeout,
            recycle_after: limits.recycle_after,
            batch_max: delivery.batch_max,
            retry: delivery.retry,
            quota: limits.quota,
            workers: delivery.workers,
            key: delivery.key,
            config: config.values,
            secret_keys: config.secret_keys,
            ingress,
            http: Arc::new(http),
            folders,
            schemas,
        })
    }

    /// Reads, checks and compiles the `[schemas]` files from `dir`, the
    /// manifest's folder, for module `module` (files are `NAME.*.schema.json`).
    /// Every module load calls it once; the compiled schemas serve every event.
    pub fn load_schemas(&mut self, dir: &Path, module: &str) -> Result<(), ManifestError> {
        self.schemas.load(dir, module).map_err(|p| {
            ManifestError::Problems(p.iter().map(|p| weft_core::excerpt::bounded(p)).collect())
        })
    }

    /// Finishes the check once the module's world is known: each kind has its
    /// own required and forbidden fields.
    pub fn check_world(&self, kind: Kind) -> Result<(), ManifestError> {
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
            Err(ManifestError::Problems(problems))
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

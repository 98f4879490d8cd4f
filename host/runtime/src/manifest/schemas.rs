//! `[schemas]`: JSON Schemas for what a module publishes, one file per
//! published topic pattern, and whether the host enforces them.
//!
//! ```toml
//! [schemas]
//! enforce = true
//! "orders/enriched" = "enrich.order.schema.json"
//! ```
//!
//! Every other key is a topic pattern that the module's `publish` patterns
//! cover; its value names a file beside the manifest, `NAME.*.schema.json`, so
//! the folder watcher knows which module a schema file belongs to. Here only
//! the table is read; the files are read and compiled by
//! [`crate::schema::load`] once the manifest's folder and module are known.
//! Keys keep the order they are written in: an output is checked against the
//! first pattern that matches its topic.

use std::fmt;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use weft_core::{Pattern, Patterns};

use crate::schema::Schemas;

/// The table as written, in document order.
#[derive(Default)]
pub(super) struct SchemasFile(Vec<(String, toml::Value)>);

impl<'de> Deserialize<'de> for SchemasFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = SchemasFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of topic patterns to schema files, and `enforce`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SchemasFile, A::Error> {
                // The parser hands keys over sorted; their spans give the order written.
                let mut entries = Vec::new();
                while let Some((key, value)) =
                    map.next_entry::<toml::Spanned<String>, toml::Value>()?
                {
                    entries.push((key.span().start, key.into_inner(), value));
                }
                entries.sort_by_key(|(at, _, _)| *at);
                Ok(SchemasFile(
                    entries.into_iter().map(|(_, k, v)| (k, v)).collect(),
                ))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// Reads `[schemas]`: its patterns must be valid and covered by `publish`.
pub(super) fn parse(
    file: Option<&SchemasFile>,
    publish: &Patterns,
    problems: &mut Vec<String>,
) -> Schemas {
    let mut schemas = Schemas::default();
    let Some(file) = file else {
        return schemas;
    };
    for (key, value) in &file.0 {
        if key == "enforce" {
            match value {
                toml::Value::Boolean(on) => schemas.enforce = *on,
                other => problems.push(format!(
                    "schemas.enforce must be true or false, not {}",
                    other.type_str()
                )),
            }
            continue;
        }
        let pattern = match Pattern::parse(key) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!(
                    "schemas: key \"{key}\" is neither `enforce` nor a topic pattern: {e}"
                ));
                continue;
            }
        };
        if !publish.covers(&pattern) {
            let granted: Vec<&str> = publish.iter().map(|p| p.as_str()).collect();
            problems.push(format!(
                "schemas.\"{key}\": the module may not publish to all of `{key}` \
                 (publish = {granted:?}): a schema describes what the module publishes, \
                 so its pattern must be covered by `publish`"
            ));
        }
        match value {
            toml::Value::String(name) => schemas.declare(pattern, name.clone()),
            other => problems.push(format!(
                "schemas.\"{key}\" must name a schema file beside the manifest \
                 (e.g. \"NAME.order.schema.json\"), not {}",
                other.type_str()
            )),
        }
    }
    schemas
}

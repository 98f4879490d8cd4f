//! `json-transform`: renames fields and adds defaults to JSON events.
//!
//! Settings (the manifest's `[config]`):
//! - `output_topic` (required): where the transformed events go.
//! - `rename` (table, optional): old field name -> new field name. A renamed field
//!   keeps its place and overwrites a field already called by the new name.
//! - `add` (table, optional): field name -> JSON value, set only where the field is
//!   absent, so data that carries its own value keeps it.
//!
//! Renames run before additions, so `add` can fill in a renamed field that was
//! missing; added fields go last. Only top-level fields are touched, and the order
//! of the others is kept (serde_json's `preserve_order`), so output stays
//! diff-able against input. Data that is not a JSON object is
//! rejected: transforming it would have to guess.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::{Map, Value};
use weft_sdk::{Event, Failure, Processor, config};

/// The parsed `[config]`, read once per instance: the configuration cannot change
/// under a running instance, and re-parsing it per event would dominate the cost.
struct Settings {
    output_topic: String,
    rename: BTreeMap<String, String>,
    add: Map<String, Value>,
}

impl Settings {
    fn load() -> Result<Self, Failure> {
        Ok(Self {
            output_topic: config::require("output_topic")?,
            rename: config::get_json("rename")?.unwrap_or_default(),
            add: config::get_json("add")?.unwrap_or_default(),
        })
    }

    /// The settings, parsed on first use. A bad configuration rejects every event
    /// with the same reason, which names the key to fix.
    fn get() -> Result<&'static Self, Failure> {
        static SETTINGS: OnceLock<Result<Settings, Failure>> = OnceLock::new();
        SETTINGS
            .get_or_init(Self::load)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The transformed fields. Renames apply to the original names all at once
    /// (so `a -> b` and `b -> c` move both), keep each field where it was, and
    /// win over a field already called by the new name.
    fn apply(&self, fields: Map<String, Value>) -> Map<String, Value> {
        let overwritten: BTreeSet<&String> = self
            .rename
            .iter()
            .filter(|(old, _)| fields.contains_key(old.as_str()))
            .map(|(_, new)| new)
            .collect();
        let mut out = Map::with_capacity(fields.len() + self.add.len());
        for (name, value) in fields {
            match self.rename.get(&name) {
                Some(new) => {
                    out.insert(new.clone(), value);
                }
                None if overwritten.contains(&name) => {}
                None => {
                    out.insert(name, value);
                }
            }
        }
        for (name, value) in &self.add {
            if !out.contains_key(name) {
                out.insert(name.clone(), value.clone());
            }
        }
        out
    }
}

struct JsonTransform;

impl Processor for JsonTransform {
    fn process(event: Event) -> Result<Vec<Event>, Failure> {
        let settings = Settings::get()?;
        let fields = match event.json::<Value>()? {
            Value::Object(fields) => fields,
            other => {
                return Err(Failure::reject(format!(
                    "data must be a JSON object, not {}",
                    kind(&other)
                )));
            }
        };
        let output = event
            .with_topic(settings.output_topic.as_str())
            .with_json(&settings.apply(fields))?;
        Ok(vec![output])
    }
}

/// The JSON type of `value`, as a reason would name it.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

weft_sdk::export_processor!(JsonTransform);

//! `schema-validator`: passes events whose JSON data matches a JSON Schema,
//! unchanged, to `output_topic`; rejects the rest with every validation error.
//!
//! Settings (the manifest's `[config]`):
//! - `output_topic` (required): where valid events go.
//! - `schema` (required): the JSON Schema, written in the manifest as a TOML table
//!   (which reaches the guest as JSON text). The draft follows its `$schema`, or
//!   the newest the `jsonschema` crate supports when absent.
//!
//! The schema is compiled once per instance. A rejection lists every error as
//! `PATH: MESSAGE`, joined by `; `, so one trip through the error queue shows all
//! that is wrong with an event, not just the first thing.

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::Value;
use weft_sdk::{Event, Failure, Processor, config};

/// The parsed `[config]` with the schema compiled, built once per instance (the
/// configuration cannot change under one, and compiling per event would dominate).
struct Settings {
    output_topic: String,
    validator: Validator,
}

impl Settings {
    fn load() -> Result<Self, Failure> {
        let schema: Value = config::get_json("schema")?
            .ok_or_else(|| Failure::reject("config `schema` is not set"))?;
        let validator = jsonschema::validator_for(&schema).map_err(|err| {
            Failure::reject(format!("config `schema` is not a valid schema: {err}"))
        })?;
        Ok(Self {
            output_topic: config::require("output_topic")?,
            validator,
        })
    }

    fn get() -> Result<&'static Self, Failure> {
        static SETTINGS: OnceLock<Result<Settings, Failure>> = OnceLock::new();
        SETTINGS
            .get_or_init(Self::load)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Every validation error in `data` as one reason, or `None` when it is valid.
    fn errors(&self, data: &Value) -> Option<String> {
        let errors: Vec<String> = self
            .validator
            .iter_errors(data)
            .map(|err| {
                let path = err.instance_path().as_str();
                let path = if path.is_empty() { "/" } else { path };
                format!("{path}: {err}")
            })
            .collect();
        (!errors.is_empty()).then(|| errors.join("; "))
    }
}

struct SchemaValidator;

impl Processor for SchemaValidator {
    fn process(event: Event) -> Result<Vec<Event>, Failure> {
        let settings = Settings::get()?;
        if let Some(errors) = settings.errors(&event.json::<Value>()?) {
            return Err(Failure::reject(format!(
                "schema validation failed: {errors}"
            )));
        }
        Ok(vec![event.with_topic(settings.output_topic.as_str())])
    }
}

weft_sdk::export_processor!(SchemaValidator);

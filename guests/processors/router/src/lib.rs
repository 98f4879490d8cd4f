//! `router`: sends each event, unchanged, to a topic chosen by a field of its data.
//!
//! Settings (the manifest's `[config]`):
//! - `field` (required): the JSON field to route on, top-level (`country`) or a
//!   dotted path into nested objects (`address.country`).
//! - `routes` (table, required): field value -> topic.
//! - `default` (optional): the topic for values with no route.
//!
//! String values are matched as they are; numbers and booleans by their JSON text
//! (`42`, `true`). A missing field, `null`, an array or an object has no route.
//! With no route and no `default`, the event is rejected with
//! "no route for FIELD=VALUE", so it lands in the error queue instead of vanishing.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;
use weft_sdk::{Event, Failure, Processor, config};

/// The parsed `[config]`, read once per instance (it cannot change under one).
struct Settings {
    field: String,
    routes: BTreeMap<String, String>,
    default: Option<String>,
}

impl Settings {
    fn load() -> Result<Self, Failure> {
        let routes = config::get_json("routes")?
            .ok_or_else(|| Failure::reject("config `routes` is not set"))?;
        Ok(Self {
            field: config::require("field")?,
            routes,
            default: config::get("default"),
        })
    }

    fn get() -> Result<&'static Self, Failure> {
        static SETTINGS: OnceLock<Result<Settings, Failure>> = OnceLock::new();
        SETTINGS
            .get_or_init(Self::load)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The topic for `data`, or the reason there is none.
    fn route(&self, data: &Value) -> Result<&str, Failure> {
        let key = self
            .field
            .split('.')
            .try_fold(data, |value, name| value.get(name))
            .and_then(route_key);
        key.as_deref()
            .and_then(|key| self.routes.get(key))
            .or(self.default.as_ref())
            .map(String::as_str)
            .ok_or_else(|| {
                let shown = key.as_deref().unwrap_or("<none>");
                Failure::reject(format!("no route for {}={shown}", self.field))
            })
    }
}

/// The text a value is routed by; `None` for values that cannot name a route.
fn route_key(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

struct Router;

impl Processor for Router {
    fn process(event: Event) -> Result<Vec<Event>, Failure> {
        let settings = Settings::get()?;
        let topic = settings.route(&event.json::<Value>()?)?.to_owned();
        Ok(vec![event.with_topic(topic)])
    }
}

weft_sdk::export_processor!(Router);

//! An event in the CloudEvents 1.0 JSON format ("structured mode"), as the host
//! writes it (`weft tap`, `host/core/src/cloudevents`), for sinks that hand events on.
//!
//! The attributes are top-level members; weft's routing topic is the non-standard
//! member `topic`, and extensions are members of their own. `data` is JSON when the
//! content type is JSON (or absent) and the bytes parse as JSON, a string when the
//! content type is `text/*` and the bytes are UTF-8, else `data_base64`; empty data
//! is left out. Extensions whose names are reserved or not lower-case letters and
//! digits are left out rather than allowed to shadow an attribute.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use crate::Event;

/// The media type of one event in structured mode.
pub const STRUCTURED: &str = "application/cloudevents+json";

/// The CloudEvents version weft speaks.
pub const SPEC_VERSION: &str = "1.0";

/// Names no extension may take: the attributes, the data members and `topic`.
const RESERVED: &[&str] = &[
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
    "data",
    "data_base64",
    "topic",
];

/// The event as a JSON object in the CloudEvents JSON format.
pub fn to_json(event: &Event) -> Value {
    let mut map = Map::new();
    for (name, value) in &event.extensions {
        if is_extension_name(name) && !RESERVED.contains(&name.as_str()) {
            map.insert(name.clone(), Value::String(value.clone()));
        }
    }
    let attributes = [
        ("specversion", Some(SPEC_VERSION)),
        ("id", Some(event.id.as_str())),
        ("source", Some(event.source.as_str())),
        ("type", Some(event.type_.as_str())),
        ("subject", event.subject.as_deref()),
        ("time", event.time.as_deref()),
        ("datacontenttype", event.datacontenttype.as_deref()),
        ("dataschema", event.dataschema.as_deref()),
        ("topic", Some(event.topic.as_str())),
    ];
    for (name, value) in attributes {
        if let Some(value) = value {
            map.insert(name.to_owned(), Value::String(value.to_owned()));
        }
    }
    if let Some((name, value)) = data_to_json(&event.data, event.datacontenttype.as_deref()) {
        map.insert(name.to_owned(), value);
    }
    Value::Object(map)
}

/// The event serialized in the CloudEvents JSON format, one line, no newline.
pub fn to_vec(event: &Event) -> Vec<u8> {
    // Serializing a `Value` cannot fail: its keys are strings.
    serde_json::to_vec(&to_json(event)).unwrap_or_default()
}

fn data_to_json(data: &[u8], content_type: Option<&str>) -> Option<(&'static str, Value)> {
    if data.is_empty() {
        return None;
    }
    if content_type.is_none_or(is_json) {
        // `null` would read back as absent data, so it goes out as bytes.
        match serde_json::from_slice::<Value>(data) {
            Ok(Value::Null) | Err(_) => {}
            Ok(value) => return Some(("data", value)),
        }
    }
    let text = content_type.is_some_and(|ct| !is_json(ct) && essence(ct).starts_with("text/"));
    if let Some(text) = text.then(|| core::str::from_utf8(data).ok()).flatten() {
        return Some(("data", Value::String(text.to_owned())));
    }
    Some(("data_base64", Value::String(BASE64.encode(data))))
}

/// A media type's lower-case `type/subtype`, without parameters.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn is_json(content_type: &str) -> bool {
    let essence = essence(content_type);
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

fn is_extension_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn order() -> Event {
        Event::new("order.created", "orders/created")
            .with_id("42")
            .with_source("/shop")
            .with_content_type("application/json; charset=utf-8")
            .with_data(r#"{"qty":2}"#)
            .with_extension("traceparent", "00-x")
            .with_extension("topic", "shadow")
            .with_extension("Bad-Name", "x")
    }

    #[test]
    fn json_data_is_embedded_and_attributes_are_members() {
        let value = to_json(&order());
        assert_eq!(
            value,
            json!({
                "specversion": "1.0", "id": "42", "source": "/shop", "type": "order.created",
                "datacontenttype": "application/json; charset=utf-8", "topic": "orders/created",
                "traceparent": "00-x", "data": {"qty": 2}
            })
        );
    }

    #[test]
    fn text_stays_text_and_bytes_become_base64() {
        let text = order().with_content_type("text/plain").with_data("hello");
        assert_eq!(to_json(&text)["data"], "hello");
        let bytes = order()
            .with_content_type("application/octet-stream")
            .with_data(b"\x00\xffnot json".to_vec());
        assert_eq!(to_json(&bytes)["data_base64"], "AP9ub3QganNvbg==");
        let null = order().with_data("null");
        assert_eq!(to_json(&null)["data_base64"], "bnVsbA==");
        let empty = order().with_data(Vec::new());
        assert!(to_json(&empty).get("data").is_none());
    }
}

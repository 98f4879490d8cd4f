//! An event in the CloudEvents 1.0 JSON format ("structured mode"), as the host
//! writes it (`weft tap`, `host/core/src/cloudevents`), for sinks that hand events on.
//!
//! The attributes are top-level members; weft's routing topic is the non-standard
//! member `topic`, and extensions are members of their own, as the strings a guest
//! sees them as (the canonical string form of their CloudEvents type: an Integer
//! `42` arrives as `"42"`). `data` is written as the exact bytes the event carries
//! when the content type is JSON (or absent) and the bytes are JSON, so a producer's
//! whitespace, key order, duplicate keys and long numbers reach the sink unaltered
//! (and JSON `null` is `"data": null`); a string when the content type is `text/*`
//! and the bytes are UTF-8; else `data_base64`. Empty data is no data and is left
//! out. Extensions whose names are reserved or not lower-case letters and digits are
//! left out rather than allowed to shadow an attribute.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use std::fmt::Write as _;

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

/// The event as text in the CloudEvents JSON format, one line unless the data
/// itself holds line breaks, no newline at the end.
pub fn to_json(event: &Event) -> String {
    let mut out = String::with_capacity(256 + event.data.len());
    out.push('{');
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
            member(&mut out, name, &quoted(value));
        }
    }
    for (name, value) in &event.extensions {
        if is_extension_name(name) && !RESERVED.contains(&name.as_str()) {
            member(&mut out, name, &quoted(value));
        }
    }
    if let Some((name, value)) = data_member(&event.data, event.datacontenttype.as_deref()) {
        member(&mut out, name, &value);
    }
    out.push('}');
    out
}

/// [`to_json`] as bytes, for a request or a file.
pub fn to_vec(event: &Event) -> Vec<u8> {
    to_json(event).into_bytes()
}

fn member(out: &mut String, name: &str, value: &str) {
    if out.len() > 1 {
        out.push(',');
    }
    let _ = write!(out, "{}:{value}", quoted(name));
}

fn quoted(s: &str) -> String {
    // Serializing a string cannot fail.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn data_member(data: &[u8], content_type: Option<&str>) -> Option<(&'static str, String)> {
    if data.is_empty() {
        return None;
    }
    let text = core::str::from_utf8(data).ok();
    if content_type.is_none_or(is_json)
        && let Some(text) = text
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    {
        return Some(("data", text.to_owned()));
    }
    let is_text = content_type.is_some_and(|ct| !is_json(ct) && essence(ct).starts_with("text/"));
    if let Some(text) = text.filter(|_| is_text) {
        return Some(("data", quoted(text)));
    }
    Some(("data_base64", quoted(&BASE64.encode(data))))
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
    use serde_json::{Value, json};

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

    fn parsed(event: &Event) -> Value {
        serde_json::from_str(&to_json(event)).unwrap()
    }

    #[test]
    fn json_data_is_embedded_and_attributes_are_members() {
        assert_eq!(
            parsed(&order()),
            json!({
                "specversion": "1.0", "id": "42", "source": "/shop", "type": "order.created",
                "datacontenttype": "application/json; charset=utf-8", "topic": "orders/created",
                "traceparent": "00-x", "data": {"qty": 2}
            })
        );
    }

    #[test]
    fn json_data_goes_out_as_the_exact_bytes_it_came_as() {
        let odd = "{ \"k\" : 1,\n \"k\": 2, \"big\": 123456789012345678901234567890 }";
        let text = to_json(&order().with_data(odd));
        assert!(text.ends_with(&format!(r#""data":{odd}}}"#)), "{text}");
        let null = to_json(&order().with_data("null"));
        assert!(null.ends_with(r#""data":null}"#), "{null}");
    }

    #[test]
    fn text_stays_text_and_bytes_become_base64() {
        let text = order().with_content_type("text/plain").with_data("hello");
        assert_eq!(parsed(&text)["data"], "hello");
        let bytes = order()
            .with_content_type("application/octet-stream")
            .with_data(b"\x00\xffnot json".to_vec());
        assert_eq!(parsed(&bytes)["data_base64"], "AP9ub3QganNvbg==");
        let empty = order().with_data(Vec::new());
        assert!(parsed(&empty).get("data").is_none());
    }
}

//! The JSON event format on the way out (`weft tap`, pull, streams, error records).
//!
//! The text is written directly rather than through a `serde_json::Value`: JSON data
//! goes out as the exact bytes that were stored, which a `Value` would re-encode (sort
//! keys, drop whitespace, collapse duplicate keys, round long numbers).

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::value::RawValue;

use super::context::{RESERVED, is_extension_name};
use super::media::{is_json, is_text};
use crate::event::{Event, SPEC_VERSION};
use crate::value::ExtValue;

/// Where the text goes, for the one place where that matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Anywhere JSON goes.
    Json,
    /// One server-sent event's `data`: no carriage return may appear in it (it ends a
    /// line), so JSON data whose whitespace holds one goes out as `data_base64`, which
    /// still decodes to the exact bytes.
    LineSafe,
    /// The JSON event format alone, for a channel that names the topic itself (a
    /// NATS subject): no `topic` member, so any CloudEvents reader sees exactly the
    /// spec's attributes and the event's extensions.
    Wire,
}

/// Structured-mode JSON of one event, with weft's non-standard top-level member `topic`.
///
/// `data` is the stored JSON text itself when the content type is JSON (or absent) and
/// the bytes are one JSON value (whitespace around it included), a string when the
/// content type is `text/*` and the bytes are UTF-8, else `data_base64`; no data, no
/// member. Extensions keep their types (Integer as a number, Boolean as `true`/`false`,
/// Binary as base64). Extensions whose names are reserved or invalid (only a module
/// could have made them) are left out rather than allowed to shadow an attribute.
/// `hops` and `origin` are weft's own and never written.
pub fn to_json_text(event: &Event, form: Form) -> String {
    let mut out = String::with_capacity(256 + event.data_bytes().len());
    out.push('{');
    let attributes = [
        ("specversion", Some(SPEC_VERSION)),
        ("id", Some(event.id.as_str())),
        ("source", Some(event.source.as_str())),
        ("type", Some(event.ty.as_str())),
        ("subject", event.subject.as_deref()),
        ("time", event.time.as_deref()),
        ("datacontenttype", event.datacontenttype.as_deref()),
        ("dataschema", event.dataschema.as_deref()),
        (
            "topic",
            (form != Form::Wire).then_some(event.topic.as_str()),
        ),
    ];
    for (name, value) in attributes {
        if let Some(value) = value {
            member(&mut out, name, &quoted(value));
        }
    }
    for (name, value) in &event.extensions {
        if is_extension_name(name) && !RESERVED.contains(&name.as_str()) {
            let text = match value {
                ExtValue::Integer(n) => n.to_string(),
                ExtValue::Boolean(b) => b.to_string(),
                other => quoted(&other.canonical()),
            };
            member(&mut out, name, &text);
        }
    }
    if let Some(data) = &event.data {
        let (name, text) = data_member(data, event.datacontenttype.as_deref(), form);
        member(&mut out, name, &text);
    }
    out.push('}');
    out
}

/// [`to_json_text`] as a [`RawValue`], to embed in a serialized answer as it is.
pub fn to_json(event: &Event) -> Box<RawValue> {
    let text = to_json_text(event, Form::Json);
    // The text is valid JSON by construction; the fallback is never taken.
    RawValue::from_string(text).unwrap_or_else(|_| empty_object())
}

fn empty_object() -> Box<RawValue> {
    serde_json::value::to_raw_value(&serde_json::Map::new()).unwrap_or_default()
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

fn data_member(data: &[u8], content_type: Option<&str>, form: Form) -> (&'static str, String) {
    if content_type.is_none_or(is_json)
        && let Some(text) = json_text(data)
        && !(form == Form::LineSafe && text.contains('\r'))
    {
        return ("data", text.to_owned());
    }
    if content_type.is_some_and(is_text)
        && let Ok(text) = std::str::from_utf8(data)
    {
        return ("data", quoted(text));
    }
    ("data_base64", quoted(&BASE64.encode(data)))
}

/// The data as JSON text, if it is one JSON value (with whitespace around it) nested
/// at most [`MAX_DEPTH`] deep.
fn json_text(data: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(data).ok()?;
    if depth(text) > MAX_DEPTH {
        return None;
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    Some(text)
}

/// Deepest nesting written as JSON `data`: serde_json's default recursion limit, and
/// about where other parsers stop too. Deeper data is valid JSON but would make the
/// whole event unreadable to them (and to weft's own answers that hold a
/// `serde_json::Value`), so it goes out as `data_base64`: the same bytes, readable.
pub(crate) const MAX_DEPTH: usize = 128;

/// How deep arrays and objects nest in a JSON text (strings skipped).
fn depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'[' | b'{') => {
                depth += 1;
                max = max.max(depth);
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

//! The CloudEvents 1.0 HTTP protocol binding: what `POST /v1/events/{topic}` accepts, and
//! the JSON form weft prints events in (`weft tap`, `weft test`).
//!
//! # Modes
//!
//! The request's `Content-Type` picks the mode, as the HTTP binding says:
//! - `application/cloudevents+json` (charset, if given, must be UTF-8): structured, the body
//!   is one event in the JSON event format;
//! - `application/cloudevents-batch+json`: batched, a JSON array of such events, at most
//!   [`Limits::max_events`] of them and never none;
//! - anything else, or no `Content-Type`: binary, the attributes travel as percent-encoded
//!   `ce-` headers, `Content-Type` is `datacontenttype` and the body is the data, byte for
//!   byte. Other event formats (`application/cloudevents+avro`, ...) are refused rather than
//!   misread as binary data.
//!
//! # The topic
//!
//! weft routes by topic, which is not a CloudEvents attribute. On ingest it comes only from
//! the URL: a `topic` member or a `ce-topic` header is refused, so one request cannot name two
//! topics. On output [`to_json`] adds the non-standard top-level member `topic`, and
//! [`from_json`] reads it back.
//!
//! # Values are kept as sent
//!
//! `time` is checked to be RFC 3339 but stored as written (a producer's offset survives),
//! `dataschema` is checked to be an absolute URI, and extension values are kept as strings
//! (a JSON number or boolean in its canonical text form: `5`, `true`; any number is taken,
//! though CloudEvents' Integer is 32-bit, since weft does not type extensions). JSON `data`
//! is stored as its compact serialization, so it round-trips by value, not byte for byte.
//!
//! # Why not `cloudevents-sdk`
//!
//! The SDK (0.9) was weighed and left out. Its `http` deserializer does not percent-decode
//! `ce-` header values, so a conforming sender's `ce-subject: caf%C3%A9` would be stored
//! still encoded, and it has no batch reader for `http` requests (only for reqwest
//! responses). Its `Event` normalises what it reads: `time` becomes a UTC `DateTime`,
//! losing the producer's offset, and weft would convert into its own [`Event`] anyway.
//! Its errors ("Wrong encoding", "Unknown attribute in this spec version: x") name neither
//! the header nor the batch element, and the 400 a producer gets back must say both and what
//! to send instead. What it would save (the attribute list, the mode switch) is a few
//! lines; what it costs is async-trait, futures, snafu and url in the core crate.
//!
//! Nothing here panics on any input: every failure is a [`DecodeError`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use crate::event::{Event, SPEC_VERSION};
use crate::topic::{Topic, TopicError};

/// Media type of one event in structured mode.
pub const STRUCTURED: &str = "application/cloudevents+json";
/// Media type of a batch of events.
pub const BATCH: &str = "application/cloudevents-batch+json";

/// Names no extension may take: the CloudEvents attributes, the JSON format's data members
/// and weft's `topic`.
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

/// Longest attribute value quoted back in an error message.
const SHOWN_CHARS: usize = 64;

/// Limits applied while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most events one batch request may carry.
    pub max_events: usize,
}

/// Where a value came from, so that an error can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    /// An HTTP header of a binary-mode request, by its lowercase name (`ce-id`).
    Header(String),
    /// A member of a JSON event; `index` is the event's position in a batch.
    Member { name: String, index: Option<usize> },
}

impl Attr {
    fn member(name: &str, index: Option<usize>) -> Self {
        Self::Member {
            name: name.to_owned(),
            index,
        }
    }

    fn missing_hint(&self) -> &'static str {
        match self {
            Self::Header(_) => {
                "binary mode needs the headers ce-specversion: 1.0, ce-id, ce-source and ce-type \
                 (or send the event as JSON with Content-Type: application/cloudevents+json)"
            }
            Self::Member { .. } => {
                "every CloudEvent needs specversion \"1.0\", id, source and type"
            }
        }
    }
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header(name) => write!(f, "header `{name}`"),
            Self::Member { name, index: None } => write!(f, "`{name}`"),
            Self::Member {
                name,
                index: Some(i),
            } => write!(f, "`{name}` of batch element {i}"),
        }
    }
}

/// One event of a request: the only one, or a batch element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Which(pub Option<usize>);

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("the event"),
            Some(i) => write!(f, "batch element {i}"),
        }
    }
}

/// Why a request or JSON event was refused; the message says where and what to send instead.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "the body is not valid JSON ({0}); send one event as a JSON object \
         (application/cloudevents+json) or several as a JSON array (application/cloudevents-batch+json)"
    )]
    Json(#[source] serde_json::Error),
    #[error(
        "{event} is {found}, not a JSON object; a structured CloudEvent is an object with \
         specversion, id, source and type (send several as an array with Content-Type: {BATCH})"
    )]
    NotAnObject { event: Which, found: &'static str },
    #[error("a batch ({BATCH}) body must be a JSON array of events, got {found}")]
    NotAnArray { found: &'static str },
    #[error("the batch is empty; send at least one event")]
    EmptyBatch,
    #[error(
        "the batch has {count} events, more than the limit of {max}; split it into batches of at most {max}"
    )]
    BatchTooLarge { count: usize, max: usize },
    #[error(
        "Content-Type charset {charset:?} is not supported; CloudEvents JSON must be UTF-8 (charset=utf-8, or no charset)"
    )]
    Charset { charset: String },
    #[error(
        "Content-Type {content_type:?} is an event format weft does not read; send {STRUCTURED}, \
         {BATCH}, or binary mode with ce- headers"
    )]
    UnsupportedFormat { content_type: String },
    #[error("{attr} is missing; {}", attr.missing_hint())]
    Missing { attr: Attr },
    #[error("{attr} is empty; give it a value, or leave an optional attribute out")]
    Empty { attr: Attr },
    #[error("{attr} must be a JSON string, got {found}")]
    NotAString { attr: Attr, found: &'static str },
    #[error("{attr} must be \"1.0\", got {got:?}; weft accepts CloudEvents 1.0 only")]
    SpecVersion { attr: Attr, got: String },
    #[error("{attr} must be an RFC 3339 timestamp such as \"2024-05-01T12:00:00Z\", got {got:?}")]
    Time {
        attr: Attr,
        got: String,
        #[source]
        reason: chrono::ParseError,
    },
    #[error(
        "{attr} must be an absolute URI such as \"https://example.com/order.json\", got {got:?}"
    )]
    DataSchema { attr: Attr, got: String },
    #[error(
        "header `{header}` is not visible ASCII; percent-encode other characters as UTF-8 (é as %C3%A9)"
    )]
    HeaderNotText { header: String },
    #[error(
        "header `{header}` has invalid percent-encoding: {reason}; write `%` as %25 and other bytes as %XX of their UTF-8 encoding"
    )]
    PercentEncoding { header: String, reason: String },
    #[error("header `{header}` appears more than once; send each ce- header once")]
    DuplicateHeader { header: String },
    #[error(
        "{attr} is not a valid extension name: extension names use only lowercase letters a-z and digits 0-9"
    )]
    ExtensionName { attr: Attr },
    #[error("{attr} is {found}; extension values must be a string, number or boolean")]
    ExtensionValue { attr: Attr, found: &'static str },
    #[error("{attr} is not allowed: {hint}")]
    Reserved { attr: Attr, hint: &'static str },
    #[error(
        "{attr} is not allowed on ingest: the topic comes from the URL (POST /v1/events/{{topic}}); remove it"
    )]
    TopicInBody { attr: Attr },
    #[error("{event} has both `data` and `data_base64`; send only one")]
    BothData { event: Which },
    #[error(
        "{attr} is not valid base64 ({reason}); encode the bytes as standard base64 with padding (RFC 4648)"
    )]
    Base64 {
        attr: Attr,
        reason: base64::DecodeError,
    },
    #[error(
        "{attr} must be a JSON string when datacontenttype is {content_type:?}, got {found}; \
         use a JSON datacontenttype for JSON data, or data_base64 for bytes"
    )]
    DataNotString {
        attr: Attr,
        content_type: String,
        found: &'static str,
    },
    #[error("{attr} is not a valid topic: {source}")]
    Topic { attr: Attr, source: TopicError },
    #[error(
        "{event} has no `topic` member and no default topic was given; add \"topic\": \"orders/created\""
    )]
    NoTopic { event: Which },
}

/// Decodes one HTTP request body into events for `topic` (already validated by the caller).
pub fn decode(
    headers: &http::HeaderMap,
    body: &[u8],
    topic: &Topic,
    limits: &Limits,
) -> Result<Vec<Event>, DecodeError> {
    let content_type = match headers.get(http::header::CONTENT_TYPE) {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| DecodeError::HeaderNotText {
            header: "content-type".into(),
        })?),
    };
    let (essence, charset) = content_type.map(media_type).unwrap_or_default();
    if (essence == STRUCTURED || essence == BATCH)
        && let Some(charset) = charset.filter(|c| !c.eq_ignore_ascii_case("utf-8"))
    {
        return Err(DecodeError::Charset { charset });
    }
    match essence.as_str() {
        STRUCTURED => {
            let value = serde_json::from_slice(body).map_err(DecodeError::Json)?;
            Ok(vec![event_from_json(value, None, TopicFrom::Url(topic))?])
        }
        BATCH => decode_batch(body, topic, limits),
        other if other.starts_with("application/cloudevents") => {
            Err(DecodeError::UnsupportedFormat {
                content_type: shown(content_type.unwrap_or_default()),
            })
        }
        _ => Ok(vec![decode_binary(headers, content_type, body, topic)?]),
    }
}

/// Structured-mode JSON of one event, with weft's non-standard top-level member `topic`.
///
/// `data` is JSON when the content type is JSON (or absent) and the bytes parse as JSON, a
/// string when the content type is `text/*` and the bytes are UTF-8, else `data_base64`;
/// empty data is left out. Extensions whose names are reserved or invalid (only a module
/// could have made them) are left out rather than allowed to shadow an attribute.
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
        ("type", Some(event.ty.as_str())),
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

/// Parses one structured-mode JSON event, taking its topic from a `topic` member or, when
/// there is none, from `default_topic`.
pub fn from_json(value: Value, default_topic: Option<&Topic>) -> Result<Event, DecodeError> {
    event_from_json(value, None, TopicFrom::Member(default_topic))
}

fn decode_batch(body: &[u8], topic: &Topic, limits: &Limits) -> Result<Vec<Event>, DecodeError> {
    let items = match serde_json::from_slice(body).map_err(DecodeError::Json)? {
        Value::Array(items) => items,
        other => {
            return Err(DecodeError::NotAnArray {
                found: kind(&other),
            });
        }
    };
    if items.is_empty() {
        return Err(DecodeError::EmptyBatch);
    }
    if items.len() > limits.max_events {
        return Err(DecodeError::BatchTooLarge {
            count: items.len(),
            max: limits.max_events,
        });
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| event_from_json(item, Some(i), TopicFrom::Url(topic)))
        .collect()
}

fn decode_binary(
    headers: &http::HeaderMap,
    content_type: Option<&str>,
    body: &[u8],
    topic: &Topic,
) -> Result<Event, DecodeError> {
    // 1. Every `ce-` header, once, as text, percent-decoded.
    let mut attrs = BTreeMap::new();
    for name in headers.keys() {
        let Some(attr) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        let header = name.as_str().to_owned();
        let mut values = headers.get_all(name).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(DecodeError::DuplicateHeader { header });
        };
        let Ok(raw) = value.to_str() else {
            return Err(DecodeError::HeaderNotText { header });
        };
        attrs.insert(attr.to_owned(), percent_decode(&header, raw)?);
    }
    // 2. The context attributes.
    let context = context(|name| Ok((attrs.remove(name), Attr::Header(format!("ce-{name}")))))?;
    // 3. What is left is extensions.
    let mut extensions = Vec::with_capacity(attrs.len());
    for (name, value) in attrs {
        let attr = Attr::Header(format!("ce-{name}"));
        match name.as_str() {
            "topic" => return Err(DecodeError::TopicInBody { attr }),
            "datacontenttype" => {
                let hint = "send the data's media type as the Content-Type header";
                return Err(DecodeError::Reserved { attr, hint });
            }
            "data" => {
                let hint = "the request body carries the data in binary mode";
                return Err(DecodeError::Reserved { attr, hint });
            }
            _ if !is_extension_name(&name) => return Err(DecodeError::ExtensionName { attr }),
            _ => extensions.push((name, value)),
        }
    }
    Ok(Event {
        id: context.id,
        source: context.source,
        ty: context.ty,
        subject: context.subject,
        time: context.time,
        datacontenttype: content_type.filter(|c| !c.is_empty()).map(str::to_owned),
        dataschema: context.dataschema,
        extensions,
        topic: topic.as_str().to_owned(),
        data: body.to_vec(),
    })
}

/// Where an event's topic comes from.
#[derive(Clone, Copy)]
enum TopicFrom<'a> {
    /// The ingest URL; a `topic` member is refused.
    Url(&'a Topic),
    /// A `topic` member, else the default.
    Member(Option<&'a Topic>),
}

fn event_from_json(
    value: Value,
    index: Option<usize>,
    topic: TopicFrom<'_>,
) -> Result<Event, DecodeError> {
    let mut map = match value {
        Value::Object(map) => map,
        other => {
            return Err(DecodeError::NotAnObject {
                event: Which(index),
                found: kind(&other),
            });
        }
    };
    let topic = topic_member(&mut map, index, topic)?;
    let context = context(|name| {
        let attr = Attr::member(name, index);
        Ok((string_member(&mut map, name, &attr)?, attr))
    })?;
    let attr = Attr::member("datacontenttype", index);
    let (datacontenttype, _) =
        optional((string_member(&mut map, "datacontenttype", &attr)?, attr))?;
    let data = data_members(&mut map, datacontenttype.as_deref(), index)?;
    let mut extensions = Vec::with_capacity(map.len());
    for (name, value) in map {
        let attr = Attr::member(&name, index);
        if !is_extension_name(&name) {
            return Err(DecodeError::ExtensionName { attr });
        }
        let value = match value {
            Value::Null => continue,
            Value::String(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            other => {
                let found = kind(&other);
                return Err(DecodeError::ExtensionValue { attr, found });
            }
        };
        extensions.push((name, value));
    }
    Ok(Event {
        id: context.id,
        source: context.source,
        ty: context.ty,
        subject: context.subject,
        time: context.time,
        datacontenttype,
        dataschema: context.dataschema,
        extensions,
        topic,
        data,
    })
}

fn topic_member(
    map: &mut Map<String, Value>,
    index: Option<usize>,
    from: TopicFrom<'_>,
) -> Result<String, DecodeError> {
    let attr = Attr::member("topic", index);
    match from {
        TopicFrom::Url(_) if map.contains_key("topic") => Err(DecodeError::TopicInBody { attr }),
        TopicFrom::Url(topic) => Ok(topic.as_str().to_owned()),
        TopicFrom::Member(default) => match string_member(map, "topic", &attr)? {
            Some(topic) => match Topic::parse(&topic) {
                Ok(_) => Ok(topic),
                Err(source) => Err(DecodeError::Topic { attr, source }),
            },
            None => default
                .map(|t| t.as_str().to_owned())
                .ok_or(DecodeError::NoTopic {
                    event: Which(index),
                }),
        },
    }
}

/// The context attributes both modes share (all but `datacontenttype`).
struct Context {
    id: String,
    source: String,
    ty: String,
    subject: Option<String>,
    time: Option<String>,
    dataschema: Option<String>,
}

/// Reads and checks the context attributes; `take` yields an attribute by name (absent or
/// null as `None`) with the [`Attr`] to blame. `specversion` comes first, so an event of
/// another version is told so rather than that it lacks something.
fn context(
    mut take: impl FnMut(&'static str) -> Result<(Option<String>, Attr), DecodeError>,
) -> Result<Context, DecodeError> {
    let (specversion, attr) = required(take("specversion")?)?;
    if specversion != SPEC_VERSION {
        let got = shown(&specversion);
        return Err(DecodeError::SpecVersion { attr, got });
    }
    let (id, _) = required(take("id")?)?;
    let (source, _) = required(take("source")?)?;
    let (ty, _) = required(take("type")?)?;
    let (subject, _) = optional(take("subject")?)?;
    let (time, attr) = optional(take("time")?)?;
    if let Some(time) = &time
        && let Err(reason) = chrono::DateTime::parse_from_rfc3339(time)
    {
        let got = shown(time);
        return Err(DecodeError::Time { attr, got, reason });
    }
    let (dataschema, attr) = optional(take("dataschema")?)?;
    if let Some(schema) = dataschema.as_deref().filter(|s| !is_absolute_uri(s)) {
        let got = shown(schema);
        return Err(DecodeError::DataSchema { attr, got });
    }
    Ok(Context {
        id,
        source,
        ty,
        subject,
        time,
        dataschema,
    })
}

fn required((value, attr): (Option<String>, Attr)) -> Result<(String, Attr), DecodeError> {
    match value {
        None => Err(DecodeError::Missing { attr }),
        Some(v) if v.is_empty() => Err(DecodeError::Empty { attr }),
        Some(v) => Ok((v, attr)),
    }
}

fn optional((value, attr): (Option<String>, Attr)) -> Result<(Option<String>, Attr), DecodeError> {
    match value {
        Some(v) if v.is_empty() => Err(DecodeError::Empty { attr }),
        value => Ok((value, attr)),
    }
}

/// Removes a member that must be a string if present; null counts as absent.
fn string_member(
    map: &mut Map<String, Value>,
    name: &str,
    attr: &Attr,
) -> Result<Option<String>, DecodeError> {
    match map.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(DecodeError::NotAString {
            attr: attr.clone(),
            found: kind(&other),
        }),
    }
}

/// Removes `data` and `data_base64` and turns whichever is present into bytes.
fn data_members(
    map: &mut Map<String, Value>,
    content_type: Option<&str>,
    index: Option<usize>,
) -> Result<Vec<u8>, DecodeError> {
    let data = map.remove("data").filter(|v| !v.is_null());
    let base64 = map.remove("data_base64").filter(|v| !v.is_null());
    match (data, base64) {
        (Some(_), Some(_)) => Err(DecodeError::BothData {
            event: Which(index),
        }),
        (None, None) => Ok(Vec::new()),
        (None, Some(encoded)) => {
            let attr = Attr::member("data_base64", index);
            match encoded {
                Value::String(s) => BASE64
                    .decode(s)
                    .map_err(|reason| DecodeError::Base64 { attr, reason }),
                other => Err(DecodeError::NotAString {
                    attr,
                    found: kind(&other),
                }),
            }
        }
        (Some(value), None) => match (value, content_type) {
            (value, None) => Ok(value.to_string().into_bytes()),
            (value, Some(ct)) if is_json(ct) => Ok(value.to_string().into_bytes()),
            (Value::String(s), Some(_)) => Ok(s.into_bytes()),
            (other, Some(ct)) => Err(DecodeError::DataNotString {
                attr: Attr::member("data", index),
                content_type: shown(ct),
                found: kind(&other),
            }),
        },
    }
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
    let text = content_type.is_some_and(|ct| !is_json(ct) && media_type(ct).0.starts_with("text/"));
    if let Some(s) = text.then(|| std::str::from_utf8(data).ok()).flatten() {
        return Some(("data", Value::String(s.to_owned())));
    }
    Some(("data_base64", Value::String(BASE64.encode(data))))
}

/// Decodes a `ce-` header value: `%XX` are UTF-8 bytes, and a `%` that is not followed
/// by two hex digits is an error (the `percent-encoding` crate would pass it through).
fn percent_decode(header: &str, raw: &str) -> Result<String, DecodeError> {
    for (at, _) in raw.match_indices('%') {
        let hex = raw.as_bytes().get(at + 1..at + 3);
        if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
            return Err(DecodeError::PercentEncoding {
                header: header.to_owned(),
                reason: format!("the `%` at position {at} is not followed by two hex digits"),
            });
        }
    }
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| DecodeError::PercentEncoding {
            header: header.to_owned(),
            reason: "the decoded bytes are not UTF-8".into(),
        })
}

/// A media type's lowercase `type/subtype` and its `charset` parameter, if any.
fn media_type(content_type: &str) -> (String, Option<String>) {
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset = parts
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned());
    (essence, charset)
}

/// JSON-ish in the JSON event format's sense: `application/json`, `text/json`, `*/*+json`.
fn is_json(content_type: &str) -> bool {
    let (essence, _) = media_type(content_type);
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

fn is_extension_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// RFC 3986 `scheme ":" ...`, without whitespace or control characters.
fn is_absolute_uri(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

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

/// A value quoted back in a message, cut short so a huge header cannot bloat the response.
fn shown(value: &str) -> String {
    match value.char_indices().nth(SHOWN_CHARS) {
        None => value.to_owned(),
        Some((end, _)) => format!("{}…", value.get(..end).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests;

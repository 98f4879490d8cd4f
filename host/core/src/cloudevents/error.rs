//! Why a request or JSON event was refused, and where: every message names the header,
//! member or batch element and says what to send instead.

use std::fmt;

use serde_json::Value;

use super::media::{BATCH, STRUCTURED};
use crate::topic::TopicError;
use crate::value::BadChar;

/// Longest attribute value or member/header name quoted back in an error message: a
/// mangled 5,000-character member name must not become a 5,000-character refusal.
const SHOWN_CHARS: usize = 64;

/// Where a value came from, so that an error can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    /// An HTTP header of a binary-mode request, by its lowercase name (`ce-id`).
    Header(String),
    /// A member of a JSON event; `index` is the event's position in a batch.
    Member { name: String, index: Option<usize> },
}

impl Attr {
    pub(crate) fn member(name: &str, index: Option<usize>) -> Self {
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
            Self::Header(name) => write!(f, "header `{}`", shown(name)),
            Self::Member { name, index: None } => write!(f, "`{}`", shown(name)),
            Self::Member {
                name,
                index: Some(i),
            } => write!(f, "`{}` of batch element {i}", shown(name)),
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
    #[error(
        "the batch has {count} events, more than the limit of {max}; split it into batches of at most {max}"
    )]
    BatchTooLarge { count: usize, max: usize },
    #[error(
        "{event} has the member `{}` more than once; send each member once",
        shown(name)
    )]
    DuplicateMember { event: Which, name: String },
    #[error(
        "Content-Type charset {:?} is not supported; CloudEvents JSON must be UTF-8 (charset=utf-8, or no charset)",
        shown(charset)
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
    #[error("{attr} {bad}; remove it or percent-encode it in a URI")]
    BadString { attr: Attr, bad: BadChar },
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
        "header `{}` is not visible ASCII; percent-encode other characters as UTF-8 (é as %C3%A9)",
        shown(header)
    )]
    HeaderNotText { header: String },
    #[error(
        "header `{}` has invalid percent-encoding: {reason}; write `%` as %25 and other bytes as %XX of their UTF-8 encoding",
        shown(header)
    )]
    PercentEncoding { header: String, reason: String },
    #[error(
        "header `{}` appears more than once; send each ce- header once",
        shown(header)
    )]
    DuplicateHeader { header: String },
    #[error(
        "{attr} is not a valid extension name: extension names use only lowercase letters a-z and digits 0-9"
    )]
    ExtensionName { attr: Attr },
    #[error(
        "{attr} is {found}, which is no CloudEvents type; an extension value is a string, \
         true or false, or a whole number from -2147483648 to 2147483647 (send others as strings)"
    )]
    ExtensionValue { attr: Attr, found: String },
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

pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What kind of JSON value a text holds, by its first character (the text is valid JSON).
pub(crate) fn kind_of_text(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// A value quoted back in a message, cut short so a huge header cannot bloat the response.
pub(crate) fn shown(value: &str) -> String {
    match value.char_indices().nth(SHOWN_CHARS) {
        None => value.to_owned(),
        Some((end, _)) => format!("{}…", value.get(..end).unwrap_or_default()),
    }
}

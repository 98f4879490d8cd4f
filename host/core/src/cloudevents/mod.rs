//! The CloudEvents 1.0 HTTP protocol binding: what `POST /v1/events/{topic}` accepts, and
//! the JSON form weft prints events in (`weft tap`, `weft test`).
//!
//! # Modes
//!
//! The request's `Content-Type` picks the mode, as the HTTP binding says:
//! - `application/cloudevents+json` (charset, if given, must be UTF-8): structured, the body
//!   is one event in the JSON event format;
//! - `application/cloudevents-batch+json`: batched, a JSON array of such events, at most
//!   [`Limits::max_events`] of them (none is a valid, empty batch);
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
//! # Kept exactly as sent
//!
//! The data leaves as the bytes that arrived: a binary-mode body byte for byte, and a
//! structured `data` member as its exact JSON text ([`serde_json::value::RawValue`]), so
//! whitespace, key order, duplicate keys inside the data and integers beyond 64 bits all
//! survive; [`to_json`] writes that text back as it is. `"data": null` is data (the JSON
//! `null`), distinct from no `data` member, and both round-trip. `time` is checked to be
//! RFC 3339 but stored as written (a producer's offset survives), `dataschema` is checked
//! to be an absolute URI. Extensions keep their CloudEvents type (see [`crate::value`]):
//! a JSON number is an Integer (only whole numbers in the signed 32-bit range; others are
//! refused), a boolean a Boolean, a string a String; binary-mode headers are Strings.
//!
//! # What is refused (400)
//!
//! Every string attribute, the `id` included, must be a CloudEvents String: no control
//! characters, noncharacters or surrogates (in binary mode after percent-decoding). A
//! member sent twice in one JSON event is refused (JSON parsers disagree on which one
//! wins). Extension values of no CloudEvents type (`1.5`, numbers outside 32 bits,
//! objects, arrays, `null`) are refused. A batch may be empty (`[]`): nothing is stored.
//! A binary-mode header value in double quotes is read without them, as the HTTP binding
//! has it (an RFC 7230 quoted-string, unescaped before percent-decoding).
//!
//! # Layout
//!
//! `media` (media types), `error` ([`DecodeError`] and where it points), `context` (the
//! attributes both modes share and their checks), `binary`, `structured` (structured and
//! batch), `write` (the JSON form on the way out).
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

mod binary;
mod context;
mod error;
mod media;
mod structured;
mod write;

pub use binary::headers as to_binary;
pub use error::{Attr, DecodeError, Which};
pub use media::{BATCH, STRUCTURED};
pub use structured::from_json;
pub use write::{Form, to_json, to_json_text};

use crate::event::Event;
use crate::topic::Topic;

/// Limits applied while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most events one batch request may carry.
    pub max_events: usize,
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
    let (essence, charset) = content_type.map(media::media_type).unwrap_or_default();
    if (essence == STRUCTURED || essence == BATCH)
        && let Some(charset) = charset.filter(|c| !c.eq_ignore_ascii_case("utf-8"))
    {
        return Err(DecodeError::Charset { charset });
    }
    match essence.as_str() {
        STRUCTURED => Ok(vec![structured::decode_one(body, topic)?]),
        BATCH => structured::decode_batch(body, topic, limits.max_events),
        other if other.starts_with("application/cloudevents") => {
            Err(DecodeError::UnsupportedFormat {
                content_type: error::shown(content_type.unwrap_or_default()),
            })
        }
        _ => Ok(vec![binary::decode(headers, content_type, body, topic)?]),
    }
}

#[cfg(test)]
mod tests;

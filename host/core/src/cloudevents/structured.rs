//! Structured and batched mode: events in the JSON event format.
//!
//! A JSON event is read member by member as raw text ([`RawValue`]): the `data` member
//! is kept as the exact text it had (whitespace, key order, duplicate keys and numbers
//! beyond 64 bits included), and a member sent twice is refused rather than the last
//! one silently winning.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::context::{context, is_extension_name, optional, string};
use super::error::{Attr, DecodeError, Which, kind, kind_of_text, shown};
use super::media::is_json;
use crate::event::Event;
use crate::topic::Topic;
use crate::value::ExtValue;

/// Where an event's topic comes from.
#[derive(Clone, Copy)]
pub(crate) enum TopicFrom<'a> {
    /// The ingest URL; a `topic` member is refused.
    Url(&'a Topic),
    /// A `topic` member, else the default.
    Member(Option<&'a Topic>),
}

/// One event of a structured request body.
pub(crate) fn decode_one(body: &[u8], topic: &Topic) -> Result<Event, DecodeError> {
    let text = json_text(body)?;
    parse_event(text, None, TopicFrom::Url(topic))
}

/// The events of a batch body: a JSON array of at most `max` events (none is a valid,
/// empty batch).
pub(crate) fn decode_batch(
    body: &[u8],
    topic: &Topic,
    max: usize,
) -> Result<Vec<Event>, DecodeError> {
    let text = json_text(body)?;
    if !text.trim_start().starts_with('[') {
        return Err(DecodeError::NotAnArray {
            found: kind_of_text(text),
        });
    }
    let items: Vec<&RawValue> = serde_json::from_str(text).map_err(DecodeError::Json)?;
    if items.len() > max {
        return Err(DecodeError::BatchTooLarge {
            count: items.len(),
            max,
        });
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| parse_event(item.get(), Some(i), TopicFrom::Url(topic)))
        .collect()
}

/// Parses one JSON event, taking its topic from a `topic` member or, when there is
/// none, from `default_topic`.
pub fn from_json(text: &str, default_topic: Option<&Topic>) -> Result<Event, DecodeError> {
    parse_event(text, None, TopicFrom::Member(default_topic))
}

/// The body as JSON text: UTF-8 holding one JSON value.
fn json_text(body: &[u8]) -> Result<&str, DecodeError> {
    // Checked as a whole first, so that a syntax error is reported as such.
    serde_json::from_slice::<&RawValue>(body).map_err(DecodeError::Json)?;
    std::str::from_utf8(body)
        .map_err(|_| DecodeError::Json(serde::de::Error::custom("the body is not UTF-8")))
}

pub(crate) fn parse_event(
    text: &str,
    index: Option<usize>,
    topic: TopicFrom<'_>,
) -> Result<Event, DecodeError> {
    let event = Which(index);
    if !text.trim_start().starts_with('{') {
        let found = kind_of_text(text);
        return Err(DecodeError::NotAnObject { event, found });
    }
    let members: Members<'_> = serde_json::from_str(text).map_err(DecodeError::Json)?;
    if let Some(name) = members.duplicate {
        return Err(DecodeError::DuplicateMember { event, name });
    }
    let mut map = members.entries;
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
    for (name, raw) in map {
        let attr = Attr::member(&name, index);
        if !is_extension_name(&name) {
            return Err(DecodeError::ExtensionName { attr });
        }
        let value = extension_value(raw, attr)?;
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
        hops: 0,
        origin: None,
    })
}

/// A JSON extension member as a typed value (see [`crate::value`]).
fn extension_value(raw: &RawValue, attr: Attr) -> Result<ExtValue, DecodeError> {
    let refuse = |found: String| DecodeError::ExtensionValue {
        attr: attr.clone(),
        found,
    };
    match serde_json::from_str::<Value>(raw.get()).map_err(DecodeError::Json)? {
        Value::String(s) => Ok(ExtValue::String(string(s, &attr)?)),
        Value::Bool(b) => Ok(ExtValue::Boolean(b)),
        Value::Number(n) => match n.as_i64().and_then(|n| i32::try_from(n).ok()) {
            Some(n) => Ok(ExtValue::Integer(n)),
            None => Err(refuse(format!("the number {}", shown(raw.get())))),
        },
        other => Err(refuse(kind(&other).to_owned())),
    }
}

fn topic_member(
    map: &mut BTreeMap<String, &RawValue>,
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

/// Removes a member that must be a string if present; null counts as absent.
fn string_member(
    map: &mut BTreeMap<String, &RawValue>,
    name: &str,
    attr: &Attr,
) -> Result<Option<String>, DecodeError> {
    let Some(raw) = map.remove(name) else {
        return Ok(None);
    };
    match serde_json::from_str::<Value>(raw.get()).map_err(DecodeError::Json)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(DecodeError::NotAString {
            attr: attr.clone(),
            found: kind(&other),
        }),
    }
}

/// Removes `data` and `data_base64` and turns whichever is present into the data: JSON
/// data as its exact text (`null` included, which is not the same as no `data`), a
/// string as its UTF-8 bytes, base64 decoded. A `data_base64` of null is no data.
fn data_members(
    map: &mut BTreeMap<String, &RawValue>,
    content_type: Option<&str>,
    index: Option<usize>,
) -> Result<Option<Vec<u8>>, DecodeError> {
    let data = map.remove("data");
    let base64 = map.remove("data_base64").filter(|v| v.get() != "null");
    match (data, base64) {
        (Some(_), Some(_)) => Err(DecodeError::BothData {
            event: Which(index),
        }),
        (None, None) => Ok(None),
        (None, Some(encoded)) => {
            let attr = Attr::member("data_base64", index);
            match serde_json::from_str::<Value>(encoded.get()).map_err(DecodeError::Json)? {
                Value::String(s) => BASE64
                    .decode(s)
                    .map(Some)
                    .map_err(|reason| DecodeError::Base64 { attr, reason }),
                other => Err(DecodeError::NotAString {
                    attr,
                    found: kind(&other),
                }),
            }
        }
        (Some(raw), None) => match content_type {
            Some(ct) if !is_json(ct) => {
                match serde_json::from_str::<Value>(raw.get()).map_err(DecodeError::Json)? {
                    Value::String(s) => Ok(Some(s.into_bytes())),
                    other => Err(DecodeError::DataNotString {
                        attr: Attr::member("data", index),
                        content_type: shown(ct),
                        found: kind(&other),
                    }),
                }
            }
            _ => Ok(Some(raw.get().as_bytes().to_vec())),
        },
    }
}

/// A JSON object's members as raw text, in key order, noting the first name sent twice.
struct Members<'a> {
    entries: BTreeMap<String, &'a RawValue>,
    duplicate: Option<String>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MembersVisitor(std::marker::PhantomData))
    }
}

struct MembersVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for MembersVisitor<'a> {
    type Value = Members<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Members<'a>, A::Error> {
        let mut entries = BTreeMap::new();
        let mut seen = HashSet::new();
        let mut duplicate = None;
        while let Some(name) = access.next_key::<String>()? {
            let value: &'a RawValue = access.next_value()?;
            if !seen.insert(name.clone()) && duplicate.is_none() {
                duplicate = Some(name.clone());
            }
            entries.insert(name, value);
        }
        Ok(Members { entries, duplicate })
    }
}

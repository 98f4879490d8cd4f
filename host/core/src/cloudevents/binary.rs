//! Binary mode: the attributes are `ce-` headers, the body is the data, byte for byte.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::context::{context, is_extension_name, string};
use super::error::{Attr, DecodeError};
use crate::event::Event;
use crate::topic::Topic;
use crate::value::ExtValue;

pub(crate) fn decode(
    headers: &http::HeaderMap,
    content_type: Option<&str>,
    body: &[u8],
    topic: &Topic,
) -> Result<Event, DecodeError> {
    // 1. Every `ce-` header, once, as text, unquoted and percent-decoded.
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
        attrs.insert(attr.to_owned(), percent_decode(&header, &unquote(raw))?);
    }
    // 2. The context attributes.
    let context = context(|name| Ok((attrs.remove(name), Attr::Header(format!("ce-{name}")))))?;
    // 3. What is left is extensions, all Strings: the header carries no type.
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
            _ => {
                let value = string(value, &attr)?;
                extensions.push((name, ExtValue::String(value)));
            }
        }
    }
    let datacontenttype = match content_type.filter(|c| !c.is_empty()) {
        Some(c) => Some(string(c.to_owned(), &Attr::Header("content-type".into()))?),
        None => None,
    };
    Ok(Event {
        id: context.id,
        source: context.source,
        ty: context.ty,
        subject: context.subject,
        time: context.time,
        datacontenttype,
        dataschema: context.dataschema,
        extensions,
        topic: topic.as_str().to_owned(),
        // An empty body is no data: HTTP cannot tell the two apart.
        data: Some(body.to_vec()).filter(|b| !b.is_empty()),
        hops: 0,
        origin: None,
    })
}

/// A header value in double quotes is read without them, and a backslash in it
/// escapes the next character: the HTTP binding has header values unescaped as
/// RFC 7230 quoted-strings before they are percent-decoded.
fn unquote(raw: &str) -> Cow<'_, str> {
    let Some(inner) = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| raw.len() >= 2)
    else {
        return Cow::Borrowed(raw);
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
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

/// What the HTTP binding has percent-encoded in a `ce-` header value: controls,
/// space, `"` and `%`, and (by `utf8_percent_encode`) every non-ASCII byte.
const HEADER_VALUE: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b' ').add(b'"').add(b'%');

/// An event in binary mode on the way out (a reply to `POST /v1/requests`): its
/// `ce-` headers, percent-encoded, and `Content-Type` when it has a
/// `datacontenttype`; the body is [`Event::data_bytes`], byte for byte. Extensions
/// go as their canonical strings (the header carries no type); names that are not
/// valid extension names (only a module could have made them) are left out, as
/// the JSON writer leaves them out. The topic is weft's own and not written.
pub fn headers(event: &Event) -> Vec<(String, String)> {
    let enc = |v: &str| percent_encoding::utf8_percent_encode(v, HEADER_VALUE).to_string();
    let mut out = vec![
        (
            "ce-specversion".to_owned(),
            crate::event::SPEC_VERSION.to_owned(),
        ),
        ("ce-id".to_owned(), enc(&event.id)),
        ("ce-source".to_owned(), enc(&event.source)),
        ("ce-type".to_owned(), enc(&event.ty)),
    ];
    for (name, value) in [
        ("subject", &event.subject),
        ("time", &event.time),
        ("dataschema", &event.dataschema),
    ] {
        if let Some(v) = value {
            out.push((format!("ce-{name}"), enc(v)));
        }
    }
    for (name, value) in &event.extensions {
        if is_extension_name(name) && !super::context::RESERVED.contains(&name.as_str()) {
            out.push((format!("ce-{name}"), enc(&value.canonical())));
        }
    }
    if let Some(ct) = &event.datacontenttype {
        out.push(("content-type".to_owned(), ct.clone()));
    }
    out
}

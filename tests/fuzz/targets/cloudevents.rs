//! The CloudEvents decoder (`weft_core::cloudevents::decode`): every request body a
//! publisher sends, in binary, structured and batch mode.

use arbitrary::Unstructured;
use http::{HeaderMap, HeaderName, HeaderValue};
use weft_core::Topic;
use weft_core::cloudevents::{self, Form, Limits};
use weft_fuzz::{Bound, Dictionary, clear, mutate};

const MAX_EVENTS: usize = 100;

const EVENT: &[u8] = br#"{"specversion":"1.0","id":"42","source":"/shop","type":"order.created","subject":"a","time":"2024-05-01T12:00:00Z","datacontenttype":"application/json","data":{"sku":"A1","qty":2},"priority":5,"urgent":true}"#;
const BODIES: &[&[u8]] = &[
    EVENT,
    br#"{"specversion":"1.0","id":"1","source":"s","type":"t"}"#,
    br#"{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"text/plain","data":"hi"}"#,
    br#"{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"AAEC/w=="}"#,
    br#"{"specversion":"1.0","id":"1","source":"s","type":"t","topic":"other/topic","dataschema":"https://x/y"}"#,
    br#"[{"specversion":"1.0","id":"1","source":"s","type":"t"},{"specversion":"1.0","id":"2","source":"s","type":"t","data":[1,2.5e3,null]}]"#,
    b"[]",
    b"hello",
    b"\x00\xff",
];
const DICT: Dictionary = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b",",
    b":",
    b"\\u0000",
    b"\\ud800",
    b"null",
    b"true",
    b"1e999",
    b"-0",
    b"\"data\":",
    b"\"data_base64\":",
    b"\"specversion\":\"1.0\",",
    b"\"topic\":",
    b"\"datacontenttype\":\"text/plain\",",
    b"\"x\":{\"y\":[]},",
    b"=",
    b"\xc3\xa9",
    b"\xed\xa0\x80",
    EVENT,
];
const CONTENT_TYPES: &[&[u8]] = &[
    b"application/cloudevents+json",
    b"application/cloudevents-batch+json",
    b"application/cloudevents+json; charset=utf-8",
    b"application/cloudevents-batch+json; charset=latin1",
    b"application/json",
    b"text/plain; charset=utf-8",
    b"application/octet-stream",
    b"application/cloudevents+xml",
];
const HEADER_NAMES: &[&str] = &[
    "ce-specversion",
    "ce-id",
    "ce-source",
    "ce-type",
    "ce-subject",
    "ce-time",
    "ce-dataschema",
    "ce-datacontenttype",
    "ce-data",
    "ce-topic",
    "ce-traceparent",
    "ce-note",
    "ce-",
    "ce-x_y",
    "x-other",
];
const HEADER_VALUES: &[&[u8]] = &[
    b"1.0",
    b"42",
    b"/shop",
    b"order.created",
    b"caf%C3%A9%20au%20lait",
    b"50%25%20off",
    b"%FF%",
    b"2024-05-01T12:00:00+02:00",
    b"\xc3\xa9",
];
const HEADER_DICT: Dictionary = &[
    b"%", b"%2", b"%C3", b"%00", b" ", b"\t", b";", b"=", b"\x80",
];

fn headers(u: &mut Unstructured<'_>) -> arbitrary::Result<(HeaderMap, usize)> {
    let mut h = HeaderMap::new();
    let mut bytes = 0;
    if u.ratio(7, 8)? {
        let ct = mutate(u, CONTENT_TYPES, HEADER_DICT, 256)?;
        if let Ok(v) = HeaderValue::from_bytes(&ct) {
            bytes += ct.len();
            h.insert(http::header::CONTENT_TYPE, v);
        }
    }
    // Binary mode's four required headers most of the time, so decoding gets past them.
    let required = u.ratio(3, 4)?;
    for (i, name) in HEADER_NAMES.iter().enumerate() {
        if (i < 4 && required) || u.ratio(1, 6)? {
            let value = mutate(
                u,
                &[HEADER_VALUES[i.min(HEADER_VALUES.len() - 1)]],
                HEADER_DICT,
                512,
            )?;
            let value = if u.ratio(1, 4)? {
                mutate(u, HEADER_VALUES, HEADER_DICT, 512)?
            } else {
                value
            };
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(&value),
            ) {
                bytes += name.len() + value.len();
                h.append(n, v);
            }
        }
    }
    Ok((h, bytes))
}

#[test]
fn cloudevents_decoder() {
    let topic = Topic::parse("fuzz/events").unwrap();
    let limits = Limits {
        max_events: MAX_EVENTS,
    };
    let summary = weft_fuzz::run(
        "cloudevents_decoder",
        10_000,
        Some(Bound {
            per_byte: 64,
            base: 1 << 20,
        }),
        |u| {
            let (headers, header_bytes) = headers(u)?;
            let body = mutate(u, BODIES, DICT, 256 * 1024)?;
            let size = body.len() + header_bytes;
            Ok(((headers, body), size))
        },
        |(headers, body)| {
            match cloudevents::decode(&headers, &body, &topic, &limits) {
                Ok(events) => {
                    if events.is_empty() && !body.starts_with(b"[") {
                        return Err("no events and no refusal".into());
                    }
                    if events.len() > MAX_EVENTS {
                        return Err(format!(
                            "{} events over the limit of {MAX_EVENTS}",
                            events.len()
                        ));
                    }
                    // What was accepted is what goes out: written as JSON and read back,
                    // each event is the same.
                    for event in &events {
                        let json = cloudevents::to_json_text(event, Form::Json);
                        match cloudevents::from_json(&json, None) {
                            Ok(back) if &back == event => {}
                            Ok(back) => {
                                return Err(format!(
                                    "written and read back, {event:?} became {back:?} (JSON {json})"
                                ));
                            }
                            Err(e) => {
                                return Err(format!(
                                    "an accepted event's own JSON is refused: {e} (JSON {json}, event {event:?})"
                                ));
                            }
                        }
                    }
                }
                Err(e) => clear(&e.to_string())?,
            }
            Ok(())
        },
    );
    assert!(summary.cases > 0);
}

//! Events on the wire: the CloudEvents NATS protocol binding, plus weft's two
//! headers.
//!
//! - **Structured mode** (the default): the payload is the event in the JSON event
//!   format, with `content-type: application/cloudevents+json`, so any CloudEvents
//!   SDK reads it as it is. weft's routing topic is not in it: the subject carries
//!   it (`PREFIX.level.level`).
//! - **Binary mode** (per export): each attribute is a `ce-` header
//!   (percent-encoded like the HTTP binding's, so any value survives a NATS header),
//!   `content-type` is `datacontenttype`, and the payload is the data byte for byte.
//!
//! An import reads both, with the same decoder as HTTP ingest, so a NATS publisher
//! gets the same checks and the same messages as an HTTP one.
//!
//! Beside the event, never as CloudEvents attributes:
//! - `Nats-Msg-Id`: a hash of (source, id), so JetStream drops a republish within
//!   its duplicate window, whoever republishes (this host after a crash, or another
//!   host of a group that handled the same input);
//! - `Weft-Origin`: the exporting host's mesh name, so it never imports its own
//!   events back;
//! - `Weft-Hops`: how many hosts the event (or what it was made from) has left,
//!   counting this one, so a cycle through processors on several hosts stops.

use bytes::Bytes;
use sha2::{Digest, Sha256};
use weft_core::{Event, Topic, cloudevents, trace};

use crate::config::Mode;
use crate::subject::Prefix;

pub const MSG_ID: &str = "Nats-Msg-Id";
pub const ORIGIN: &str = "Weft-Origin";
pub const HOPS: &str = "Weft-Hops";

/// An event ready to publish.
pub struct Outgoing {
    pub subject: String,
    pub headers: async_nats::HeaderMap,
    pub payload: Bytes,
}

/// The `Nats-Msg-Id` of an event: the first 128 bits of SHA-256 over
/// `source NUL id`, in hex. CloudEvents makes (source, id) unique per event; a
/// hash keeps the header short and free of any character a header cannot carry.
pub fn msg_id(event: &Event) -> String {
    let mut h = Sha256::new();
    h.update(event.source.as_bytes());
    h.update([0]);
    h.update(event.id.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The message for `event`, leaving host `origin`, `hops` hosts from where it was
/// first accepted (this one included).
pub fn encode(event: &Event, prefix: &Prefix, mode: Mode, origin: &str, hops: u32) -> Outgoing {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(MSG_ID, msg_id(event).as_str());
    headers.insert(ORIGIN, origin);
    headers.insert(HOPS, hops.to_string().as_str());
    trace_headers(event, &mut headers);
    // The subject is made from a valid topic (the hub routed the event by it).
    let subject = match Topic::parse(&event.topic) {
        Ok(t) => prefix.subject(&t),
        Err(_) => format!("{prefix}.{}", event.topic.replace('/', ".")),
    };
    let payload = match mode {
        Mode::Structured => {
            headers.insert("content-type", cloudevents::STRUCTURED);
            structured(event)
        }
        Mode::Binary => binary(event, &mut headers),
    };
    Outgoing {
        subject,
        headers,
        payload,
    }
}

/// The event's trace context as the W3C headers too (see [`weft_core::trace`]),
/// beside the CloudEvents extension the payload or a `ce-` header carries: NATS
/// tooling and non-CloudEvents subscribers read those. Only a valid one.
fn trace_headers(event: &Event, headers: &mut async_nats::HeaderMap) {
    if let Some((parent, state)) = trace::context(event) {
        headers.insert(trace::TRACEPARENT, parent.to_string().as_str());
        if let Some(state) = state.filter(|s| s.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
        {
            headers.insert(trace::TRACESTATE, state);
        }
    }
}

/// The JSON event format, without weft's `topic` member (the subject says it),
/// the data as the exact text it arrived as.
fn structured(event: &Event) -> Bytes {
    Bytes::from(cloudevents::to_json_text(event, cloudevents::Form::Wire))
}

fn binary(event: &Event, headers: &mut async_nats::HeaderMap) -> Bytes {
    let mut put = |name: &str, value: &str| headers.insert(name, percent_encode(value).as_str());
    put("ce-specversion", weft_core::event::SPEC_VERSION);
    put("ce-id", &event.id);
    put("ce-source", &event.source);
    put("ce-type", &event.ty);
    if let Some(v) = &event.subject {
        put("ce-subject", v);
    }
    if let Some(v) = &event.time {
        put("ce-time", v);
    }
    if let Some(v) = &event.dataschema {
        put("ce-dataschema", v);
    }
    // Binary mode carries every extension as its canonical string, as the HTTP
    // binding does; its type travels only in structured mode.
    for (name, value) in &event.extensions {
        put(&format!("ce-{name}"), &value.canonical());
    }
    if let Some(ct) = &event.datacontenttype {
        headers.insert("content-type", ct.as_str());
    }
    Bytes::from(event.data.clone().unwrap_or_default())
}

/// What the CloudEvents HTTP binding percent-encodes in a header value, used for
/// NATS headers too: controls, space, `"`, `%` and everything outside ASCII.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_graphic() && b != b'"' && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why a message could not be imported; it is terminated (never redelivered)
/// and the reason shows in the import's status.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Subject(#[from] crate::subject::SubjectError),
    #[error("message on `{subject}` is not a CloudEvent weft reads: {reason}")]
    Event {
        subject: String,
        reason: cloudevents::DecodeError,
    },
    #[error("message on `{subject}` has a header weft cannot read: {header}")]
    Header { subject: String, header: String },
}

/// An imported message: its events (a batch publisher may send several), where
/// they came from and how far they travelled.
#[derive(Debug)]
pub struct Incoming {
    pub events: Vec<Event>,
    /// The exporting host, or empty for a publisher that is not a weft host.
    pub origin: String,
    pub hops: u32,
}

/// Reads a message as a CloudEvent on the topic its subject names (structured or
/// binary mode, by its `content-type`, exactly as HTTP ingest does).
pub fn decode(
    subject: &str,
    headers: Option<&async_nats::HeaderMap>,
    payload: &[u8],
    prefix: &Prefix,
    limits: &cloudevents::Limits,
) -> Result<Incoming, ImportError> {
    let topic = prefix.topic(subject)?;
    let mut http = http::HeaderMap::new();
    let (mut origin, mut hops) = (String::new(), 0);
    let (mut parent, mut state) = (None, None);
    for (name, values) in headers.map(|h| h.iter()).into_iter().flatten() {
        let name: &str = name.as_ref();
        let value = values.first().map(|v| v.as_str()).unwrap_or_default();
        if name.eq_ignore_ascii_case(ORIGIN) {
            origin = value.to_owned();
        } else if name.eq_ignore_ascii_case(HOPS) {
            hops = value.parse().map_err(|_| ImportError::Header {
                subject: subject.to_owned(),
                header: format!("{HOPS}: {value:?} is not a count"),
            })?;
        } else if name.eq_ignore_ascii_case(trace::TRACEPARENT) {
            parent = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case(trace::TRACESTATE) {
            state = Some(value.to_owned());
        } else if name.to_ascii_lowercase().starts_with("nats-") {
            // JetStream's own (Nats-Msg-Id, Nats-Expected-...): not the event's.
        } else {
            let bad = || ImportError::Header {
                subject: subject.to_owned(),
                header: name.to_owned(),
            };
            let header = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
            for v in values {
                http.append(
                    header.clone(),
                    http::HeaderValue::from_str(v.as_str()).map_err(|_| bad())?,
                );
            }
        }
    }
    let mut events = cloudevents::decode(&http, payload, &topic, limits).map_err(|reason| {
        ImportError::Event {
            subject: subject.to_owned(),
            reason,
        }
    })?;
    for e in &mut events {
        e.origin = Some(origin.clone());
        e.hops = hops;
        // A publisher that is not a weft host may send the W3C header alone.
        trace::adopt(e, parent.as_deref(), state.as_deref());
    }
    Ok(Incoming {
        events,
        origin,
        hops,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn event() -> Event {
        Event {
            id: "o-1".into(),
            source: "/shop".into(),
            ty: "order.created".into(),
            subject: Some("café 1".into()),
            time: Some("2026-12-04T10:00:00+01:00".into()),
            datacontenttype: Some("application/json".into()),
            dataschema: None,
            extensions: vec![("region".into(), "eu west".into())],
            topic: "orders/eu".into(),
            data: Some(br#"{"n":1}"#.to_vec()),
            hops: 0,
            origin: None,
        }
    }

    fn limits() -> cloudevents::Limits {
        cloudevents::Limits { max_events: 10 }
    }

    #[test]
    fn both_modes_carry_the_event_and_the_mesh_headers() {
        let prefix = Prefix::parse("weft").unwrap();
        for mode in [Mode::Structured, Mode::Binary] {
            let out = encode(&event(), &prefix, mode, "edge-1", 1);
            assert_eq!(out.subject, "weft.orders.eu");
            assert_eq!(out.headers.get(MSG_ID).unwrap().as_str(), msg_id(&event()));
            let back = decode(
                &out.subject,
                Some(&out.headers),
                &out.payload,
                &prefix,
                &limits(),
            )
            .unwrap();
            assert_eq!(back.origin, "edge-1");
            assert_eq!(back.hops, 1);
            let mut want = event();
            want.origin = Some("edge-1".into());
            want.hops = 1;
            assert_eq!(back.events, vec![want], "{mode:?}");
        }
    }

    #[test]
    fn the_trace_context_crosses_as_the_extension_and_the_w3c_headers() {
        let prefix = Prefix::parse("weft").unwrap();
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut traced = event();
        traced.extensions.push(("traceparent".into(), tp.into()));
        traced.extensions.push(("tracestate".into(), "k=v".into()));
        for mode in [Mode::Structured, Mode::Binary] {
            let out = encode(&traced, &prefix, mode, "edge-1", 1);
            assert_eq!(out.headers.get("traceparent").unwrap().as_str(), tp);
            assert_eq!(out.headers.get("tracestate").unwrap().as_str(), "k=v");
            let back = decode(
                &out.subject,
                Some(&out.headers),
                &out.payload,
                &prefix,
                &limits(),
            )
            .unwrap();
            assert_eq!(back.events[0].extensions, traced.extensions, "{mode:?}");
        }
        // A malformed one travels as the event's extension, never as a header.
        let mut bad = event();
        bad.extensions
            .push(("traceparent".into(), "nonsense".into()));
        let out = encode(&bad, &prefix, Mode::Structured, "edge-1", 1);
        assert!(out.headers.get("traceparent").is_none());
    }

    #[test]
    fn a_w3c_header_alone_gives_the_event_its_trace_context() {
        let prefix = Prefix::parse("weft").unwrap();
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let body = br#"{"specversion":"1.0","id":"1","source":"/s","type":"t"}"#;
        let read = |traceparent: &str| {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("content-type", "application/cloudevents+json");
            headers.insert("traceparent", traceparent);
            headers.insert("tracestate", "k=v");
            decode("weft.a", Some(&headers), body, &prefix, &limits())
                .unwrap()
                .events
        };
        let events = read(tp);
        assert_eq!(events[0].extension("traceparent"), Some(&tp.into()));
        assert_eq!(events[0].extension("tracestate"), Some(&"k=v".into()));
        // Malformed: ignored, the message still imported.
        let events = read("00-zz-not-a-trace");
        assert!(
            events[0].extensions.is_empty(),
            "{:?}",
            events[0].extensions
        );
    }

    #[test]
    fn structured_mode_is_the_json_event_format_without_weft_s_topic() {
        let prefix = Prefix::parse("weft").unwrap();
        let out = encode(&event(), &prefix, Mode::Structured, "a", 1);
        assert_eq!(
            out.headers.get("content-type").unwrap().as_str(),
            "application/cloudevents+json"
        );
        let json: serde_json::Value = serde_json::from_slice(&out.payload).unwrap();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["id"], "o-1");
        assert_eq!(json["data"]["n"], 1);
        assert!(json.get("topic").is_none(), "{json}");
    }

    #[test]
    fn a_plain_nats_publisher_is_read_like_an_http_one() {
        let prefix = Prefix::parse("weft").unwrap();
        let body = br#"{"specversion":"1.0","id":"x","source":"/plain","type":"t","data":{"a":1}}"#;
        let mut h = async_nats::HeaderMap::new();
        h.insert("content-type", "application/cloudevents+json");
        let got = decode("weft.commands.go", Some(&h), body, &prefix, &limits()).unwrap();
        assert_eq!(got.origin, "", "not from a weft host");
        assert_eq!(got.events[0].topic, "commands/go");
        assert_eq!(got.events[0].origin.as_deref(), Some(""));
        let no_id = br#"{"specversion":"1.0","source":"/plain","type":"t"}"#;
        let e = decode("weft.a", Some(&h), no_id, &prefix, &limits()).unwrap_err();
        assert!(e.to_string().contains("`id` is missing"), "{e}");
        let e = decode("other.a", Some(&h), body, &prefix, &limits()).unwrap_err();
        assert!(e.to_string().contains("not under the mesh prefix"), "{e}");
    }

    #[test]
    fn the_message_id_depends_on_source_and_id_only() {
        let a = event();
        let mut b = event();
        b.data = Some(b"other".to_vec());
        b.topic = "elsewhere".into();
        assert_eq!(msg_id(&a), msg_id(&b));
        b.id = "o-2".into();
        assert_ne!(msg_id(&a), msg_id(&b));
        assert_eq!(msg_id(&a).len(), 32);
    }
}

//! Traces across hops: the CloudEvents distributed-tracing extension
//! (`traceparent`, `tracestate`, in the W3C Trace Context format) kept on every
//! event and inherited by what a module makes of it.
//!
//! Each module call is a step of the trace: an output the host stamps gets its
//! input's trace id with a **new parent id** (a fresh random span id), so a
//! tracing backend sees the output as a child of the input rather than the same
//! span twice; the flags are kept, so a sampled trace stays sampled. `tracestate`
//! travels with the `traceparent` it belongs to, unchanged.
//!
//! What the guest set wins: an output with a `traceparent` of its own keeps it,
//! except a copy of its input's (a processor that rewrites its input, keeping its
//! extensions, sets nothing of its own), which becomes a child like any output.
//!
//! A `traceparent` that is not valid W3C (wrong length, upper-case or non-hex
//! digits, an all-zero id, version `ff`) is kept on the event it arrived with (the
//! host keeps events as sent) but never inherited or sent on as a header: copying
//! it would spread a broken context to every system downstream. Its `tracestate`
//! is dropped with it, as W3C says a `tracestate` without a valid `traceparent`
//! means nothing.

use std::fmt;

use crate::value::check_string;
use crate::{Event, ExtValue};

/// The extension (and W3C header) carrying the trace context.
pub const TRACEPARENT: &str = "traceparent";
/// The vendor-specific part of the trace context, travelling with `traceparent`.
pub const TRACESTATE: &str = "tracestate";

/// A valid W3C `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    /// The span of the caller: the parent of whatever comes next.
    pub parent_id: [u8; 8],
    pub flags: u8,
}

impl TraceParent {
    /// Reads a `traceparent` as W3C Trace Context level 1 says a receiver must:
    /// version `00` is exactly 55 characters; a later version may be longer, after
    /// a `-`, and is read as `00`. `None` for anything else.
    pub fn parse(text: &str) -> Option<TraceParent> {
        let b = text.as_bytes();
        if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let version = hex_byte(&b[0..2])?;
        let longer_ok = version != 0 && b.get(55).is_none_or(|&c| c == b'-');
        if version == 0xff || (b.len() != 55 && !longer_ok) {
            return None;
        }
        let mut trace_id = [0; 16];
        for (i, out) in trace_id.iter_mut().enumerate() {
            *out = hex_byte(&b[3 + 2 * i..5 + 2 * i])?;
        }
        let mut parent_id = [0; 8];
        for (i, out) in parent_id.iter_mut().enumerate() {
            *out = hex_byte(&b[36 + 2 * i..38 + 2 * i])?;
        }
        let flags = hex_byte(&b[53..55])?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// The same trace and flags with a fresh random parent id: the next span.
    pub fn child(&self) -> TraceParent {
        TraceParent {
            parent_id: new_span_id(),
            ..*self
        }
    }

    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    pub fn parent_id_hex(&self) -> String {
        hex(&self.parent_id)
    }
}

/// Always written as version `00`, the only version weft produces.
impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.parent_id),
            self.flags
        )
    }
}

/// A random, non-zero span id.
pub fn new_span_id() -> [u8; 8] {
    loop {
        let id: [u8; 8] = rand::random();
        if id != [0; 8] {
            return id;
        }
    }
}

/// The event's valid trace context: its `traceparent` and the `tracestate` that
/// goes with it. `None` when it has none or an invalid one.
pub fn context(event: &Event) -> Option<(TraceParent, Option<&str>)> {
    let parent = TraceParent::parse(string_extension(event, TRACEPARENT)?)?;
    Some((parent, string_extension(event, TRACESTATE)))
}

/// Gives `out`, made by a module from `input`, its trace context (see the module
/// docs): unchanged when the module set its own, a child of the input's when the
/// input has a valid one, nothing otherwise.
pub fn inherit(out: &mut Event, input: &Event) {
    let own = out.extension(TRACEPARENT).cloned();
    let copied = own.is_some() && own.as_ref() == input.extension(TRACEPARENT);
    if own.is_some() && !copied {
        return;
    }
    let Some((parent, state)) = context(input) else {
        // The input's context is invalid or absent: what the guest copied of it
        // goes too, never further downstream.
        if copied {
            remove(out, TRACEPARENT);
            if out.extension(TRACESTATE) == input.extension(TRACESTATE) {
                remove(out, TRACESTATE);
            }
        }
        return;
    };
    set(out, TRACEPARENT, parent.child().to_string());
    if out.extension(TRACESTATE).is_none()
        && let Some(state) = state
    {
        set(out, TRACESTATE, state.to_owned());
    }
}

/// Gives an event that arrived without a `traceparent` extension the one its
/// transport carried as the W3C header (HTTP ingest, a NATS message): clients
/// instrumented with OpenTelemetry send the header, not the extension. The
/// event's own extension wins; a malformed header is ignored (the event is
/// accepted as if it had none), and so is a `tracestate` that is not a
/// CloudEvents String.
pub fn adopt(event: &mut Event, traceparent: Option<&str>, tracestate: Option<&str>) {
    if event.extension(TRACEPARENT).is_some() {
        return;
    }
    let Some(parent) = traceparent.and_then(TraceParent::parse) else {
        return;
    };
    set(event, TRACEPARENT, parent.to_string());
    if let Some(state) = tracestate.filter(|s| check_string(s).is_ok())
        && event.extension(TRACESTATE).is_none()
    {
        set(event, TRACESTATE, state.to_owned());
    }
}

fn string_extension<'a>(event: &'a Event, name: &str) -> Option<&'a str> {
    match event.extension(name)? {
        ExtValue::String(s) => Some(s),
        _ => None,
    }
}

fn set(event: &mut Event, name: &str, value: String) {
    let value = ExtValue::String(value);
    match event.extensions.iter_mut().find(|(n, _)| n == name) {
        Some((_, v)) => *v = value,
        None => event.extensions.push((name.to_owned(), value)),
    }
}

fn remove(event: &mut Event, name: &str) {
    event.extensions.retain(|(n, _)| n != name);
}

/// Lower-case hex only, as W3C requires.
fn hex_byte(two: &[u8]) -> Option<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    Some((digit(*two.first()?)? << 4) | digit(*two.get(1)?)?)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn event(ext: &[(&str, &str)]) -> Event {
        Event {
            id: "1".into(),
            source: "/s".into(),
            ty: "t".into(),
            subject: None,
            time: None,
            datacontenttype: None,
            dataschema: None,
            extensions: ext
                .iter()
                .map(|(n, v)| ((*n).to_owned(), ExtValue::String((*v).to_owned())))
                .collect(),
            topic: "a/b".into(),
            data: None,
            hops: 0,
            origin: None,
        }
    }

    fn text<'a>(e: &'a Event, name: &str) -> Option<&'a str> {
        string_extension(e, name)
    }

    #[test]
    fn parses_valid_and_refuses_malformed() {
        let p = TraceParent::parse(PARENT).unwrap();
        assert_eq!(p.trace_id_hex(), TRACE);
        assert_eq!(p.parent_id_hex(), "00f067aa0ba902b7");
        assert_eq!(p.flags, 1);
        assert_eq!(p.to_string(), PARENT);
        // A later version may carry more after a dash; it is read as 00.
        let future = format!("01{}-more", &PARENT[2..]);
        assert_eq!(TraceParent::parse(&future).unwrap().to_string(), PARENT);
        for bad in [
            "",
            "garbage",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01é",
            "é0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_output_is_a_child_of_its_input_in_the_same_trace() {
        let input = event(&[(TRACEPARENT, PARENT), (TRACESTATE, "k=v")]);
        let mut out = event(&[]);
        inherit(&mut out, &input);
        let child = TraceParent::parse(text(&out, TRACEPARENT).unwrap()).unwrap();
        assert_eq!(child.trace_id_hex(), TRACE);
        assert_ne!(child.parent_id_hex(), "00f067aa0ba902b7", "a new span id");
        assert_eq!(child.flags, 1);
        assert_eq!(text(&out, TRACESTATE), Some("k=v"));
    }

    #[test]
    fn a_copy_of_the_input_context_becomes_a_child_too() {
        let input = event(&[(TRACEPARENT, PARENT), (TRACESTATE, "k=v")]);
        let mut out = input.clone();
        inherit(&mut out, &input);
        let child = TraceParent::parse(text(&out, TRACEPARENT).unwrap()).unwrap();
        assert_eq!(child.trace_id_hex(), TRACE);
        assert_ne!(text(&out, TRACEPARENT), Some(PARENT));
        assert_eq!(text(&out, TRACESTATE), Some("k=v"));
        assert_eq!(out.extensions.len(), 2, "replaced, not added twice");
    }

    #[test]
    fn the_guest_set_context_wins() {
        let own = "00-11111111111111111111111111111111-2222222222222222-00";
        let input = event(&[(TRACEPARENT, PARENT), (TRACESTATE, "k=v")]);
        let mut out = event(&[(TRACEPARENT, own)]);
        inherit(&mut out, &input);
        assert_eq!(text(&out, TRACEPARENT), Some(own));
        assert_eq!(text(&out, TRACESTATE), None, "not the input's state");
        // The guest's tracestate with the inherited traceparent stays its own.
        let mut out = event(&[(TRACESTATE, "mine=1")]);
        inherit(&mut out, &input);
        assert_eq!(text(&out, TRACESTATE), Some("mine=1"));
    }

    #[test]
    fn a_malformed_input_context_is_not_copied() {
        for bad in [
            "not-a-traceparent",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        ] {
            let input = event(&[(TRACEPARENT, bad), (TRACESTATE, "k=v")]);
            let mut out = event(&[]);
            inherit(&mut out, &input);
            assert!(out.extensions.is_empty(), "{bad}: {:?}", out.extensions);
            // Nor when the guest copied its input's extensions.
            let mut out = input.clone();
            inherit(&mut out, &input);
            assert!(out.extensions.is_empty(), "{bad}: {:?}", out.extensions);
        }
        // A traceparent that is not a String (structured mode can type it) is not one.
        let mut input = event(&[]);
        input
            .extensions
            .push((TRACEPARENT.into(), ExtValue::Integer(7)));
        let mut out = event(&[]);
        inherit(&mut out, &input);
        assert!(out.extensions.is_empty());
    }
}

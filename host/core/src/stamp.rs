//! Checking and stamping what modules emit, before any of it is published: a
//! processor's outputs for one input, an ingress connector's events.
//!
//! A reply address (`_reply/...`, see [`crate::reply`]) is the one topic no
//! `publish` grant opens: a processor may emit to the `replyto` of the event it
//! handles, whatever its grants, and to no other reply address; an ingress
//! connector to none.

use crate::event::derived_id;
use crate::reply;
use crate::{Event, ExtValue, Patterns, Topic};

/// A module's own check of its stamped outputs before they are published (its
/// enforced JSON Schemas): an error refuses the input like an output to a topic
/// the module may not publish to. The message follows `output N to `TOPIC``.
pub trait OutputCheck: Send + Sync + std::fmt::Debug {
    fn check(&self, out: &Event) -> Result<(), String>;
}

/// Runs `check` over stamped outputs; the error names the output and its topic.
pub fn check_outputs(check: &dyn OutputCheck, outputs: &[Event]) -> Result<(), String> {
    for (i, out) in outputs.iter().enumerate() {
        check
            .check(out)
            .map_err(|e| format!("output {i} to `{}` {e}", out.topic))?;
    }
    Ok(())
}

/// Checks and stamps a module's outputs for one input: valid topics the manifest
/// grants, a `type`, CloudEvents strings in every string attribute (an output with a
/// control character is refused like one to an ungranted topic), extensions typed
/// like the input's, ids derived from the input and position, a default `source`,
/// the input's `hops`, its trace context (see [`crate::trace`]).
/// The error is the reason the input is rejected; nothing of it is published.
pub fn stamp_outputs(
    module: &str,
    publish: &Patterns,
    input: &Event,
    outputs: Vec<Event>,
) -> Result<Vec<Event>, String> {
    outputs
        .into_iter()
        .enumerate()
        .map(|(i, mut out)| {
            let topic = Topic::parse(&out.topic)
                .map_err(|e| format!("output {i} has an invalid topic: {e}"))?;
            let answers = reply::is_address(topic.as_str());
            if answers && reply::replyto(input) != Some(topic.as_str()) {
                return Err(format!(
                    "output {i} goes to reply address `{topic}`, which is not the `replyto` of \
                     the event being handled: a module may answer only the request it handles \
                     (emit to the input's `replyto`)"
                ));
            }
            // A reply needs no grant; its `correlationid` is set where the request
            // waits (the input here may be a pipeline's later step, with its own id).
            if !answers && !publish.matches(&topic) {
                let granted: Vec<&str> = publish.iter().map(|p| p.as_str()).collect();
                return Err(format!(
                    "output {i} goes to topic `{topic}`, which module `{module}` may not publish to \
                     (its manifest grants publish = {granted:?})"
                ));
            }
            if out.ty.is_empty() {
                return Err(format!("output {i} has an empty `type`; every CloudEvent needs one"));
            }
            if let Some((attr, bad)) = out.bad_string() {
                return Err(format!("output {i}'s `{attr}` {bad}"));
            }
            type_like_input(&mut out, input);
            crate::trace::inherit(&mut out, input);
            out.id = derived_id(input, module, i);
            if out.source.is_empty() {
                out.source = format!("/weft/modules/{module}");
            }
            // An output is a new event of this host (exported when it matches an
            // export), as far from its first host as its input: a cycle through
            // processors on several hosts counts every crossing.
            out.hops = input.hops;
            out.origin = None;
            Ok(out)
        })
        .collect()
}

/// Gives an output's String extensions the type of its input's extension of the same
/// name, where the string is that type's canonical form (see [`crate::value`]).
fn type_like_input(out: &mut Event, input: &Event) {
    for (name, value) in &mut out.extensions {
        if let (ExtValue::String(text), Some(like)) = (&*value, input.extension(name)) {
            *value = like.like(text.clone());
        }
    }
}

/// Checks and stamps what an ingress connector produced: valid topics its
/// manifest grants, a `type`, CloudEvents strings, a fresh UUIDv7 for an empty `id`, a default
/// `source`. The error refuses the whole batch: nothing of it is published.
pub fn stamp_ingress(
    module: &str,
    publish: &Patterns,
    events: Vec<Event>,
) -> Result<Vec<Event>, String> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, mut e)| {
            let topic = Topic::parse(&e.topic)
                .map_err(|err| format!("event {i} has an invalid topic: {err}"))?;
            if reply::is_address(topic.as_str()) {
                return Err(format!(
                    "event {i} goes to reply address `{topic}`: an ingress connector starts \
                     requests, it cannot answer one (a processor answers the request it handles)"
                ));
            }
            if !publish.matches(&topic) {
                let granted: Vec<&str> = publish.iter().map(|p| p.as_str()).collect();
                return Err(format!(
                    "event {i} goes to topic `{topic}`, which module `{module}` may not publish to \
                     (its manifest grants publish = {granted:?})"
                ));
            }
            if e.ty.is_empty() {
                return Err(format!(
                    "event {i} has an empty `type`; every CloudEvent needs one"
                ));
            }
            if let Some((attr, bad)) = e.bad_string() {
                return Err(format!("event {i}'s `{attr}` {bad}"));
            }
            if e.id.is_empty() {
                e.id = uuid::Uuid::now_v7().to_string();
            }
            if e.source.is_empty() {
                e.source = format!("/weft/modules/{module}");
            }
            Ok(e)
        })
        .collect()
}

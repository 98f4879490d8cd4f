//! {{name}}: a weft processor. It passes every event on to the topic in config
//! `output_topic`, adding the extension attribute `processedby: {{name}}`.
//!
//! The contract is `wit/weft.wit` (world `processor`): the host calls `process`
//! with a batch of events and expects exactly one outcome per event, in order:
//! `Ok(events)` to emit (none filters the event out), `Err(Failure::Retry(..))` to
//! have it delivered again later, `Err(Failure::Reject(..))` to send it to the
//! module's error queue.

wit_bindgen::generate!({
    path: "wit",
    world: "processor",
});

use exports::weft::integration::handler::{Guest, Outcome};
use weft::integration::config;
use weft::integration::log::{Level, log};
use weft::integration::types::{Event, Failure};

struct Component;

impl Guest for Component {
    fn process(batch: Vec<Event>) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut retrying = false;
        for event in batch {
            // After a retry the host delivers that event and all after it again,
            // so running the rest now would only repeat their effects.
            let outcome = if retrying {
                Err(Failure::Retry("an earlier event in the batch asked for retry".into()))
            } else {
                process(event)
            };
            retrying = matches!(outcome, Err(Failure::Retry(_)));
            outcomes.push(outcome);
        }
        outcomes
    }
}

/// One event in, the events to emit out.
fn process(mut event: Event) -> Result<Vec<Event>, Failure> {
    let Some(topic) = config::get("output_topic") else {
        return Err(Failure::Reject("config `output_topic` is not set".into()));
    };
    log(Level::Debug, &format!("passing {} on to {topic}", event.id));
    // Extension names are lower-case letters and digits; set, never duplicate.
    event.extensions.retain(|(name, _)| name != "processedby");
    event.extensions.push(("processedby".into(), "{{name}}".into()));
    // The host gives each output an id derived from the input's.
    event.topic = topic;
    Ok(vec![event])
}

export!(Component);

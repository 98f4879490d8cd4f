//! {{name}}: a weft egress connector. It logs each event of its subscription and
//! counts it as delivered.
//!
//! The contract is `wit/weft.wit` (world `egress`): the host calls `deliver` with
//! a batch of events, in order, and expects one result per event: `Ok(())` once
//! the destination has it, `Err(Failure::Retry(..))` to deliver it (and those
//! after it) again later with the same id, `Err(Failure::Reject(..))` to move it
//! to the module's error queue.

wit_bindgen::generate!({
    path: "wit",
    world: "egress",
});

use exports::weft::integration::sink::Guest;
use weft::integration::log::{Level, log};
use weft::integration::types::{Event, Failure};

struct Component;

impl Guest for Component {
    fn deliver(batch: Vec<Event>) -> Vec<Result<(), Failure>> {
        let mut results = Vec::with_capacity(batch.len());
        let mut retrying = false;
        for event in &batch {
            // After a retry the host delivers that event and all after it again.
            let result = if retrying {
                Err(Failure::Retry("an earlier event in the batch asked for retry".into()))
            } else {
                deliver(event)
            };
            retrying = matches!(result, Err(Failure::Retry(_)));
            results.push(result);
        }
        results
    }
}

/// Delivers one event. A real sink sends it somewhere, using `event.id` as the
/// idempotency key: a retried event keeps its id.
fn deliver(event: &Event) -> Result<(), Failure> {
    log(
        Level::Info,
        &format!(
            "{} {} on {}: {} bytes",
            event.id,
            event.type_,
            event.topic,
            event.data.len()
        ),
    );
    Ok(())
}

export!(Component);

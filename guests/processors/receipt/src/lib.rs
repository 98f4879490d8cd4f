//! `receipt`: answers each request that reaches it with a receipt, the end of a
//! pipeline that a caller of `POST /v1/requests/{topic}` (or `weft request`)
//! waits on.
//!
//! An event that is a request (it carries the `replyto` the host set when the
//! request came in; processors before this one pass it on with the event) gets one
//! reply of type `type` (default `com.example.receipt`) whose JSON data is
//! `{"status": STATUS, "topic": the topic it arrived on, "data": its data}`, with
//! `status` from the config (default `accepted`). Any other event is consumed
//! without output: a pipeline serves fire-and-forget publishes and requests alike.
//!
//! Settings (the manifest's `[config]`, all optional): `type`, `status`.

use serde_json::{Value, json};
use weft_sdk::{Event, Failure, Processor, config};

struct Receipt;

impl Processor for Receipt {
    fn process(event: Event) -> Result<Vec<Event>, Failure> {
        let ty = config::get("type").unwrap_or_else(|| "com.example.receipt".into());
        let Some(reply) = event.reply(ty) else {
            return Ok(Vec::new());
        };
        // Data that is not JSON is quoted as text rather than refused: the caller
        // should get its receipt whatever it sent.
        let data = serde_json::from_slice::<Value>(&event.data)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&event.data).into_owned()));
        let receipt = json!({
            "status": config::get("status").unwrap_or_else(|| "accepted".into()),
            "topic": event.topic,
            "data": data,
        });
        Ok(vec![reply.with_json(&receipt)?])
    }
}

weft_sdk::export_processor!(Receipt);

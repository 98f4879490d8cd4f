//! {{name}}: a weft ingress connector. Every `[ingress] interval` it publishes a
//! heartbeat event to config `topic`, counting the beats in its `state`.
//!
//! The contract is `wit/weft.wit` (world `ingress`): the host calls `poll` on the
//! timer trigger, `webhook` for requests to `/hooks/{{name}}` (`route = true`)
//! and `file` for files in a watched folder (`watch`). The manifest turns on only
//! the timer, so the other two just refuse.

wit_bindgen::generate!({
    path: "wit",
    world: "ingress",
});

use exports::weft::integration::source::{Batch, Guest, Reply, Request, Response};
use weft::integration::log::{Level, log};
use weft::integration::types::{Event, Failure};
use weft::integration::{config, state};

struct Component;

impl Guest for Component {
    fn poll() -> Result<Batch, Failure> {
        // State writes become durable together with the returned events, and are
        // dropped if the call fails: the count and the beats cannot drift apart.
        let count = state::get("count")
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        state::set("count", count.to_string().as_bytes());
        let topic = config::get("topic").unwrap_or_else(|| "heartbeat/{{name}}".into());
        log(Level::Debug, &format!("heartbeat {count} to {topic}"));
        let heartbeat = Event {
            // A stable id: the host drops an id it has already accepted.
            id: format!("heartbeat-{count}"),
            // Empty: the host fills in /weft/modules/{{name}}.
            source: String::new(),
            type_: "com.example.heartbeat".into(),
            subject: None,
            time: None,
            datacontenttype: Some("application/json".into()),
            dataschema: None,
            extensions: Vec::new(),
            topic,
            data: format!(r#"{{"count":{count}}}"#).into_bytes(),
        };
        Ok(Batch {
            events: vec![heartbeat],
            // `true` would have the host call again at once (the next page).
            more: false,
        })
    }

    fn webhook(_request: Request) -> Reply {
        Reply {
            response: Response {
                status: 404,
                headers: vec![("content-type".into(), "application/json".into())],
                body: br#"{"error":"this connector has no webhook trigger"}"#.to_vec(),
            },
            events: Vec::new(),
        }
    }

    fn file(_name: String, _contents: Vec<u8>) -> Result<Batch, Failure> {
        Err(Failure::Reject("this connector has no folder trigger".into()))
    }
}

export!(Component);

//! Ingress connectors: the `ingress` world, which brings events in.
//!
//! The host calls a connector on the triggers its manifest's `[ingress]` table
//! turns on: [`Source::poll`] every `interval` (and again at once while a batch
//! says `more`), [`Source::webhook`] for requests to `/hooks/NAME` (`route = true`),
//! [`Source::file`] for files that appear in the `watch` folder. Each has a default
//! that refuses, so a connector implements only the triggers it has:
//!
//! ```ignore
//! use weft_sdk::source::Batch;
//! use weft_sdk::{Event, Failure, Source, state};
//!
//! struct Ticker;
//!
//! impl Source for Ticker {
//!     fn poll() -> Result<Batch, Failure> {
//!         let n: u64 = state::get_json("n")?.unwrap_or(0) + 1;
//!         state::set_json("n", &n)?; // durable together with the batch's events
//!         let tick = Event::new("com.example.tick", "ticks").with_id(n.to_string());
//!         Ok(Batch::new(vec![tick]))
//!     }
//! }
//!
//! weft_sdk::export_ingress!(Ticker);
//! ```
//!
//! Events go to the topics they name, which the manifest must grant (`publish`).
//! An empty `id` gets a fresh UUID and an empty `source` gets `/weft/modules/NAME`;
//! give events the ids the outside world has for them (a record id, a delivery id),
//! so the host's deduplication drops a repeat.

use core::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::ingress::exports::weft::integration::source::Guest;
pub use crate::bindings::ingress::exports::weft::integration::source::{
    Batch, Reply, Request, Response,
};
use crate::event::APPLICATION_JSON;
use crate::{Event, Failure};

/// An ingress connector: the triggers that bring events in.
///
/// The functions are associated (no `self`), as for [`Processor`](crate::Processor);
/// keep what must outlive a call in [`state`](crate::state) (durable, committed with
/// the call's events) or in a `static` (lost when the instance is recycled).
pub trait Source {
    /// The timer trigger (`[ingress] interval`). `Ok` publishes the batch's events;
    /// with `more` set the host calls again at once. `retry` logs and waits for the
    /// next tick, `reject` too, at error level.
    fn poll() -> Result<Batch, Failure> {
        Err(Failure::reject("this connector has no timer trigger"))
    }

    /// The webhook trigger (`[ingress] route = true`): a request to `/hooks/NAME`.
    /// The reply's events are published before its response is sent; a status of
    /// 400 or more publishes nothing.
    fn webhook(request: Request) -> Reply {
        let _ = request;
        Reply::error(404, "this connector has no webhook trigger")
    }

    /// The folder trigger (`[ingress] watch`): a file `name` with `contents`
    /// appeared. The host removes it once the events are durable; `retry` leaves it
    /// for the next look, `reject` moves it to the folder's `rejected/`.
    fn file(name: String, contents: Vec<u8>) -> Result<Batch, Failure> {
        let _ = (name, contents);
        Err(Failure::reject("this connector has no folder trigger"))
    }
}

/// Adapts a [`Source`] to the generated export. Used by
/// [`export_ingress!`](crate::export_ingress); not meant to be named directly.
#[doc(hidden)]
pub struct SourceAdapter<S>(PhantomData<S>);

impl<S: Source> Guest for SourceAdapter<S> {
    fn poll() -> Result<Batch, Failure> {
        S::poll()
    }

    fn webhook(req: Request) -> Reply {
        S::webhook(req)
    }

    fn file(name: String, contents: Vec<u8>) -> Result<Batch, Failure> {
        S::file(name, contents)
    }
}

/// Exports a [`Source`] as the component's `weft:integration/source`.
///
/// ```ignore
/// weft_sdk::export_ingress!(Ticker);
/// ```
#[macro_export]
macro_rules! export_ingress {
    ($source:ty) => {
        const _: () = {
            type WeftSourceExport = $crate::source::SourceAdapter<$source>;
            $crate::bindings::ingress::export! {
                WeftSourceExport with_types_in $crate::bindings::ingress
            }
        };
    };
}

impl Batch {
    /// The events of one trigger, with nothing more waiting.
    pub fn new(events: Vec<Event>) -> Self {
        Self {
            events,
            more: false,
        }
    }

    /// No events, nothing more waiting.
    pub fn empty() -> Self {
        Self::new(Vec::new())
    }

    /// Says whether more is waiting (the next page): the host commits this batch
    /// and calls `poll` again at once instead of waiting for the next tick.
    pub fn with_more(mut self, more: bool) -> Self {
        self.more = more;
        self
    }
}

impl Request {
    /// The value of header `name`, compared without regard to case; the first one
    /// when the header is repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body parsed as JSON into `T`; the error says why it is not.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|err| format!("the body is not JSON: {err}"))
    }
}

impl Response {
    /// A response with `status`, no headers and no body.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A response with `value` as its JSON body (`content-type: application/json`).
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::new(status)
                .with_header("content-type", APPLICATION_JSON)
                .with_body(body),
            Err(err) => Self::text(500, &format!("cannot serialize the response: {err}")),
        }
    }

    /// A response with `text` as its body (`content-type: text/plain; charset=utf-8`).
    pub fn text(status: u16, text: &str) -> Self {
        Self::new(status)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(text)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

impl Reply {
    /// Answers with `response` and publishes nothing.
    pub fn new(response: Response) -> Self {
        Self {
            response,
            events: Vec::new(),
        }
    }

    /// Answers `status` with `value` as JSON and publishes nothing (yet: see
    /// [`Reply::with_events`]).
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        Self::new(Response::json(status, value))
    }

    /// Answers `status` with the JSON body `{"error": message}` and publishes nothing.
    pub fn error(status: u16, message: &str) -> Self {
        Self::json(status, &serde_json::json!({ "error": message }))
    }

    /// Publishes `events` with this reply (only when its status is below 400). The
    /// response goes out after they are durable.
    pub fn with_events(mut self, events: Vec<Event>) -> Self {
        self.events = events;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_found_without_regard_to_case() {
        let request = Request {
            method: "POST".into(),
            path: "/".into(),
            query: String::new(),
            headers: vec![("x-github-event".into(), "push".into())],
            body: Vec::new(),
        };
        assert_eq!(request.header("X-GitHub-Event"), Some("push"));
        assert_eq!(request.header("x-other"), None);
    }

    #[test]
    fn an_error_reply_has_a_json_body_and_no_events() {
        let reply = Reply::error(405, "use POST");
        assert_eq!(reply.response.status, 405);
        assert_eq!(reply.response.body, br#"{"error":"use POST"}"#);
        assert_eq!(
            reply.response.headers,
            vec![("content-type".into(), APPLICATION_JSON.into())]
        );
        assert!(reply.events.is_empty());
    }
}

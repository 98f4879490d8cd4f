//! `http-poll`: polls a JSON REST endpoint page by page, one event per item.
//!
//! Every `[ingress] interval` it asks `GET {url}?cursor={cursor}&limit={page_size}`
//! (no `cursor` on the very first call) and expects
//! `{"items": [{...}, ...], "next": "<cursor>"}`. Each item becomes an event with
//! the item as JSON data and the item's `id_field` as its id, so the host's
//! deduplication drops an item seen twice. `next` is the cursor to continue from;
//! `null` or absent keeps the current one.
//!
//! The cursor lives in `state` under `cursor`, written in the same call as the
//! page's events: the host commits both in one transaction, so a crash can neither
//! lose a page nor publish it twice. A full page (`page_size` items) asks the host
//! to poll again at once (`more`), as long as the cursor moved.
//!
//! Settings (the manifest's `[config]`):
//! - `url` (required): the endpoint, without `cursor`/`limit` (other query
//!   parameters are kept).
//! - `topic`, `type` (required): the events' topic and CloudEvents type.
//! - `id_field` (default `id`): the item field that is the event id.
//! - `page_size` (default 100): sent as `limit`.
//! - `token` (optional): sent as `Authorization: Bearer <token>`.
//!
//! Failures: no response (connection, timeout), 5xx, 408 and 429 are `retry` (the
//! host tries again on the next tick); other statuses, a refusal by the host's
//! sandbox, or a body that is not a page are `reject` (logged at error level),
//! naming the URL without its query, and the status.

use std::sync::OnceLock;

use serde_json::Value;
use weft_sdk::http::Request;
use weft_sdk::source::Batch;
use weft_sdk::{Event, Failure, Source, config, log, state};

/// The state key of the cursor.
const CURSOR: &str = "cursor";

/// The parsed `[config]`, read once per instance.
struct Settings {
    url: String,
    topic: String,
    type_: String,
    id_field: String,
    page_size: usize,
    token: Option<String>,
}

impl Settings {
    fn load() -> Result<Self, Failure> {
        let page_size: usize = config::get_json("page_size")?.unwrap_or(100);
        if page_size == 0 {
            return Err(Failure::reject("config `page_size` must be at least 1"));
        }
        Ok(Self {
            url: config::require("url")?,
            topic: config::require("topic")?,
            type_: config::require("type")?,
            id_field: config::get("id_field").unwrap_or_else(|| "id".into()),
            page_size,
            token: config::get("token").filter(|token| !token.is_empty()),
        })
    }

    fn get() -> Result<&'static Self, Failure> {
        static SETTINGS: OnceLock<Result<Settings, Failure>> = OnceLock::new();
        SETTINGS
            .get_or_init(Self::load)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The events of one page, the cursor to continue from and whether to poll
    /// again at once. `Err` is why the body is not a page.
    fn page(&self, body: &[u8], cursor: Option<&str>) -> Result<Page, String> {
        let mut page: Value =
            serde_json::from_slice(body).map_err(|err| format!("the body is not JSON: {err}"))?;
        let Some(Value::Array(items)) = page.get_mut("items").map(Value::take) else {
            return Err("the body has no `items` array".into());
        };
        let next = match page.get("next") {
            None | Some(Value::Null) => None,
            Some(Value::String(next)) => Some(next.clone()),
            Some(Value::Number(next)) => Some(next.to_string()),
            Some(_) => return Err("`next` is not a string, a number or null".into()),
        };
        let full = items.len() >= self.page_size;
        let mut events = Vec::with_capacity(items.len());
        for (at, item) in items.into_iter().enumerate() {
            let id = match item.get(&self.id_field) {
                Some(Value::String(id)) => id.clone(),
                Some(Value::Null) | None => {
                    // Without an id the host makes one up, and cannot drop a repeat.
                    log::warn(&format!("item {at} has no `{}`", self.id_field));
                    String::new()
                }
                Some(other) => other.to_string(),
            };
            let event = Event::new(self.type_.as_str(), self.topic.as_str()).with_id(id);
            events.push(
                event
                    .with_json(&item)
                    .map_err(|err| err.reason().to_owned())?,
            );
        }
        let moved = next.as_deref().is_some_and(|next| Some(next) != cursor);
        Ok(Page {
            events,
            more: full && moved,
            next,
        })
    }
}

/// What one page gave.
#[derive(Debug)]
struct Page {
    events: Vec<Event>,
    /// The cursor to store, when the page named one.
    next: Option<String>,
    more: bool,
}

/// What to do about a response that is not 2xx.
fn status_failure(status: u16, url: &str) -> Failure {
    let reason = format!("GET {url}: HTTP {status}");
    match status {
        408 | 429 | 500..=599 => Failure::retry(reason),
        300..=399 => Failure::reject(format!("{reason} (redirects are not followed)")),
        _ => Failure::reject(reason),
    }
}

struct HttpPoll;

impl Source for HttpPoll {
    fn poll() -> Result<Batch, Failure> {
        let settings = Settings::get()?;
        let cursor = state::get_string(CURSOR)?;
        let mut request = Request::get(settings.url.as_str());
        if let Some(cursor) = &cursor {
            request = request.query("cursor", cursor.as_str());
        }
        request = request
            .query("limit", settings.page_size.to_string())
            .header("accept", "application/json");
        if let Some(token) = &settings.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request.send()?;
        // The URL as errors name it: without the query, which may carry a token.
        let shown = settings.url.split(['?', '#']).next().unwrap_or_default();
        if !response.is_success() {
            return Err(status_failure(response.status, shown));
        }
        let page = settings
            .page(&response.body, cursor.as_deref())
            .map_err(|why| {
                Failure::reject(format!("GET {shown}: HTTP {}: {why}", response.status))
            })?;
        if let Some(next) = &page.next
            && cursor.as_ref() != Some(next)
        {
            state::set_string(CURSOR, next)?;
        }
        log::debug(&format!("{} items, more: {}", page.events.len(), page.more));
        Ok(Batch::new(page.events).with_more(page.more))
    }
}

weft_sdk::export_ingress!(HttpPoll);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn settings(page_size: usize) -> Settings {
        Settings {
            url: "http://127.0.0.1:8080/items".into(),
            topic: "items/new".into(),
            type_: "com.example.item".into(),
            id_field: "id".into(),
            page_size,
            token: None,
        }
    }

    #[test]
    fn each_item_becomes_an_event_with_its_id() {
        let body = br#"{"items":[{"id":"a","n":1},{"id":7}],"next":"c2"}"#;
        let page = settings(2).page(body, Some("c1")).unwrap();
        let ids: Vec<&str> = page.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "7"]);
        let first = &page.events[0];
        assert_eq!(first.topic, "items/new");
        assert_eq!(first.type_, "com.example.item");
        assert_eq!(first.datacontenttype.as_deref(), Some("application/json"));
        assert_eq!(
            first.json::<Value>().unwrap(),
            serde_json::json!({"id": "a", "n": 1})
        );
        assert_eq!(page.next.as_deref(), Some("c2"));
        assert!(page.more, "a full page with a new cursor asks for more");
    }

    #[test]
    fn a_short_page_or_a_cursor_that_did_not_move_asks_for_no_more() {
        let short = settings(3).page(br#"{"items":[{"id":1}],"next":"c2"}"#, None);
        assert!(!short.unwrap().more);
        let stuck = settings(1).page(br#"{"items":[{"id":1}],"next":"c1"}"#, Some("c1"));
        assert!(!stuck.unwrap().more);
        let no_next = settings(1)
            .page(br#"{"items":[{"id":1}]}"#, Some("c1"))
            .unwrap();
        assert!(!no_next.more);
        assert_eq!(no_next.next, None);
    }

    #[test]
    fn a_body_that_is_not_a_page_says_why() {
        let s = settings(10);
        assert!(s.page(b"<html>", None).unwrap_err().contains("not JSON"));
        assert!(
            s.page(br#"{"data":[]}"#, None)
                .unwrap_err()
                .contains("`items`")
        );
        assert!(
            s.page(br#"{"items":[],"next":{}}"#, None)
                .unwrap_err()
                .contains("`next`")
        );
        assert_eq!(
            s.page(br#"{"items":[],"next":5}"#, None)
                .unwrap()
                .next
                .as_deref(),
            Some("5")
        );
    }

    #[test]
    fn server_errors_retry_and_client_errors_reject() {
        let url = "http://h/items";
        assert!(
            matches!(status_failure(503, url), Failure::Retry(r) if r == "GET http://h/items: HTTP 503")
        );
        assert!(matches!(status_failure(429, url), Failure::Retry(_)));
        assert!(
            matches!(status_failure(404, url), Failure::Reject(r) if r == "GET http://h/items: HTTP 404")
        );
        assert!(matches!(status_failure(302, url), Failure::Reject(r) if r.contains("redirects")));
    }
}

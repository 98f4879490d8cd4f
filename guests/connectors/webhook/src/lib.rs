//! `webhook`: turns posted JSON payloads (GitHub-style) into typed events.
//!
//! A `POST /hooks/NAME` with a JSON object body becomes one event:
//! - type `com.github.<event>`, plus `.<action>` when the payload has a string
//!   `action` (`com.github.pull_request.opened`), where `<event>` is the value of
//!   the `x-github-event` header;
//! - topic `<topic_prefix>/<event>`;
//! - id from the `x-github-delivery` header, else the SHA-256 of the body (hex), so
//!   a redelivered payload keeps its id and the host drops the repeat;
//! - the body as data, `application/json`.
//!
//! It answers `200 {"accepted": "<id>"}` once the event is durable. Anything else
//! publishes nothing and answers with a JSON `{"error": ...}`: 405 for a method
//! other than POST, 401 when a `secret` is set and `x-hub-signature-256` does not
//! match, 400 for a body that is not a JSON object or a missing or unusable event
//! header.
//!
//! Settings (the manifest's `[config]`):
//! - `topic_prefix` (default `github`), `type_prefix` (default `com.github`);
//! - `event_header` (default `x-github-event`), `delivery_header` (default
//!   `x-github-delivery`);
//! - `secret` (optional, best given as `{ secret = "NAME" }` from the host's
//!   secrets): the HMAC-SHA256 key; the signature header `x-hub-signature-256` is
//!   `sha256=<hex>` over the raw body, compared in constant time.

use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use weft_sdk::source::{Reply, Request};
use weft_sdk::{Event, Source, config, log};

/// The header GitHub signs deliveries with.
const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// The parsed `[config]`, read once per instance. Every setting has a default.
struct Settings {
    topic_prefix: String,
    type_prefix: String,
    event_header: String,
    delivery_header: String,
    secret: Option<Vec<u8>>,
}

impl Settings {
    fn load() -> Self {
        let or = |key: &str, default: &str| config::get(key).unwrap_or_else(|| default.into());
        Self {
            topic_prefix: or("topic_prefix", "github"),
            type_prefix: or("type_prefix", "com.github"),
            event_header: or("event_header", "x-github-event"),
            delivery_header: or("delivery_header", "x-github-delivery"),
            secret: config::get("secret")
                .filter(|secret| !secret.is_empty())
                .map(String::into_bytes),
        }
    }

    fn get() -> &'static Self {
        static SETTINGS: OnceLock<Settings> = OnceLock::new();
        SETTINGS.get_or_init(Self::load)
    }

    /// The reply to one request: the checks in order, then the event.
    fn handle(&self, request: &Request) -> Reply {
        if !request.method.eq_ignore_ascii_case("POST") {
            let mut reply = Reply::error(405, "use POST");
            reply.response.headers.push(("allow".into(), "POST".into()));
            return reply;
        }
        if let Some(secret) = &self.secret
            && !signature_matches(secret, request.header(SIGNATURE_HEADER), &request.body)
        {
            return Reply::error(401, "the `x-hub-signature-256` does not match the body");
        }
        let payload = match serde_json::from_slice::<Value>(&request.body) {
            Ok(Value::Object(payload)) => payload,
            Ok(_) => return Reply::error(400, "the body must be a JSON object"),
            Err(err) => return Reply::error(400, &format!("the body is not JSON: {err}")),
        };
        let name = match request.header(&self.event_header) {
            Some(name) if is_topic_level(name) => name,
            Some(_) => {
                let why = format!(
                    "header `{}` must be letters, digits, `-` and `_`",
                    self.event_header
                );
                return Reply::error(400, &why);
            }
            None => {
                let why = format!("header `{}` is missing", self.event_header);
                return Reply::error(400, &why);
            }
        };
        let id = request
            .header(&self.delivery_header)
            .filter(|id| !id.is_empty())
            .map_or_else(|| hex::encode(Sha256::digest(&request.body)), str::to_owned);
        let type_ = match payload.get("action").and_then(Value::as_str) {
            Some(action) => format!("{}.{name}.{action}", self.type_prefix),
            None => format!("{}.{name}", self.type_prefix),
        };
        let event = Event::new(type_, format!("{}/{name}", self.topic_prefix))
            .with_id(id.as_str())
            .with_content_type(weft_sdk::event::APPLICATION_JSON)
            .with_data(request.body.as_slice());
        Reply::json(200, &serde_json::json!({ "accepted": id })).with_events(vec![event])
    }
}

/// Whether `header` is `sha256=<hex>` of the HMAC-SHA256 of `body` under `secret`,
/// compared in constant time (`verify_slice`).
fn signature_matches(secret: &[u8], header: Option<&str>, body: &[u8]) -> bool {
    let Some(signature) = header
        .and_then(|value| value.strip_prefix("sha256="))
        .and_then(|hex| hex::decode(hex.trim()).ok())
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// A topic level: letters, digits, `-` and `_`, not empty.
fn is_topic_level(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

struct Webhook;

impl Source for Webhook {
    fn webhook(request: Request) -> Reply {
        let reply = Settings::get().handle(&request);
        if reply.response.status >= 400 {
            let status = reply.response.status;
            log::debug(&format!(
                "refused a {} {}: {status}",
                request.method, request.path
            ));
        }
        reply
    }
}

weft_sdk::export_ingress!(Webhook);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn settings(secret: Option<&str>) -> Settings {
        Settings {
            topic_prefix: "github".into(),
            type_prefix: "com.github".into(),
            event_header: "x-github-event".into(),
            delivery_header: "x-github-delivery".into(),
            secret: secret.map(|s| s.as_bytes().to_vec()),
        }
    }

    fn post(headers: &[(&str, &str)], body: &str) -> Request {
        Request {
            method: "POST".into(),
            path: "/".into(),
            query: String::new(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn body(reply: &Reply) -> Value {
        serde_json::from_slice(&reply.response.body).unwrap()
    }

    #[test]
    fn a_payload_becomes_a_typed_event() {
        let request = post(
            &[
                ("x-github-event", "pull_request"),
                ("x-github-delivery", "d-1"),
            ],
            r#"{"action":"opened","number":5}"#,
        );
        let reply = settings(None).handle(&request);
        assert_eq!(reply.response.status, 200);
        assert_eq!(body(&reply), serde_json::json!({"accepted": "d-1"}));
        let [event] = reply.events.as_slice() else {
            unreachable!("one event, got {}", reply.events.len())
        };
        assert_eq!(event.id, "d-1");
        assert_eq!(event.type_, "com.github.pull_request.opened");
        assert_eq!(event.topic, "github/pull_request");
        assert_eq!(event.data, request.body);
        assert_eq!(event.datacontenttype.as_deref(), Some("application/json"));
    }

    #[test]
    fn without_a_delivery_id_the_id_is_the_hash_of_the_body() {
        let reply = settings(None).handle(&post(&[("x-github-event", "push")], "{}"));
        let [event] = reply.events.as_slice() else {
            unreachable!()
        };
        // sha256("{}")
        assert_eq!(
            event.id,
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(event.type_, "com.github.push");
    }

    #[test]
    fn bad_requests_publish_nothing() {
        let s = settings(None);
        let mut get = post(&[("x-github-event", "push")], "{}");
        get.method = "GET".into();
        for (request, status) in [
            (get, 405),
            (post(&[("x-github-event", "push")], "[1]"), 400),
            (post(&[("x-github-event", "push")], "not json"), 400),
            (post(&[], "{}"), 400),
            (post(&[("x-github-event", "a.b")], "{}"), 400),
        ] {
            let reply = s.handle(&request);
            assert_eq!(reply.response.status, status, "{:?}", request.body);
            assert!(reply.events.is_empty());
            assert!(body(&reply)["error"].is_string());
        }
    }

    #[test]
    fn with_a_secret_only_signed_payloads_pass() {
        // GitHub's documented example: secret "It's a Secret to Everybody".
        let s = settings(Some("It's a Secret to Everybody"));
        let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let signed = post(
            &[("x-github-event", "ping"), (SIGNATURE_HEADER, signature)],
            "Hello, World!",
        );
        // The signature matches, so the check moves on to the body (not an object).
        assert_eq!(s.handle(&signed).response.status, 400);
        let forged = post(
            &[("x-github-event", "ping"), (SIGNATURE_HEADER, "sha256=00")],
            "Hello, World!",
        );
        assert_eq!(s.handle(&forged).response.status, 401);
        let unsigned = post(&[("x-github-event", "ping")], "{}");
        assert_eq!(s.handle(&unsigned).response.status, 401);
        assert!(signature_matches(
            b"It's a Secret to Everybody",
            Some(signature),
            b"Hello, World!"
        ));
    }
}

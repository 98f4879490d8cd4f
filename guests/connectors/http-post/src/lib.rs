//! `http-post`: POSTs each event to an HTTP endpoint as a structured CloudEvent.
//!
//! One request per event, in order: the body is the event in the CloudEvents JSON
//! format (`content-type: application/cloudevents+json`, weft's topic as the member
//! `topic`), with `Idempotency-Key: <event id>`. A retried event keeps its id, so
//! the key is the same on every try and the endpoint can drop a repeat.
//!
//! Settings (the manifest's `[config]`):
//! - `url` (required): where to POST.
//! - `token` (optional, best given as `{ secret = "NAME" }`): sent as
//!   `Authorization: Bearer <token>`.
//!
//! Results: 2xx is delivered. 408, 429, 5xx, connection errors and timeouts are
//! `retry` (the host backs off and tries again, in order). Any other status is
//! `reject`, with the status and the first 200 bytes of the response body, and so
//! is a refusal by the host's sandbox (the URL's origin is not in `[http] allow`).

use std::sync::OnceLock;

use weft_sdk::http::Request;
use weft_sdk::{Event, Failure, Sink, cloudevent, config};

/// How much of a refusing response's body a reason quotes.
const QUOTED_BYTES: usize = 200;

/// The parsed `[config]`, read once per instance.
struct Settings {
    url: String,
    token: Option<String>,
}

impl Settings {
    fn load() -> Result<Self, Failure> {
        Ok(Self {
            url: config::require("url")?,
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
}

/// What a response's status means for the event.
fn outcome(status: u16, body: &[u8], url: &str) -> Result<(), Failure> {
    let reason = format!("POST {url}: HTTP {status}");
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(Failure::retry(reason)),
        _ => {
            let quoted = String::from_utf8_lossy(&body[..body.len().min(QUOTED_BYTES)]);
            Err(Failure::reject(format!("{reason}: {quoted}")))
        }
    }
}

struct HttpPost;

impl Sink for HttpPost {
    fn deliver(event: Event) -> Result<(), Failure> {
        let settings = Settings::get()?;
        let mut request = Request::post(settings.url.as_str())
            .header("content-type", cloudevent::STRUCTURED)
            .header("idempotency-key", event.id.as_str())
            .body(cloudevent::to_vec(&event));
        if let Some(token) = &settings.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request.send()?;
        let shown = settings.url.split(['?', '#']).next().unwrap_or_default();
        outcome(response.status, &response.body, shown)
    }
}

weft_sdk::export_egress!(HttpPost);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_retry_and_reject_by_status() {
        let url = "http://h/events";
        assert_eq!(outcome(204, b"", url), Ok(()));
        for status in [408, 429, 500, 503] {
            assert_eq!(
                outcome(status, b"busy", url),
                Err(Failure::retry(format!(
                    "POST http://h/events: HTTP {status}"
                )))
            );
        }
        assert_eq!(
            outcome(400, br#"{"error":"bad"}"#, url),
            Err(Failure::reject(
                r#"POST http://h/events: HTTP 400: {"error":"bad"}"#
            ))
        );
        assert!(matches!(outcome(301, b"", url), Err(Failure::Reject(_))));
    }

    #[test]
    fn a_rejection_quotes_at_most_200_bytes_of_the_body() {
        let long = "x".repeat(500);
        let Err(Failure::Reject(reason)) = outcome(422, long.as_bytes(), "http://h") else {
            unreachable!("422 rejects")
        };
        assert_eq!(
            reason,
            format!("POST http://h: HTTP 422: {}", "x".repeat(200))
        );
    }
}

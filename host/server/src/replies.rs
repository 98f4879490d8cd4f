//! Replies as HTTP answers: what a caller of `POST /v1/requests/{topic}` or of a
//! webhook with `await_reply` gets back.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use weft_core::reply;
use weft_core::{Event, cloudevents};

use crate::problem::{Kind, Problem, problem};

/// The `504` for a request whose reply did not come in time; `fetchable` when
/// the caller can read a late one with `GET /v1/replies/{id}` (an API caller,
/// not a webhook sender).
pub fn no_reply(id: &str, timeout: Duration, keep: Duration, fetchable: bool) -> Response {
    let then = if fetchable {
        format!(
            "GET /v1/replies/{id} fetches a late reply (kept for {keep:?}), or send the same request again to wait on"
        )
    } else {
        "send the same request again (same id) to wait on it".to_owned()
    };
    Problem::new(
        Kind::NoReply,
        format!("no reply to request `{id}` within {timeout:?}; it was stored and is handled still: {then}"),
    )
    .with_id(id)
    .into_response()
}

/// The reply as the caller asked for it; a failure reply is a `502`.
pub fn answer(reply: &Event, request: &HeaderMap) -> Response {
    if reply.ty == reply::FAILED_TYPE {
        let failure: serde_json::Value =
            serde_json::from_slice(reply.data_bytes()).unwrap_or_default();
        return problem(
            Kind::RequestFailed,
            format!(
                "module `{}` failed on the request: {}; `weft errors list --module {}` shows it",
                failure["module"].as_str().unwrap_or("?"),
                failure["reason"].as_str().unwrap_or("?"),
                failure["module"].as_str().unwrap_or("?"),
            ),
        );
    }
    let structured = request
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(cloudevents::STRUCTURED));
    if structured {
        let text = cloudevents::to_json_text(reply, cloudevents::Form::Wire);
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, cloudevents::STRUCTURED)],
            text,
        )
            .into_response();
    }
    let mut response = (StatusCode::OK, reply.data_bytes().to_vec()).into_response();
    let out = response.headers_mut();
    for (name, value) in cloudevents::to_binary(reply) {
        // Every value is percent-encoded ASCII but `content-type`, which is a
        // CloudEvents String: one that is no header value is left out.
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            out.insert(name, value);
        }
    }
    response
}

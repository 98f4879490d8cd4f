//! Request-reply over HTTP: `POST /v1/requests/{topic}` holds the caller until
//! the reply, `GET /v1/replies/{id}` finds a reply that came too late.
//!
//! A request is published like any event (the same decoding, grants and `202`
//! rules: it is stored with fsync before anyone waits, so it is handled even if
//! the caller goes away), with the extension `replyto` set to a reply address made
//! for it (a `replyto` the caller sent is replaced: the host decides where its
//! replies go). What happens then, as NATS does it where it can:
//!
//! | answer | when |
//! |---|---|
//! | `200`, the reply in binary mode (structured with `Accept: application/cloudevents+json`) | the first reply came |
//! | `502` `request-failed` | the module handling it rejected it or ran out of attempts (the reason is in `detail`) |
//! | `504` `no-reply`, with the request's `id` | no reply within `?timeout=` (default `[requests] timeout`) |
//! | `503` `no-responders` | no module, subscription or mesh export takes the topic: nothing was stored |
//! | `409` `duplicate-request` | the id is waiting already, or was handled before (the store's dedup window) |
//!
//! Replies are matched to the caller's token: `GET /v1/replies/{id}` answers only
//! the token that sent the request (without tokens, anyone on loopback).

use std::time::Duration;

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use weft_core::reply::{self, Fetched, OpenError};
use weft_core::{ExtValue, units};

use super::extract::{Expect, Path, Query, RawBody};
use super::ingest::{events, refused};
use super::state::AppState;
use crate::auth::Access;
use crate::problem::{Kind, Problem, problem};
use crate::replies::{answer, no_reply};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestQuery {
    /// How long to wait for the reply (500ms, 5s, 2m), at most `[requests] max_timeout`.
    timeout: Option<String>,
}

impl Expect for RequestQuery {
    const WHAT: &'static str =
        "send `?timeout=5s` (a duration like 500ms, 5s, 2m), or no query for the host's default";
}

/// The token a request was sent with: whose replies it may read.
fn owner(access: &Access) -> Option<&str> {
    match access {
        Access::Open => None,
        Access::Token(g) => Some(&g.name),
    }
}

#[utoipa::path(post, path = "/v1/requests/{topic}", tag = "requests",
    params(("topic" = String, Path, description = "The request's topic"), RequestQuery),
    request_body(description = "One CloudEvent, binary or structured mode", content = Vec<u8>, content_type = "*/*"),
    responses(
        (status = 200, description = "The reply, in binary mode (structured with `Accept: application/cloudevents+json`)", content_type = "*/*", body = Vec<u8>),
        (status = 504, description = "No reply in time: fetch it later at /v1/replies/{id}", content_type = "application/problem+json", body = super::openapi::ProblemDoc),
    ))]
pub async fn request(
    State(app): State<AppState>,
    Extension(access): Extension<Access>,
    Path(topic): Path<String>,
    Query(query): Query<RequestQuery>,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let timeout = match wait_for(&app, query.timeout.as_deref()) {
        Ok(t) => t,
        Err(refused) => return refused.into_response(),
    };
    let mut batch = match events(&app, &access, &topic, &uri, &headers, &body) {
        Ok(events) => events,
        Err(refused) => return *refused,
    };
    let (Some(mut event), None) = (batch.pop(), batch.pop()) else {
        return problem(
            Kind::InvalidEvent,
            "a request is one event (binary or structured mode): send batches to /v1/events",
        );
    };
    if reply::is_address(&event.topic) {
        return problem(
            Kind::InvalidTopic,
            format!(
                "`{}` is a reply address: answer a request by publishing to it (POST /v1/events/{}), not by requesting it",
                event.topic, event.topic
            ),
        );
    }
    if app.hub.queues_for(&event).is_empty() {
        return problem(
            Kind::NoResponders,
            format!(
                "nothing takes events on `{}` here (no module, subscription or mesh export): the request was not stored; load a module that subscribes to it",
                event.topic
            ),
        );
    }
    let mut waiter = match app.hub.replies().open(&event.id, owner(&access)) {
        Ok(w) => w,
        Err(e @ OpenError::Busy(_)) => return problem(Kind::DuplicateRequest, e.to_string()),
        Err(e @ OpenError::Full(_)) => {
            return Problem::new(Kind::Unavailable, e.to_string())
                .retry_after(1)
                .into_response();
        }
    };
    event.extensions.retain(|(name, _)| name != reply::REPLYTO);
    event.extensions.push((
        reply::REPLYTO.to_owned(),
        ExtValue::String(waiter.address.clone()),
    ));
    let id = event.id.clone();
    match app.hub.publish(vec![event]).await {
        Ok(accepted) if accepted.first().is_some_and(|a| a.duplicate) && !waiter.resumed => {
            waiter.cancel();
            return problem(
                Kind::DuplicateRequest,
                format!(
                    "request `{id}` was accepted before (same source and id, within the dedup window) and is not handled again: send a new id"
                ),
            );
        }
        Ok(_) => {}
        Err(e) => {
            waiter.cancel();
            return refused(&app, &e);
        }
    }
    match waiter.wait(timeout).await {
        Some(reply) => answer(&reply, &headers),
        None => no_reply(&id, timeout, app.requests.replies.keep, true),
    }
}

/// The request's wait: `?timeout=` within `[requests] max_timeout`, else the default.
fn wait_for(app: &AppState, asked: Option<&str>) -> Result<Duration, Problem> {
    let Some(text) = asked else {
        return Ok(app.requests.timeout);
    };
    let max = app.requests.max_timeout;
    match units::parse_duration(text) {
        Ok(t) if !t.is_zero() && t <= max => Ok(t),
        Ok(_) => Err(Problem::new(
            Kind::InvalidRequest,
            format!(
                "timeout={text}: a request waits more than zero and at most {max:?} ([requests] max_timeout)"
            ),
        )),
        Err(e) => Err(Problem::new(
            Kind::InvalidRequest,
            format!("timeout={e}: {}", RequestQuery::WHAT),
        )),
    }
}

#[utoipa::path(get, path = "/v1/replies/{id}", tag = "requests",
    params(("id" = String, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The reply that came late", content_type = "*/*", body = Vec<u8>),
        (status = 202, description = "Still waiting for the reply (`Retry-After: 1`)", body = Object),
    ))]
pub async fn fetch(
    State(app): State<AppState>,
    Extension(access): Extension<Access>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match app.hub.replies().fetch(&id, owner(&access)) {
        Fetched::Reply(reply) => answer(&reply, &headers),
        Fetched::Pending => (
            StatusCode::ACCEPTED,
            [(header::RETRY_AFTER, HeaderValue::from_static("1"))],
            axum::Json(serde_json::json!({ "id": id, "reply": "pending" })),
        )
            .into_response(),
        Fetched::Unknown => problem(
            Kind::NotFound,
            format!(
                "no reply to request `{id}` is kept for this caller: it was never sent with this token, its reply was already delivered, or its keep time ([requests] keep_replies) passed"
            ),
        ),
    }
}

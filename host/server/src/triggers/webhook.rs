//! `/hooks/NAME[/...]`: webhooks into ingress connectors with `route = true`.
//!
//! These routes sit outside the API's bearer tokens on purpose: webhook senders
//! (GitHub, Stripe, ...) authenticate with a signature over the body, which the
//! connector checks (see the `webhook` example's `secret`). The host gives the
//! connector the raw request, publishes the events it returns together with its
//! state changes, and only then sends the connector's answer: a 2xx means the
//! events are durable. When they cannot be stored the sender gets the host's
//! 429/507/503 instead, and retries.
//!
//! A connector whose manifest says `await_reply = "5s"` fronts a pipeline
//! synchronously: the first event of a request becomes a request (it gets a
//! `replyto`, see `weft_core::reply`), and the sender gets the reply instead of
//! the connector's own answer: `200` with the reply's data and `ce-` headers,
//! `502` when a module failed on it for good, `504` when no reply came in time
//! (the events are stored and handled still). A refusal by the connector (4xx/5xx)
//! is answered as it is, with nothing published.

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use weft_runtime::HookRequest;

use super::connector::{CommitError, Connector, HookRegistry};
use crate::problem::{Kind, Problem, problem};

#[derive(Clone)]
struct Hooks {
    /// Swapped by the supervisor as connectors come, go and change version.
    connectors: HookRegistry,
    max_body: usize,
    fatal: tokio::sync::mpsc::Sender<String>,
}

/// The webhook routes of `connectors` (those whose manifest says `route = true`).
pub fn router(
    connectors: HookRegistry,
    max_body: usize,
    fatal: tokio::sync::mpsc::Sender<String>,
) -> Router {
    let hooks = Hooks {
        connectors,
        max_body,
        fatal,
    };
    Router::new()
        .route("/hooks/{name}", any(hook))
        .route("/hooks/{name}/{*rest}", any(hook))
        .with_state(hooks)
}

async fn hook(
    State(hooks): State<Hooks>,
    Path(params): Path<HashMap<String, String>>,
    req: Request,
) -> Response {
    let name = params.get("name").cloned().unwrap_or_default();
    let conn = hooks
        .connectors
        .read()
        .ok()
        .and_then(|c| c.get(&name).cloned());
    let Some(conn) = conn else {
        return problem(
            Kind::NotFound,
            format!(
                "no webhook route named `{name}`: no ingress connector of that name has `route = true`"
            ),
        );
    };
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, hooks.max_body).await {
        Ok(b) => b,
        Err(e) => {
            if let Some(timeout) = crate::edge::body::timeout_in(&e) {
                return problem(
                    Kind::RequestTimeout,
                    format!("{timeout}: the connector was not called"),
                );
            }
            return problem(
                Kind::PayloadTooLarge,
                format!(
                    "the body is over this host's limit of {} bytes ([ingest] max_body): the connector was not called",
                    hooks.max_body
                ),
            );
        }
    };
    let request = HookRequest {
        method: parts.method.to_string(),
        path: format!("/{}", params.get("rest").map(String::as_str).unwrap_or("")),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    let (reply, state) = match conn.call(move |s| s.webhook(request)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(module = %name, error = %e, "webhook call failed");
            return problem(
                Kind::ConnectorFailed,
                format!("connector `{name}` failed on this request: {e}"),
            );
        }
    };
    let Ok(status) = StatusCode::from_u16(reply.status) else {
        return problem(
            Kind::ConnectorFailed,
            format!(
                "connector `{name}` answered with an invalid status {}",
                reply.status
            ),
        );
    };
    // A refusal publishes nothing and keeps no state: the guest said no.
    let mut events = reply.events;
    let await_reply = conn
        .module
        .manifest
        .ingress
        .as_ref()
        .and_then(|t| t.await_reply);
    let mut waiter = None;
    if status.as_u16() < 400
        && let (Some(timeout), Some(first)) = (await_reply, events.first_mut())
    {
        match ask(&conn, &name, first) {
            Ok(w) => waiter = Some((w, first.id.clone(), timeout)),
            Err(refused) => return *refused,
        }
    }
    if status.as_u16() < 400 {
        match conn.commit(events, state, Vec::new()).await {
            Ok(_) => {}
            Err(CommitError::Refused(reason)) => {
                tracing::error!(module = %name, %reason, "webhook events refused; nothing published");
                return problem(
                    Kind::ConnectorFailed,
                    format!("connector `{name}` produced events the host refuses: {reason}"),
                );
            }
            Err(CommitError::Publish(e)) => {
                tracing::warn!(module = %name, error = %e, "webhook events not stored");
                if let weft_core::PublishError::Store(s @ weft_store::Error::Failed(_)) = &e {
                    let _ = hooks.fatal.try_send(s.to_string());
                }
                return Problem::from_publish(&e).into_response();
            }
        }
    }
    if let Some((mut w, id, timeout)) = waiter {
        return match w.wait(timeout).await {
            Some(reply) => crate::replies::answer(&reply, &parts.headers),
            None => crate::replies::no_reply(&id, timeout, timeout, false),
        };
    }
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = status;
    // The connector's answer goes out as it is, even an error of its own.
    response.extensions_mut().insert(crate::problem::Verbatim);
    for (k, v) in reply.headers {
        match (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            (Ok(k), Ok(v)) => {
                response.headers_mut().append(k, v);
            }
            _ => {
                tracing::warn!(module = %name, header = %k, "connector answered an invalid header; dropped")
            }
        }
    }
    response.into_response()
}

/// Makes `first` a request: its id (a new one if the connector gave none) is
/// waited on under the connector's name, and it carries the reply address.
fn ask(
    conn: &Connector,
    name: &str,
    first: &mut weft_core::Event,
) -> Result<weft_core::reply::Waiter, Box<Response>> {
    if first.id.is_empty() {
        first.id = uuid::Uuid::now_v7().to_string();
    }
    let owner = format!("hook/{name}");
    match conn.hub.replies().open(&first.id, Some(&owner)) {
        Ok(w) => {
            first
                .extensions
                .retain(|(n, _)| n != weft_core::reply::REPLYTO);
            first.extensions.push((
                weft_core::reply::REPLYTO.to_owned(),
                weft_core::ExtValue::String(w.address.clone()),
            ));
            Ok(w)
        }
        Err(e @ weft_core::reply::OpenError::Busy(_)) => {
            Err(Box::new(problem(Kind::DuplicateRequest, e.to_string())))
        }
        Err(e) => Err(Box::new(
            Problem::new(Kind::Unavailable, e.to_string())
                .retry_after(1)
                .into_response(),
        )),
    }
}

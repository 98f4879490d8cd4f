//! Error answers in one shape: RFC 9457 problem details.
//!
//! Every error the host answers over HTTP (the API, webhook routes, probes) is an
//! `application/problem+json` object with `type`, `title`, `status` and `detail`:
//!
//! ```json
//! {"type": "tag:weft,2026:problem/subscription-full", "title": "A subscription is full",
//!  "status": 429, "detail": "nothing stored: subscription `audit` is full (...)"}
//! ```
//!
//! `type` names the kind of problem, so a client branches on it rather than on the
//! wording of `detail`, which is for people and says what failed, where, and what to
//! do. The types are `tag:` URIs (RFC 4151): they identify, they are not pages to
//! fetch, so they stay valid whatever address a host is reached at. `title` is the
//! same for every problem of a type.
//!
//! This module imports nothing else of the server, so the API, the auth guard and
//! the webhook routes can all answer through it without importing each other.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use weft_core::{Full, PublishError};

/// The media type of a problem body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What went wrong, as a client may branch on it. Each kind has one status, one
/// title and one `type` URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A CloudEvent that does not decode (bad mode, missing attribute, bad JSON).
    InvalidEvent,
    /// A topic or pattern that does not parse.
    InvalidTopic,
    /// Any other malformed request: query, path parameter or body.
    InvalidRequest,
    /// No token, or one the host does not know.
    Unauthorized,
    /// A known token without the grant.
    Forbidden,
    NotFound,
    MethodNotAllowed,
    /// A request body that came too slowly (`[http] body_timeout`, `body_min_rate`).
    RequestTimeout,
    /// The request conflicts with what is configured (a subscription of the config).
    Conflict,
    PayloadTooLarge,
    /// A body that is not of the media type the route reads (JSON).
    UnsupportedMediaType,
    /// A subscription's quota is reached: try again later.
    SubscriptionFull,
    /// The store's disk quota is reached, or the disk is nearly full.
    StorageFull,
    /// A connector failed on the request, or answered something invalid.
    ConnectorFailed,
    /// The store cannot take writes now (or the host is starting).
    Unavailable,
    /// A request whose id is already waiting for its reply, or was handled before.
    DuplicateRequest,
    /// A request to a topic no module, subscription or mesh export takes.
    NoResponders,
    /// No reply came within the request's timeout.
    NoReply,
    /// The module handling a request failed on it for good.
    RequestFailed,
    Internal,
}

impl Kind {
    pub fn status(self) -> StatusCode {
        match self {
            Kind::InvalidEvent | Kind::InvalidTopic | Kind::InvalidRequest => {
                StatusCode::BAD_REQUEST
            }
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::SubscriptionFull => StatusCode::TOO_MANY_REQUESTS,
            Kind::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            Kind::ConnectorFailed => StatusCode::BAD_GATEWAY,
            Kind::Unavailable | Kind::NoResponders => StatusCode::SERVICE_UNAVAILABLE,
            Kind::DuplicateRequest => StatusCode::CONFLICT,
            Kind::NoReply => StatusCode::GATEWAY_TIMEOUT,
            Kind::RequestFailed => StatusCode::BAD_GATEWAY,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The last part of the `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            Kind::InvalidEvent => "invalid-event",
            Kind::InvalidTopic => "invalid-topic",
            Kind::InvalidRequest => "invalid-request",
            Kind::Unauthorized => "unauthorized",
            Kind::Forbidden => "forbidden",
            Kind::NotFound => "not-found",
            Kind::MethodNotAllowed => "method-not-allowed",
            Kind::RequestTimeout => "request-timeout",
            Kind::Conflict => "conflict",
            Kind::PayloadTooLarge => "payload-too-large",
            Kind::UnsupportedMediaType => "unsupported-media-type",
            Kind::SubscriptionFull => "subscription-full",
            Kind::StorageFull => "storage-full",
            Kind::ConnectorFailed => "connector-failed",
            Kind::Unavailable => "unavailable",
            Kind::DuplicateRequest => "duplicate-request",
            Kind::NoResponders => "no-responders",
            Kind::NoReply => "no-reply",
            Kind::RequestFailed => "request-failed",
            Kind::Internal => "internal",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Kind::InvalidEvent => "The CloudEvent is not valid",
            Kind::InvalidTopic => "The topic or pattern is not valid",
            Kind::InvalidRequest => "The request is not valid",
            Kind::Unauthorized => "A known API token is needed",
            Kind::Forbidden => "The token does not grant this",
            Kind::NotFound => "Not found",
            Kind::MethodNotAllowed => "Method not allowed",
            Kind::RequestTimeout => "The request came too slowly",
            Kind::Conflict => "Conflicts with the host config",
            Kind::PayloadTooLarge => "The body is too large",
            Kind::UnsupportedMediaType => "The body's media type is not the one expected",
            Kind::SubscriptionFull => "A subscription is full",
            Kind::StorageFull => "The store has no room",
            Kind::ConnectorFailed => "The connector failed",
            Kind::Unavailable => "Not available now",
            Kind::DuplicateRequest => "The request was sent before",
            Kind::NoResponders => "Nothing takes requests on this topic",
            Kind::NoReply => "No reply came in time",
            Kind::RequestFailed => "The request failed where it was handled",
            Kind::Internal => "Internal error",
        }
    }

    /// The kind of an error answer made elsewhere (axum, a layer) with only its
    /// status: see [`ensure`].
    pub fn of_status(status: StatusCode) -> Kind {
        match status.as_u16() {
            401 => Kind::Unauthorized,
            403 => Kind::Forbidden,
            404 => Kind::NotFound,
            405 => Kind::MethodNotAllowed,
            408 => Kind::RequestTimeout,
            409 => Kind::Conflict,
            413 => Kind::PayloadTooLarge,
            415 => Kind::UnsupportedMediaType,
            502 => Kind::ConnectorFailed,
            503 => Kind::Unavailable,
            507 => Kind::StorageFull,
            400..=499 => Kind::InvalidRequest,
            _ => Kind::Internal,
        }
    }

    pub fn uri(self) -> String {
        format!("{TYPE_PREFIX}{}", self.slug())
    }

    /// Every kind, for documentation and the API description.
    pub const ALL: [Kind; 16] = [
        Kind::InvalidEvent,
        Kind::InvalidTopic,
        Kind::InvalidRequest,
        Kind::Unauthorized,
        Kind::Forbidden,
        Kind::NotFound,
        Kind::MethodNotAllowed,
        Kind::RequestTimeout,
        Kind::Conflict,
        Kind::PayloadTooLarge,
        Kind::UnsupportedMediaType,
        Kind::SubscriptionFull,
        Kind::StorageFull,
        Kind::ConnectorFailed,
        Kind::Unavailable,
        Kind::Internal,
    ];
}

/// What every problem `type` starts with.
pub const TYPE_PREFIX: &str = "tag:weft,2026:problem/";

/// One problem answer. Build it with [`Problem::new`], add headers if needed,
/// and return it: it is an axum response.
#[derive(Debug, Clone)]
pub struct Problem {
    pub kind: Kind,
    pub detail: String,
    /// Seconds a client should wait before trying again (`Retry-After`).
    pub retry_after: Option<u32>,
    /// The challenge of a `401` (`WWW-Authenticate`).
    pub challenge: Option<&'static str>,
    /// The event a problem is about, as the member `id` (the request of a `504`).
    pub id: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    ty: String,
    title: &'static str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
}

impl Problem {
    pub fn new(kind: Kind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            retry_after: None,
            challenge: None,
            id: None,
        }
    }

    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The answer to a publish the hub did not accept: `429`/`507` with
    /// `Retry-After` for no room, `503` for a store failure. Ingest, webhooks and
    /// replays share it.
    pub fn from_publish(e: &PublishError) -> Self {
        match e {
            PublishError::Full(full @ Full::Subscription { .. }) => {
                Problem::new(Kind::SubscriptionFull, format!("nothing stored: {full}"))
                    .retry_after(1)
            }
            PublishError::Full(full) => {
                Problem::new(Kind::StorageFull, format!("nothing stored: {full}")).retry_after(10)
            }
            PublishError::Store(e) => Problem::new(
                Kind::Unavailable,
                format!("not stored, publish again later: {e}"),
            ),
        }
    }
}

impl Problem {
    fn body(&self) -> Body<'_> {
        Body {
            ty: self.kind.uri(),
            title: self.kind.title(),
            status: self.kind.status().as_u16(),
            detail: &self.detail,
            id: self.id.as_deref(),
        }
    }

    /// The problem's JSON, for answers written below axum (the listener's
    /// refusal at its connection cap).
    pub fn json(&self) -> String {
        serde_json::to_string(&self.body()).unwrap_or_default()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        let mut r = (status, Json(self.body())).into_response();
        let headers = r.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(s) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(c) = self.challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        r
    }
}

/// Marks a response that goes out as it is, error or not: a webhook
/// connector's own answer, which is the sender's business, not the host's.
#[derive(Debug, Clone, Copy)]
pub struct Verbatim;

/// The last layer around every route: an error answer that is not a problem
/// yet (axum's own rejections, a layer's refusal) becomes one, with its status
/// and its text as `detail`, keeping `Allow`. Handlers answer problems
/// themselves, with details that say what to send; this only makes sure that
/// nothing else gets out.
pub async fn ensure(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if !(status.is_client_error() || status.is_server_error())
        || is_problem
        || response.extensions().get::<Verbatim>().is_some()
    {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let detail = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut r = Problem::new(Kind::of_status(status), detail).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(v) = parts.headers.get(&name) {
            r.headers_mut().insert(name, v.clone());
        }
    }
    r
}

/// Shorthand for handlers: a problem answer of `kind`.
pub fn problem(kind: Kind, detail: impl Into<String>) -> Response {
    Problem::new(kind, detail).into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    async fn body(r: Response) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let (parts, body) = r.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn a_problem_is_rfc_9457_json() {
        let (status, headers, v) = body(problem(
            Kind::InvalidTopic,
            "topic `a//b` has an empty level",
        ))
        .await;
        assert_eq!(status, 400);
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(v["type"], "tag:weft,2026:problem/invalid-topic");
        assert_eq!(v["title"], "The topic or pattern is not valid");
        assert_eq!(v["status"], 400);
        assert_eq!(v["detail"], "topic `a//b` has an empty level");
        assert_eq!(v.as_object().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn no_room_says_when_to_come_back() {
        let full = PublishError::Full(Full::Disk {
            used: 10,
            limit: 10,
        });
        let (status, headers, v) = body(Problem::from_publish(&full).into_response()).await;
        assert_eq!(status, 507);
        assert_eq!(headers[header::RETRY_AFTER], "10");
        assert!(
            v["detail"]
                .as_str()
                .unwrap()
                .starts_with("nothing stored: ")
        );
    }

    #[tokio::test]
    async fn an_error_answer_made_elsewhere_becomes_a_problem_and_a_verbatim_one_does_not() {
        let plain = (StatusCode::BAD_REQUEST, "Failed to parse the request body").into_response();
        let (status, headers, v) = body(ensure(plain).await).await;
        assert_eq!(status, 400);
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(v["type"], "tag:weft,2026:problem/invalid-request");
        assert_eq!(v["detail"], "Failed to parse the request body");
        let mut own = (StatusCode::UNAUTHORIZED, "bad signature").into_response();
        own.extensions_mut().insert(Verbatim);
        let own = ensure(own).await;
        assert_eq!(own.status(), 401);
        assert_eq!(
            own.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
    }

    #[test]
    fn every_kind_has_its_own_type() {
        let mut slugs: Vec<_> = Kind::ALL.iter().map(|k| k.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), Kind::ALL.len());
    }
}

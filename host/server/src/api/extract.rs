//! The API's extractors: axum's `Query`, `Json`, `Path` and the raw body, whose
//! refusals are problem answers that say what to send.
//!
//! Each type a route reads says what it expects ([`Expect`]); a refusal's
//! `detail` is axum's account of what was wrong followed by that, e.g.
//! `` `max`: invalid digit found in string: send `?max=N` ... ``. A body that
//! fails while it is read is `413` past `[ingest] max_body`, `408` when it
//! came too slowly (see `edge::body`), `400` otherwise.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::edge::{MaxBody, body};
use crate::problem::{Kind, Problem};

/// What a route expects of a part of the request, said to a caller who sent
/// something else.
pub trait Expect {
    const WHAT: &'static str;
}

/// A query string, refused with a `400` problem.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Expect, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(q) => Ok(Query(q.0)),
            Err(e) => Err(Problem::new(
                Kind::InvalidRequest,
                format!("{}: {}", e.body_text(), T::WHAT),
            )),
        }
    }
}

/// A path parameter, refused with a `400` problem.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Expect + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(p) => Ok(Path(p.0)),
            Err(e) => Err(Problem::new(
                Kind::InvalidRequest,
                format!("{}: {}", e.body_text(), T::WHAT),
            )),
        }
    }
}

/// A JSON body: `400` when it does not parse or fit, `415` without the JSON
/// media type, `413`/`408` when it cannot be read whole.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + Expect, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let max = req.extensions().get::<MaxBody>().copied();
        match axum::Json::<T>::from_request(req, state).await {
            Ok(j) => Ok(Json(j.0)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Problem::new(
                Kind::UnsupportedMediaType,
                format!(
                    "send the body as JSON with `Content-Type: application/json`: {}",
                    T::WHAT
                ),
            )),
            Err(JsonRejection::BytesRejection(e)) => Err(unread(&e, max)),
            Err(e) => Err(Problem::new(
                Kind::InvalidRequest,
                format!("{}: {}", e.body_text(), T::WHAT),
            )),
        }
    }
}

/// The raw body (ingest): refused as a body that cannot be read whole.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let max = req.extensions().get::<MaxBody>().copied();
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|e| unread(&e, max))
    }
}

/// Why a body could not be read whole, as a problem.
fn unread(e: &BytesRejection, max: Option<MaxBody>) -> Problem {
    if let Some(timeout) = body::timeout_in(e) {
        return Problem::new(
            Kind::RequestTimeout,
            format!("{timeout}: nothing was stored; send the body faster, or in smaller requests"),
        );
    }
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(max);
    }
    Problem::new(Kind::InvalidRequest, e.body_text())
}

/// A body over `[ingest] max_body`.
pub fn too_large(max: Option<MaxBody>) -> Problem {
    let limit = max.map_or_else(|| "its limit".to_owned(), |m| format!("{} bytes", m.0));
    Problem::new(
        Kind::PayloadTooLarge,
        format!(
            "the body is over this host's limit of {limit} ([ingest] max_body): nothing was stored; send smaller requests (a batch can be split)"
        ),
    )
}

impl Expect for String {
    const WHAT: &'static str = "the path must be valid UTF-8 once percent-decoded";
}

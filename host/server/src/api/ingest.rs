//! `POST /v1/events/{topic}`: CloudEvents in, `202` once they are durable.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use weft_core::{PublishError, Topic, cloudevents, trace};

use super::extract::{Path, RawBody};
use super::state::AppState;
use crate::auth::Access;
use crate::problem::{Kind, Problem, problem};

/// A publish's answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Accepted {
    accepted: Vec<AcceptedEvent>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AcceptedEvent {
    id: String,
    /// Seen before (same source and id within the dedup window): not stored again.
    duplicate: bool,
}

#[utoipa::path(post, path = "/v1/events/{topic}", tag = "events",
    params(("topic" = String, Path, description = "The topic, levels separated by `/` (orders/created)")),
    request_body(description = "CloudEvents: binary mode (ce-* headers, the data as the body), structured (application/cloudevents+json) or a batch (application/cloudevents-batch+json)", content = Vec<u8>, content_type = "*/*"),
    responses((status = 202, description = "Stored durably (fsynced): each event's id, and whether it was a duplicate", body = Accepted)))]
pub async fn ingest(
    State(app): State<AppState>,
    Extension(access): Extension<Access>,
    Path(topic): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Response {
    let events = match events(&app, &access, &topic, &uri, &headers, &body) {
        Ok(events) => events,
        Err(refused) => return *refused,
    };
    match app.hub.publish(events).await {
        Ok(accepted) => (
            StatusCode::ACCEPTED,
            Json(Accepted {
                accepted: accepted
                    .iter()
                    .map(|a| AcceptedEvent {
                        id: a.id.clone(),
                        duplicate: a.duplicate,
                    })
                    .collect(),
            }),
        )
            .into_response(),
        Err(e) => {
            tracing::debug!(%topic, "publish not accepted");
            refused(&app, &e)
        }
    }
}

/// The answer to a publish the hub did not accept (see [`Problem::from_publish`]);
/// a store failure is logged and, when it is for good, stops the host.
pub(super) fn refused(app: &AppState, e: &PublishError) -> Response {
    match e {
        PublishError::Full(full) => tracing::debug!(reason = %full, "publish refused for room"),
        PublishError::Store(s) => {
            tracing::error!(error = %s, "cannot store published events");
            app.on_store_error(s);
        }
    }
    Problem::from_publish(e).into_response()
}

/// The events of a publish (or a request) to `topic` in the URL, checked: the
/// topic, the caller's grants for it and for every event's topic, the
/// CloudEvents decoding. The error is the answer to send.
pub(super) fn events(
    app: &AppState,
    access: &Access,
    topic: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<weft_core::Event>, Box<Response>> {
    let refuse = |kind, detail: String| Err(Box::new(problem(kind, detail)));
    // The router has already decoded `%2F` into `/`, which would turn one level
    // into two: the raw path says whether the slashes were sent as slashes.
    if uri.path().to_ascii_lowercase().contains("%2f") {
        return refuse(
            Kind::InvalidTopic,
            "bad topic in the URL: it holds an encoded slash (%2F); a topic's levels are \
             separated by plain `/` (POST /v1/events/orders/created), and a level cannot hold one"
                .into(),
        );
    }
    let topic = match Topic::parse(topic) {
        Ok(t) => t,
        Err(e) => return refuse(Kind::InvalidTopic, format!("bad topic in the URL: {e}")),
    };
    if let Err(refused) = access.check_publish(topic.as_str()) {
        return Err(Box::new(refused.into_response()));
    }
    let mut events = match cloudevents::decode(headers, body, &topic, &app.limits) {
        Ok(e) => e,
        Err(e) => return refuse(Kind::InvalidEvent, e.to_string()),
    };
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let (parent, state) = (header(trace::TRACEPARENT), header(trace::TRACESTATE));
    for e in &mut events {
        trace::adopt(e, parent, state);
    }
    // Every event of a batch, whatever its topic: one refused, nothing stored.
    if let Some(refused) = events
        .iter()
        .find_map(|e| access.check_publish(&e.topic).err())
    {
        return Err(Box::new(refused.into_response()));
    }
    Ok(events)
}

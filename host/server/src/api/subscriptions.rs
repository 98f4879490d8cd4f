//! `/v1/subscriptions`: outside consumers' durable subscriptions over HTTP.
//!
//! Consumers read by pull (`GET .../events`, then `POST .../ack?upto=SEQ`) or as
//! server-sent events (`GET .../stream`), which resume after the `Last-Event-ID`
//! the client sends on reconnecting: that id acknowledges everything up to it.
//! Delivery is at least once; the event's `id` lets a consumer deduplicate. The
//! reading itself is `weft_core::consumer`'s, which other readers of a queue share.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use weft_core::cloudevents;
use weft_core::consumer::{Consumer, Delivery};
use weft_core::name::{NAME_RULE, Name, QueueOwner, queue_of_subscription};

use super::extract::{self, Expect, Path, Query};
use super::state::AppState;
use crate::auth::Access;
use crate::problem::{Kind, problem};
use crate::subscriptions::Definition;

#[utoipa::path(get, path = "/v1/subscriptions", tag = "subscriptions",
    responses((status = 200, description = "Every subscription: name, patterns, queue depth, whether the config defines it", body = Object)))]
pub async fn list(State(app): State<AppState>) -> Response {
    let store = app.hub.store();
    let routes = app.hub.routes();
    let subs: Vec<_> = routes
        .iter()
        .filter_map(|r| {
            let QueueOwner::Subscription(name) = QueueOwner::parse(&r.name).ok()? else {
                return None;
            };
            Some(json!({
                "name": name,
                "subscribe": r.patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "queue_depth": store.depth(r.queue),
                "configured": app.subscriptions.configured.iter().any(|c| name == c.as_str()),
            }))
        })
        .collect();
    Json(json!({ "subscriptions": subs })).into_response()
}

/// `PUT /v1/subscriptions/{name}`: creates the subscription, or changes its patterns.
#[utoipa::path(put, path = "/v1/subscriptions/{name}", tag = "subscriptions",
    params(("name" = String, Path, description = "The subscription's name")),
    request_body(content = Definition),
    responses((status = 201, description = "Created", body = Object), (status = 200, description = "Changed", body = Object)))]
pub async fn put(
    State(app): State<AppState>,
    Path(name): Path<String>,
    extract::Json(def): extract::Json<Definition>,
) -> Response {
    let queue = match Name::parse(&name) {
        Ok(n) => queue_of_subscription(&n),
        Err(e) => {
            return problem(
                Kind::InvalidRequest,
                format!(
                    "`{name}` is not a subscription name ({}): use {NAME_RULE}",
                    e.problem
                ),
            );
        }
    };
    if app.subscriptions.configured.contains(&name) {
        return problem(
            Kind::Conflict,
            format!("subscription `{name}` is defined in the host config; change it there"),
        );
    }
    let patterns = match def.patterns() {
        Ok(p) => p,
        Err(e) => return problem(Kind::InvalidRequest, e),
    };
    let mut defs = app.subscriptions.api.lock().await;
    let created = !defs.contains_key(&name);
    let mut next = defs.clone();
    next.insert(name.clone(), def.clone());
    if let Err(e) = app.subscriptions.save(&next) {
        return problem(Kind::Internal, format!("cannot save the subscription: {e}"));
    }
    *defs = next;
    if let Err(e) = app.hub.subscribe(&queue, patterns, def.quota()).await {
        return problem(Kind::Unavailable, e.to_string());
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (
        status,
        Json(json!({ "name": name, "subscribe": def.subscribe })),
    )
        .into_response()
}

/// `DELETE /v1/subscriptions/{name}`: stops collecting and drops what waits.
#[utoipa::path(delete, path = "/v1/subscriptions/{name}", tag = "subscriptions",
    params(("name" = String, Path, description = "The subscription's name")),
    responses((status = 200, description = "Deleted: how many waiting events were dropped", body = Object)))]
pub async fn delete(State(app): State<AppState>, Path(name): Path<String>) -> Response {
    if app.subscriptions.configured.contains(&name) {
        return problem(
            Kind::Conflict,
            format!("subscription `{name}` is defined in the host config; remove it there"),
        );
    }
    let mut defs = app.subscriptions.api.lock().await;
    let valid = Name::parse(&name).ok();
    let Some(valid) = valid.filter(|_| defs.contains_key(&name)) else {
        return problem(Kind::NotFound, format!("no subscription `{name}`"));
    };
    let mut next = defs.clone();
    next.remove(&name);
    if let Err(e) = app.subscriptions.save(&next) {
        return problem(Kind::Internal, format!("cannot save: {e}"));
    }
    *defs = next;
    app.hub.unsubscribe(&queue_of_subscription(&valid));
    let dropped = match Consumer::of_subscription(app.hub.clone(), &valid) {
        Some(c) => c.ack_upto(u64::MAX).await.unwrap_or(0),
        None => 0,
    };
    Json(json!({ "deleted": name, "dropped": dropped })).into_response()
}

/// A reader of subscription `name`, if `access` may read it: admins, and tokens
/// whose tap grants cover the subscription's patterns (see `auth`).
fn consumer_of(app: &AppState, access: &Access, name: &str) -> Result<Consumer, Box<Response>> {
    let parsed = Name::parse(name).ok();
    let queue = parsed.as_ref().map(queue_of_subscription);
    let routes = app.hub.routes();
    let route = queue
        .as_ref()
        .and_then(|q| routes.iter().find(|r| &r.name == q));
    access
        .check_read(name, route.map(|r| &r.patterns))
        .map_err(|f| Box::new(f.into_response()))?;
    let routed = route.is_some();
    let consumer = parsed.and_then(|n| Consumer::of_subscription(app.hub.clone(), &n));
    match consumer {
        Some(c) if routed => Ok(c),
        _ => Err(Box::new(problem(
            Kind::NotFound,
            format!(
                "no subscription `{name}`: create it with PUT /v1/subscriptions/{name} or under [subscriptions] in the host config"
            ),
        ))),
    }
}

/// Most events one pull hands out.
const MAX_PULL: usize = 10_000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PullQuery {
    /// The most events to hand out, 1 to 10000 (default 100).
    #[serde(default = "hundred")]
    max: usize,
}

impl Expect for PullQuery {
    const WHAT: &'static str =
        "send `?max=N`, N the most events to hand out, 1 to 10000 (default 100)";
}

impl Expect for Definition {
    const WHAT: &'static str = r#"send JSON like {"subscribe": ["orders/>"], "max_queue_events": 100000, "max_queue_bytes": 1073741824} (subscribe: topic patterns; the limits are optional)"#;
}

#[utoipa::path(get, path = "/v1/subscriptions/{name}/events", tag = "subscriptions",
    params(("name" = String, Path, description = "The subscription's name"), PullQuery),
    responses((status = 200, description = "The next events, each with its `seq` (acknowledge with /ack?upto=SEQ)", body = Object)))]
pub async fn pull(
    State(app): State<AppState>,
    Extension(access): Extension<Access>,
    Path(name): Path<String>,
    Query(q): Query<PullQuery>,
) -> Response {
    let consumer = match consumer_of(&app, &access, &name) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if q.max == 0 {
        return problem(
            Kind::InvalidRequest,
            format!("`max=0` asks for nothing: {}", PullQuery::WHAT),
        );
    }
    match consumer.pull(q.max.min(MAX_PULL)) {
        Ok(batch) => {
            let events: Vec<_> = batch.iter().map(pulled).collect();
            Json(Pulled {
                subscription: name,
                events,
            })
            .into_response()
        }
        Err(e) => problem(Kind::Internal, e.to_string()),
    }
}

/// A pull's answer. Events are embedded as the exact text `cloudevents::to_json`
/// wrote (a `serde_json::Value` would re-encode their data).
#[derive(serde::Serialize)]
struct Pulled {
    subscription: String,
    events: Vec<PulledEvent>,
}

#[derive(serde::Serialize)]
struct PulledEvent {
    seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<Box<serde_json::value::RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unreadable: Option<String>,
}

fn pulled(d: &Delivery) -> PulledEvent {
    let (event, unreadable) = match &d.event {
        Ok(e) => (Some(cloudevents::to_json(e)), None),
        Err(e) => (None, Some(e.to_string())),
    };
    PulledEvent {
        seq: d.seq,
        event,
        unreadable,
    }
}

/// A stream's `data`: the event's JSON, safe on one SSE line (see `cloudevents::Form`).
fn streamed(d: &Delivery) -> String {
    match &d.event {
        Ok(e) => cloudevents::to_json_text(e, cloudevents::Form::LineSafe),
        Err(e) => json!({ "unreadable": e.to_string() }).to_string(),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AckQuery {
    /// The `seq` of the last event handled.
    upto: u64,
}

impl Expect for AckQuery {
    const WHAT: &'static str = "send `?upto=SEQ`, the `seq` of the last event handled: it and every event before it are acknowledged";
}

#[utoipa::path(post, path = "/v1/subscriptions/{name}/ack", tag = "subscriptions",
    params(("name" = String, Path, description = "The subscription's name"), AckQuery),
    responses((status = 200, description = "How many events were acknowledged", body = Object)))]
pub async fn ack(
    State(app): State<AppState>,
    Extension(access): Extension<Access>,
    Path(name): Path<String>,
    Query(q): Query<AckQuery>,
) -> Response {
    let consumer = match consumer_of(&app, &access, &name) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    match consumer.ack_upto(q.upto).await {
        Ok(n) => Json(json!({ "acknowledged": n })).into_response(),
        Err(e) => problem(Kind::Unavailable, e.to_string()),
    }
}

/// `GET /v1/subscriptions/{name}/stream`: server-sent events, `id` = the event's
/// sequence in the subscription. A reconnect with `Last-Event-ID: N` acknowledges
/// up to N and resumes after it.
#[utoipa::path(get, path = "/v1/subscriptions/{name}/stream", tag = "subscriptions",
    params(("name" = String, Path, description = "The subscription's name"), ("Last-Event-ID" = Option<String>, Header, description = "Resume after this seq, acknowledging up to it")),
    responses((status = 200, description = "Server-sent events, `id` = the event's seq", content_type = "text/event-stream", body = String)))]
pub async fn stream(
    State(app): State<AppState>,
    Extension(access): Extension<Access>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut consumer = match consumer_of(&app, &access, &name) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if let Some(last) = last {
        let Ok(n) = last.parse::<u64>() else {
            return problem(
                Kind::InvalidRequest,
                format!("Last-Event-ID `{last}` is not a sequence number this host sent"),
            );
        };
        if let Err(e) = consumer.resume(n).await {
            return problem(Kind::Unavailable, e.to_string());
        }
    }
    let events = futures::stream::unfold(
        (consumer, std::collections::VecDeque::<Delivery>::new()),
        |(mut consumer, mut pending)| async move {
            loop {
                if let Some(d) = pending.pop_front() {
                    let data = streamed(&d);
                    let sse = SseEvent::default()
                        .id(d.seq.to_string())
                        .event("cloudevent")
                        .data(data);
                    return Some((Ok::<_, Infallible>(sse), (consumer, pending)));
                }
                pending.extend(consumer.next(1000).ok()?);
                if pending.is_empty() {
                    consumer.wait().await;
                }
            }
        },
    );
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn hundred() -> usize {
    100
}

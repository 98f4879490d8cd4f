//! `/v1/subscriptions`: outside consumers' durable subscriptions over HTTP.
//!
//! Consumers read by pull (`GET .../events`, then `POST .../ack?upto=SEQ`) or as
//! server-sent events (`GET .../stream`), which resume after the `Last-Event-ID`
//! the client sends on reconnecting: that id acknowledges everything up to it.
//! Delivery is at least once; the event's `id` lets a consumer deduplicate.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use weft_core::cloudevents;
use weft_core::name::{QueueOwner, queue_of_subscription};
use weft_store::{Completion, QueueId, Store};

use super::state::AppState;
use crate::auth::Access;
use crate::problem::{Kind, problem};
use crate::subscriptions::Definition;

pub async fn list(State(app): State<AppState>) -> Response {
    let store = app.hub.store();
    let routes = app.hub.routes();
    let subs: Vec<_> = routes
        .iter()
        .filter_map(|r| {
            let QueueOwner::Subscription(name) = QueueOwner::parse(&r.name) else {
                return None;
            };
            Some(json!({
                "name": name,
                "subscribe": r.patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "queue_depth": store.depth(r.queue),
                "configured": app.subscriptions.configured.contains(&name),
            }))
        })
        .collect();
    Json(json!({ "subscriptions": subs })).into_response()
}

/// `PUT /v1/subscriptions/{name}`: creates the subscription, or changes its patterns.
pub async fn put(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Json(def): Json<Definition>,
) -> Response {
    if !weft_core::name::valid(&name) {
        return problem(
            Kind::InvalidRequest,
            format!("`{name}` is not a subscription name: 1 to 64 letters, digits, `-`, `_`"),
        );
    }
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
    if let Err(e) = app
        .hub
        .subscribe(&queue_of_subscription(&name), patterns, def.quota())
        .await
    {
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
pub async fn delete(State(app): State<AppState>, Path(name): Path<String>) -> Response {
    if app.subscriptions.configured.contains(&name) {
        return problem(
            Kind::Conflict,
            format!("subscription `{name}` is defined in the host config; remove it there"),
        );
    }
    let mut defs = app.subscriptions.api.lock().await;
    if !defs.contains_key(&name) {
        return problem(Kind::NotFound, format!("no subscription `{name}`"));
    }
    let mut next = defs.clone();
    next.remove(&name);
    if let Err(e) = app.subscriptions.save(&next) {
        return problem(Kind::Internal, format!("cannot save: {e}"));
    }
    *defs = next;
    app.hub.unsubscribe(&queue_of_subscription(&name));
    let store = app.hub.store();
    let dropped = match store.queue_id(&queue_of_subscription(&name)) {
        Some(q) => ack_upto(store, q, u64::MAX).await.unwrap_or(0),
        None => 0,
    };
    Json(json!({ "deleted": name, "dropped": dropped })).into_response()
}

/// The queue of subscription `name`, if `access` may read it: admins, and tokens
/// whose tap grants cover the subscription's patterns (see `auth`).
fn queue_of(app: &AppState, access: &Access, name: &str) -> Result<QueueId, Box<Response>> {
    let queue = queue_of_subscription(name);
    let routes = app.hub.routes();
    let route = routes.iter().find(|r| r.name == queue);
    access
        .check_read(name, route.map(|r| &r.patterns))
        .map_err(|f| Box::new(f.into_response()))?;
    let routed = route.is_some();
    match app.hub.store().queue_id(&queue) {
        Some(q) if routed => Ok(q),
        _ => Err(Box::new(problem(
            Kind::NotFound,
            format!(
                "no subscription `{name}`: create it with PUT /v1/subscriptions/{name} or under [subscriptions] in the host config"
            ),
        ))),
    }
}

#[derive(Deserialize)]
pub struct PullQuery {
    #[serde(default = "hundred")]
    max: usize,
}

pub async fn pull(
    State(app): State<AppState>,
    Extension(access): Extension<Access>,
    Path(name): Path<String>,
    Query(q): Query<PullQuery>,
) -> Response {
    let queue = match queue_of(&app, &access, &name) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    match app.hub.store().peek(queue, q.max.clamp(1, 10_000)) {
        Ok(batch) => {
            let events: Vec<_> = batch
                .iter()
                .map(|d| delivery_json(d.seq, &d.payload))
                .collect();
            Json(json!({ "subscription": name, "events": events })).into_response()
        }
        Err(e) => problem(Kind::Internal, e.to_string()),
    }
}

fn delivery_json(seq: u64, payload: &[u8]) -> serde_json::Value {
    match weft_core::Event::decode(payload) {
        Ok(e) => json!({ "seq": seq, "event": cloudevents::to_json(&e) }),
        Err(e) => json!({ "seq": seq, "unreadable": e.to_string() }),
    }
}

#[derive(Deserialize)]
pub struct AckQuery {
    upto: u64,
}

pub async fn ack(
    State(app): State<AppState>,
    Extension(access): Extension<Access>,
    Path(name): Path<String>,
    Query(q): Query<AckQuery>,
) -> Response {
    let queue = match queue_of(&app, &access, &name) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    match ack_upto(app.hub.store(), queue, q.upto).await {
        Ok(n) => Json(json!({ "acknowledged": n })).into_response(),
        Err(e) => problem(Kind::Unavailable, e.to_string()),
    }
}

/// Removes a queue's entries up to and including `upto`; returns how many.
async fn ack_upto(store: &Store, queue: QueueId, upto: u64) -> Result<usize, weft_store::Error> {
    let mut removed = 0;
    loop {
        let batch = store.head_seqs(queue, 1000)?;
        let seqs: Vec<u64> = batch.iter().copied().filter(|s| *s <= upto).collect();
        if seqs.is_empty() {
            return Ok(removed);
        }
        let done = seqs.len() < batch.len();
        removed += seqs.len();
        store
            .complete(Completion {
                queue,
                consumed: seqs,
                ..Default::default()
            })
            .await?;
        if done {
            return Ok(removed);
        }
    }
}

/// `GET /v1/subscriptions/{name}/stream`: server-sent events, `id` = the event's
/// sequence in the subscription. A reconnect with `Last-Event-ID: N` acknowledges
/// up to N and resumes after it.
pub async fn stream(
    State(app): State<AppState>,
    Extension(access): Extension<Access>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let queue = match queue_of(&app, &access, &name) {
        Ok(q) => q,
        Err(r) => return *r,
    };
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let mut cursor = None;
    if let Some(last) = last {
        let Ok(n) = last.parse::<u64>() else {
            return problem(
                Kind::InvalidRequest,
                format!("Last-Event-ID `{last}` is not a sequence number this host sent"),
            );
        };
        if let Err(e) = ack_upto(app.hub.store(), queue, n).await {
            return problem(Kind::Unavailable, e.to_string());
        }
        cursor = Some(n);
    }
    let hub = app.hub.clone();
    let waker = hub.waker(queue);
    let events = futures::stream::unfold(
        (
            hub,
            waker,
            cursor,
            std::collections::VecDeque::<(u64, Vec<u8>)>::new(),
        ),
        move |(hub, waker, mut cursor, mut pending)| async move {
            loop {
                if let Some((seq, payload)) = pending.pop_front() {
                    cursor = Some(seq);
                    let data = delivery_json(seq, &payload)["event"].to_string();
                    let sse = SseEvent::default()
                        .id(seq.to_string())
                        .event("cloudevent")
                        .data(data);
                    return Some((Ok::<_, Infallible>(sse), (hub, waker, cursor, pending)));
                }
                let batch = hub.store().peek_after(queue, cursor, 1000).ok()?;
                pending.extend(batch.into_iter().map(|d| (d.seq, d.payload)));
                if pending.is_empty() {
                    tokio::select! {
                        _ = waker.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
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

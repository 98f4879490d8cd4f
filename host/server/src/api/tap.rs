//! `GET /v1/tap?pattern=P`: a live view of what is accepted, as server-sent events.
//! A tap consumes nothing and keeps nothing: a viewer too slow to keep up is told
//! how many events it missed rather than slowing the host down.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use weft_core::{Pattern, Topic, cloudevents};

use super::extract::{Expect, Query};
use super::state::AppState;
use crate::auth::Access;
use crate::problem::{Kind, problem};

#[derive(Deserialize)]
pub struct TapQuery {
    #[serde(default = "all")]
    pattern: String,
}

impl Expect for TapQuery {
    const WHAT: &'static str =
        "send `?pattern=P`, a topic pattern like `orders/>` (default `>`: everything)";
}

fn all() -> String {
    ">".into()
}

pub async fn tap(
    State(app): State<AppState>,
    Extension(access): Extension<Access>,
    Query(q): Query<TapQuery>,
) -> Response {
    let pattern = match Pattern::parse(&q.pattern) {
        Ok(p) => p,
        Err(e) => return problem(Kind::InvalidTopic, format!("bad tap pattern: {e}")),
    };
    if let Err(refused) = access.check_tap(&pattern) {
        return refused.into_response();
    }
    Sse::new(tap_stream(app.hub.tap(), TapFilter { pattern, access }))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// What a tap shows: topics matching its pattern that the caller's grants show.
struct TapFilter {
    pattern: Pattern,
    access: Access,
}

impl TapFilter {
    fn shows(&self, topic: &Topic) -> bool {
        self.pattern.matches(topic) && self.access.sees(topic)
    }
}

fn tap_stream(
    rx: tokio::sync::broadcast::Receiver<Arc<weft_core::Event>>,
    filter: TapFilter,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    futures::stream::unfold((rx, filter), |(mut rx, filter)| async move {
        loop {
            match rx.recv().await {
                Ok(event) => {
                    let Ok(topic) = Topic::parse(&event.topic) else {
                        continue;
                    };
                    if !filter.shows(&topic) {
                        continue;
                    }
                    let data = cloudevents::to_json(&event).to_string();
                    let sse = SseEvent::default()
                        .event("cloudevent")
                        .id(event.id.clone())
                        .data(data);
                    return Some((Ok(sse), (rx, filter)));
                }
                Err(RecvError::Lagged(n)) => {
                    let sse = SseEvent::default()
                        .event("lagged")
                        .data(json!({ "skipped": n }).to_string());
                    return Some((Ok(sse), (rx, filter)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TapQuery {
    /// A topic pattern (`orders/>`); default `>`, everything.
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

#[utoipa::path(get, path = "/v1/tap", tag = "events",
    params(TapQuery),
    responses((status = 200, description = "Server-sent events: `cloudevent` (the event as JSON) and `lagged` (how many this viewer missed)", content_type = "text/event-stream", body = String)))]
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
                    let data = cloudevents::to_json_text(&event, cloudevents::Form::LineSafe);
                    let mut sse = SseEvent::default().event("cloudevent");
                    // An SSE `id` cannot hold a line break or NUL (axum panics on one);
                    // ingest refuses such ids now, but one stored before must not
                    // break every tap: it goes out without the `id` line.
                    if !event.id.contains(['\r', '\n', '\0']) {
                        sse = sse.id(event.id.clone());
                    }
                    let sse = sse.data(data);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use futures::StreamExt;
    use weft_core::Event;

    use super::*;

    #[tokio::test]
    async fn an_event_whose_id_breaks_lines_is_shown_without_an_id_line() {
        let (tx, rx) = tokio::sync::broadcast::channel(4);
        let filter = TapFilter {
            pattern: Pattern::parse(">").unwrap(),
            access: Access::Open,
        };
        let stream = tap_stream(rx, filter);
        let mut stream = std::pin::pin!(stream);
        for id in ["bad\r\nid", "nul\0id", "fine"] {
            let event = Event {
                id: id.into(),
                source: "/s".into(),
                ty: "t".into(),
                subject: None,
                time: None,
                datacontenttype: None,
                dataschema: None,
                extensions: Vec::new(),
                topic: "x".into(),
                data: Some(b"{\r\n}".to_vec()),
                hops: 0,
                origin: None,
            };
            tx.send(Arc::new(event)).unwrap();
            // Building the SSE event is where axum would panic on such an id.
            let shown = stream.next().await.unwrap().unwrap();
            assert!(format!("{shown:?}").contains("cloudevent"));
        }
    }
}

//! Traces across hops: a `traceparent` sent with an event reaches the egress
//! sink two processors later as the W3C header, in the same trace.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::Value;
use weft_tests::{Host, eventually, example_manifest, guest, order, serve};

use crate::WEFT;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SENT_SPAN: &str = "00f067aa0ba902b7";

/// What the sink received: each request's `traceparent` and `tracestate`
/// headers and its body (a structured CloudEvent).
type Seen = Arc<Mutex<Vec<(Option<String>, Option<String>, Value)>>>;

async fn sink(State(seen): State<Seen>, headers: HeaderMap, body: String) {
    let header = |n| headers.get(n).map(|v| v.to_str().unwrap().to_owned());
    let event = serde_json::from_str(&body).unwrap_or(Value::Null);
    seen.lock()
        .unwrap()
        .push((header("traceparent"), header("tracestate"), event));
}

/// json-transform (orders/created -> orders/enriched), router (-> orders/routed/..)
/// and http-post to a sink on loopback, one event per request.
async fn traced_host(seen: Seen) -> Host {
    let addr = serve(Router::new().route("/events", post(sink)).with_state(seen)).await;
    let port = addr.port();
    let mut host = Host::new(WEFT);
    host.module(
        "transform",
        &guest("json-transform"),
        &example_manifest("json-transform"),
    );
    let router = example_manifest("router").replace(
        r#"subscribe = ["orders/valid"]"#,
        r#"subscribe = ["orders/enriched"]"#,
    );
    host.module("router", &guest("router"), &router);
    host.module(
        "poster",
        &guest("http-post"),
        &format!(
            "subscribe = [\"orders/routed/>\"]\n[http]\nallow = [\"http://127.0.0.1:{port}\"]\n\
             [delivery]\nbatch_max = 1\n[config]\nurl = \"http://127.0.0.1:{port}/events\"\n"
        ),
    );
    host.start().await;
    host
}

async fn publish(host: &Host, id: &str, headers: &[(&str, &str)]) {
    let mut request = host
        .http
        .post(host.url("/v1/events/orders/created"))
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/test")
        .header("ce-type", "order.created")
        .header("content-type", "application/json")
        .body(order(id, 10.0, "DE").to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let r = request.send().await.unwrap();
    assert_eq!(
        r.status().as_u16(),
        202,
        "{id}: {}",
        r.text().await.unwrap()
    );
}

/// The (traceparent header, tracestate header, event) the sink got for `id`.
fn received(seen: &Seen, id: &str) -> (Option<String>, Option<String>, Value) {
    let seen = seen.lock().unwrap();
    let found = seen.iter().find(|(_, _, e)| e["data"]["customer"] == id);
    found
        .cloned()
        .unwrap_or_else(|| panic!("{id} not delivered: {seen:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traceparent_reaches_the_egress_sink_two_modules_later_in_the_same_trace() {
    let seen: Seen = Arc::default();
    let host = traced_host(seen.clone()).await;
    let sent = format!("00-{TRACE}-{SENT_SPAN}-01");
    let sent = sent.as_str();
    // As the CloudEvents extension (binary mode), as the W3C header alone (what an
    // OpenTelemetry-instrumented client sends), malformed, and not at all.
    publish(
        &host,
        "ext",
        &[("ce-traceparent", sent), ("ce-tracestate", "vendor=1")],
    )
    .await;
    publish(
        &host,
        "w3c",
        &[("traceparent", sent), ("tracestate", "vendor=2")],
    )
    .await;
    let garbage = "00-NOT-A-TRACE-01";
    publish(
        &host,
        "bad",
        &[("ce-traceparent", garbage), ("traceparent", "zz")],
    )
    .await;
    publish(&host, "none", &[]).await;
    let s = seen.clone();
    assert!(
        eventually(Duration::from_secs(30), || s.lock().unwrap().len() >= 4).await,
        "all four delivered:\n{}",
        host.log()
    );
    for (id, state) in [("ext", "vendor=1"), ("w3c", "vendor=2")] {
        let (traceparent, tracestate, event) = received(&seen, id);
        let traceparent = traceparent.unwrap_or_else(|| panic!("{id}: no traceparent header"));
        let parts: Vec<&str> = traceparent.split('-').collect();
        assert_eq!(parts.len(), 4, "{traceparent}");
        assert_eq!(
            (parts[0], parts[1], parts[3]),
            ("00", TRACE, "01"),
            "{id}: same trace"
        );
        assert_eq!(parts[2].len(), 16, "{traceparent}");
        assert_ne!(parts[2], SENT_SPAN, "{id}: a span of its own");
        assert_eq!(tracestate.as_deref(), Some(state), "{id}");
        // The event itself carries the context, as a child of the input's.
        let ext = event["traceparent"].as_str().unwrap();
        assert!(ext.starts_with(&format!("00-{TRACE}-")), "{id}: {event}");
        assert_ne!(ext, sent, "{id}: each module call is a new span");
        assert_eq!(event["tracestate"], state, "{id}");
    }
    // A malformed context is accepted with the event, but not spread further.
    let (traceparent, tracestate, event) = received(&seen, "bad");
    assert_eq!((traceparent, tracestate), (None, None));
    assert!(event.get("traceparent").is_none(), "{event}");
    let (traceparent, _, event) = received(&seen, "none");
    assert_eq!(traceparent, None);
    assert!(event.get("traceparent").is_none(), "{event}");
    assert!(host.errors("poster").await.is_empty());
}

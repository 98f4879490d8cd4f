use serde_json::json;
use weft_tests::{Host, sink_config};

use crate::WEFT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_events_bad_topics_and_oversized_bodies_are_refused_and_change_nothing() {
    let mut host = Host::new(WEFT);
    host.config(&format!(
        "[ingest]\nmax_body = \"4KiB\"\n{}",
        sink_config("all", ">")
    ));
    host.start().await;
    let post = |path: &str| host.http.post(host.url(path));
    let ce = |r: reqwest::RequestBuilder| {
        r.header("ce-specversion", "1.0")
            .header("ce-id", "1")
            .header("ce-source", "/t")
            .header("ce-type", "t")
    };
    let check = |status: u16, want: u16, body: &serde_json::Value, needle: &str| {
        assert_eq!(status, want, "{body}");
        // Every error is an RFC 9457 problem: type, title, status, detail.
        assert!(
            body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("tag:weft,2026:problem/")),
            "{body}"
        );
        assert!(body["title"].is_string(), "{body}");
        assert_eq!(body["status"], want, "{body}");
        let msg = body["detail"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "`{needle}` not in: {msg}");
    };
    async fn send(r: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    let (s, b) = send(
        post("/v1/events/a")
            .header("ce-specversion", "1.0")
            .header("ce-source", "/t")
            .header("ce-type", "t")
            .body("{}"),
    )
    .await;
    check(s, 400, &b, "ce-id");
    let (s, b) = send(
        ce(post("/v1/events/a"))
            .header("ce-specversion", "0.3")
            .body("{}"),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = send(
        post("/v1/events/a")
            .header("content-type", "application/cloudevents+json")
            .body("{not json"),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let structured =
        json!({"specversion": "1.0", "id": "1", "source": "/t", "type": "t", "time": "yesterday"});
    let (s, b) = send(
        post("/v1/events/a")
            .header("content-type", "application/cloudevents+json")
            .body(structured.to_string()),
    )
    .await;
    check(s, 400, &b, "time");
    let (s, b) = send(
        post("/v1/events/a")
            .header("content-type", "application/cloudevents-batch+json")
            .body("[]"),
    )
    .await;
    assert_eq!(
        (s, &b),
        (202, &json!({ "accepted": [] })),
        "an empty batch is a batch"
    );
    let (s, b) = send(ce(post("/v1/events/a//b")).body("{}")).await;
    check(s, 400, &b, "empty level");
    let (s, b) = send(ce(post("/v1/events/a/*")).body("{}")).await;
    check(s, 400, &b, "wildcard");
    let (s, b) = send(ce(post("/v1/events/a.b")).body("{}")).await;
    check(s, 400, &b, "`.`");
    let big = "x".repeat(8 * 1024);
    let (s, _) = send(ce(post("/v1/events/a")).body(big)).await;
    assert_eq!(s, 413);

    assert!(host.drain("all").await.is_empty(), "nothing was stored");
    let (s, b) = send(
        ce(post("/v1/events/a"))
            .header("content-type", "application/json")
            .body("{}"),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(
        host.drain("all").await.len(),
        1,
        "a good event still goes through"
    );
}

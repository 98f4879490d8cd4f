//! The HTTP API in-process: `weft_server::run` on a loopback listener, with a
//! real store in a temp folder and no modules, so these tests need neither the
//! `weft` binary nor any guest. What needs modules runs end to end in tests/e2e.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use common::{Host, problem};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use weft_server::{HostConfig, Paths};

#[tokio::test]
async fn a_subscription_of_the_config_collects_and_hands_out_in_order() {
    let host = Host::start("[subscriptions.audit]\nsubscribe = [\"orders/>\"]\n").await;
    for (i, topic) in ["orders/a", "other/x", "orders/b"].iter().enumerate() {
        let (s, body) = host.publish(topic, &format!("e{i}"), "{}").await;
        assert_eq!(s, 202, "{body}");
        assert_eq!(body["accepted"][0]["id"], format!("e{i}"));
    }
    let (s, body) = host.get("/v1/subscriptions/audit/events?max=10").await;
    assert_eq!(s, 200, "{body}");
    let events = body["events"].as_array().unwrap();
    let ids: Vec<_> = events.iter().map(|e| e["event"]["id"].clone()).collect();
    assert_eq!(ids, [json!("e0"), json!("e2")], "only its topics, in order");
    let first = events[0]["seq"].as_u64().unwrap();
    let r = host
        .http
        .post(host.url(&format!("/v1/subscriptions/audit/ack?upto={first}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["acknowledged"], 1);
    let (_, body) = host.get("/v1/subscriptions/audit/events").await;
    assert_eq!(body["events"][0]["event"]["id"], "e2");
    host.stop().await.unwrap();
}

#[tokio::test]
async fn errors_are_problems_that_say_what_to_do() {
    let host = Host::start("").await;
    let (s, body) = host.publish("a//b", "1", "{}").await;
    problem(s, &body, 400, "invalid-topic", "empty level");
    let r = host
        .http
        .post(host.url("/v1/events/a"))
        .header("ce-specversion", "1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "the problem media type"
    );
    let (s, body) = (r.status().as_u16(), r.json::<Value>().await.unwrap());
    problem(s, &body, 400, "invalid-event", "ce-id");
    let (s, body) = host.get("/v1/subscriptions/nobody/events").await;
    problem(s, &body, 404, "not-found", "PUT /v1/subscriptions/nobody");
    host.stop().await.unwrap();
}

#[tokio::test]
async fn a_host_with_tokens_refuses_callers_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("token");
    std::fs::write(&secret, "s3cret").unwrap();
    let host = Host::start(&format!(
        "[secrets]\nT = {{ file = {:?} }}\n[tokens.ci]\ntoken = {{ secret = \"T\" }}\npublish = [\"a\"]\n",
        secret.display().to_string()
    ))
    .await;
    let (s, body) = host.publish("a", "1", "{}").await;
    problem(s, &body, 401, "unauthorized", "Authorization: Bearer");
    let r = host
        .http
        .get(host.url("/v1/status"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    let (s, body) = (r.status().as_u16(), r.json::<Value>().await.unwrap());
    problem(s, &body, 403, "forbidden", "admin = true");
    let (s, _) = host.get("/healthz").await;
    assert_eq!(s, 200, "probes stay open");
    host.stop().await.unwrap();
}

#[tokio::test]
async fn run_itself_refuses_an_open_api_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let config = HostConfig::default().with_paths(Paths {
        modules: dir.path().join("modules"),
        data: dir.path().join("data"),
        cache: None,
    });
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let err = weft_server::run(config, listener, std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("without API tokens"), "{err}");
    assert!(
        !dir.path().join("data").exists(),
        "refused before anything was created"
    );
}

#[tokio::test]
async fn status_shows_subscriptions_and_the_store() {
    let host = Host::start("[subscriptions.audit]\nsubscribe = [\">\"]\n").await;
    host.publish("x", "1", "{}").await;
    let (s, body) = host.get("/v1/status").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["engine"], "redb");
    assert_eq!(body["subscriptions"][0]["name"], "audit");
    assert_eq!(body["subscriptions"][0]["queue_depth"], 1);
    assert!(body["modules"].as_array().unwrap().is_empty());
    host.stop().await.unwrap();
}

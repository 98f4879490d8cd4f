use std::time::Duration;

use serde_json::{Value, json};
use weft_tests::{Host, guest, manifest, sink_config};

use crate::WEFT;

/// Publishes text events in one batch request (`application/cloudevents-batch+json`).
pub(crate) async fn publish_batch(host: &Host, topic: &str, texts: &[&str]) {
    let batch: Vec<Value> = texts
        .iter()
        .map(|t| {
            json!({ "specversion": "1.0", "id": t, "source": "/d", "type": "t",
                         "datacontenttype": "text/plain", "data": t })
        })
        .collect();
    let r = host
        .http
        .post(host.url(&format!("/v1/events/{topic}")))
        .header("content-type", "application/cloudevents-batch+json")
        .body(Value::from(batch).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap());
}

weft_tests::both_engines!(
    a_retry_keeps_order_and_commits_what_came_before,
    a_retry_keeps_order_and_commits_what_came_before
);
async fn a_retry_keeps_order_and_commits_what_came_before(engine: &str) {
    let mut host = Host::new(WEFT).on_engine(engine);
    host.module(
        "echo",
        &guest("echo"),
        &manifest(
            "in",
            "out",
            "[delivery]\nretry = { attempts = 3, initial = \"50ms\" }",
        ),
    );
    host.config(&sink_config("out", "out"));
    host.start().await;
    publish_batch(&host, "in", &["e0", "e1", "retry-once", "e3", "e4"]).await;
    let out = host.collect("out", 5, Duration::from_secs(30)).await;
    let data: Vec<&str> = out.iter().map(|e| e["data"].as_str().unwrap()).collect();
    assert_eq!(
        data,
        ["e0", "e1", "retry-once", "e3", "e4"],
        "{}",
        host.log()
    );
    assert!(host.log().contains("will retry"), "the retry was logged");
    assert!(host.errors("echo").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_run_out_into_the_error_queue_and_later_events_still_flow() {
    let mut host = Host::new(WEFT);
    host.module("echo", &guest("echo"), &manifest("in", "out", ""));
    host.module(
        "trap",
        &guest("trap"),
        &manifest(
            "in",
            "out",
            "[delivery]\nretry = { attempts = 2, initial = \"20ms\" }",
        ),
    );
    host.config(&sink_config("out", "out"));
    host.start().await;
    publish_batch(&host, "in", &["a", "boom", "b", "reject"]).await;
    // echo passes a, boom, b and rejects `reject`; trap traps on `boom` twice, then gives up.
    let errors = host.wait_errors("trap", 1, Duration::from_secs(30)).await;
    let record = &errors[0]["record"];
    assert_eq!(record["attempts"], 2, "{record}");
    assert!(
        record["reason"]
            .as_str()
            .unwrap()
            .starts_with("gave up after 2 attempts"),
        "{record}"
    );
    assert_eq!(record["event"]["data"], "boom");
    let echo_errors = host.wait_errors("echo", 1, Duration::from_secs(30)).await;
    assert_eq!(echo_errors[0]["record"]["reason"], "rejected by request");
    let out = host.collect("out", 6, Duration::from_secs(30)).await;
    let mut data: Vec<&str> = out.iter().map(|e| e["data"].as_str().unwrap()).collect();
    data.sort();
    assert_eq!(
        data,
        ["a", "a", "b", "b", "boom", "reject"],
        "{}",
        host.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_output_gets_its_own_derived_id() {
    let mut host = Host::new(WEFT);
    host.module("multi", &guest("multi"), &manifest("in", "out", ""));
    host.config(&sink_config("out", "out"));
    host.start().await;
    publish_batch(&host, "in", &["x"]).await;
    let out = host.collect("out", 3, Duration::from_secs(30)).await;
    let data: Vec<&str> = out.iter().map(|e| e["data"].as_str().unwrap()).collect();
    assert_eq!(data, ["x#0", "x#1", "x#2"]);
    let mut ids: Vec<&str> = out.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(!ids.contains(&"x"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_lanes_keep_order_per_key() {
    let mut host = Host::new(WEFT);
    host.module(
        "echo",
        &guest("echo"),
        &manifest("in", "out", "[delivery]\nworkers = 4\nkey = \"subject\"\nretry = { attempts = 5, initial = \"20ms\" }"),
    );
    host.config(&sink_config("out", "out"));
    host.start().await;
    let batch: Vec<Value> = (0..200)
        .map(|i| {
            let data = if i == 50 { "retry-once".to_owned() } else { format!("{}", i) };
            json!({ "specversion": "1.0", "id": format!("e{i}"), "source": "/lanes", "type": "t",
                    "subject": format!("k{}", i % 8), "datacontenttype": "text/plain", "data": data })
        })
        .collect();
    let r = host
        .http
        .post(host.url("/v1/events/in"))
        .header("content-type", "application/cloudevents-batch+json")
        .body(Value::from(batch).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let out = host.collect("out", 200, Duration::from_secs(60)).await;
    assert_eq!(out.len(), 200, "{}", host.log());
    let mut per_key: std::collections::BTreeMap<String, Vec<u32>> = Default::default();
    for e in &out {
        let n = match e["data"].as_str().unwrap() {
            "retry-once" => 50,
            s => s.parse().unwrap(),
        };
        per_key
            .entry(e["subject"].as_str().unwrap().to_owned())
            .or_default()
            .push(n);
    }
    assert_eq!(per_key.len(), 8);
    for (key, ns) in per_key {
        let mut sorted = ns.clone();
        sorted.sort();
        assert_eq!(ns, sorted, "order kept for subject {key}");
    }
}

//! Work shared across hosts: one import group, one host killed midway.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use weft_tests::{Host, manifest};

use super::{client, count, host, linked, mesh, read_stream, server};

const EVENTS: usize = 10_000;
const PER_REQUEST: usize = 200;

/// Publishes events `ids` in batches (CloudEvents batch mode); panics on a refusal.
async fn publish_all(a: &Host, ids: &[String]) {
    for chunk in ids.chunks(PER_REQUEST) {
        let batch: Vec<Value> = chunk
            .iter()
            .map(|id| {
                json!({"specversion": "1.0", "id": id, "source": "/shop", "type": "order", "data": id})
            })
            .collect();
        let r = a
            .http
            .post(a.url("/v1/events/orders/created"))
            .header("content-type", "application/cloudevents-batch+json")
            .body(Value::Array(batch).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_in_a_group_share_the_work_and_each_output_is_on_the_stream_once() {
    let nats = server().await;
    let servers = [nats.url()];
    let mut a = host(
        &mesh(
            &servers,
            "a",
            "duplicate_window = \"10m\"\n[mesh.export]\ntopics = [\"orders/>\"]\n",
        ),
        &[],
    );
    let worker = |name: &str| {
        host(
            &mesh(
                &servers,
                name,
                "duplicate_window = \"10m\"\n[mesh.import.orders]\ntopics = [\"orders/>\"]\ngroup = \"workers\"\nstart = \"all\"\nack_wait = \"3s\"\n[mesh.export]\ntopics = [\"done/>\"]\n",
            ),
            &[("echo", &manifest("orders/created", "done/orders", ""))],
        )
    };
    let mut workers = [worker("w1"), worker("w2"), worker("w3")];
    a.start().await;
    for w in &mut workers {
        w.start().await;
    }
    linked(&a).await;
    for w in &workers {
        linked(w).await;
    }
    let ids: Vec<String> = (0..EVENTS).map(|i| format!("o{i}")).collect();
    publish_all(&a, &ids[..EVENTS / 2]).await;
    // One worker dies midway, holding whatever it had fetched.
    let js = client(&nats.url()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while count(&js, "WEFT", "weft.done.>").await < (EVENTS / 4) as u64
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    workers[1].kill9();
    publish_all(&a, &ids[EVENTS / 2..]).await;
    // The others take over what it held after the ack wait.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while count(&js, "WEFT", "weft.done.>").await < EVENTS as u64
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // It comes back and drains its outbox: what it had made is already there.
    workers[1].start().await;
    linked(&workers[1]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        count(&js, "WEFT", "weft.done.>").await,
        EVENTS as u64,
        "every event handled, every output once on the stream"
    );
    let outputs = read_stream(&js, "WEFT", "weft.done.>", EVENTS, Duration::from_secs(30)).await;
    let msg_ids: BTreeSet<String> = outputs
        .iter()
        .map(|(_, h, _)| {
            h.get("Nats-Msg-Id")
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(msg_ids.len(), EVENTS);
    let handled: BTreeSet<String> = outputs
        .iter()
        .map(|(_, _, p)| {
            let e: Value = serde_json::from_slice(p).unwrap();
            e["data"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    let want: BTreeSet<String> = ids.into_iter().collect();
    assert_eq!(handled, want, "each input's output is there");
    let shares: Vec<u64> = {
        let mut v = Vec::new();
        for w in &workers {
            let s = w.get("/v1/status").await;
            v.push(s["mesh"]["imports"][0]["imported"].as_u64().unwrap_or(0));
        }
        v
    };
    assert!(
        shares[0] > 0 && shares[2] > 0,
        "the work was shared: {shares:?}"
    );
    a.terminate();
    for w in &mut workers {
        w.terminate();
    }
}

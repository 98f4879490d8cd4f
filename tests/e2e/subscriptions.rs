use std::time::Duration;

use futures::StreamExt as _;
use serde_json::{Value, json};
use weft_tests::Host;

use crate::WEFT;

/// Reads `n` server-sent events from a subscription's stream: (id, event).
async fn read_stream(host: &Host, last_event_id: Option<u64>, n: usize) -> Vec<(u64, Value)> {
    let mut req = host.http.get(host.url("/v1/subscriptions/audit/stream"));
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id.to_string());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut body = resp.bytes_stream();
    let (mut buf, mut out, mut id) = (String::new(), Vec::new(), None);
    let read = async {
        while out.len() < n {
            let chunk = body.next().await.unwrap().unwrap();
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(pos) = buf.find('\n') {
                let line: String = buf.drain(..=pos).collect();
                let line = line.trim_end();
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().parse::<u64>().unwrap());
                } else if let Some(v) = line.strip_prefix("data:") {
                    out.push((id.unwrap(), serde_json::from_str(v.trim()).unwrap()));
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the stream delivered in time");
    out
}

async fn publish_orders(host: &Host, range: std::ops::Range<usize>) {
    for i in range {
        assert_eq!(
            host.publish("orders/created", &format!("o{i}"), &json!({ "n": i }))
                .await
                .0,
            202
        );
    }
}

fn numbers(events: &[(u64, Value)]) -> Vec<u64> {
    events
        .iter()
        .map(|(_, e)| e["data"]["n"].as_u64().unwrap())
        .collect()
}

weft_tests::both_engines!(
    an_outside_consumer_that_goes_away_gets_everything_in_order_when_it_returns,
    an_outside_consumer_that_goes_away_gets_everything_in_order_when_it_returns
);
async fn an_outside_consumer_that_goes_away_gets_everything_in_order_when_it_returns(engine: &str) {
    let mut host = Host::new(WEFT).on_engine(engine);
    host.start().await;
    let put = |name: &str, body: Value| {
        host.http
            .put(host.url(&format!("/v1/subscriptions/{name}")))
            .json(&body)
            .send()
    };
    assert_eq!(
        put("audit", json!({"subscribe": ["orders/>"]}))
            .await
            .unwrap()
            .status()
            .as_u16(),
        201
    );
    assert_eq!(
        put("audit", json!({"subscribe": ["orders/>"]}))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        put("bad name", json!({"subscribe": ["x"]}))
            .await
            .unwrap()
            .status()
            .as_u16(),
        400
    );
    assert_eq!(
        put("x", json!({"subscribe": ["a//b"]}))
            .await
            .unwrap()
            .status()
            .as_u16(),
        400
    );

    publish_orders(&host, 0..3).await;
    let first = read_stream(&host, None, 3).await;
    assert_eq!(numbers(&first), [0, 1, 2]);
    let last_seen = first[2].0;

    // The consumer is away; events keep coming, and the host even restarts.
    publish_orders(&host, 3..6).await;
    assert!(host.terminate().success());
    host.start().await;
    publish_orders(&host, 6..10).await;

    // Back: resume after what it saw, which acknowledges it.
    let rest = read_stream(&host, Some(last_seen), 7).await;
    assert_eq!(
        numbers(&rest),
        [3, 4, 5, 6, 7, 8, 9],
        "everything, in order, nothing twice"
    );

    // Pull sees the same unacknowledged events; acknowledging empties the queue.
    let page = host.get("/v1/subscriptions/audit/events?max=100").await;
    let pulled: Vec<u64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["data"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(pulled, [3, 4, 5, 6, 7, 8, 9]);
    let upto = rest.last().unwrap().0;
    host.http
        .post(host.url(&format!("/v1/subscriptions/audit/ack?upto={upto}")))
        .send()
        .await
        .unwrap();
    assert!(host.drain("audit").await.is_empty());

    let deleted = host
        .http
        .delete(host.url("/v1/subscriptions/audit"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 200);
    let gone = host
        .http
        .get(host.url("/v1/subscriptions/audit/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_never_acknowledges_still_gets_everything() {
    let mut host = Host::new(WEFT);
    host.config("[subscriptions.audit]\nsubscribe = [\"orders/>\"]\n");
    host.start().await;
    for chunk in 0..3 {
        let batch: Vec<Value> = (chunk * 500..(chunk + 1) * 500)
            .map(|n| json!({"specversion": "1.0", "id": format!("o{n}"), "source": "/s", "type": "t", "data": { "n": n }}))
            .collect();
        let r = host
            .http
            .post(host.url("/v1/events/orders/created"))
            .header("content-type", "application/cloudevents-batch+json")
            .body(Value::from(batch).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
    }
    let got = read_stream(&host, None, 1500).await;
    let want: Vec<u64> = (0..1500).collect();
    assert_eq!(
        numbers(&got),
        want,
        "past the first page of unacknowledged events, in order"
    );
}

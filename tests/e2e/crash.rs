use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use weft_tests::{Host, guest, manifest, sink_config};

use crate::WEFT;

fn echo_host() -> Host {
    let host = Host::new(WEFT);
    host.module("echo", &guest("echo"), &manifest("in/>", "out/x", ""));
    host.config(&sink_config("out", "out/>"));
    host
}

/// Starts `n` publishers that send numbered events until the host stops answering;
/// each records the ids that got a 202.
fn publishers(
    host: &Host,
    n: usize,
) -> (Vec<tokio::task::JoinHandle<()>>, Arc<Mutex<Vec<String>>>) {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let tasks = (0..n)
        .map(|p| {
            let (http, url, acked) = (
                host.http.clone(),
                host.url("/v1/events/in/x"),
                acked.clone(),
            );
            tokio::spawn(async move {
                for i in 0..100_000 {
                    let id = format!("p{p}-{i}");
                    let r = http
                        .post(&url)
                        .header("ce-specversion", "1.0")
                        .header("ce-id", &id)
                        .header("ce-source", "/crash")
                        .header("ce-type", "t")
                        .header("content-type", "application/json")
                        .body(json!({ "n": id }).to_string())
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().as_u16() == 202 => acked.lock().unwrap().push(id),
                        _ => return,
                    }
                }
            })
        })
        .collect();
    (tasks, acked)
}

/// Every output's `n`, checking that none appears twice.
fn outputs_once(out: &[serde_json::Value]) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut ids = HashSet::new();
    for e in out {
        let n = e["data"]["n"].as_str().unwrap().to_owned();
        assert!(
            ids.insert(e["id"].as_str().unwrap().to_owned()),
            "output {e} appears twice"
        );
        assert!(
            seen.insert(n.clone()),
            "input {n} was processed into two outputs"
        );
    }
    seen
}

weft_tests::both_engines!(
    acknowledged_events_survive_sigkill_and_are_processed_once,
    acknowledged_events_survive_sigkill_and_are_processed_once
);
async fn acknowledged_events_survive_sigkill_and_are_processed_once(engine: &str) {
    let mut host = echo_host().on_engine(engine);
    host.start().await;
    let (tasks, acked) = publishers(&host, 8);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    host.kill9();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "too few events got through before the kill: {}",
        acked.len()
    );

    host.start().await;
    let out = host
        .collect("out", acked.len(), Duration::from_secs(120))
        .await;
    let seen = outputs_once(&out);
    let missing: Vec<&String> = acked.iter().filter(|id| !seen.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_work_and_exits_cleanly() {
    let mut host = echo_host();
    host.start().await;
    for i in 0..200 {
        assert_eq!(
            host.publish("in/x", &format!("t{i}"), &json!({ "n": format!("t{i}") }))
                .await
                .0,
            202
        );
    }
    let status = host.terminate();
    assert!(
        status.success(),
        "weft exited with {status}:\n{}",
        host.log()
    );
    assert!(host.log().contains("stopped"), "{}", host.log());

    host.start().await;
    let out = host.collect("out", 200, Duration::from_secs(60)).await;
    let seen = outputs_once(&out);
    assert_eq!(seen.len(), 200);
}

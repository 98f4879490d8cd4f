//! Tiered compilation: a new version serves from Winch's code first, and
//! Cranelift's is swapped in as the same version (`tiered_up`), with no event
//! lost or repeated; both are cached, so a restart serves Cranelift's at once.

use std::time::Duration;

use serde_json::{Value, json};
use weft_tests::{Host, guest, manifest, sink_config};

use crate::WEFT;

fn module(status: &Value) -> Value {
    status["modules"][0].clone()
}

fn actions(m: &Value) -> Vec<String> {
    m["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_module_serves_from_winch_then_tiers_up_to_cranelift() {
    let mut host = Host::new(WEFT);
    let cache = host.dir.path().join("own-cache");
    host.cache_dir(cache.clone());
    host.config(&format!(
        "[modules]\ntiered = true\n{}",
        sink_config("out", "out")
    ));
    host.module("echo", &guest("echo"), &manifest("in", "out", ""));
    host.start().await;
    let first = module(&host.get("/v1/status").await);
    assert_eq!(actions(&first)[0], "loaded");
    for i in 0..20 {
        let (code, _) = host.publish("in", &format!("e{i}"), &json!({"n": i})).await;
        assert_eq!(code, 202);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut last = Value::Null;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut tiered = false;
    while !tiered && std::time::Instant::now() < deadline {
        last = module(&host.get("/v1/status").await);
        tiered = actions(&last).contains(&"tiered_up".to_owned());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(tiered, "no tier-up: {last}\n{}", host.log());
    let up = last["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["action"] == "tiered_up")
        .unwrap()
        .clone();
    assert_eq!(up["version"], first["version"], "the same version");
    assert_eq!(up["from"], first["version"]);
    assert_eq!(last["state"], "running", "no probation for the same code");
    assert_eq!(last["compiler"], "cranelift");
    for i in 20..30 {
        host.publish("in", &format!("e{i}"), &json!({"n": i})).await;
    }
    let got = host.collect("out", 30, Duration::from_secs(30)).await;
    let ns: Vec<i64> = got
        .iter()
        .map(|e| e["data"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, (0..30).collect::<Vec<_>>(), "each event once, in order");
    assert!(host.log().contains("module swapped"), "{}", host.log());

    // Both tiers are cached: after a restart Cranelift's code serves at once.
    host.terminate();
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        2,
        "two cache entries"
    );
    host.start().await;
    let again = module(&host.get("/v1/status").await);
    assert_eq!(again["compiler"], "cranelift");
    assert!(!actions(&again).iter().any(|a| a == "tiered_up"), "{again}");
}

use std::time::Duration;

use serde_json::json;
use weft_tests::{Host, guest, manifest, sink_config};

use crate::WEFT;

/// One attempt, so a failing event goes straight to the error queue.
const ONCE: &str = "[delivery]\nretry = { attempts = 1 }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trapping_looping_and_memory_hungry_modules_fail_alone() {
    let mut host = Host::new(WEFT);
    host.module("trap", &guest("trap"), &manifest("t/in", "t/out", ONCE));
    host.module(
        "busy-loop",
        &guest("busy-loop"),
        &manifest(
            "b/in",
            "b/out",
            &format!("[limits]\ncall_timeout = \"200ms\"\n{ONCE}"),
        ),
    );
    host.module(
        "memory-bomb",
        &guest("memory-bomb"),
        &manifest(
            "m/in",
            "m/out",
            &format!("[limits]\nmemory = \"16MiB\"\n{ONCE}"),
        ),
    );
    host.module("echo", &guest("echo"), &manifest("e/in", "e/out", ""));
    host.config(&sink_config("out", "*/out"));
    host.start().await;

    for (topic, poison) in [("t/in", "boom"), ("b/in", "spin"), ("m/in", "grow")] {
        assert_eq!(
            host.publish(topic, &format!("{topic}-bad"), &json!(poison))
                .await
                .0,
            202
        );
        assert_eq!(
            host.publish(topic, &format!("{topic}-good"), &json!("fine"))
                .await
                .0,
            202
        );
    }
    assert_eq!(host.publish("e/in", "e-good", &json!("fine")).await.0, 202);

    let out = host.collect("out", 4, Duration::from_secs(60)).await;
    let mut topics: Vec<String> = out
        .iter()
        .map(|e| e["topic"].as_str().unwrap().to_owned())
        .collect();
    topics.sort();
    assert_eq!(
        topics,
        ["b/out", "e/out", "m/out", "t/out"],
        "{}",
        host.log()
    );

    let reason = |module: &'static str| {
        let host = &host;
        async move {
            let e = host.wait_errors(module, 1, Duration::from_secs(30)).await;
            assert_eq!(e.len(), 1, "{module}: {e:?}");
            e[0]["record"]["reason"].as_str().unwrap().to_owned()
        }
    };
    let trap = reason("trap").await;
    assert!(
        trap.contains("trap") || trap.contains("unreachable"),
        "{trap}"
    );
    let spin = reason("busy-loop").await;
    assert!(spin.contains("time budget"), "{spin}");
    let grow = reason("memory-bomb").await;
    assert!(!grow.is_empty(), "{grow}");
    assert!(host.errors("echo").await.is_empty());
    let health = host.http.get(host.url("/healthz")).send().await.unwrap();
    assert!(health.status().is_success(), "the host is still alive");
}

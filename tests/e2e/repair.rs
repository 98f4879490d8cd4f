use std::process::Command;
use std::time::Duration;

use serde_json::json;
use weft_tests::{Host, guest, manifest, sink_config};

use crate::WEFT;
use crate::delivery::publish_batch;

fn weft(args: &[&str]) -> (bool, String) {
    let out = Command::new(WEFT).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

weft_tests::both_engines!(
    a_poison_event_fails_after_its_attempts_and_replays_after_the_fix,
    a_poison_event_fails_after_its_attempts_and_replays_after_the_fix
);
async fn a_poison_event_fails_after_its_attempts_and_replays_after_the_fix(engine: &str) {
    let retry = "[delivery]\nretry = { attempts = 3, initial = \"10ms\", max = \"50ms\" }";
    let mut host = Host::new(WEFT).on_engine(engine);
    host.module("orders", &guest("trap"), &manifest("in", "out", retry));
    host.config(&sink_config("out", "out"));
    host.start().await;
    publish_batch(&host, "in", &["a", "boom-1", "b"]).await;

    let errors = host.wait_errors("orders", 1, Duration::from_secs(30)).await;
    let record = &errors[0]["record"];
    assert_eq!(
        record["attempts"], 3,
        "exactly the configured attempts: {record}"
    );
    assert_eq!(record["status"], "failed");
    assert!(
        record["reason"]
            .as_str()
            .unwrap()
            .starts_with("gave up after 3 attempts")
    );
    let seq = errors[0]["seq"].as_u64().unwrap();
    let out = host.collect("out", 2, Duration::from_secs(30)).await;
    let data: Vec<&str> = out.iter().map(|e| e["data"].as_str().unwrap()).collect();
    assert_eq!(data, ["a", "b"], "the queue moved on past the poison event");

    // The fix: a new version of module `orders` that does not trap.
    assert!(host.terminate().success());
    host.module("orders", &guest("echo"), &manifest("in", "out", retry));
    host.start().await;
    let url = host.url("");
    let (ok, listed) = weft(&["errors", "list", "--host", &url]);
    assert!(
        ok && listed.contains("orders") && listed.contains("gave up after 3 attempts"),
        "{listed}"
    );

    let (ok, replayed) = weft(&[
        "errors",
        "replay",
        "--module",
        "orders",
        "--set",
        "subject=fixed",
        "--host",
        &url,
    ]);
    assert!(ok, "{replayed}");
    let out = host.collect("out", 1, Duration::from_secs(30)).await;
    assert_eq!(out.len(), 1, "{}", host.log());
    assert_eq!(out[0]["data"], "boom-1");
    assert_eq!(out[0]["subject"], "fixed");
    assert_eq!(out[0]["weftreplays"], 1, "a CloudEvents Integer");

    let shown = host.get(&format!("/v1/errors/orders/{seq}")).await;
    assert_eq!(
        shown["record"]["status"], "replayed",
        "the record is kept: {shown}"
    );
    let changes = shown["record"]["history"][0]["changes"].to_string();
    assert!(changes.contains("subject"), "{shown}");
    let again = host
        .http
        .post(host.url("/v1/errors/replay"))
        .json(&json!({"module": "orders"}))
        .send()
        .await
        .unwrap();
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(
        again["replayed"],
        json!([]),
        "a replayed record is not replayed twice"
    );

    let unconfirmed = host
        .http
        .post(host.url("/v1/errors/purge"))
        .json(&json!({"module": "orders"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unconfirmed.status().as_u16(), 400);
    assert!(unconfirmed.text().await.unwrap().contains("confirm"));
    let (ok, purged) = weft(&[
        "errors", "purge", "--module", "orders", "--yes", "--host", &url,
    ]);
    assert!(ok && purged.contains("purged 1"), "{purged}");
    assert!(host.errors("orders").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_one_event_stops_at_the_replay_limit() {
    let mut host = Host::new(WEFT);
    host.module(
        "t",
        &guest("trap"),
        &manifest("in", "out", "[delivery]\nretry = { attempts = 1 }"),
    );
    host.config("[errors]\nmax_replays = 2\n");
    host.start().await;
    publish_batch(&host, "in", &["boom"]).await;
    let replay = || async {
        let r = host
            .http
            .post(host.url("/v1/errors/replay"))
            .json(&json!({"module": "t"}))
            .send()
            .await
            .unwrap();
        r.json::<serde_json::Value>().await.unwrap()
    };
    for round in 1..=2 {
        host.wait_errors("t", round, Duration::from_secs(30)).await;
        let report = replay().await;
        assert_eq!(
            report["replayed"].as_array().unwrap().len(),
            1,
            "round {round}: {report}"
        );
    }
    let errors = host.wait_errors("t", 3, Duration::from_secs(30)).await;
    assert_eq!(errors[2]["record"]["replays"], 2);
    let report = replay().await;
    assert_eq!(report["replayed"], json!([]));
    assert!(
        report["refused"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("already replayed 2 times"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_records_expire_after_their_retention() {
    let mut host = Host::new(WEFT);
    host.module(
        "t",
        &guest("trap"),
        &manifest("in", "out", "[delivery]\nretry = { attempts = 1 }"),
    );
    host.config("[errors]\nretention = \"1s\"\n");
    host.start().await;
    publish_batch(&host, "in", &["boom"]).await;
    assert_eq!(
        host.wait_errors("t", 1, Duration::from_secs(30))
            .await
            .len(),
        1
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !host.errors("t").await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the record outlived its retention"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_error_queue_pauses_the_module_instead_of_dropping_failures() {
    let mut host = Host::new(WEFT);
    host.module(
        "t",
        &guest("trap"),
        &manifest(
            "in",
            "out",
            "[delivery]\nretry = { attempts = 1 }\nbatch_max = 1",
        ),
    );
    host.config(&format!(
        "[errors]\nmax_records = 2\n{}",
        sink_config("out", "out")
    ));
    host.start().await;
    publish_batch(&host, "in", &["boom1", "boom2", "boom3", "fine"]).await;
    assert_eq!(
        host.wait_errors("t", 2, Duration::from_secs(30))
            .await
            .len(),
        2
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        host.errors("t").await.len(),
        2,
        "no third record past the limit"
    );
    let status = host.get("/v1/status").await;
    assert_eq!(
        status["modules"][0]["queue_depth"], 2,
        "boom3 and fine wait in order: {status}"
    );
    assert!(host.drain("out").await.is_empty());

    let purged = host
        .http
        .post(host.url("/v1/errors/purge"))
        .json(&json!({"module": "t", "confirm": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(purged.status().as_u16(), 200);
    let errors = host.wait_errors("t", 1, Duration::from_secs(30)).await;
    assert_eq!(errors[0]["record"]["event"]["data"], "boom3");
    let out = host.collect("out", 1, Duration::from_secs(30)).await;
    assert_eq!(out[0]["data"], "fine");
}

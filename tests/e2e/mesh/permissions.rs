//! Each host its own NATS user: the shipped example configuration, a subject it
//! may not publish to, then the permission granted and the events replayed.

use std::time::Duration;

use serde_json::json;
use weft_tests::repo_root;

use super::{count, host, linked, mesh, mesh_status, server_with};

/// The example accounts (mesh/nats/hosts.conf), with edge-a's exported subjects
/// widened by `grant`, plus a user for the test's own reads.
fn accounts(grant: &str) -> String {
    let example = std::fs::read_to_string(repo_root().join("mesh/nats/hosts.conf"))
        .expect("the shipped example configuration");
    let example = example.replace(
        "              \"weft.orders.>\",\n",
        &format!("              \"weft.orders.>\",\n{grant}"),
    );
    // The test reads the stream as a user of the same account with no limits.
    example.replace(
        "    users: [\n",
        "    users: [\n      { user: \"probe\", password: \"probe\" }\n",
    )
}

async fn probe(url: &str) -> async_nats::jetstream::Context {
    let client = async_nats::ConnectOptions::with_user_and_password("probe".into(), "probe".into())
        .connect(url)
        .await
        .expect("the probe user connects");
    async_nats::jetstream::new(client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_subject_waits_in_the_error_queue_until_granted_and_replayed() {
    let nats = server_with(&accounts("")).await;
    let servers = [nats.url()];
    let mut a = host(
        &format!(
            "[secrets]\nNATS = {{ env = \"WEFT_TEST_NATS_PASSWORD\" }}\n{}",
            mesh(
                &servers,
                "edge-a",
                "user = \"edge-a\"\npassword = { secret = \"NATS\" }\n[mesh.export]\ntopics = [\">\"]\n"
            )
        ),
        &[],
    );
    a.env("WEFT_TEST_NATS_PASSWORD", "change-me-a");
    a.start().await;
    linked(&a).await;
    for (topic, id) in [
        ("orders/1", "o1"),
        ("secret/1", "s1"),
        ("secret/2", "s2"),
        ("orders/2", "o2"),
    ] {
        let (status, _) = a.publish(topic, id, &json!(id)).await;
        assert_eq!(status, 202);
    }
    // The allowed ones are on the stream; the denied ones wait in the error queue
    // with the subject and the server's words.
    let js = probe(&nats.url()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let records = loop {
        let v = a.get("/v1/errors?module=export%2Fdefault").await;
        let records = v["errors"].as_array().cloned().unwrap_or_default();
        if records.len() >= 2 || tokio::time::Instant::now() > deadline {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(records.len(), 2, "{records:?}\n{}", a.log());
    for (r, subject) in records.iter().zip(["weft.secret.1", "weft.secret.2"]) {
        let reason = r["record"]["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(subject) && reason.contains("Permissions Violation"),
            "{reason}"
        );
    }
    assert_eq!(
        count(&js, "WEFT", "weft.orders.>").await,
        2,
        "the rest flowed on"
    );
    let status = mesh_status(&a).await;
    assert!(
        status["exports"][0]["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("weft.secret."),
        "{status}"
    );

    // The operator grants the subject and reloads the server, then replays.
    nats.reconfigure(&accounts("              \"weft.secret.>\",\n"))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let r = a
        .http
        .post(a.url("/v1/errors/replay"))
        .json(&json!({ "module": "export/default" }))
        .send()
        .await
        .unwrap();
    let report: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        report["replayed"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while count(&js, "WEFT", "weft.secret.>").await < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        count(&js, "WEFT", "weft.secret.>").await,
        2,
        "replayed and published once granted:\n{}",
        a.log()
    );
    a.terminate();
}

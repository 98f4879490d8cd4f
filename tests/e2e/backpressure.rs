use std::time::{Duration, Instant};

use serde_json::json;
use weft_tests::Host;

use crate::WEFT;

/// Publishes one event; returns the status, the Retry-After header and the body.
async fn publish(host: &Host, id: &str) -> (u16, Option<String>, String) {
    let r = host
        .http
        .post(host.url("/v1/events/jobs"))
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/bp")
        .header("ce-type", "t")
        .header("content-type", "application/json")
        .body(json!({ "id": id, "pad": "x".repeat(1000) }).to_string())
        .send()
        .await
        .unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), retry, r.text().await.unwrap())
}

weft_tests::both_engines!(
    a_slow_consumer_gets_everything_in_order_and_the_producer_meets_the_quota,
    a_slow_consumer_gets_everything_in_order_and_the_producer_meets_the_quota
);
async fn a_slow_consumer_gets_everything_in_order_and_the_producer_meets_the_quota(engine: &str) {
    let mut host = Host::new(WEFT).on_engine(engine);
    host.config("[subscriptions.slow]\nsubscribe = [\"jobs\"]\nmax_queue_events = 200\n");
    host.start().await;

    // Full speed, nobody consuming: 202s until the quota, then 429 with a reason.
    let mut next = 0;
    let first_429 = loop {
        let (status, retry, body) = publish(&host, &format!("j{next}")).await;
        match status {
            202 => next += 1,
            429 => break (retry, body),
            other => panic!("unexpected {other}: {body}"),
        }
        assert!(next <= 200, "the quota of 200 events was not enforced");
    };
    assert_eq!(next, 200, "every event up to the quota was accepted");
    assert_eq!(
        first_429.0.as_deref(),
        Some("1"),
        "429 says when to come back"
    );
    assert!(
        first_429.1.contains("subscription `slow` is full"),
        "{}",
        first_429.1
    );
    let status = host.get("/v1/status").await;
    assert_eq!(status["subscriptions"][0]["queue_depth"], 200, "{status}");
    assert!(
        status["subscriptions"][0]["oldest_age_ms"]
            .as_u64()
            .is_some(),
        "{status}"
    );

    // A consumer 100x slower than the producer drains while the producer retries on 429.
    let total = 600;
    let producer = {
        let (http, url) = (host.http.clone(), host.url(""));
        let mut n = next;
        tokio::spawn(async move {
            let h = weft_tests::Host::client_for(http, url);
            let mut refused = 0;
            while n < total {
                let (status, _, body) = publish(&h, &format!("j{n}")).await;
                match status {
                    202 => n += 1,
                    429 => {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    other => panic!("unexpected {other}: {body}"),
                }
            }
            refused
        })
    };
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while got.len() < total && Instant::now() < deadline {
        let page = host.get("/v1/subscriptions/slow/events?max=10").await;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        if let Some(last) = events.last() {
            let upto = last["seq"].as_u64().unwrap();
            got.extend(
                events
                    .iter()
                    .map(|e| e["event"]["data"]["id"].as_str().unwrap().to_owned()),
            );
            host.http
                .post(host.url(&format!("/v1/subscriptions/slow/ack?upto={upto}")))
                .send()
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = producer.await.unwrap();
    assert!(
        refused > 0,
        "the producer met the quota while the consumer was behind"
    );
    let want: Vec<String> = (0..total).map(|i| format!("j{i}")).collect();
    assert_eq!(got, want, "everything arrived, in order");
}

weft_tests::both_engines!(
    a_full_disk_refuses_with_507_loses_nothing_and_recovers,
    a_full_disk_refuses_with_507_loses_nothing_and_recovers
);
async fn a_full_disk_refuses_with_507_loses_nothing_and_recovers(engine: &str) {
    let mut host = Host::new(WEFT).on_engine(engine);
    let data = host.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mount = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=24m", "tmpfs"])
        .arg(&data)
        .status()
        .unwrap();
    assert!(
        mount.success(),
        "this test mounts a small tmpfs for the data folder and needs root"
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(data.clone());
    host.config("[store]\nmin_free_disk = \"4MiB\"\n[subscriptions.all]\nsubscribe = [\">\"]\n");
    host.start().await;
    // Ballast: leave little room on the filesystem.
    let ballast = data.join("ballast");
    let free = {
        let out = std::process::Command::new("df")
            .arg("-B1")
            .arg("--output=avail")
            .arg(&data)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    std::fs::write(&ballast, vec![0u8; (free - 6 * 1024 * 1024) as usize]).unwrap();

    let mut accepted = Vec::new();
    let refusal = loop {
        let id = format!("d{}", accepted.len());
        let (status, retry, body) = publish(&host, &id).await;
        match status {
            202 => accepted.push(id),
            507 => break (retry, body),
            other => panic!("unexpected {other}: {body}\n{}", host.log()),
        }
        assert!(accepted.len() < 50_000, "the disk never filled");
    };
    assert_eq!(refusal.0.as_deref(), Some("10"));
    assert!(refusal.1.contains("free"), "{}", refusal.1);
    assert!(!accepted.is_empty());

    // Space returns: the host accepts again, and everything accepted is there.
    std::fs::remove_file(&ballast).unwrap();
    let (status, _, body) = publish(&host, "after").await;
    assert_eq!(status, 202, "{body}");
    accepted.push("after".into());
    let got = host.drain("all").await;
    let ids: Vec<String> = got
        .iter()
        .map(|e| e["data"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, accepted, "nothing accepted was lost");
}

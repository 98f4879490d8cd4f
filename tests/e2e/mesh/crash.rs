//! `kill -9` of the exporting host and of the importing host, again and again,
//! while events cross: nothing lost, nothing twice at the importer's subscribers.
//!
//! `WEFT_MESH_CRASH_CYCLES` (default 20) sets the cycles of each kind.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use weft_tests::sink_config;

use super::{host, linked, mesh, server};

fn cycles() -> usize {
    std::env::var("WEFT_MESH_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporter_and_importer_killed_mid_flow_lose_nothing_and_double_nothing() {
    let nats = server().await;
    let servers = [nats.url()];
    let mut a = host(
        &mesh(&servers, "a", "[mesh.export]\ntopics = [\"orders/>\"]\n"),
        &[],
    );
    let mut b = host(
        &format!(
            "{}{}",
            mesh(
                &servers,
                "b",
                "[mesh.import.orders]\ntopics = [\"orders/>\"]\nstart = \"all\"\nack_wait = \"2s\"\n"
            ),
            sink_config("seen", "orders/>")
        ),
        &[],
    );
    a.start().await;
    b.start().await;
    linked(&a).await;
    linked(&b).await;
    let mut accepted = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut next = 0u64;
    let n = cycles();
    for cycle in 0..2 * n {
        // A burst, then a kill a few milliseconds in: on the exporter while its
        // outbox drains, then on the importer while it stores and acknowledges.
        let burst = 40;
        let mut sends = Vec::new();
        for _ in 0..burst {
            let id = format!("o{next}");
            next += 1;
            sends.push(id);
        }
        for id in &sends {
            let (status, _) = a.publish("orders/created", id, &json!(id)).await;
            if status == 202 {
                accepted.push(id.clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(5 + (cycle as u64 * 7) % 40)).await;
        let victim = if cycle < n { &mut a } else { &mut b };
        victim.kill9();
        victim.start().await;
        for e in b.drain("seen").await {
            *seen
                .entry(e["id"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
    }
    // Everything drains once the crashes stop.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while seen.len() < accepted.len() && tokio::time::Instant::now() < deadline {
        for e in b.drain("seen").await {
            *seen
                .entry(e["id"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    for e in b.drain("seen").await {
        *seen
            .entry(e["id"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    let missing: Vec<_> = accepted
        .iter()
        .filter(|id| !seen.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "lost {} of {}: {missing:?}\n{}",
        missing.len(),
        accepted.len(),
        b.log()
    );
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "seen twice at B: {twice:?}");
    let unknown: Vec<_> = seen.keys().filter(|id| !accepted.contains(id)).collect();
    assert!(unknown.is_empty(), "never accepted: {unknown:?}");
    a.terminate();
    b.terminate();
}

//! NATS away, or one node of a cluster killed: the hosts go on and nothing is
//! lost or doubled.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use weft_tests::nats::{NatsServer, SyncInterval, nats_server};
use weft_tests::{free_port, sink_config};

use super::{host, ids, linked, mesh, mesh_status, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_while_nats_is_down_wait_and_arrive_in_order_once() {
    let mut nats = server().await;
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
                "[mesh.import.orders]\ntopics = [\"orders/>\"]\nstart = \"all\"\n"
            ),
            sink_config("seen", "orders/>")
        ),
        &[],
    );
    a.start().await;
    b.start().await;
    linked(&a).await;
    linked(&b).await;
    let mut sent = 0;
    let mut publish = async |a: &weft_tests::Host, n: usize| {
        for _ in 0..n {
            let (status, body) = a
                .publish("orders/created", &format!("o{sent}"), &json!(sent))
                .await;
            assert_eq!(status, 202, "accepted whatever NATS does: {body}");
            sent += 1;
        }
    };
    publish(&a, 30).await;

    // NATS goes away for 10 s; A keeps accepting.
    nats.kill();
    let down = tokio::time::Instant::now();
    while down.elapsed() < Duration::from_secs(10) {
        publish(&a, 10).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let s = mesh_status(&a).await;
    assert_eq!(s["link"]["state"], "disconnected", "{s}");
    assert!(
        s["exports"][0]["outbox_depth"].as_u64().unwrap_or(0) > 0,
        "events wait in the outbox: {s}"
    );
    nats.restart().await.unwrap();
    publish(&a, 30).await;

    let seen = b.collect("seen", sent, Duration::from_secs(90)).await;
    let want: Vec<String> = (0..sent).map(|i| format!("o{i}")).collect();
    assert_eq!(
        ids(&seen),
        want,
        "every event, in order, once:\n{}",
        a.log()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(b.drain("seen").await.is_empty(), "none twice");
    a.terminate();
    b.terminate();
}

/// Three NATS servers in one JetStream cluster, the mesh's stream replicated on
/// all three (R3).
async fn cluster() -> Vec<NatsServer> {
    let bin = nats_server().expect("a nats-server >= 2.10 (scripts/setup.sh installs one)");
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let routes: Vec<String> = ports
        .iter()
        .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
        .collect();
    let mut out = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let extra = format!(
            "server_name: n{i}\ncluster {{\n  name: weft-test\n  listen: \"127.0.0.1:{port}\"\n  routes: [{}]\n}}\n",
            routes.join(", ")
        );
        // A node greets clients before the cluster has a quorum, so they can be
        // started one after the other.
        out.push(
            NatsServer::start_with(&bin.path, SyncInterval::Always, &extra)
                .await
                .expect("a cluster node starts"),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_node_killed_under_traffic_loses_no_acknowledged_event() {
    let mut nodes = cluster().await;
    let servers: Vec<String> = nodes.iter().map(NatsServer::url).collect();
    let mut a = host(
        &mesh(
            &servers,
            "a",
            "replicas = 3\n[mesh.export]\ntopics = [\"orders/>\"]\n",
        ),
        &[],
    );
    let mut b = host(
        &format!(
            "{}{}",
            mesh(
                &servers,
                "b",
                "replicas = 3\n[mesh.import.orders]\ntopics = [\"orders/>\"]\nstart = \"all\"\n"
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
    for i in 0..300 {
        if i == 100 {
            nodes[1].kill();
        }
        if i == 200 {
            nodes[1].restart().await.unwrap();
        }
        let id = format!("o{i}");
        let (status, _) = a.publish("orders/created", &id, &json!(i)).await;
        if status == 202 {
            accepted.push(id);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        accepted.len(),
        300,
        "the host accepts whatever the cluster does"
    );
    let seen = b.collect("seen", 300, Duration::from_secs(120)).await;
    let got: BTreeSet<String> = ids(&seen).into_iter().collect();
    let want: BTreeSet<String> = accepted.into_iter().collect();
    assert_eq!(got, want, "no acknowledged event lost:\n{}", a.log());
    assert_eq!(seen.len(), 300, "none twice");
    a.terminate();
    b.terminate();
}

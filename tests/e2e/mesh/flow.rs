//! Events crossing from host to host, read and written by programs that are not
//! weft, and cycles that stop.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use weft_tests::{manifest, sink_config};

use super::{client, count, host, ids, linked, mesh, mesh_status, read_stream, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_on_one_host_is_processed_on_another_and_read_by_plain_nats_clients() {
    let nats = server().await;
    let servers = [nats.url()];
    let mut a = host(
        &mesh(&servers, "a", "[mesh.export]\ntopics = [\"orders/>\"]\n"),
        &[],
    );
    let mut b = host(
        &format!(
            "{}{}{}",
            mesh(
                &servers,
                "b",
                "[mesh.import.orders]\ntopics = [\"orders/>\"]\nstart = \"all\"\n"
            ),
            sink_config("seen", "orders/>"),
            sink_config("echoed", "echoed/>")
        ),
        &[("echo", &manifest("orders/created", "echoed/orders", ""))],
    );
    a.start().await;
    b.start().await;
    linked(&a).await;
    linked(&b).await;

    // 1. Published on A, imported and processed on B, once each, in order.
    for i in 0..20 {
        let (status, body) = a
            .publish("orders/created", &format!("o{i}"), &json!({ "n": i }))
            .await;
        assert_eq!(status, 202, "{body}");
    }
    let seen = b.collect("seen", 20, Duration::from_secs(60)).await;
    let want: Vec<String> = (0..20).map(|i| format!("o{i}")).collect();
    assert_eq!(ids(&seen), want, "imported in order:\n{}", b.log());
    assert_eq!(seen[0]["topic"], "orders/created");
    assert_eq!(seen[0]["data"]["n"], 0, "data as sent");
    let echoed = b.collect("echoed", 20, Duration::from_secs(60)).await;
    assert_eq!(echoed.len(), 20, "{}", b.log());
    let distinct: BTreeSet<_> = ids(&echoed).into_iter().collect();
    assert_eq!(distinct.len(), 20, "each output once");

    // 2. A consumer that is not weft reads the exported events, and the
    //    CloudEvents SDK parses them.
    let js = client(&nats.url()).await;
    let raw = read_stream(&js, "WEFT", "weft.orders.>", 20, Duration::from_secs(10)).await;
    assert_eq!(raw.len(), 20);
    for (i, (subject, headers, payload)) in raw.iter().enumerate() {
        assert_eq!(subject, "weft.orders.created");
        let event: cloudevents::Event =
            serde_json::from_slice(payload).expect("a CloudEvent in the JSON event format");
        use cloudevents::AttributesReader as _;
        assert_eq!(event.id(), format!("o{i}"));
        assert_eq!(event.source().to_string(), "/test");
        assert_eq!(event.ty(), "test.event");
        assert_eq!(headers.get("Weft-Origin").unwrap().as_str(), "a");
        assert_eq!(headers.get("Weft-Hops").unwrap().as_str(), "1");
        assert_eq!(headers.get("Nats-Msg-Id").unwrap().as_str().len(), 32);
    }

    // 3. A plain NATS publisher's CloudEvents, structured and binary, reach B.
    let mut structured = async_nats::HeaderMap::new();
    structured.insert("content-type", "application/cloudevents+json");
    js.publish_with_headers(
        "weft.orders.created",
        structured,
        r#"{"specversion":"1.0","id":"plain-s","source":"/plain","type":"plain.order","data":{"via":"structured"}}"#.into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let mut binary = async_nats::HeaderMap::new();
    for (k, v) in [
        ("ce-specversion", "1.0"),
        ("ce-id", "plain-b"),
        ("ce-source", "/plain"),
        ("ce-type", "plain.order"),
        ("content-type", "application/json"),
    ] {
        binary.insert(k, v);
    }
    js.publish_with_headers("weft.orders.created", binary, r#"{"via":"binary"}"#.into())
        .await
        .unwrap()
        .await
        .unwrap();
    let plain = b.collect("seen", 2, Duration::from_secs(30)).await;
    assert_eq!(ids(&plain), ["plain-s", "plain-b"], "{}", b.log());
    assert_eq!(plain[0]["data"]["via"], "structured");
    assert_eq!(plain[1]["data"]["via"], "binary");

    // 4. Status shows the link and the flow; nothing comes back to A.
    let sa = mesh_status(&a).await;
    assert_eq!(sa["exports"][0]["published"], 20, "{sa}");
    assert_eq!(sa["exports"][0]["outbox_depth"], 0, "{sa}");
    assert!(sa["link"]["server"].is_string(), "{sa}");
    let sb = mesh_status(&b).await;
    assert_eq!(sb["imports"][0]["imported"], 22, "{sb}");
    assert_eq!(sb["imports"][0]["consumer"], "weft-b-orders", "{sb}");
    assert!(b.drain("seen").await.is_empty(), "nothing twice");
    a.terminate();
    b.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_that_export_and_import_everything_pass_an_event_once_and_a_cycle_stops() {
    let nats = server().await;
    let servers = [nats.url()];
    let both =
        "max_hops = 4\n[mesh.export]\ntopics = [\">\"]\n[mesh.import.all]\ntopics = [\">\"]\n";
    // A turns ping into pong, B turns pong into ping: a cycle through two hosts.
    let mut a = host(
        &format!(
            "{}{}",
            mesh(&servers, "a", both),
            sink_config("seen", "ping/>")
        ),
        &[("ping", &manifest("ping/>", "pong/x", ""))],
    );
    let mut b = host(
        &format!(
            "{}{}",
            mesh(&servers, "b", both),
            sink_config("seen", "ping/>")
        ),
        &[("pong", &manifest("pong/>", "ping/y", ""))],
    );
    a.start().await;
    b.start().await;
    linked(&a).await;
    linked(&b).await;
    let (status, _) = a.publish("ping/x", "start", &json!("go")).await;
    assert_eq!(status, 202);

    // The cycle ping -> pong -> ping ... crosses hosts until max_hops, then the
    // next export lands in an outbox's error queue with the reason.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let stopped = loop {
        let mut records = Vec::new();
        for h in [&a, &b] {
            let v = h.get("/v1/errors?module=export%2Fdefault").await;
            records.extend(v["errors"].as_array().cloned().unwrap_or_default());
        }
        if !records.is_empty() || tokio::time::Instant::now() > deadline {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        stopped.len(),
        1,
        "the cycle stopped once:\n{}\n{}",
        a.log(),
        b.log()
    );
    let reason = stopped[0]["record"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("max_hops = 4"), "{reason}");

    // Every crossing is on the stream once: the original ping, then pong (hops
    // 1), ping (2), pong (3), ping (4); the next pong would leave its 5th host.
    let js = client(&nats.url()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        count(&js, "WEFT", ">").await,
        5,
        "each hop once, none back as itself"
    );
    // Each host saw the original ping once (A locally, B imported), and the
    // pings the cycle made.
    let seen_a = a.drain("seen").await;
    let seen_b = b.drain("seen").await;
    assert_eq!(
        seen_a.iter().filter(|e| e["id"] == "start").count(),
        1,
        "{seen_a:?}"
    );
    assert_eq!(
        seen_b.iter().filter(|e| e["id"] == "start").count(),
        1,
        "{seen_b:?}"
    );
    let sa = mesh_status(&a).await;
    assert!(
        sa["imports"][0]["own"].as_u64().unwrap_or(0) >= 1,
        "A saw its own exports on the stream and did not import them: {sa}"
    );
    a.terminate();
    b.terminate();
}

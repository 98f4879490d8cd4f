//! Python and JavaScript guests, built from source with their pinned toolchains
//! (guests/python/build.sh, guests/js/build.sh), through the real host.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use weft_tests::{Host, guest, js_guest, python_guest, repo_root, sink_config};

use crate::WEFT;

fn shipped_manifest(lang: &str, name: &str) -> String {
    std::fs::read_to_string(repo_root().join(format!("guests/{lang}/{name}/{name}.toml"))).unwrap()
}

/// A JSON value nested deeper than any interpreter's recursion limit: parsing it
/// traps the guest (a stack overflow or an uncaught exception).
fn too_deep() -> Value {
    let text = format!("{{\"a\":{}{}}}", "[".repeat(50_000), "]".repeat(50_000));
    json!({ "specversion": "1.0", "id": "deep", "source": "/t", "type": "order.created",
            "datacontenttype": "application/json",
            "data_base64": base64(text.as_bytes()) })
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn publish_structured(host: &Host, event: &Value) -> u16 {
    host.http
        .post(host.url("/v1/events/orders/created"))
        .header("content-type", "application/cloudevents+json")
        .body(event.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Python transforms, JavaScript routes: correct outputs, a reject in the error
/// queue with its reason, a trap contained (the event fails alone, the next flows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_javascript_processors_transform_route_reject_and_contain_traps() {
    let (py, js) = (python_guest("json-transform"), js_guest("router"));
    let mut host = Host::new(WEFT);
    let retry = "\n[delivery.retry]\nattempts = 2\ninitial = \"10ms\"\n";
    host.module(
        "py-transform",
        &py,
        &shipped_manifest("python", "json-transform")
            .replace("[config]", &format!("{retry}[config]")),
    );
    host.module(
        "js-router",
        &js,
        &shipped_manifest("js", "router").replace(
            "subscribe = [\"orders/valid\"]",
            "subscribe = [\"orders/enriched\"]",
        ),
    );
    host.config(&format!(
        "[ingest]\nmax_body = \"4MiB\"\n{}",
        sink_config("routed", "orders/routed/>")
    ));
    host.start().await;
    host.publish(
        "orders/created",
        "o1",
        &json!({ "cust": "Ada", "amount": 42, "country": "DE" }),
    )
    .await;
    assert_eq!(publish_structured(&host, &too_deep()).await, 202);
    host.publish(
        "orders/created",
        "o2",
        &json!({ "cust": "Bob", "amount": 7, "country": "XX" }),
    )
    .await;
    host.publish(
        "orders/created",
        "o3",
        &json!({ "cust": "Cy", "amount": 1, "country": "US" }),
    )
    .await;
    let out = host.collect("routed", 2, Duration::from_secs(120)).await;
    assert_eq!(out.len(), 2, "{}", host.log());
    assert_eq!(out[0]["topic"], "orders/routed/eu");
    assert_eq!(
        out[0]["data"],
        json!({ "customer": "Ada", "amount": 42, "country": "DE", "currency": "EUR" })
    );
    assert_eq!(out[1]["topic"], "orders/routed/us");
    let rejected = host
        .wait_errors("js-router", 1, Duration::from_secs(30))
        .await;
    assert_eq!(rejected.len(), 1);
    assert!(
        rejected[0]["record"]["reason"]
            .as_str()
            .unwrap()
            .contains("XX"),
        "{rejected:?}"
    );
    let trapped = host
        .wait_errors("py-transform", 1, Duration::from_secs(60))
        .await;
    assert_eq!(trapped.len(), 1, "{}", host.log());
    let reason = trapped[0]["record"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("trap") || reason.contains("stack"),
        "{reason}"
    );
}

/// The same processor swapped Rust -> Python -> Rust under a steady publisher:
/// every event once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_from_rust_to_python_and_back_under_load_loses_nothing() {
    let py = python_guest("json-transform");
    let mut host = Host::new(WEFT);
    let manifest = "subscribe = [\"in/>\"]\npublish = [\"out\"]\n[limits]\ncall_timeout = \"2s\"\n[config]\noutput_topic = \"out\"\n[config.rename]\ncust = \"customer\"\n";
    host.module("m", &guest("json-transform"), manifest);
    host.config(&sink_config("out", "out"));
    host.start().await;
    let host = std::sync::Arc::new(host);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = {
        let (host, stop) = (host.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let (status, _) = host
                    .publish("in/x", &format!("e{i}"), &json!({ "cust": "c", "n": i }))
                    .await;
                assert_eq!(status, 202);
                i += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            i
        })
    };
    for (n, wasm) in [py.as_path(), guest("json-transform").as_path()]
        .iter()
        .enumerate()
    {
        swap_in(&host.modules(), wasm);
        wait_swapped(&host, n + 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let sent = publisher.await.unwrap();
    let out = host
        .collect("out", sent as usize, Duration::from_secs(120))
        .await;
    let ns: Vec<u64> = out
        .iter()
        .map(|e| e["data"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, (0..sent).collect::<Vec<_>>(), "{}", host.log());
    assert!(out.iter().all(|e| e["data"]["customer"] == "c"));
}

fn swap_in(modules: &Path, wasm: &Path) {
    std::fs::copy(wasm, modules.join(".m.tmp")).unwrap();
    std::fs::rename(modules.join(".m.tmp"), modules.join("m.wasm")).unwrap();
}

async fn wait_swapped(host: &Host, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let status = host.get("/v1/status").await;
        let swaps = status["modules"][0]["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["action"] == "swapped")
            .count();
        if swaps >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{status}\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// 100,000 events through each interpreted guest: instances are recycled (here
/// every 300 calls, and at 75% of the memory limit), no call hits the limit, no
/// event is lost to a recycle. Then a restart serves again from the compile cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_run_through_python_and_javascript_loses_nothing_and_restarts_warm() {
    const EVENTS: usize = 100_000;
    let mut host = Host::new(WEFT);
    for (name, wasm) in [
        ("py", python_guest("json-transform")),
        ("js", js_guest("json-transform")),
    ] {
        host.module(
            name,
            &wasm,
            &format!(
                "subscribe = [\"in/{name}\"]\npublish = [\"out/{name}\"]\n[limits]\nmemory = \"128MiB\"\n\
                 call_timeout = \"2s\"\nrecycle_after = 300\n[delivery]\nbatch_max = 64\n\
                 [config]\noutput_topic = \"out/{name}\"\n[config.add]\nseen = true\n"
            ),
        );
    }
    host.config(&format!(
        "[ingest]\nmax_batch_events = 1000\n{}{}",
        sink_config("py", "out/py"),
        sink_config("js", "out/js")
    ));
    host.start().await;
    for name in ["py", "js"] {
        for chunk in 0..EVENTS / 1000 {
            let batch: Vec<Value> = (chunk * 1000..(chunk + 1) * 1000)
                .map(|i| json!({ "specversion": "1.0", "id": format!("{name}{i}"), "source": "/long",
                                 "type": "t", "datacontenttype": "application/json", "data": { "i": i } }))
                .collect();
            let r = host
                .http
                .post(host.url(&format!("/v1/events/in/{name}")))
                .header("content-type", "application/cloudevents-batch+json")
                .body(Value::from(batch).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
        }
    }
    for name in ["py", "js"] {
        let out = host.collect(name, EVENTS, Duration::from_secs(600)).await;
        assert_eq!(out.len(), EVENTS, "{name}: all arrive:\n{}", host.log());
        let is: Vec<u64> = out
            .iter()
            .map(|e| e["data"]["i"].as_u64().unwrap())
            .collect();
        assert!(
            is == (0..EVENTS as u64).collect::<Vec<_>>(),
            "{name}: each once, in order"
        );
        assert!(out.iter().all(|e| e["data"]["seen"] == true));
        assert!(host.errors(name).await.is_empty(), "{name}: no call failed");
    }
    assert!(
        host.log().contains("instance recycled"),
        "instances were recycled"
    );

    // Restart: both load from the compile cache, no recompiling.
    assert!(host.terminate().success());
    host.start().await;
    let status = host.get("/v1/status").await;
    for m in status["modules"].as_array().unwrap() {
        let loaded = m["history"].as_array().unwrap().last().unwrap();
        let ms = loaded["compile_ms"].as_u64().unwrap();
        assert!(
            ms < 5_000,
            "{} took {ms} ms to load: not from the cache?",
            m["name"]
        );
    }
    host.publish("in/py", "after", &json!({ "i": 7 })).await;
    let out = host.collect("py", 1, Duration::from_secs(30)).await;
    assert_eq!(out[0]["data"], json!({ "i": 7, "seen": true }));
}

//! Hot swap on a running host: new versions dropped into the modules folder under
//! load, refused versions, rollback, removal and restore.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use weft_tests::{Host, guest, series_value, sink_config};

use crate::WEFT;

/// One manifest both versions run under: `echo` passes events through,
/// `json-transform` renames `cust` and adds `currency`, so each output shows which
/// version made it, while both give it the same derived id.
const MANIFEST: &str = r#"subscribe = ["in/>"]
publish = ["out"]
[delivery]
batch_max = 16
[config]
output_topic = "out"
[config.rename]
cust = "customer"
[config.add]
currency = "EUR"
"#;

/// Puts `wasm` in place as `m.wasm` the careful way: a hidden name, then a rename.
fn drop_in(modules: &Path, name: &str, wasm: &Path) {
    let tmp = modules.join(format!(".{name}.wasm.tmp"));
    std::fs::copy(wasm, &tmp).unwrap();
    std::fs::rename(&tmp, modules.join(format!("{name}.wasm"))).unwrap();
}

fn history(status: &Value, module: &str) -> Vec<Value> {
    status["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == module)
        .map(|m| m["history"].as_array().unwrap().clone())
        .unwrap_or_default()
}

fn module<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap()
}

fn count(history: &[Value], action: &str) -> usize {
    history.iter().filter(|h| h["action"] == action).count()
}

/// Waits until module `name` has `n` history entries of `action`.
async fn wait_for(host: &Host, name: &str, action: &str, n: usize) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = host.get("/v1/status").await;
        if count(&history(&status, name), action) >= n {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {n} `{action}` for {name}: {}\n{}",
            serde_json::to_string_pretty(&status).unwrap(),
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// 20 swaps between two versions while a publisher keeps sending: every event
/// arrives once (never processed by both versions with both outputs kept), in the
/// order published, and both versions did part of the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_swaps_under_load_lose_nothing_duplicate_nothing_and_keep_order() {
    let mut host = Host::new(WEFT);
    host.module("m", &guest("echo"), MANIFEST);
    host.config(&sink_config("out", "out"));
    host.start().await;
    let host = Arc::new(host);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let publisher = {
        let (host, stop, sent) = (host.clone(), stop.clone(), sent.clone());
        tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let (status, body) = host
                    .publish(
                        "in/load",
                        &format!("e{i:05}"),
                        &json!({ "cust": "c", "n": i }),
                    )
                    .await;
                assert_eq!(status, 202, "{body}");
                i += 1;
                sent.store(i, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let versions = [guest("json-transform"), guest("echo")];
    for swap in 0..20 {
        drop_in(&host.modules(), "m", &versions[swap % 2]);
        wait_for(&host, "m", "swapped", swap + 1).await;
    }
    stop.store(true, Ordering::SeqCst);
    publisher.await.unwrap();
    let sent = sent.load(Ordering::SeqCst);
    let out = host.collect("out", sent, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let extra = host.drain("out").await;
    assert!(extra.is_empty(), "more outputs than inputs: {extra:?}");
    let ns: Vec<u64> = out
        .iter()
        .map(|e| e["data"]["n"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (0..sent as u64).collect();
    assert_eq!(ns, expected, "each event once, in order ({sent} sent)");
    let by_transform = out
        .iter()
        .filter(|e| e["data"]["currency"] == "EUR")
        .count();
    assert!(
        by_transform > 0 && by_transform < sent,
        "both versions served ({by_transform} of {sent} by json-transform)"
    );
    let status = host.get("/v1/status").await;
    let h = history(&status, "m");
    assert_eq!(count(&h, "swapped"), 20);
    assert_eq!(count(&h, "refused"), 0, "{h:?}");
    assert!(
        h.iter()
            .all(|c| c["action"] != "swapped" || c["swap_ms"].is_u64())
    );
}

/// A file renamed into place and a file written slowly in place are each taken
/// once, after the write: never half-written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_into_place_and_slow_in_place_writes_load_once_after_the_write() {
    let mut host = Host::new(WEFT);
    host.module("m", &guest("echo"), MANIFEST);
    host.config(&sink_config("out", "out"));
    host.start().await;
    let transform = std::fs::read(guest("json-transform")).unwrap();

    drop_in(&host.modules(), "m", &guest("json-transform"));
    wait_for(&host, "m", "swapped", 1).await;

    // In place, 8 KiB every 40 ms (slower than a copy, faster than the settle time).
    let echo = std::fs::read(guest("echo")).unwrap();
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(host.modules().join("m.wasm")).unwrap();
        for chunk in echo.chunks(8 * 1024) {
            f.write_all(chunk).unwrap();
            f.flush().unwrap();
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }
    let status = wait_for(&host, "m", "swapped", 2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status_later = host.get("/v1/status").await;
    let h = history(&status_later, "m");
    assert_eq!(count(&h, "swapped"), 2, "each write taken once: {h:?}");
    assert_eq!(count(&h, "refused"), 0, "never a half-written file: {h:?}");
    assert!(status["refused"].as_array().unwrap().is_empty());
    let m = module(&status_later, "m");
    assert_ne!(m["version"], weft_hash(&transform));
    assert_eq!(m["version"], weft_hash(&echo));
    // And it serves: echo passes the data unchanged.
    host.publish("in/x", "after", &json!({ "cust": "z" })).await;
    let out = host.collect("out", 1, Duration::from_secs(20)).await;
    assert_eq!(out.last().unwrap()["data"], json!({ "cust": "z" }));
}

fn weft_hash(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A broken new version is refused with the file and the reason; the version
/// running keeps serving, and a later good version is still taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_version_is_refused_and_the_running_one_keeps_serving() {
    let mut host = Host::new(WEFT);
    host.module("m", &guest("echo"), MANIFEST);
    host.config(&sink_config("out", "out"));
    host.start().await;
    let echo = std::fs::read(guest("echo")).unwrap();
    let modules = host.modules();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            echo[..echo.len() / 2].to_vec(),
            "is not a valid component",
        ),
        ("empty", Vec::new(), "is empty"),
        (
            "core module",
            b"\0asm\x01\0\0\0".to_vec(),
            "core WebAssembly module",
        ),
        (
            "wrong world",
            std::fs::read(guest("http-post")).unwrap(),
            "does not fit its world (egress connector)",
        ),
    ];
    for (n, (what, bytes, reason)) in cases.iter().enumerate() {
        let tmp = modules.join(".m.tmp");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, modules.join("m.wasm")).unwrap();
        let status = wait_for(&host, "m", "refused", n + 1).await;
        let refused = status["refused"].to_string();
        assert!(
            refused.contains("m.wasm") && refused.contains(reason),
            "{what}: {refused}"
        );
        assert_eq!(module(&status, "m")["version"], weft_hash(&echo), "{what}");
        host.publish("in/x", &format!("during-{n}"), &json!({ "n": n }))
            .await;
        let out = host.collect("out", 1, Duration::from_secs(20)).await;
        assert_eq!(
            out.len(),
            1,
            "{what}: the old version serves:\n{}",
            host.log()
        );
    }
    // A manifest that is wrong refuses the pair too.
    std::fs::write(
        modules.join("m.toml"),
        format!("subscrbe = [\"x\"]\n{MANIFEST}"),
    )
    .unwrap();
    let status = wait_for(&host, "m", "refused", cases.len() + 1).await;
    assert!(
        status["refused"].to_string().contains("unknown field"),
        "{status}"
    );
    // Fixed files are taken.
    std::fs::write(modules.join("m.toml"), MANIFEST).unwrap();
    drop_in(&modules, "m", &guest("json-transform"));
    let status = wait_for(&host, "m", "swapped", 1).await;
    assert!(status["refused"].as_array().unwrap().is_empty(), "{status}");
}

/// A version that fails on every event is rolled back to the previous one, which
/// handles the events it failed: nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_fails_every_event_is_rolled_back_and_nothing_is_lost() {
    let mut host = Host::new(WEFT);
    host.module("m", &guest("echo"), MANIFEST);
    host.config(&sink_config("out", "out"));
    host.start().await;
    // `trap` passes events through like echo, but traps on any that contain `boom`.
    drop_in(&host.modules(), "m", &guest("trap"));
    wait_for(&host, "m", "swapped", 1).await;
    for i in 0..10 {
        let (status, _) = host
            .publish("in/x", &format!("b{i}"), &json!({ "boom": i }))
            .await;
        assert_eq!(status, 202);
    }
    let out = host.collect("out", 10, Duration::from_secs(60)).await;
    let ns: Vec<u64> = out
        .iter()
        .map(|e| e["data"]["boom"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, (0..10).collect::<Vec<_>>(), "{}", host.log());
    let status = wait_for(&host, "m", "rolled_back", 1).await;
    let echo = std::fs::read(guest("echo")).unwrap();
    assert_eq!(module(&status, "m")["version"], weft_hash(&echo));
    assert!(
        host.errors("m").await.is_empty(),
        "nothing went to the error queue"
    );
    assert!(
        status["refused"].to_string().contains("rolled back"),
        "{status}"
    );
    assert!(host.log().contains("new version rolled back"));
    let metrics = host.metrics().await;
    for (series, want) in [
        ("weft_module_swaps_total{module=\"m\"}", 1.0),
        ("weft_module_rollbacks_total{module=\"m\"}", 1.0),
    ] {
        assert_eq!(series_value(&metrics, series), want, "{series}\n{metrics}");
    }
}

/// A removed module's subscription keeps collecting; put back, it resumes with
/// nothing missed. Past its quota a parked subscription stops collecting instead
/// of refusing publishers, and the gap shows in the status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_module_resumes_on_return_and_never_blocks_producers() {
    let mut host = Host::new(WEFT);
    let manifest = MANIFEST.replace("[delivery]", "[limits]\nmax_queue_events = 5\n[delivery]");
    host.module("m", &guest("echo"), &manifest);
    host.config(&sink_config("out", "out"));
    host.start().await;
    let modules = host.modules();
    let saved = host.dir.path().join("saved.wasm");
    std::fs::rename(modules.join("m.wasm"), &saved).unwrap();
    wait_for(&host, "m", "removed", 1).await;
    for i in 0..8 {
        let (status, body) = host
            .publish("in/x", &format!("r{i}"), &json!({ "n": i }))
            .await;
        assert_eq!(
            status, 202,
            "an absent consumer never blocks producers: {body}"
        );
    }
    let status = host.get("/v1/status").await;
    assert_eq!(module(&status, "m")["state"], "removed");
    assert_eq!(module(&status, "m")["queue_depth"], 5);
    std::fs::rename(&saved, modules.join("m.wasm")).unwrap();
    let status = wait_for(&host, "m", "restored", 1).await;
    let m = module(&status, "m");
    assert_eq!(m["state"], "running");
    assert_eq!(m["gap"]["events"], 3, "the gap is recorded: {m}");
    let out = host.collect("out", 5, Duration::from_secs(20)).await;
    let ns: Vec<u64> = out
        .iter()
        .map(|e| e["data"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, [0, 1, 2, 3, 4], "what it collected, in order");
}

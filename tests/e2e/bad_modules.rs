use std::time::Duration;

use serde_json::json;
use weft_tests::{Host, guest, manifest, sink_config};

use crate::WEFT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_modules_are_refused_with_file_and_reason_while_the_others_run() {
    let mut host = Host::new(WEFT);
    let ok = manifest("in", "out", "");
    host.module("good", &guest("echo"), &ok);
    let dir = host.modules();
    let put = |name: &str, bytes: &[u8], manifest: Option<&str>| {
        std::fs::write(dir.join(format!("{name}.wasm")), bytes).unwrap();
        if let Some(m) = manifest {
            std::fs::write(dir.join(format!("{name}.toml")), m).unwrap();
        }
    };
    put("empty", b"", Some(&ok));
    put("text", b"hello, I am not wasm", Some(&ok));
    put("core", b"\0asm\x01\0\0\0", Some(&ok));
    put(
        "truncated",
        &std::fs::read(guest("echo")).unwrap()[..2000],
        Some(&ok),
    );
    put("no-world", b"\0asm\x0d\0\x01\0", Some(&ok));
    put("no-manifest", &std::fs::read(guest("echo")).unwrap(), None);
    put(
        "unknown-field",
        &std::fs::read(guest("echo")).unwrap(),
        Some("subscribe = [\"in\"]\npublsh = [\"out\"]\n"),
    );
    put(
        "bad-topic",
        &std::fs::read(guest("echo")).unwrap(),
        Some("subscribe = [\"in//x\"]\n"),
    );
    put(
        "bad name",
        &std::fs::read(guest("echo")).unwrap(),
        Some(&ok),
    );
    host.config(&sink_config("out", "out"));
    host.start().await;

    let status = host.get("/v1/status").await;
    let refused = status["refused"].as_array().unwrap();
    let reason = |file: &str| {
        refused
            .iter()
            .find(|r| r["file"].as_str().unwrap().ends_with(&format!("/{file}")))
            .map(|r| r["reason"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{file} not refused: {status}"))
    };
    assert!(reason("empty.wasm").contains("is empty"));
    assert!(reason("text.wasm").contains("not WebAssembly"));
    assert!(reason("core.wasm").contains("core WebAssembly module, not a component"));
    assert!(reason("truncated.wasm").contains("not a valid component"));
    assert!(reason("no-world.wasm").contains("is not a weft module"));
    assert!(reason("no-world.wasm").contains("weft:integration/source@0.1.0"));
    assert!(reason("no-manifest.wasm").contains("has no manifest"));
    assert!(reason("unknown-field.wasm").contains("unknown field `publsh`"));
    assert!(reason("bad-topic.wasm").contains("empty level"));
    assert!(reason("bad name.wasm").contains("invalid module name"));
    assert_eq!(refused.len(), 9, "{status}");
    let modules: Vec<&str> = status["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(modules, ["good"]);

    assert_eq!(host.publish("in", "1", &json!("hi")).await.0, 202);
    let out = host.collect("out", 1, Duration::from_secs(30)).await;
    assert_eq!(out.len(), 1, "the good module still serves");
}

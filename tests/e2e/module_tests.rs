//! `weft test --expect`: an author's module test, offline, with the manifest's
//! real limits and grants; a mismatch exits non-zero with a readable diff.

use std::process::Command;

use serde_json::{Value, json};
use weft_tests::{example_manifest, guest};

use crate::WEFT;

fn input(id: &str, data: Value) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "/t", "type": "order",
        "datacontenttype": "application/json", "data": data})
}

fn weft_test(wasm: &std::path::Path, cases: &[Value]) -> (bool, String, String) {
    let file = wasm.with_file_name("cases.jsonl");
    let text: Vec<String> = cases.iter().map(Value::to_string).collect();
    std::fs::write(&file, text.join("\n") + "\n").unwrap();
    let out = Command::new(WEFT)
        .args(["test", wasm.to_str().unwrap(), "--expect"])
        .arg(&file)
        .args(["--topic", "orders/created"])
        .env(
            "WEFT_CACHE",
            weft_tests::target_dir().join("weft-test-cache"),
        )
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn expectations_pass_or_fail_with_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("json-transform.wasm");
    std::fs::copy(guest("json-transform"), &wasm).unwrap();
    std::fs::write(
        wasm.with_extension("toml"),
        example_manifest("json-transform"),
    )
    .unwrap();
    let enriched = json!({"topic": "orders/enriched", "type": "order",
        "data": {"customer": "Ada", "currency": "EUR"}});
    let good = [
        json!({"name": "renames and adds", "input": input("1", json!({"cust": "Ada"})),
            "emitted": [enriched]}),
        json!({"input": input("2", json!([1, 2])), "rejected": true}),
    ];
    let (ok, out, err) = weft_test(&wasm, &good);
    assert!(ok, "{out}{err}");
    assert!(out.contains("ok    "), "{out}");
    assert!(out.contains("renames and adds"), "{out}");
    assert!(out.contains("(input \"2\")"), "{out}");
    assert!(out.contains("2 cases: 2 passed, 0 failed"), "{out}");

    let wrong = [
        good[0].clone(),
        json!({"name": "wrong currency", "input": input("3", json!({"cust": "Bob"})),
            "emitted": [{"topic": "orders/enriched", "data": {"customer": "Bob", "currency": "USD"}}]}),
        json!({"name": "expects a failure", "input": input("4", json!({"cust": "Cy"})),
            "rejected": "no customer"}),
    ];
    let (ok, out, err) = weft_test(&wasm, &wrong);
    assert!(!ok, "a mismatch fails: {out}");
    assert!(out.contains("FAIL  "), "{out}");
    assert!(
        out.contains(
            "- emitted[0].data.currency: \"USD\"\n      + emitted[0].data.currency: \"EUR\""
        ),
        "{out}"
    );
    assert!(
        out.contains("- rejected (reason containing \"no customer\")"),
        "{out}"
    );
    assert!(out.contains("+ emitted [{"), "{out}");
    assert!(out.contains("3 cases: 1 passed, 2 failed"), "{out}");
    assert!(err.contains("2 of 3 cases in"), "{err}");

    // A malformed case file names its line, and nothing runs.
    let bad = [
        good[0].clone(),
        json!({"input": input("5", json!({})), "emited": []}),
    ];
    let (ok, out, err) = weft_test(&wasm, &bad);
    assert!(!ok);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("cases.jsonl:2: not a case"), "{err}");
    assert!(err.contains("unknown field `emited`"), "{err}");
}

/// The manifest's call timeout and publish grants hold as in a host.
#[test]
fn expectations_run_with_the_manifests_limits_and_grants() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("spinner.wasm");
    std::fs::copy(guest("busy-loop"), &wasm).unwrap();
    std::fs::write(
        wasm.with_extension("toml"),
        "subscribe = [\"orders/created\"]\npublish = [\"orders/ok\"]\n[limits]\ncall_timeout = \"50ms\"\n[config]\noutput_topic = \"orders/ok\"\n",
    )
    .unwrap();
    let cases = [
        json!({"input": input("1", json!("fine")), "emitted": [{"topic": "orders/ok", "data": "fine"}]}),
        json!({"input": input("2", json!("spin")), "rejected": "time budget of 50ms"}),
    ];
    let (ok, out, err) = weft_test(&wasm, &cases);
    assert!(ok, "{out}{err}");

    std::fs::write(
        wasm.with_extension("toml"),
        "subscribe = [\"orders/created\"]\npublish = [\"orders/ok\"]\n[config]\noutput_topic = \"orders/elsewhere\"\n",
    )
    .unwrap();
    let (ok, out, _) = weft_test(&wasm, &cases[..1]);
    assert!(!ok);
    assert!(out.contains("+ rejected: "), "{out}");
    assert!(out.contains("orders/elsewhere"), "{out}");
}

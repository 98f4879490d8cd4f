//! `[schemas]`: JSON Schemas of what a module publishes. `weft check` checks the
//! files; with `enforce = true` a running host refuses an output that does not
//! conform (the input lands in the error queue with the validation error,
//! nothing is published), and a changed schema file takes effect like a
//! changed manifest.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weft_tests::{Host, example_manifest, guest, sink_config};

use crate::WEFT;

/// `json-transform` renames `cust` to `customer`; the schema wants a string there.
const STRICT: &str = r#"{
  "type": "object",
  "required": ["customer", "amount"],
  "properties": { "customer": { "type": "string" }, "amount": { "type": "number" } }
}"#;
/// The same with any customer.
const LOOSE: &str = r#"{ "type": "object", "required": ["customer", "amount"] }"#;

fn enforced_manifest() -> String {
    format!(
        "{}\n[schemas]\nenforce = true\n\"orders/enriched\" = \"enrich.order.schema.json\"\n",
        example_manifest("json-transform")
    )
}

fn history_count(status: &Value, module: &str, action: &str) -> usize {
    status["modules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["name"] == module)
        .flat_map(|m| m["history"].as_array().cloned().unwrap_or_default())
        .filter(|h| h["action"] == action)
        .count()
}

#[tokio::test]
async fn enforced_schemas_refuse_what_does_not_conform_and_swap_with_their_file() {
    let mut host = Host::new(WEFT);
    host.config(&sink_config("enriched", "orders/enriched"));
    host.module("enrich", &guest("json-transform"), &enforced_manifest());
    let schema = host.modules().join("enrich.order.schema.json");
    std::fs::write(&schema, STRICT).unwrap();
    host.start().await;

    let (status, body) = host
        .publish(
            "orders/created",
            "ok-1",
            &json!({"cust": "ada", "amount": 5}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = host
        .publish("orders/created", "bad-1", &json!({"cust": 7, "amount": 5}))
        .await;
    assert_eq!(status, 202, "{body}");

    let errors = host.wait_errors("enrich", 1, Duration::from_secs(10)).await;
    assert_eq!(errors.len(), 1, "{errors:?}\n{}", host.log());
    let reason = errors[0]["record"]["reason"].as_str().unwrap();
    assert_eq!(
        reason,
        "output 0 to `orders/enriched` does not conform to enrich.order.schema.json \
         (schema for `orders/enriched`): at /customer: 7 is not of type \"string\"",
        "{errors:?}"
    );
    assert_eq!(errors[0]["record"]["event"]["id"], "bad-1");
    let got = host.collect("enriched", 1, Duration::from_secs(5)).await;
    // Give a wrongly published output time to show up before counting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got: Vec<Value> = got
        .into_iter()
        .chain(host.drain("enriched").await)
        .collect();
    assert_eq!(got.len(), 1, "only the conforming output: {got:?}");
    assert_eq!(got[0]["data"]["customer"], "ada");

    // A looser schema dropped in place: the module reloads and the same data passes.
    let tmp = host.modules().join(".enrich.order.schema.json.tmp");
    std::fs::write(&tmp, LOOSE).unwrap();
    std::fs::rename(&tmp, &schema).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = host.get("/v1/status").await;
        if history_count(&status, "enrich", "swapped") >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the schema change was not taken: {status:#}\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = host
        .publish("orders/created", "bad-2", &json!({"cust": 8, "amount": 5}))
        .await;
    assert_eq!(status, 202, "{body}");
    let got = host.collect("enriched", 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "{got:?}\n{}", host.log());
    assert_eq!(got[0]["data"]["customer"], 8);
    assert_eq!(host.errors("enrich").await.len(), 1, "no new error");
}

/// A module whose schema file is broken is refused with the file and the reason.
#[tokio::test]
async fn a_module_with_a_broken_schema_file_is_refused() {
    let mut host = Host::new(WEFT);
    host.module("enrich", &guest("json-transform"), &enforced_manifest());
    std::fs::write(
        host.modules().join("enrich.order.schema.json"),
        r#"{"type": "strin"}"#,
    )
    .unwrap();
    host.start().await;
    let status = host.get("/v1/status").await;
    let shown = status.to_string();
    assert!(
        shown.contains("enrich.order.schema.json is not a valid JSON Schema: at /type: "),
        "{status:#}"
    );
}

fn check(dir: &std::path::Path) -> (bool, String) {
    let wasm = dir.join("enrich.wasm");
    let out = Command::new(WEFT)
        .args(["check", wasm.to_str().unwrap()])
        .env(
            "WEFT_CACHE",
            weft_tests::target_dir().join("weft-test-cache"),
        )
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn check_validates_the_schema_files_and_their_patterns() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(guest("json-transform"), dir.path().join("enrich.wasm")).unwrap();
    std::fs::write(dir.path().join("enrich.toml"), enforced_manifest()).unwrap();
    let schema = dir.path().join("enrich.order.schema.json");

    let (ok, out) = check(dir.path());
    assert!(!ok);
    assert!(
        out.contains(&format!(
            "enrich.toml is invalid:\n  schemas.\"orders/enriched\": {} is missing: write the JSON Schema there or remove the key",
            schema.display()
        )),
        "{out}"
    );
    std::fs::write(&schema, "{\"type\": ").unwrap();
    let (ok, out) = check(dir.path());
    assert!(!ok);
    assert!(
        out.contains("enrich.order.schema.json is not JSON: EOF while parsing"),
        "{out}"
    );
    std::fs::write(&schema, r#"{"required": "customer"}"#).unwrap();
    let (ok, out) = check(dir.path());
    assert!(!ok);
    assert!(
        out.contains("enrich.order.schema.json is not a valid JSON Schema: at /required: "),
        "{out}"
    );
    std::fs::write(&schema, STRICT).unwrap();
    let (ok, out) = check(dir.path());
    assert!(ok, "{out}");
    assert!(
        out.contains("schema    orders/enriched -> enrich.order.schema.json (enforced)"),
        "{out}"
    );
    // A pattern the module may not publish to.
    std::fs::write(
        dir.path().join("enrich.toml"),
        enforced_manifest() + "\"orders/>\" = \"enrich.order.schema.json\"\n",
    )
    .unwrap();
    let (ok, out) = check(dir.path());
    assert!(!ok);
    assert!(
        out.contains("schemas.\"orders/>\": the module may not publish to all of `orders/>`"),
        "{out}"
    );
}

//! The event catalog: `GET /v1/asyncapi.json` of a running host, validated
//! against the official AsyncAPI 3.0.0 JSON Schema (vendored from the npm
//! package `@asyncapi/specs`, see `host/ops/tests/data/asyncapi/README.md`).

use serde_json::Value;
use weft_tests::{Host, example_manifest, guest};

use crate::WEFT;

fn asyncapi_validator() -> jsonschema::Validator {
    let text = include_str!("../../host/ops/tests/data/asyncapi/3.0.0.json");
    let schema: Value = serde_json::from_str(text).unwrap();
    jsonschema::draft7::new(&schema).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_of_a_running_host_is_valid_asyncapi_3_with_its_modules() {
    let mut host = Host::new(WEFT);
    host.module(
        "json-transform",
        &guest("json-transform"),
        &example_manifest("json-transform"),
    );
    host.start().await;

    let doc = host.get("/v1/asyncapi.json").await;
    let errors: Vec<String> = asyncapi_validator()
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
    assert_eq!(doc["asyncapi"], "3.0.0");
    let ops = doc["operations"].as_object().unwrap();
    let mine: Vec<(&str, &str)> = ops
        .values()
        .filter(|o| o["tags"][0]["name"] == "json-transform")
        .map(|o| {
            let channel = o["channel"]["$ref"].as_str().unwrap();
            let id = channel.trim_start_matches("#/channels/");
            (
                o["action"].as_str().unwrap(),
                doc["channels"][id]["address"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        mine,
        [("receive", "orders/created"), ("send", "orders/enriched")],
        "{doc:#}"
    );
}

#![allow(clippy::unwrap_used, reason = "tests")]
use super::*;

/// The official AsyncAPI 3.0.0 JSON Schema, vendored (see its README).
pub fn asyncapi_validator() -> jsonschema::Validator {
    let text = include_str!("../../tests/data/asyncapi/3.0.0.json");
    let schema: Value = serde_json::from_str(text).unwrap();
    jsonschema::draft7::new(&schema).unwrap()
}

struct Host(Vec<ModuleEntry>, Option<MeshEntry>);

impl Inventory for Host {
    fn modules(&self) -> Vec<ModuleEntry> {
        self.0.clone()
    }
    fn mesh(&self) -> Option<MeshEntry> {
        self.1.clone()
    }
}

fn host() -> Host {
    let schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "required": ["id"],
        "properties": { "id": { "type": "string" } }
    });
    Host(
        vec![
            ModuleEntry {
                name: "enrich".into(),
                kind: "processor".into(),
                version: "abc".into(),
                subscribe: vec!["orders/*".into()],
                publish: vec!["enriched/>".into(), "audit/x".into()],
                schemas: [(
                    "enriched/>".to_owned(),
                    ("enrich.order.schema.json".to_owned(), schema),
                )]
                .into(),
                enforce: true,
            },
            ModuleEntry {
                name: "sink".into(),
                kind: "egress".into(),
                version: "def".into(),
                subscribe: vec!["enriched/>".into()],
                ..Default::default()
            },
        ],
        Some(MeshEntry {
            name: "edge-1".into(),
            exports: vec![LinkEntry {
                name: "up".into(),
                topics: vec!["enriched/>".into()],
            }],
            imports: vec![LinkEntry {
                name: "down".into(),
                topics: vec!["orders/*".into()],
            }],
        }),
    )
}

#[test]
fn the_catalog_is_a_valid_asyncapi_3_document() {
    let doc = asyncapi(&host(), "0.1.0");
    let errors: Vec<String> = asyncapi_validator()
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

#[test]
fn channels_operations_and_messages_come_from_the_manifests_and_the_mesh() {
    let doc = asyncapi(&host(), "0.1.0");
    let channels = doc["channels"].as_object().unwrap();
    let addresses: Vec<&str> = channels
        .values()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["audit/x", "enriched/>", "orders/*"]);
    let ops = doc["operations"].as_object().unwrap();
    let send = &ops["enrich.send.enriched.rest"];
    assert_eq!(send["action"], "send");
    assert_eq!(send["channel"]["$ref"], "#/channels/enriched.rest");
    assert_eq!(
        send["messages"][0]["$ref"],
        "#/channels/enriched.rest/messages/enrich"
    );
    let message = &channels["enriched.rest"]["messages"]["enrich"];
    assert_eq!(message["payload"]["schema"]["required"][0], "id");
    assert_eq!(ops["enrich.receive.orders.star"]["action"], "receive");
    assert_eq!(ops["sink.receive.enriched.rest"]["action"], "receive");
    assert_eq!(ops["mesh-export-up.send.enriched.rest"]["action"], "send");
    assert_eq!(
        ops["mesh-import-down.receive.orders.star"]["action"],
        "receive"
    );
    assert_eq!(doc["info"]["title"], "weft host edge-1");
}

#[test]
fn patterns_that_map_to_one_id_get_their_own_channels() {
    let host = Host(
        vec![ModuleEntry {
            name: "a".into(),
            publish: vec!["x/*".into(), "x/star".into()],
            ..Default::default()
        }],
        None,
    );
    let doc = asyncapi(&host, "0.1.0");
    let channels = doc["channels"].as_object().unwrap();
    assert_eq!(channels.len(), 2);
    assert!(channels.contains_key("x.star") && channels.contains_key("x.star-2"));
    assert!(asyncapi_validator().is_valid(&doc));
}

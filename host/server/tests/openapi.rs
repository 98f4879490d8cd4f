//! The OpenAPI document against the router: every `/v1` route the host really
//! serves is in `/v1/openapi.json` with exactly its methods, and the document
//! describes no route the host does not serve. The methods are the router's
//! own answers: a method a route lacks is `405`, a path it lacks the `404`
//! "no route" problem.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::Host;
use reqwest::Method;
use serde_json::Value;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// A path as OpenAPI writes it: axum's catch-all `{*topic}` is `{topic}`.
fn openapi_path(axum_path: &str) -> String {
    axum_path.replace("{*", "{")
}

/// A concrete URL path for a route's template.
fn concrete(path: &str) -> String {
    path.replace("{*topic}", "a/b")
        .replace("{seq}", "1")
        .split('/')
        .map(|level| if level.starts_with('{') { "x" } else { level })
        .collect::<Vec<_>>()
        .join("/")
}

/// The methods the running router answers on `path` (not `405`, not the
/// fallback's "no route").
async fn served(host: &Host, path: &str) -> BTreeSet<String> {
    let mut methods = BTreeSet::new();
    for m in METHODS {
        let r = host
            .http
            .request(
                Method::from_bytes(m.as_bytes()).unwrap(),
                host.url(&concrete(path)),
            )
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        // Streams (tap, subscription streams) answer with headers and go on:
        // the status is enough, the body is not read.
        let detail = if status == 404 {
            r.json::<Value>().await.unwrap()["detail"].to_string()
        } else {
            String::new()
        };
        if status != 405 && !detail.contains("no route") {
            methods.insert(m.to_lowercase());
        }
    }
    methods
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_and_methods_the_router_serves() {
    let host = Host::start("").await;
    let (status, doc) = host.get("/v1/openapi.json").await;
    assert_eq!(status, 200, "{doc}");
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let documented: BTreeMap<String, BTreeSet<String>> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let methods = METHODS
                .iter()
                .map(|m| m.to_lowercase())
                .filter(|m| item.get(m).is_some())
                .collect();
            (path.clone(), methods)
        })
        .collect();
    let mut real = BTreeMap::new();
    for path in weft_server::api::v1_paths() {
        real.insert(openapi_path(path), served(&host, path).await);
    }
    assert_eq!(
        documented, real,
        "the OpenAPI document (left) and the router (right) disagree"
    );
    // Every documented operation says what its errors look like.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.to_uppercase().as_str()) {
                assert!(op["responses"].get("4XX").is_some(), "{method} {path}");
            }
        }
    }
    host.stop().await.unwrap();
}

#[tokio::test]
async fn a_path_missing_from_the_router_is_seen_as_missing() {
    // The check above must be able to fail: a path the router lacks is not served.
    let host = Host::start("").await;
    assert!(served(&host, "/v1/nothing/{name}").await.is_empty());
    assert_eq!(
        served(&host, "/v1/status").await,
        BTreeSet::from(["get".to_owned()])
    );
    host.stop().await.unwrap();
}

#[tokio::test]
async fn the_status_answer_has_the_fields_its_schema_names() {
    let host = Host::start("[subscriptions.audit]\nsubscribe = [\"orders/>\"]\n").await;
    let (_, doc) = host.get("/v1/openapi.json").await;
    let (status, body) = host.get("/v1/status").await;
    assert_eq!(status, 200, "{body}");
    let schema = &doc["components"]["schemas"]["Status"]["properties"];
    let named: BTreeSet<_> = schema.as_object().unwrap().keys().cloned().collect();
    let sent: BTreeSet<_> = body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(named, sent, "the schema (left) and the answer (right)");
    let row = &body["subscriptions"][0];
    assert_eq!(row["name"], "audit", "{body}");
    assert_eq!(row["queue_depth"], 0, "{body}");
    let sub = doc["components"]["schemas"]["SubscriptionRow"].to_string();
    assert!(sub.contains("#/components/schemas/Queue"), "{sub}");
    let queue = &doc["components"]["schemas"]["Queue"]["properties"];
    assert!(queue.get("queue_depth").is_some(), "{queue}");
    host.stop().await.unwrap();
}

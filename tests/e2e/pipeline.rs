use std::time::Duration;

use serde_json::json;
use weft_tests::{Host, example_manifest, guest, order, sink_config};

use crate::WEFT;

fn example_host() -> Host {
    let host = Host::new(WEFT);
    for name in ["json-transform", "schema-validator", "router"] {
        host.module(name, &guest(name), &example_manifest(name));
    }
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_transformed_validated_and_routed_in_order() {
    let mut host = example_host();
    host.config(&sink_config("routed", "orders/routed/>"));
    host.start().await;

    for i in 0..20 {
        let country = if i % 2 == 0 { "DE" } else { "US" };
        let (status, body) = host
            .publish(
                "orders/created",
                &format!("o{i}"),
                &order(&format!("c{i}"), i as f64, country),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["accepted"][0]["id"], format!("o{i}"));
    }
    let (status, _) = host
        .publish("orders/created", "bad", &order("x", -5.0, "DE"))
        .await;
    assert_eq!(
        status, 202,
        "the invalid order is accepted, then rejected by the validator"
    );

    let out = host.collect("routed", 20, Duration::from_secs(60)).await;
    assert_eq!(out.len(), 20, "{}", host.log());
    for (i, e) in out.iter().enumerate() {
        let want_topic = if i % 2 == 0 {
            "orders/routed/eu"
        } else {
            "orders/routed/us"
        };
        assert_eq!(e["topic"], want_topic, "{e}");
        assert_eq!(
            e["data"]["customer"],
            format!("c{i}"),
            "in order, renamed: {e}"
        );
        assert_eq!(e["data"]["currency"], "EUR", "field added: {e}");
        assert!(e["data"].get("cust").is_none(), "old field gone: {e}");
        assert_ne!(e["id"], format!("o{i}"), "outputs get derived ids");
        assert_eq!(e["source"], "/test");
    }

    let errors = host
        .wait_errors("schema-validator", 1, Duration::from_secs(30))
        .await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let record = &errors[0]["record"];
    assert_eq!(record["module"], "schema-validator");
    assert_eq!(record["topic"], "orders/enriched");
    let reason = record["reason"].as_str().unwrap();
    assert!(
        reason.contains("amount") || reason.contains("minimum"),
        "{reason}"
    );
    assert!(
        host.drain("routed").await.is_empty(),
        "the invalid order went nowhere else"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_to_an_ungranted_topic_is_refused_with_its_reason() {
    let mut host = Host::new(WEFT);
    host.module(
        "ungranted",
        &guest("ungranted"),
        "subscribe = [\"in\"]\npublish = [\"out\"]\n[config]\nforbidden_topic = \"secret/stuff\"\n",
    );
    host.config(&sink_config("secret", "secret/>"));
    host.start().await;
    assert_eq!(host.publish("in", "1", &json!({"x": 1})).await.0, 202);
    let errors = host
        .wait_errors("ungranted", 1, Duration::from_secs(30))
        .await;
    let reason = errors[0]["record"]["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("secret/stuff") && reason.contains("may not publish"),
        "{reason}"
    );
    assert!(
        host.drain("secret").await.is_empty(),
        "nothing was published to the ungranted topic"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_republished_source_and_id_is_stored_once() {
    let mut host = Host::new(WEFT);
    host.config(&sink_config("all", ">"));
    host.start().await;
    let (_, first) = host.publish("a", "same", &json!(1)).await;
    let (status, again) = host.publish("a", "same", &json!(1)).await;
    assert_eq!(status, 202);
    assert_eq!(first["accepted"][0]["duplicate"], false);
    assert_eq!(again["accepted"][0]["duplicate"], true);
    assert_eq!(host.drain("all").await.len(), 1);
}

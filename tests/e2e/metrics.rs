//! `/metrics` of a host running a real guest: what the module's instances do,
//! as a Prometheus server scraping the host sees it.

use std::time::Duration;

use serde_json::json;
use weft_tests::{Host, guest, manifest, series_value, sink_config};

use crate::WEFT;

/// An instance recycled every two calls: the recycles are counted, the live
/// instances' memory is a gauge, and the events in and out match what was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_memory_recycles_and_events_show_per_module() {
    let mut host = Host::new(WEFT);
    host.module(
        "m",
        &guest("echo"),
        &manifest(
            "in/>",
            "out",
            "[limits]\nrecycle_after = 2\n[delivery]\nbatch_max = 1\n",
        ),
    );
    host.config(&sink_config("out", "out"));
    host.start().await;
    for i in 0..6 {
        assert_eq!(
            host.publish("in/x", &format!("e{i}"), &json!({ "n": i }))
                .await
                .0,
            202
        );
    }
    assert_eq!(
        host.collect("out", 6, Duration::from_secs(30)).await.len(),
        6
    );
    let metrics = host.metrics().await;
    let value = |series: &str| series_value(&metrics, series);
    assert_eq!(
        value("weft_module_events_in_total{module=\"m\"}"),
        6.0,
        "{metrics}"
    );
    assert_eq!(
        value("weft_module_events_out_total{module=\"m\"}"),
        6.0,
        "{metrics}"
    );
    assert_eq!(
        value("weft_module_recycles_total{module=\"m\"}"),
        3.0,
        "{metrics}"
    );
    // Recycled after the sixth call: no instance is live until the next one.
    assert_eq!(
        value("weft_module_instance_memory_bytes{module=\"m\"}"),
        0.0,
        "{metrics}"
    );
    assert!(
        value("weft_route_events_total{module=\"m\",patterns=\"in/>\"}") >= 6.0,
        "{metrics}"
    );
    assert!(
        metrics.contains("weft_module_call_duration_seconds_bucket{module=\"m\",le=\"0.001\"}"),
        "{metrics}"
    );
}

/// Without recycling, the live instance's memory shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_instance_shows_its_memory() {
    let mut host = Host::new(WEFT);
    host.module("m", &guest("echo"), &manifest("in/>", "out", ""));
    host.config(&sink_config("out", "out"));
    host.start().await;
    assert_eq!(host.publish("in/x", "e", &json!({})).await.0, 202);
    assert_eq!(
        host.collect("out", 1, Duration::from_secs(30)).await.len(),
        1
    );
    let metrics = host.metrics().await;
    let memory = series_value(&metrics, "weft_module_instance_memory_bytes{module=\"m\"}");
    assert!(memory >= 65_536.0, "at least one wasm page: {metrics}");
}

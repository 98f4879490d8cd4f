//! `GET /metrics` in-process: what a Prometheus server scraping the host sees.
//! The recorder is global to the process, so each test names its own
//! subscription and looks only at its series.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use common::Host;

async fn scrape(host: &Host, token: Option<&str>) -> (u16, String) {
    let mut r = host.http.get(host.url("/metrics"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of the series line starting with `series` (name and labels), or 0.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

#[tokio::test]
async fn counters_move_histograms_have_buckets_and_labels_stay_bounded_under_many_topics() {
    let host = Host::start("[subscriptions.scraped]\nsubscribe = [\"m/>\"]\n").await;
    let (s, before) = scrape(&host, None).await;
    assert_eq!(s, 200, "{before}");
    let delivered = "weft_subscription_delivered_total{subscription=\"scraped\"}";
    for i in 0..3 {
        assert_eq!(host.publish("m/a", &format!("e{i}"), "{}").await.0, 202);
    }
    let (s, _) = host.get("/v1/subscriptions/scraped/events?max=10").await;
    assert_eq!(s, 200);
    let (_, after) = scrape(&host, None).await;
    assert_eq!(
        value(&after, delivered) - value(&before, delivered),
        3.0,
        "{after}"
    );
    assert_eq!(
        value(&after, "weft_queue_depth{subscription=\"scraped\"}"),
        3.0,
        "{after}"
    );
    assert!(
        after.contains("weft_store_commit_duration_seconds_bucket{le=\"0.005\"}"),
        "{after}"
    );
    assert!(
        value(
            &after,
            "weft_http_requests_total{route=\"/v1/events/{*topic}\",status=\"202\"}"
        ) >= 3.0,
        "requests counted by route pattern: {after}"
    );
    let routed = "weft_route_events_total{subscription=\"scraped\",patterns=\"m/>\"}";
    assert_eq!(
        value(&after, routed) - value(&before, routed),
        3.0,
        "events counted per route and its patterns: {after}"
    );
    assert!(
        after.contains("weft_store_events_per_commit_bucket{le=\"1\"}"),
        "{after}"
    );

    // 1,000 distinct topics: no series per topic.
    let mut sends = tokio::task::JoinSet::new();
    for chunk in 0..20 {
        let (http, url) = (host.http.clone(), host.url(""));
        sends.spawn(async move {
            for i in 0..50 {
                let n = chunk * 50 + i;
                let r = http
                    .post(format!("{url}/v1/events/m/t{n}"))
                    .header("ce-specversion", "1.0")
                    .header("ce-id", format!("t{n}"))
                    .header("ce-source", "/test")
                    .header("ce-type", "t")
                    .body("{}")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
            }
        });
    }
    while let Some(r) = sends.join_next().await {
        r.unwrap();
    }
    let (_, many) = scrape(&host, None).await;
    let series = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
    assert!(
        series(&many) < series(&after) + 20,
        "{} series before, {} after 1,000 topics",
        series(&after),
        series(&many)
    );
    assert!(!many.contains("m/t999"), "a topic leaked into a label");
    assert_eq!(value(&many, routed) - value(&after, routed), 1000.0);
    assert_eq!(
        value(&many, "weft_queue_depth{subscription=\"scraped\"}"),
        1003.0
    );
    host.stop().await.unwrap();
}

#[tokio::test]
async fn with_tokens_a_metrics_grant_or_admin_may_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, value: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, value).unwrap();
        p.display().to_string()
    };
    let host = Host::start(&format!(
        "[secrets]\nP = {{ file = {:?} }}\nM = {{ file = {:?} }}\nA = {{ file = {:?} }}\n\
         [tokens.producer]\ntoken = {{ secret = \"P\" }}\npublish = [\"a\"]\n\
         [tokens.prometheus]\ntoken = {{ secret = \"M\" }}\nmetrics = true\n\
         [tokens.ops]\ntoken = {{ secret = \"A\" }}\nadmin = true\n",
        file("p", "pr0ducer"),
        file("m", "pr0metheus"),
        file("a", "adm1n"),
    ))
    .await;
    assert_eq!(scrape(&host, None).await.0, 401);
    let (s, body) = scrape(&host, Some("pr0ducer")).await;
    assert_eq!(s, 403);
    assert!(body.contains("metrics = true"), "{body}");
    let (s, body) = scrape(&host, Some("pr0metheus")).await;
    assert_eq!(s, 200, "{body}");
    assert!(
        body.contains("# TYPE weft_store_size_bytes gauge"),
        "{body}"
    );
    assert_eq!(scrape(&host, Some("adm1n")).await.0, 200);
    // The metrics grant is for scraping only.
    let r = host
        .http
        .get(host.url("/v1/status"))
        .bearer_auth("pr0metheus")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    host.stop().await.unwrap();
}

//! Connectors against real HTTP servers on loopback: the example `http-poll`,
//! `webhook`, `http-post` and `file` connectors, the folder trigger, and the
//! sandbox's refusals (fixture `probe`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use weft_tests::{Host, eventually, guest, serve, sink_config};

use crate::WEFT;
use crate::delivery::publish_batch;

/// A JSON REST source of `ITEMS` items, paged by an offset cursor; counts requests.
const ITEMS: usize = 300;

#[derive(Default)]
struct Feed {
    requests: AtomicUsize,
    /// Extra time per page, in ms, beyond the 20 ms every page takes.
    slower_ms: std::sync::atomic::AtomicU64,
}

async fn items(
    State(feed): State<Arc<Feed>>,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    feed.requests.fetch_add(1, Ordering::SeqCst);
    // Slow enough that a kill lands between pages.
    let extra = feed.slower_ms.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(20 + extra)).await;
    let from: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let limit: usize = q.get("limit").and_then(|c| c.parse().ok()).unwrap_or(10);
    let to = (from + limit).min(ITEMS);
    let page: Vec<Value> = (from..to)
        .map(|i| json!({ "id": format!("item-{i:04}"), "n": i }))
        .collect();
    axum::Json(json!({ "items": page, "next": to.to_string() }))
}

/// What subscription `seen` collected from the feed: all of it, then whatever
/// came late (a duplicate would show here).
async fn feed_events(host: &Host) -> Vec<Value> {
    let mut seen = host.collect("seen", ITEMS, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    seen.extend(host.drain("seen").await);
    seen
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

fn poll_manifest(port: u16) -> String {
    format!(
        r#"publish = ["items/>"]
[ingress]
interval = "100ms"
[http]
allow = ["http://127.0.0.1:{port}"]
[limits]
call_timeout = "10s"
[config]
url = "http://127.0.0.1:{port}/items"
topic = "items/new"
type = "com.example.item"
page_size = 10
"#
    )
}

/// The cursor is committed with its page, so a SIGKILL anywhere neither loses a
/// page nor publishes one twice. Deduplication is off here, so a repeated page
/// would show up as duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_publishes_every_record_once_across_a_kill9() {
    let feed = Arc::new(Feed::default());
    let addr = serve(
        Router::new()
            .route("/items", get(items))
            .with_state(feed.clone()),
    )
    .await;
    let mut host = Host::new(WEFT);
    host.module("poller", &guest("http-poll"), &poll_manifest(addr.port()));
    host.config(&format!(
        "[ingest]\ndedup_window = \"0s\"\n{}",
        sink_config("seen", "items/>")
    ));
    host.start().await;
    let f = feed.clone();
    assert!(
        eventually(Duration::from_secs(30), || f
            .requests
            .load(Ordering::SeqCst)
            >= 8)
        .await,
        "the poller polls:\n{}",
        host.log()
    );
    host.kill9();
    let before = feed.requests.load(Ordering::SeqCst);
    assert!(before < ITEMS / 10, "killed in the middle ({before} pages)");
    host.start().await;
    let seen = feed_events(&host).await;
    let ids = ids(&seen);
    let expected: Vec<String> = (0..ITEMS).map(|i| format!("item-{i:04}")).collect();
    assert_eq!(
        ids,
        expected,
        "every record once, in order:\n{}",
        host.log()
    );
    assert_eq!(seen[0]["type"], "com.example.item");
    assert_eq!(seen[0]["data"]["n"], 0);
}

/// What an HTTP sink saw: (idempotency key, event id, status answered), in order.
#[derive(Default)]
struct Sink {
    seen: Mutex<Vec<(String, String, u16)>>,
    /// Answer 503 to this many requests first.
    fail_first: usize,
    /// Wait this long before answering.
    delay: Duration,
}

async fn sink(State(s): State<Arc<Sink>>, headers: HeaderMap, body: String) -> StatusCode {
    tokio::time::sleep(s.delay).await;
    let event: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let id = event["id"].as_str().unwrap_or("").to_owned();
    let mut seen = s.seen.lock().unwrap();
    let status = if seen.len() < s.fail_first {
        503
    } else if event["data"] == "bad" {
        422
    } else {
        200
    };
    seen.push((key, id, status));
    StatusCode::from_u16(status).unwrap()
}

impl Sink {
    fn delivered(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, s)| *s == 200)
            .map(|(_, id, _)| id.clone())
            .collect()
    }
}

fn post_manifest(port: u16, extra: &str) -> String {
    format!(
        r#"subscribe = ["orders/>"]
[http]
allow = ["http://127.0.0.1:{port}"]
[limits]
call_timeout = "30s"
[delivery]
batch_max = 8
retry = {{ attempts = 10, initial = "20ms", max = "200ms" }}
{extra}
[config]
url = "http://127.0.0.1:{port}/events"
"#
    )
}

async fn post_host(sink_state: Arc<Sink>) -> Host {
    let addr = serve(
        Router::new()
            .route("/events", post(sink))
            .with_state(sink_state),
    )
    .await;
    let mut host = Host::new(WEFT);
    host.module(
        "poster",
        &guest("http-post"),
        &post_manifest(addr.port(), ""),
    );
    host.start().await;
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_retries_with_one_idempotency_key_until_delivered_in_order() {
    let state = Arc::new(Sink {
        fail_first: 5,
        ..Default::default()
    });
    let host = post_host(state.clone()).await;
    let ids: Vec<String> = (0..20).map(|i| format!("o{i:02}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    publish_batch(&host, "orders/eu", &refs).await;
    let s = state.clone();
    assert!(
        eventually(Duration::from_secs(30), || s.delivered().len() >= 20).await,
        "all delivered:\n{}",
        host.log()
    );
    assert_eq!(state.delivered(), ids, "delivered once each, in order");
    let seen = state.seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|(key, id, _)| key == id),
        "the idempotency key is the event id: {seen:?}"
    );
    let first: Vec<u16> = seen
        .iter()
        .filter(|(_, id, _)| id == "o00")
        .map(|(_, _, s)| *s)
        .collect();
    assert_eq!(
        first,
        [503, 503, 503, 503, 503, 200],
        "the same key on each retry"
    );
    assert!(host.errors("poster").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_from_the_destination_lands_in_the_error_queue_and_the_rest_flows() {
    let state = Arc::new(Sink::default());
    let host = post_host(state.clone()).await;
    publish_batch(&host, "orders/eu", &["a", "bad", "c"]).await;
    let errors = host.wait_errors("poster", 1, Duration::from_secs(30)).await;
    assert_eq!(errors.len(), 1, "{}", host.log());
    let reason = errors[0]["record"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("422"),
        "the reason names the status: {reason}"
    );
    let s = state.clone();
    assert!(eventually(Duration::from_secs(10), || s.delivered().len() >= 2).await);
    assert_eq!(state.delivered(), ["a", "c"]);
    // A rejected event is not retried: one request for it.
    let bad = state
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, id, _)| id == "bad")
        .count();
    assert_eq!(bad, 1);
}

/// Ingest never waits for a destination: events buffer in the connector's
/// subscription and arrive later, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_destination_does_not_hold_up_ingest_and_everything_arrives_in_order() {
    let state = Arc::new(Sink {
        delay: Duration::from_millis(40),
        ..Default::default()
    });
    let host = post_host(state.clone()).await;
    let ids: Vec<String> = (0..100).map(|i| format!("s{i:03}")).collect();
    for chunk in ids.chunks(10) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        publish_batch(&host, "orders/eu", &refs).await;
    }
    let delivered_when_accepted = state.delivered().len();
    assert!(
        delivered_when_accepted < 100,
        "all 100 were accepted while the destination had taken {delivered_when_accepted}"
    );
    let s = state.clone();
    assert!(
        eventually(Duration::from_secs(60), || s.delivered().len() >= 100).await,
        "{}",
        host.log()
    );
    assert_eq!(state.delivered(), ids);
}

/// Counts the requests a server gets: the proof that a refused request never left.
async fn counting_server(counter: Arc<AtomicUsize>) -> u16 {
    let app = Router::new().fallback(any(move || {
        let c = counter.clone();
        async move {
            c.fetch_add(1, Ordering::SeqCst);
            "stolen"
        }
    }));
    serve(app).await.port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_refuses_ungranted_hosts_redirects_addresses_paths_and_env() {
    let forbidden = Arc::new(AtomicUsize::new(0));
    let by_name = Arc::new(AtomicUsize::new(0));
    let b = counting_server(forbidden.clone()).await;
    let c = counting_server(by_name.clone()).await;
    let a = serve(Router::new().route("/ok", get(|| async { "fine" })).route(
        "/redirect",
        get(move || async move {
            (
                StatusCode::FOUND,
                [("location", format!("http://127.0.0.1:{b}/stolen"))],
            )
        }),
    ))
    .await
    .port();
    let mut host = Host::new(WEFT);
    let modules = host.modules();
    std::fs::create_dir_all(modules.join("data")).unwrap();
    std::fs::write(modules.join("data/ok.txt"), "hello").unwrap();
    std::fs::write(host.dir.path().join("secret.txt"), "top secret").unwrap();
    host.module(
        "probe",
        &guest("probe"),
        &format!(
            r#"subscribe = ["probe/in"]
publish = ["probe/out"]
[http]
allow = ["http://127.0.0.1:{a}", "http://localhost:{c}"]
timeout = "5s"
[folders]
"/data" = {{ path = "data" }}
"/out" = {{ path = "out", write = true }}
[limits]
call_timeout = "10s"
[config]
output_topic = "probe/out"
"#
        ),
    );
    host.config(&sink_config("answers", "probe/out"));
    host.env("WEFT_PROBE_VISIBLE", "should-not-be");
    host.start().await;
    let asks = [
        json!({ "get": format!("http://127.0.0.1:{a}/ok") }),
        json!({ "get": format!("http://127.0.0.1:{b}/x") }),
        json!({ "get": format!("http://127.0.0.1:{a}/redirect") }),
        json!({ "get": format!("http://localhost:{c}/x") }),
        json!({ "read": "/data/ok.txt" }),
        json!({ "read": "/data/../secret.txt" }),
        json!({ "read": "/etc/hostname" }),
        json!({ "write": "/data/new.txt", "content": "x" }),
        json!({ "write": "/out/new.txt", "content": "x" }),
        json!({ "env": "WEFT_PROBE_VISIBLE" }),
    ];
    for (i, ask) in asks.iter().enumerate() {
        let (status, body) = host.publish("probe/in", &format!("p{i}"), ask).await;
        assert_eq!(status, 202, "{body}");
    }
    let answers: Vec<Value> = host
        .collect("answers", asks.len(), Duration::from_secs(60))
        .await
        .iter()
        .map(|e| e["data"].clone())
        .collect();
    assert_eq!(answers.len(), asks.len(), "{}", host.log());
    assert_eq!(answers[0]["status"], 200, "granted origin: {}", answers[0]);
    assert_eq!(answers[0]["body"], "fine");
    assert_eq!(
        answers[1]["kind"], "Denied",
        "ungranted origin: {}",
        answers[1]
    );
    assert_eq!(
        answers[2]["kind"], "Denied",
        "redirect off the grant: {}",
        answers[2]
    );
    assert_eq!(answers[2]["hops"].as_array().unwrap().len(), 2);
    assert_eq!(
        answers[3]["kind"], "Denied",
        "a granted name resolving to loopback: {}",
        answers[3]
    );
    assert_eq!(answers[4]["content"], "hello", "a mapped folder reads");
    for (i, what) in [(5, "`..` out of the folder"), (6, "an unmapped path")] {
        assert!(answers[i]["error"].is_string(), "{what}: {}", answers[i]);
    }
    assert!(answers[7]["error"].is_string(), "read-only: {}", answers[7]);
    assert!(!modules.join("data/new.txt").exists());
    assert_eq!(answers[8]["written"], 1, "{}", answers[8]);
    assert_eq!(
        std::fs::read_to_string(modules.join("out/new.txt")).unwrap(),
        "x"
    );
    assert!(
        answers[9]["error"].is_string(),
        "no environment: {}",
        answers[9]
    );
    assert_eq!(
        forbidden.load(Ordering::SeqCst),
        0,
        "nothing reached the ungranted server"
    );
    assert_eq!(
        by_name.load(Ordering::SeqCst),
        0,
        "nothing reached loopback by name"
    );
    let log = host.log();
    assert!(
        log.contains("outbound request refused"),
        "refusals are logged:\n{log}"
    );
    assert!(log.contains("127.0.0.1, a loopback address"), "{log}");
}

/// HMAC-SHA256, as GitHub signs webhook bodies.
fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let h = Sha256::new()
        .chain_update(&inner)
        .chain_update(message)
        .finalize();
    let h = Sha256::new()
        .chain_update(&outer)
        .chain_update(h)
        .finalize();
    h.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_route_publishes_good_payloads_and_refuses_bad_ones() {
    let mut host = Host::new(WEFT);
    let manifest = std::fs::read_to_string(
        weft_tests::repo_root().join("guests/connectors/webhook/webhook.toml"),
    )
    .unwrap()
    .replace(
        "# secret = { secret = \"GITHUB_WEBHOOK_SECRET\" }",
        "secret = { secret = \"HOOK\" }",
    );
    assert!(manifest.contains("secret = { secret = \"HOOK\" }"));
    host.module("webhook", &guest("webhook"), &manifest);
    host.config(&format!(
        "[secrets]\nHOOK = {{ env = \"WEFT_TEST_HOOK_SECRET\" }}\n{}",
        sink_config("hooks", "github/>")
    ));
    host.env("WEFT_TEST_HOOK_SECRET", "s3cr3t-hook");
    host.start().await;
    let send = |body: &'static str, signature: String| {
        host.http
            .post(host.url("/hooks/webhook"))
            .header("x-github-event", "push")
            .header("x-github-delivery", "delivery-1")
            .header("x-hub-signature-256", format!("sha256={signature}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let good = r#"{"action":"opened","ref":"main"}"#;
    let r = send(good, hmac_sha256(b"s3cr3t-hook", good.as_bytes()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", host.log());
    let bad = "{not json";
    let r = send(bad, hmac_sha256(b"s3cr3t-hook", bad.as_bytes()))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = send(good, hmac_sha256(b"wrong", good.as_bytes()))
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a forged signature");
    let r = host
        .http
        .get(host.url("/hooks/webhook"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = host
        .http
        .post(host.url("/hooks/nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let events = host.collect("hooks", 1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let more = host.drain("hooks").await;
    assert_eq!(
        events.len() + more.len(),
        1,
        "only the good payload: {events:?} {more:?}"
    );
    let e = &events[0];
    assert_eq!(e["id"], "delivery-1");
    assert_eq!(e["type"], "com.github.push.opened");
    assert_eq!(e["topic"], "github/push");
    assert_eq!(e["data"]["ref"], "main");
    assert!(
        !host.log().contains("s3cr3t-hook"),
        "the secret never reaches the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_connector_appends_json_lines_and_rotates_by_size() {
    let mut host = Host::new(WEFT);
    host.module(
        "files",
        &guest("file"),
        r#"subscribe = ["orders/>"]
[folders]
"/out" = { path = "out", write = true }
[config]
max_bytes = 1500
"#,
    );
    host.start().await;
    let ids: Vec<String> = (0..20).map(|i| format!("f{i:02}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    publish_batch(&host, "orders/eu", &refs).await;
    let out = host.modules().join("out");
    let lines = || -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(&out)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        // events-1, events-2, ... then the current events.jsonl.
        files.sort_by_key(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let n: u64 = name
                .trim_start_matches("events-")
                .trim_end_matches(".jsonl")
                .parse()
                .unwrap_or(u64::MAX);
            n
        });
        files
            .iter()
            .flat_map(|p| {
                std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(20), || lines().len() >= 20).await,
        "{}",
        host.log()
    );
    let got: Vec<String> = lines()
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(got, ids);
    let files = std::fs::read_dir(&out).unwrap().count();
    assert!(files > 1, "rotated into {files} files");
    for f in std::fs::read_dir(&out).unwrap() {
        let len = f.unwrap().metadata().unwrap().len();
        assert!(len <= 1500, "a file of {len} bytes, over max_bytes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_folder_trigger_publishes_each_settled_file_once_and_rejects_bad_ones() {
    let mut host = Host::new(WEFT);
    host.module(
        "inbox",
        &guest("inbox"),
        "publish = [\"inbox/>\"]\n[ingress]\nwatch = \"drop\"\n[config]\ntopic = \"inbox/lines\"\n",
    );
    // A connector whose manifest does not fit its world is refused, with the reason.
    host.module(
        "confused",
        &guest("inbox"),
        "subscribe = [\"a\"]\npublish = [\"inbox/>\"]\n[ingress]\nwatch = \"drop2\"\n",
    );
    host.config(&sink_config("lines", "inbox/>"));
    host.start().await;
    let status = host.get("/v1/status").await;
    let refused = status["refused"].to_string();
    assert!(
        refused.contains("confused") && refused.contains("an ingress connector receives no events"),
        "{refused}"
    );
    let drop = host.modules().join("drop");
    assert!(eventually(Duration::from_secs(10), || drop.is_dir()).await);
    // Written under a hidden name, then renamed into place, as careful writers do.
    std::fs::write(drop.join(".a.tmp"), "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n").unwrap();
    std::fs::rename(drop.join(".a.tmp"), drop.join("a.jsonl")).unwrap();
    std::fs::write(drop.join("b.jsonl"), "{\"n\":1}\nnot json\n").unwrap();
    let events = host.collect("lines", 3, Duration::from_secs(20)).await;
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["a.jsonl:1", "a.jsonl:2", "a.jsonl:3"],
        "{}",
        host.log()
    );
    assert!(
        eventually(Duration::from_secs(10), || !drop.join("a.jsonl").exists()).await,
        "a published file is removed"
    );
    let rejected = drop.join("rejected");
    assert!(
        eventually(Duration::from_secs(10), || rejected
            .join("b.jsonl")
            .exists())
        .await,
        "{}",
        host.log()
    );
    let reason = std::fs::read_to_string(rejected.join("b.jsonl.reason")).unwrap();
    assert!(reason.contains("b.jsonl:2: not JSON"), "{reason}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        host.drain("lines").await.is_empty(),
        "nothing of the bad file, nothing twice"
    );
}

/// The component with a custom section appended: the same code under a new
/// hash, so the host sees a new version.
fn new_version(wasm: &std::path::Path, n: u8) -> Vec<u8> {
    let mut bytes = std::fs::read(wasm).unwrap();
    let name = b"weft-test";
    bytes.extend_from_slice(&[0, (name.len() + 2) as u8, name.len() as u8]);
    bytes.extend_from_slice(name);
    bytes.push(n);
    bytes
}

/// A poller swapped to a new version while it pages through a feed goes on from
/// the committed cursor: the old version's call in flight finishes first, so no
/// page is fetched by both, and none is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poller_swapped_mid_feed_goes_on_from_its_cursor() {
    let feed = Arc::new(Feed::default());
    feed.slower_ms.store(80, Ordering::SeqCst);
    let addr = serve(
        Router::new()
            .route("/items", get(items))
            .with_state(feed.clone()),
    )
    .await;
    let mut host = Host::new(WEFT);
    host.module("poller", &guest("http-poll"), &poll_manifest(addr.port()));
    host.config(&format!(
        "[ingest]\ndedup_window = \"0s\"\n{}",
        sink_config("seen", "items/>")
    ));
    host.start().await;
    let modules = host.modules();
    let swaps = |status: &Value| {
        status["modules"][0]["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["action"] == "swapped")
            .count()
    };
    for n in 0..2u8 {
        let f = feed.clone();
        let at = 4 + 4 * n as usize;
        assert!(
            eventually(Duration::from_secs(30), || f
                .requests
                .load(Ordering::SeqCst)
                >= at)
            .await
        );
        std::fs::write(modules.join(".p.tmp"), new_version(&guest("http-poll"), n)).unwrap();
        std::fs::rename(modules.join(".p.tmp"), modules.join("poller.wasm")).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while swaps(&host.get("/v1/status").await) <= n as usize {
            assert!(std::time::Instant::now() < deadline, "{}", host.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(
        feed.requests.load(Ordering::SeqCst) < ITEMS / 10,
        "the swaps landed mid-feed"
    );
    let seen = feed_events(&host).await;
    let ids = ids(&seen);
    let expected: Vec<String> = (0..ITEMS).map(|i| format!("item-{i:04}")).collect();
    assert_eq!(
        ids,
        expected,
        "every record once, in order:\n{}",
        host.log()
    );
    assert_eq!(swaps(&host.get("/v1/status").await), 2);
}

/// What a sink was sent, body by body, byte for byte.
#[derive(Default)]
struct Bodies(Mutex<Vec<String>>);

async fn keep_body(State(b): State<Arc<Bodies>>, body: String) -> StatusCode {
    b.0.lock().unwrap().push(body);
    StatusCode::OK
}

/// A producer's exact bytes pass a pass-through processor (`echo`) and the
/// `http-post` example to a sink unaltered: odd whitespace, duplicate keys and a
/// 30-digit integer in the data, `"data": null` apart from no data. Extensions reach
/// a guest, and so the sink, as their canonical strings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producers_bytes_pass_a_processor_and_reach_a_sink_unaltered() {
    let bodies = Arc::new(Bodies::default());
    let addr = serve(
        Router::new()
            .route("/events", post(keep_body))
            .with_state(bodies.clone()),
    )
    .await;
    let mut host = Host::new(WEFT);
    host.module(
        "echo",
        &guest("echo"),
        "subscribe = [\"in/>\"]\npublish = [\"orders/>\"]\n[config]\noutput_topic = \"orders/out\"\n",
    );
    host.module(
        "poster",
        &guest("http-post"),
        &post_manifest(addr.port(), ""),
    );
    host.config(&sink_config("seen", "orders/>"));
    host.start().await;
    let odd = "{ \"k\" : 1,\n  \"k\": 2 ,\"big\":123456789012345678901234567890}";
    let head = r#""specversion":"1.0","source":"/p","type":"t""#;
    let sent = [
        format!(r#"{{{head},"id":"odd","count":42,"data":{odd}}}"#),
        format!(r#"{{{head},"id":"null","data":null}}"#),
        format!(r#"{{{head},"id":"none"}}"#),
    ];
    for body in &sent {
        let r = host
            .http
            .post(host.url("/v1/events/in/a"))
            .header("content-type", "application/cloudevents+json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    }
    let b = bodies.clone();
    assert!(
        eventually(Duration::from_secs(30), || b.0.lock().unwrap().len() >= 3).await,
        "three posts:\n{}",
        host.log()
    );
    let got = bodies.0.lock().unwrap().clone();
    assert!(
        got[0].ends_with(&format!(r#""count":"42","data":{odd}}}"#)),
        "{}",
        got[0]
    );
    assert!(got[1].ends_with(r#""data":null}"#), "{}", got[1]);
    assert!(!got[2].contains("\"data"), "{}", got[2]);
    // In the host, the output kept its input's extension type: still an Integer.
    let outputs = host.collect("seen", 3, Duration::from_secs(10)).await;
    assert_eq!(outputs[0]["count"], json!(42), "{outputs:?}");
}

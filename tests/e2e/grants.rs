//! API tokens and their grants, as a client sees them: 401 without a known token,
//! 403 outside the grants, taps that show only granted topics, admin routes, the CLI's
//! `--token`, the loopback rule for hosts without tokens, and secrets at start-up.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde_json::{Value, json};
use weft_tests::{Host, guest, manifest};

use crate::WEFT;

const CI: &str = "ci-7f3a9c1e-orders-only";
const OPS: &str = "ops-52b8d0aa-admin";

/// A host with two tokens: `ci` (its secret from the environment) may publish and tap
/// `orders/>`; `ops` (its secret from a file) is admin, may publish to `payments/>`
/// and tap everything.
/// Subscriptions `orders` and `payments` collect what is accepted.
async fn host_with_tokens() -> Host {
    let mut host = configured();
    host.start().await;
    host
}

/// The host of [`host_with_tokens`], not started yet.
fn configured() -> Host {
    let mut host = Host::new(WEFT);
    let file = host.dir.path().join("ops-token");
    std::fs::write(&file, format!("{OPS}\n")).unwrap();
    host.env("WEFT_TEST_CI_TOKEN", CI);
    host.config(&format!(
        r#"
[secrets]
CI_TOKEN = {{ env = "WEFT_TEST_CI_TOKEN" }}
OPS_TOKEN = {{ file = {file:?} }}

[tokens.ci]
token = {{ secret = "CI_TOKEN" }}
publish = ["orders/>"]
tap = ["orders/>"]

[tokens.ops]
token = {{ secret = "OPS_TOKEN" }}
publish = ["payments/>"]
tap = [">"]
admin = true

[subscriptions.orders]
subscribe = ["orders/>"]
[subscriptions.payments]
subscribe = ["payments/>"]
"#,
        file = file.display().to_string()
    ));
    host
}

/// Publishes one event in binary mode with `token`; (status, body).
async fn publish(host: &Host, token: Option<&str>, topic: &str, id: &str) -> (u16, Value) {
    let mut req = host
        .http
        .post(host.url(&format!("/v1/events/{topic}")))
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/grants")
        .header("ce-type", "test.event")
        .header("content-type", "application/json")
        .body(json!({ "id": id }).to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(host: &Host, token: Option<&str>, path: &str) -> (u16, Value) {
    let mut req = host.http.get(host.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The ids waiting in a subscription (read with the admin token).
async fn waiting(host: &Host, subscription: &str) -> Vec<String> {
    let (status, page) = get(
        host,
        Some(OPS),
        &format!("/v1/subscriptions/{subscription}/events?max=1000"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The log without its terminal colours.
pub(crate) fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| *c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

fn error_of(body: &Value) -> &str {
    body["detail"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_known_token_gets_401_and_probes_stay_open() {
    let host = host_with_tokens().await;

    let r = host
        .http
        .post(host.url("/v1/events/orders/eu/1"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "x")
        .header("ce-source", "/grants")
        .header("ce-type", "t")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    let body: Value = r.json().await.unwrap();
    assert!(error_of(&body).contains("needs a token"), "{body}");

    let (status, body) = publish(&host, Some("not-a-token"), "orders/eu/1", "w1").await;
    assert_eq!(status, 401);
    assert!(error_of(&body).contains("not known"), "{body}");
    let (status, _) = get(&host, None, "/v1/status").await;
    assert_eq!(status, 401);
    let (status, _) = get(&host, Some(&format!("{CI}x")), "/v1/status").await;
    assert_eq!(
        status, 401,
        "a token that only starts like a known one is unknown"
    );

    for probe in ["/healthz", "/readyz"] {
        let r = host.http.get(host.url(probe)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{probe} needs no token");
    }
    assert!(waiting(&host, "orders").await.is_empty(), "nothing stored");
    let log = host.log();
    assert!(
        !log.contains(CI) && !log.contains(OPS),
        "no token in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_publishes_only_to_its_granted_topics() {
    let host = host_with_tokens().await;

    let (status, body) = publish(&host, Some(CI), "orders/eu/1", "o1").await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = publish(&host, Some(CI), "orders2/x", "o2").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        error_of(&body),
        "token `ci` may not publish to `orders2/x` (it may publish to: orders/>)"
    );

    // A topic a subscription collects and one nobody uses get the same answer.
    let (used, used_body) = publish(&host, Some(CI), "payments/1", "p1").await;
    let (unused, unused_body) = publish(&host, Some(CI), "nobody/1", "n1").await;
    assert_eq!((used, unused), (403, 403));
    assert_eq!(
        error_of(&used_body).replace("payments/1", "T"),
        error_of(&unused_body).replace("nobody/1", "T")
    );

    assert_eq!(waiting(&host, "orders").await, ["o1"]);
    assert!(waiting(&host, "payments").await.is_empty());
    let log = plain(&host.log());
    assert!(
        log.lines()
            .any(|l| l.contains("publish refused") && l.contains("token=ci topic=orders2/x")),
        "refusals are logged by token name:\n{log}"
    );
    assert!(!log.contains(CI), "no token value in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_stores_nothing() {
    let host = host_with_tokens().await;
    let event = |id: &str| json!({"specversion": "1.0", "id": id, "source": "/grants", "type": "t", "data": {}});
    let batch = |url: &str, body: Value| {
        host.http
            .post(host.url(url))
            .bearer_auth(CI)
            .header("content-type", "application/cloudevents-batch+json")
            .body(body.to_string())
            .send()
    };

    let r = batch(
        "/v1/events/payments/1",
        json!([event("b1"), event("b2"), event("b3")]),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 403);

    // One event of a batch to a granted topic naming another topic: the whole
    // batch is refused.
    let mut sneaky = event("b5");
    sneaky["topic"] = json!("payments/1");
    let r = batch(
        "/v1/events/orders/eu/1",
        json!([event("b4"), sneaky, event("b6")]),
    )
    .await
    .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert!(status == 400 || status == 403, "{status} {body}");

    assert!(
        waiting(&host, "payments").await.is_empty(),
        "nothing stored"
    );
    assert!(waiting(&host, "orders").await.is_empty(), "nothing stored");

    let r = batch("/v1/events/orders/eu/1", json!([event("b7"), event("b8")]))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    assert_eq!(waiting(&host, "orders").await, ["b7", "b8"]);
}

/// Opens a tap; `Err(status, body)` when refused.
async fn open_tap(
    host: &Host,
    token: &str,
    pattern: &str,
) -> Result<reqwest::Response, (u16, Value)> {
    let r = host
        .http
        .get(host.url("/v1/tap"))
        .query(&[("pattern", pattern)])
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    if r.status().is_success() {
        Ok(r)
    } else {
        let status = r.status().as_u16();
        Err((status, r.json().await.unwrap_or(Value::Null)))
    }
}

/// The first cloudevent a tap shows.
async fn first_tapped(tap: reqwest::Response) -> Value {
    let mut body = tap.bytes_stream();
    let mut buf = String::new();
    let read = async {
        loop {
            let chunk = body.next().await.unwrap().unwrap();
            buf.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(line) = buf.lines().find_map(|l| l.strip_prefix("data:")) {
                return serde_json::from_str::<Value>(line.trim()).unwrap();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the tap showed an event in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_taps_only_patterns_its_grants_cover() {
    let host = host_with_tokens().await;

    for pattern in [">", "*/eu/1", "orders2/>", "orders"] {
        let (status, body) = open_tap(&host, CI, pattern).await.unwrap_err();
        assert_eq!(status, 403, "{pattern}: {body}");
        assert_eq!(
            error_of(&body),
            format!("token `ci` may not tap `{pattern}` (it may tap: orders/>)")
        );
    }

    let tap = open_tap(&host, CI, "orders/>").await.unwrap();
    let everything = open_tap(&host, OPS, ">").await.unwrap();
    // An event on a topic ci may not see goes first; ci's tap shows only the second.
    assert_eq!(
        publish(&host, Some(OPS), "payments/1", "hidden").await.0,
        202
    );
    assert_eq!(publish(&host, Some(CI), "orders/eu/1", "seen").await.0, 202);
    let shown = first_tapped(tap).await;
    assert_eq!(shown["id"], "seen");
    assert_eq!(shown["topic"], "orders/eu/1");
    assert_eq!(first_tapped(everything).await["id"], "hidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_need_an_admin_token() {
    let host = host_with_tokens().await;

    for path in [
        "/v1/status",
        "/v1/errors",
        "/v1/errors/some-module/1",
        "/v1/subscriptions",
    ] {
        let (status, body) = get(&host, Some(CI), path).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(error_of(&body).contains("admin = true"), "{body}");
        let (status, body) = get(&host, Some(OPS), path).await;
        assert_ne!(status, 401, "{path}: {body}");
        assert_ne!(status, 403, "{path}: {body}");
    }
    let put = |token: &'static str| {
        host.http
            .put(host.url("/v1/subscriptions/mine"))
            .bearer_auth(token)
            .json(&json!({"subscribe": ["orders/>"]}))
            .send()
    };
    assert_eq!(put(CI).await.unwrap().status().as_u16(), 403);
    assert_eq!(put(OPS).await.unwrap().status().as_u16(), 201);
    let purge = host
        .http
        .post(host.url("/v1/errors/purge"))
        .bearer_auth(CI)
        .json(&json!({"all": true, "confirm": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(purge.status().as_u16(), 403);
    let replay = host
        .http
        .post(host.url("/v1/errors/replay"))
        .bearer_auth(CI)
        .json(&json!({"all": true, "to": "topic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status().as_u16(), 403);

    // A subscription whose patterns ci's tap grants cover, ci may read; others not,
    // with the same answer whether they exist or not.
    assert_eq!(
        get(&host, Some(CI), "/v1/subscriptions/orders/events")
            .await
            .0,
        200
    );
    let (s1, b1) = get(&host, Some(CI), "/v1/subscriptions/payments/events").await;
    let (s2, b2) = get(&host, Some(CI), "/v1/subscriptions/ghost/events").await;
    assert_eq!((s1, s2), (403, 403));
    assert_eq!(
        error_of(&b1).replace("payments", "S"),
        error_of(&b2).replace("ghost", "S")
    );
    assert_eq!(
        get(&host, Some(OPS), "/v1/subscriptions/payments/events")
            .await
            .0,
        200
    );
}

fn weft(args: &[&str], token: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(WEFT);
    cmd.args(args)
        .env_remove("WEFT_TOKEN")
        .env_remove("WEFT_HOST");
    if let Some(t) = token {
        cmd.env("WEFT_TOKEN", t);
    }
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sends_its_token_and_says_when_it_is_refused() {
    let host = host_with_tokens().await;
    let url = host.url("");
    let args = |id: &'static str| ["publish", "orders/eu/1", "{}", "--id", id, "--host"];

    let mut ok = args("c1").to_vec();
    ok.extend([url.as_str(), "--token", CI]);
    let out = weft(&ok, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut by_env = args("c2").to_vec();
    by_env.push(&url);
    let out = weft(&by_env, Some(CI));
    assert!(
        out.status.success(),
        "WEFT_TOKEN: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut none = args("c3").to_vec();
    none.push(&url);
    let out = weft(&none, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("the host wants a token: pass --token or set WEFT_TOKEN"),
        "{stderr}"
    );

    let out = weft(&["status", "--host", &url, "--token", CI], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("the host refused the token: token `ci` may not use /v1/status"),
        "{stderr}"
    );
    let out = weft(
        &["errors", "list", "--host", &url, "--token", "wrong"],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("the host refused the token: the token is not known"),
        "{stderr}"
    );
    let out = weft(&["status", "--host", &url], Some(OPS));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(waiting(&host, "orders").await, ["c1", "c2"]);
}

/// Runs `weft run` with `config` on `listen` and waits for it to exit.
fn run_until_exit(config: &str, listen: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weft.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(WEFT)
        .args(["run", "--listen", listen, "--config"])
        .arg(&path)
        .arg("--modules")
        .arg(dir.path().join("modules"))
        .arg("--data")
        .arg(dir.path().join("data"))
        .arg("--cache")
        .arg(weft_tests::target_dir().join("weft-test-cache"))
        .env_remove("WEFT_TEST_UNSET_SECRET")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "weft kept running:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_without_tokens_listens_on_loopback_only() {
    let (ok, stderr) = run_until_exit("", "0.0.0.0:0");
    assert!(!ok);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:") && stderr.contains("without API tokens"),
        "{stderr}"
    );
    assert!(stderr.contains("[tokens.NAME]"), "says how: {stderr}");

    let mut host = Host::new(WEFT);
    host.start().await;
    assert!(
        host.log().contains("no API tokens configured"),
        "{}",
        host.log()
    );
    assert_eq!(
        host.publish("orders/x", "open", &json!({})).await.0,
        202,
        "open on loopback"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_stops_the_start_naming_it_and_its_source() {
    let config = r#"
[secrets]
CI_TOKEN = { env = "WEFT_TEST_UNSET_SECRET" }
OPS_TOKEN = { file = "/nonexistent/weft/ops-token" }
[tokens.ci]
token = { secret = "CI_TOKEN" }
publish = [">"]
[tokens.leaky]
token = "written-inline"
publish = [">"]
"#;
    let (ok, stderr) = run_until_exit(config, "127.0.0.1:0");
    assert!(!ok);
    for needle in [
        "secrets.CI_TOKEN: environment variable `WEFT_TEST_UNSET_SECRET` is not set",
        "secrets.OPS_TOKEN: cannot read the file /nonexistent/weft/ops-token",
        "tokens.leaky.token must be { secret = \"NAME\" }",
    ] {
        assert!(stderr.contains(needle), "{needle} missing in:\n{stderr}");
    }
    assert!(
        !stderr.contains("written-inline"),
        "values are never shown: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_onto_a_topic_needs_a_publish_grant_for_it() {
    let mut host = configured();
    host.module(
        "echo",
        &guest("echo"),
        &manifest("orders/in", "orders/out", ""),
    );
    host.start().await;
    let r = host
        .http
        .post(host.url("/v1/events/orders/in"))
        .bearer_auth(CI)
        .header("ce-specversion", "1.0")
        .header("ce-id", "r1")
        .header("ce-source", "/grants")
        .header("ce-type", "t")
        .header("content-type", "text/plain")
        .body("reject")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&host, Some(OPS), "/v1/errors/echo").await.1["errors"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(
            Instant::now() < deadline,
            "echo rejected nothing:\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let replay = |body: Value| {
        host.http
            .post(host.url("/v1/errors/replay"))
            .bearer_auth(OPS)
            .json(&body)
            .send()
    };

    // ops is admin but may publish only to payments/>: not back onto orders/in.
    let r = replay(json!({"module": "echo", "to": "topic"}))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let body: Value = r.json().await.unwrap();
    assert!(
        error_of(&body).starts_with("token `ops` may not publish to `orders/in`"),
        "{body}"
    );
    let (_, errors) = get(&host, Some(OPS), "/v1/errors/echo?status=failed").await;
    assert_eq!(
        errors["errors"].as_array().unwrap().len(),
        1,
        "nothing replayed"
    );

    // Onto a topic it may publish to, it may.
    let r = replay(json!({"module": "echo", "to": "topic", "set": {"topic": "payments/fixed"}}))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["replayed"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(waiting(&host, "payments").await, ["r1"]);
}

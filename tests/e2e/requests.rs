//! Request-reply on one host: `POST /v1/requests/{topic}` answered by the event a
//! module emits to the request's `replyto`; timeouts with the late reply fetched
//! by id, callers that go away, many requests in flight, forged reply addresses,
//! and replies kept to the token that asked.

use std::time::Duration;

use serde_json::{Value, json};
use weft_tests::{Host, example_manifest, guest, python_guest, sink_config};

use crate::WEFT;

/// A request in binary mode: (status, headers, body).
async fn request(
    host: &Host,
    topic: &str,
    id: &str,
    data: &Value,
    query: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = host
        .http
        .post(host.url(&format!("/v1/requests/{topic}{query}")))
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/test")
        .header("ce-type", "test.request")
        .header("content-type", "application/json")
        .body(data.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.unwrap().to_vec())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

/// The tour's pipeline with `receipt` at its end.
async fn tour() -> Host {
    let mut host = Host::new(WEFT);
    for name in ["json-transform", "schema-validator", "router", "receipt"] {
        host.module(name, &guest(name), &example_manifest(name));
    }
    host.start().await;
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_answered_through_the_pipeline_and_a_rejected_one_fails_at_once() {
    let host = tour().await;
    let order = json!({ "cust": "Ada", "amount": 42.5, "country": "DE" });
    let (status, headers, body) = request(
        &host,
        "orders/created",
        "ada-1",
        &order,
        "?timeout=10s",
        None,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&headers, "ce-correlationid"), "ada-1");
    assert_eq!(header(&headers, "ce-type"), "com.example.order.receipt");
    assert_eq!(header(&headers, "content-type"), "application/json");
    let receipt = json_of(&body);
    assert_eq!(receipt["status"], "accepted");
    assert_eq!(receipt["topic"], "orders/routed/eu");
    assert_eq!(receipt["data"]["customer"], "Ada", "transformed on the way");

    // Structured mode when asked for.
    let r = host
        .http
        .post(host.url("/v1/requests/orders/created"))
        .header("accept", "application/cloudevents+json")
        .header("content-type", "application/cloudevents+json")
        .body(
            json!({ "specversion": "1.0", "id": "cy-1", "source": "/test", "type": "t",
                    "data": { "cust": "Cy", "amount": 7, "country": "FR" } })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let event: Value = r.json().await.unwrap();
    assert_eq!(event["correlationid"], "cy-1");
    assert_eq!(event["data"]["status"], "accepted");

    // The validator rejects Bob's order: the caller hears why at once.
    let bad = json!({ "cust": "Bob", "amount": -1, "country": "US" });
    let (status, _, body) =
        request(&host, "orders/created", "bob-1", &bad, "?timeout=20s", None).await;
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    let problem = json_of(&body);
    assert_eq!(problem["type"], "tag:weft,2026:problem/request-failed");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("schema-validator") && detail.contains("minimum"),
        "{detail}"
    );

    // The command line prints the reply's data.
    let out = tokio::task::spawn_blocking({
        let url = host.url("");
        move || {
            std::process::Command::new(WEFT)
                .args([
                    "request",
                    "orders/created",
                    r#"{"cust":"Dee","amount":1,"country":"DE"}"#,
                ])
                .args(["--timeout", "10s", "--host", &url])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json_of(stdout.as_bytes())["data"]["customer"],
        "Dee",
        "{stdout}"
    );
    let out = std::process::Command::new(WEFT)
        .args(["request", "nobody/listens", "{}", "--host", &host.url("")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("nothing takes events on `nobody/listens`"),
        "{stderr}"
    );

    // Replies are never routed: nothing reached a queue or an error queue.
    let status = host.get("/v1/status").await;
    assert_eq!(status["requests"]["answered"], 4, "{status}");
    assert_eq!(status["requests"]["waiting"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_module_answers_a_request() {
    let mut host = Host::new(WEFT);
    let py = python_guest("json-transform");
    let manifest = r#"subscribe = ["quotes/in"]
publish = ["quotes/out"]
[limits]
memory = "128MiB"
call_timeout = "5s"
[config]
output_topic = "quotes/out"
reply_type = "com.example.quote"
[config.rename]
cust = "customer"
"#;
    host.module("quoter", &py, manifest);
    host.start().await;
    let (status, headers, body) = request(
        &host,
        "quotes/in",
        "q-1",
        &json!({ "cust": "Ada" }),
        "?timeout=60s",
        None,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&headers, "ce-correlationid"), "q-1");
    assert_eq!(header(&headers, "ce-type"), "com.example.quote");
    assert_eq!(json_of(&body), json!({ "customer": "Ada" }));
}

/// A host where requests on `desk/>` wait in the subscription `desk` for an
/// outside consumer to answer them.
async fn desk(extra: &str) -> Host {
    let mut host = Host::new(WEFT);
    host.config(&format!("{}{extra}", sink_config("desk", "desk/>")));
    host.start().await;
    host
}

/// Takes the next request from `desk` and answers it over HTTP at its `replyto`.
async fn answer_from_desk(host: &Host, data: &Value, token: Option<&str>) -> Value {
    let requests = host.collect("desk", 1, Duration::from_secs(10)).await;
    let request = requests.first().expect("the request was stored").clone();
    let address = request["replyto"].as_str().unwrap().to_owned();
    assert!(address.starts_with("_reply/"), "{address}");
    let mut req = host
        .http
        .post(host.url(&format!("/v1/events/{address}")))
        .header("ce-specversion", "1.0")
        .header("ce-id", "answer-1")
        .header("ce-source", "/desk")
        .header("ce-type", "desk.answer")
        .header("ce-correlationid", request["id"].as_str().unwrap())
        .header("content-type", "application/json")
        .body(data.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    assert_eq!(req.send().await.unwrap().status().as_u16(), 202);
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_nobody_answers_in_time_gets_504_and_its_late_reply_by_id() {
    let host = desk("").await;
    let (status, _, body) = request(
        &host,
        "desk/help",
        "late-1",
        &json!({ "q": 1 }),
        "?timeout=300ms",
        None,
    )
    .await;
    assert_eq!(status, 504);
    let problem = json_of(&body);
    assert_eq!(problem["id"], "late-1", "{problem}");
    let pending = host
        .http
        .get(host.url("/v1/replies/late-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(pending.status().as_u16(), 202, "known, no reply yet");
    answer_from_desk(&host, &json!({ "a": 1 }), None).await;
    let r = host
        .http
        .get(host.url("/v1/replies/late-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(r.headers(), "ce-correlationid"), "late-1");
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "a": 1 }));

    // Unknown ids, a timeout past the host's maximum, a request nothing takes.
    let r = host
        .http
        .get(host.url("/v1/replies/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let (status, _, _) = request(&host, "desk/x", "t-1", &json!({}), "?timeout=1h", None).await;
    assert_eq!(status, 400);
    let (status, _, body) = request(&host, "void/x", "v-1", &json!({}), "", None).await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        json_of(&body)["type"],
        "tag:weft,2026:problem/no-responders"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_goes_away_changes_nothing_and_a_retry_waits_on_the_same_request() {
    let host = desk("").await;
    // The caller gives up after 200 ms; the host would have waited 30 s.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let gone = impatient
        .post(host.url("/v1/requests/desk/help"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "gone-1")
        .header("ce-source", "/test")
        .header("ce-type", "test.request")
        .body("{}")
        .send()
        .await;
    assert!(gone.is_err(), "the caller timed out");
    // The request was stored: the desk gets it, answers, and the reply is kept.
    let handled = answer_from_desk(&host, &json!({ "done": true }), None).await;
    assert_eq!(handled["id"], "gone-1");
    let r = host
        .http
        .get(host.url("/v1/replies/gone-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // A 504, then the same request again: it waits on the first one's reply
    // rather than being handled twice.
    let (status, _, _) = request(
        &host,
        "desk/help",
        "again-1",
        &json!({}),
        "?timeout=200ms",
        None,
    )
    .await;
    assert_eq!(status, 504);
    let retry = tokio::spawn({
        let http = host.http.clone();
        let url = host.url("/v1/requests/desk/help?timeout=10s");
        async move {
            let r = http
                .post(url)
                .header("ce-specversion", "1.0")
                .header("ce-id", "again-1")
                .header("ce-source", "/test")
                .header("ce-type", "test.request")
                .body("{}")
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    answer_from_desk(&host, &json!({ "once": true }), None).await;
    assert_eq!(retry.await.unwrap(), (200, r#"{"once":true}"#.to_owned()));
    assert!(
        host.drain("desk").await.is_empty(),
        "the retry was not stored again"
    );
    // The same id while it is still waiting is a conflict.
    let first = tokio::spawn({
        let http = host.http.clone();
        let url = host.url("/v1/requests/desk/help?timeout=2s");
        async move {
            http.post(url)
                .header("ce-specversion", "1.0")
                .header("ce-id", "dup-1")
                .header("ce-source", "/test")
                .header("ce-type", "t")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _, body) = request(&host, "desk/help", "dup-1", &json!({}), "", None).await;
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    assert_eq!(first.await.unwrap(), 504);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_in_flight_each_get_their_own_reply() {
    let mut host = Host::new(WEFT);
    host.module(
        "receipt",
        &guest("receipt"),
        "subscribe = [\"rr/>\"]\n[delivery]\nbatch_max = 64\n",
    );
    host.start().await;
    let calls = (0..1000).map(|n| {
        let host = &host;
        async move {
            let id = format!("many-{n}");
            let (status, headers, body) =
                request(host, "rr/in", &id, &json!({ "n": n }), "?timeout=60s", None).await;
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            assert_eq!(header(&headers, "ce-correlationid"), id);
            assert_eq!(json_of(&body)["data"]["n"], n);
        }
    });
    futures::future::join_all(calls).await;
    let status = host.get("/v1/status").await;
    assert_eq!(status["requests"]["answered"], 1000, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_answering_another_requests_address_is_refused() {
    let mut host = Host::new(WEFT);
    // `echo` sends every event to a reply address it was never given.
    let forged = "_reply/local/0123456789abcdef0123456789abcdef";
    host.module(
        "forger",
        &guest("echo"),
        &format!(
            "subscribe = [\"ask/>\"]\npublish = [\">\"]\n[config]\noutput_topic = \"{forged}\"\n"
        ),
    );
    host.start().await;
    let (status, _, body) = request(&host, "ask/x", "f-1", &json!({}), "?timeout=10s", None).await;
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    let detail = json_of(&body)["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("not the `replyto`"), "{detail}");
    let errors = host.wait_errors("forger", 1, Duration::from_secs(10)).await;
    assert!(
        errors[0]["record"]["reason"]
            .as_str()
            .unwrap()
            .contains(forged),
        "{errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_is_readable_only_with_the_token_that_asked() {
    const ALICE: &str = "alice-4d1f0c7e";
    const BOB: &str = "bob-9a3e55d1";
    const OPS: &str = "ops-0c4f8e2b";
    let mut host = Host::new(WEFT);
    host.env("WEFT_TEST_ALICE", ALICE);
    host.env("WEFT_TEST_BOB", BOB);
    host.env("WEFT_TEST_OPS", OPS);
    host.config(&format!(
        r#"{}
[secrets]
ALICE = {{ env = "WEFT_TEST_ALICE" }}
BOB = {{ env = "WEFT_TEST_BOB" }}
OPS = {{ env = "WEFT_TEST_OPS" }}
[tokens.alice]
token = {{ secret = "ALICE" }}
publish = ["desk/>"]
[tokens.bob]
token = {{ secret = "BOB" }}
publish = ["desk/>"]
[tokens.ops]
token = {{ secret = "OPS" }}
publish = ["_reply/>"]
admin = true
"#,
        sink_config("desk", "desk/>")
    ));
    host.start().await;
    let (status, _, _) = request(
        &host,
        "desk/q",
        "secret-1",
        &json!({}),
        "?timeout=200ms",
        Some(ALICE),
    )
    .await;
    assert_eq!(status, 504);
    // A request needs a publish grant for its topic.
    let (status, _, _) = request(&host, "other/q", "x-1", &json!({}), "", Some(BOB)).await;
    assert_eq!(status, 403);
    // The desk (ops) answers; only alice reads the reply.
    let requests = host
        .http
        .get(host.url("/v1/subscriptions/desk/events"))
        .bearer_auth(OPS)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let address = requests["events"][0]["event"]["replyto"]
        .as_str()
        .unwrap()
        .to_owned();
    let posted = host
        .http
        .post(host.url(&format!("/v1/events/{address}")))
        .bearer_auth(OPS)
        .header("ce-specversion", "1.0")
        .header("ce-id", "a-1")
        .header("ce-source", "/desk")
        .header("ce-type", "desk.answer")
        .body("private")
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 202);
    let get = |token: &'static str| {
        host.http
            .get(host.url("/v1/replies/secret-1"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(get(BOB).await.unwrap().status().as_u16(), 404);
    let r = get(ALICE).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "private");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_with_await_reply_answers_its_sender_with_the_reply() {
    let mut host = Host::new(WEFT);
    host.module(
        "shop",
        &guest("webhook"),
        r#"publish = ["orders/>"]
[ingress]
route = true
await_reply = "10s"
[config]
topic_prefix = "orders"
type_prefix = "com.example.shop"
event_header = "x-shop-event"
delivery_header = "x-shop-delivery"
"#,
    );
    host.module("receipt", &guest("receipt"), "subscribe = [\"orders/>\"]\n");
    host.start().await;
    let r = host
        .http
        .post(host.url("/hooks/shop"))
        .header("x-shop-event", "created")
        .header("x-shop-delivery", "o-77")
        .header("content-type", "application/json")
        .body(r#"{"cust":"Dee"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(r.headers(), "ce-correlationid"), "o-77");
    let receipt: Value = r.json().await.unwrap();
    assert_eq!(receipt["topic"], "orders/created");
    assert_eq!(receipt["data"]["cust"], "Dee");
    // The connector's own refusal is still its answer, with nothing published.
    let r = host
        .http
        .post(host.url("/hooks/shop"))
        .header("x-shop-event", "created")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

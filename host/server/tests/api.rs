//! The HTTP API in-process: `weft_server::run` on a loopback listener, with a
//! real store in a temp folder and no modules, so these tests need neither the
//! `weft` binary nor any guest. What needs modules runs end to end in tests/e2e.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use common::{Host, problem};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::TcpListener;
use weft_server::{HostConfig, Paths};

#[tokio::test]
async fn a_subscription_of_the_config_collects_and_hands_out_in_order() {
    let host = Host::start("[subscriptions.audit]\nsubscribe = [\"orders/>\"]\n").await;
    for (i, topic) in ["orders/a", "other/x", "orders/b"].iter().enumerate() {
        let (s, body) = host.publish(topic, &format!("e{i}"), "{}").await;
        assert_eq!(s, 202, "{body}");
        assert_eq!(body["accepted"][0]["id"], format!("e{i}"));
    }
    let (s, body) = host.get("/v1/subscriptions/audit/events?max=10").await;
    assert_eq!(s, 200, "{body}");
    let events = body["events"].as_array().unwrap();
    let ids: Vec<_> = events.iter().map(|e| e["event"]["id"].clone()).collect();
    assert_eq!(ids, [json!("e0"), json!("e2")], "only its topics, in order");
    let first = events[0]["seq"].as_u64().unwrap();
    let r = host
        .http
        .post(host.url(&format!("/v1/subscriptions/audit/ack?upto={first}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["acknowledged"], 1);
    let (_, body) = host.get("/v1/subscriptions/audit/events").await;
    assert_eq!(body["events"][0]["event"]["id"], "e2");
    let (_, status) = host.get("/v1/status").await;
    let audit = &status["subscriptions"][0];
    assert_eq!(
        (&audit["delivered"], &audit["acknowledged"]),
        (&json!(3), &json!(1)),
        "two handed out, one acknowledged, one handed out again: {audit}"
    );
    host.stop().await.unwrap();
}

#[tokio::test]
async fn errors_are_problems_that_say_what_to_do() {
    let host = Host::start("").await;
    let (s, body) = host.publish("a//b", "1", "{}").await;
    problem(s, &body, 400, "invalid-topic", "empty level");
    let r = host
        .http
        .post(host.url("/v1/events/a"))
        .header("ce-specversion", "1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "the problem media type"
    );
    let (s, body) = (r.status().as_u16(), r.json::<Value>().await.unwrap());
    problem(s, &body, 400, "invalid-event", "ce-id");
    let (s, body) = host.get("/v1/subscriptions/nobody/events").await;
    problem(s, &body, 404, "not-found", "PUT /v1/subscriptions/nobody");
    host.stop().await.unwrap();
}

#[tokio::test]
async fn a_host_with_tokens_refuses_callers_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("token");
    std::fs::write(&secret, "s3cret").unwrap();
    let host = Host::start(&format!(
        "[secrets]\nT = {{ file = {:?} }}\n[tokens.ci]\ntoken = {{ secret = \"T\" }}\npublish = [\"a\"]\n",
        secret.display().to_string()
    ))
    .await;
    let (s, body) = host.publish("a", "1", "{}").await;
    problem(s, &body, 401, "unauthorized", "Authorization: Bearer");
    let r = host
        .http
        .get(host.url("/v1/status"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    let (s, body) = (r.status().as_u16(), r.json::<Value>().await.unwrap());
    problem(s, &body, 403, "forbidden", "admin = true");
    let (s, _) = host.get("/healthz").await;
    assert_eq!(s, 200, "probes stay open");
    host.stop().await.unwrap();
}

#[tokio::test]
async fn run_itself_refuses_an_open_api_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let config = HostConfig::default().with_paths(Paths {
        modules: dir.path().join("modules"),
        data: dir.path().join("data"),
        cache: None,
    });
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let err = weft_server::run(config, listener, std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("without API tokens"), "{err}");
    assert!(
        !dir.path().join("data").exists(),
        "refused before anything was created"
    );
}

#[tokio::test]
async fn status_shows_subscriptions_and_the_store() {
    let host = Host::start("[subscriptions.audit]\nsubscribe = [\">\"]\n").await;
    host.publish("x", "1", "{}").await;
    let (s, body) = host.get("/v1/status").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["engine"], "redb");
    assert_eq!(body["subscriptions"][0]["name"], "audit");
    assert_eq!(body["subscriptions"][0]["queue_depth"], 1);
    assert!(body["modules"].as_array().unwrap().is_empty());
    host.stop().await.unwrap();
}

/// Sends `method path` with `body` (and a JSON content type when `json`).
async fn send(host: &Host, method: &str, path: &str, body: &str, json: bool) -> (u16, Value) {
    let mut r = host
        .http
        .request(method.parse().unwrap(), host.url(path))
        .body(body.to_owned());
    if json {
        r = r.header("content-type", "application/json");
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    assert_eq!(
        r.headers().get("content-type").map(|v| v.to_str().unwrap()),
        (status >= 400).then_some("application/problem+json"),
        "{method} {path}"
    );
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn axums_own_refusals_are_problems_that_say_what_to_send() {
    let host = Host::start("[subscriptions.audit]\nsubscribe = [\">\"]\n").await;
    let (s, b) = send(&host, "GET", "/v1/nowhere", "", false).await;
    problem(s, &b, 404, "not-found", "the API is under /v1");
    let (s, b) = send(&host, "GET", "/nowhere", "", false).await;
    problem(s, &b, 404, "not-found", "/healthz");
    let r = host
        .http
        .delete(host.url("/v1/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["allow"], "GET,HEAD");
    let (s, b) = (r.status().as_u16(), r.json::<Value>().await.unwrap());
    problem(
        s,
        &b,
        405,
        "method-not-allowed",
        "DELETE is not a method of /v1/status",
    );
    let (s, b) = send(
        &host,
        "GET",
        "/v1/subscriptions/audit/events?max=abc",
        "",
        false,
    )
    .await;
    problem(s, &b, 400, "invalid-request", "send `?max=N`");
    let (s, b) = send(
        &host,
        "POST",
        "/v1/subscriptions/audit/ack?upto=x",
        "",
        false,
    )
    .await;
    problem(s, &b, 400, "invalid-request", "send `?upto=SEQ`");
    let (s, b) = send(&host, "GET", "/v1/tap?pattern=a&pattern=b", "", false).await;
    problem(s, &b, 400, "invalid-request", "send `?pattern=P`");
    let (s, b) = send(&host, "PUT", "/v1/subscriptions/s", "{not json", true).await;
    problem(
        s,
        &b,
        400,
        "invalid-request",
        r#"send JSON like {"subscribe""#,
    );
    let (s, b) = send(
        &host,
        "PUT",
        "/v1/subscriptions/s",
        r#"{"subscribe": 1}"#,
        true,
    )
    .await;
    problem(
        s,
        &b,
        400,
        "invalid-request",
        r#"send JSON like {"subscribe""#,
    );
    let (s, b) = send(
        &host,
        "PUT",
        "/v1/subscriptions/s",
        r#"{"subscribe": []}"#,
        false,
    )
    .await;
    problem(
        s,
        &b,
        415,
        "unsupported-media-type",
        "Content-Type: application/json",
    );
    let (s, b) = send(
        &host,
        "POST",
        "/v1/errors/replay",
        r#"{"modul": "x"}"#,
        true,
    )
    .await;
    problem(s, &b, 400, "invalid-request", "a selection has module, seq");
    let (s, b) = send(&host, "POST", "/v1/errors/purge", "[", true).await;
    problem(s, &b, 400, "invalid-request", "a selection has module, seq");
    let (s, b) = send(&host, "GET", "/v1/errors?seq=first", "", false).await;
    problem(s, &b, 400, "invalid-request", "seq (a number)");
    let (s, b) = send(&host, "GET", "/v1/errors/m/abc", "", false).await;
    problem(s, &b, 400, "invalid-request", "SEQ a number");
    host.stop().await.unwrap();
}

#[tokio::test]
async fn a_pull_of_zero_events_is_refused_rather_than_handing_one_out() {
    let host = Host::start("[subscriptions.audit]\nsubscribe = [\">\"]\n").await;
    host.publish("a", "1", "{}").await;
    let (s, b) = host.get("/v1/subscriptions/audit/events?max=0").await;
    problem(s, &b, 400, "invalid-request", "`max=0` asks for nothing");
    let (_, b) = host.get("/v1/subscriptions/audit/events?max=1").await;
    assert_eq!(b["events"].as_array().unwrap().len(), 1, "{b}");
    host.stop().await.unwrap();
}

#[tokio::test]
async fn a_chunked_body_over_max_body_is_a_413_problem_and_nothing_is_stored() {
    let host =
        Host::start("[ingest]\nmax_body = \"1KiB\"\n[subscriptions.audit]\nsubscribe = [\">\"]\n")
            .await;
    // A stream has no declared length: the limit cuts it while it is read.
    let chunks = futures_chunks(vec![vec![b'1'; 800], vec![b'2'; 800]]);
    let r = host
        .http
        .post(host.url("/v1/events/a"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "big")
        .header("ce-source", "/t")
        .header("ce-type", "t")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    let (s, b) = (r.status().as_u16(), r.json::<Value>().await.unwrap());
    problem(
        s,
        &b,
        413,
        "payload-too-large",
        "1024 bytes ([ingest] max_body)",
    );
    let (_, b) = host.get("/v1/subscriptions/audit/events").await;
    assert_eq!(b["events"], json!([]));
    host.stop().await.unwrap();
}

fn futures_chunks(
    chunks: Vec<Vec<u8>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::iter(chunks.into_iter().map(Ok))
}

#[tokio::test]
async fn with_tokens_an_unknown_v1_path_answers_401_before_404() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("token");
    std::fs::write(&secret, "s3cret").unwrap();
    let host = Host::start(&format!(
        "[secrets]\nT = {{ file = {:?} }}\nA = {{ file = {:?} }}\n[tokens.ci]\ntoken = {{ secret = \"T\" }}\npublish = [\"a\"]\n[tokens.ops]\ntoken = {{ secret = \"A\" }}\nadmin = true\n",
        secret.display().to_string(),
        {
            let admin = dir.path().join("admin");
            std::fs::write(&admin, "adm1n").unwrap();
            admin.display().to_string()
        }
    ))
    .await;
    for path in ["/v1/nowhere", "/v1/status"] {
        let (s, b) = send(&host, "GET", path, "", false).await;
        problem(s, &b, 401, "unauthorized", "Authorization: Bearer");
    }
    let as_ =
        |token: &'static str, path: &str| host.http.get(host.url(path)).bearer_auth(token).send();
    let r = as_("s3cret", "/v1/nowhere").await.unwrap();
    let (s, b) = (r.status().as_u16(), r.json::<Value>().await.unwrap());
    problem(s, &b, 403, "forbidden", "admin = true");
    let r = as_("adm1n", "/v1/nowhere").await.unwrap();
    let (s, b) = (r.status().as_u16(), r.json::<Value>().await.unwrap());
    problem(s, &b, 404, "not-found", "no route GET /v1/nowhere");
    let r = host
        .http
        .delete(host.url("/v1/status"))
        .send()
        .await
        .unwrap();
    let (s, b) = (r.status().as_u16(), r.json::<Value>().await.unwrap());
    problem(s, &b, 401, "unauthorized", "Authorization: Bearer");
    host.stop().await.unwrap();
}

#[tokio::test]
async fn a_manifest_with_a_600_kb_line_is_refused_with_a_short_reason() {
    let manifest = format!(
        "subscribe = [\"a\"]\nnote = \"{}\" oops\n",
        "x".repeat(600 * 1024)
    );
    let host = Host::start_with_modules(
        "",
        &[("big.wasm", b"\0asm"), ("big.toml", manifest.as_bytes())],
    )
    .await;
    let r = host.http.get(host.url("/v1/status")).send().await.unwrap();
    let text = r.text().await.unwrap();
    assert!(text.len() < 4096, "/v1/status is {} bytes", text.len());
    let status: Value = serde_json::from_str(&text).unwrap();
    let reason = status["refused"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("line 2"), "{reason}");
    assert!(reason.contains("bytes cut"), "{reason}");
    assert!(reason.len() < 1024, "{reason}");
    host.stop().await.unwrap();
}

/// Reads server-sent events from a streaming response: the `data` of each event
/// named `name` (its `data:` lines joined by line feeds, as a client joins them).
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    async fn open(host: &Host, path: &str) -> Self {
        let response = host.http.get(host.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        Self {
            response,
            buffer: String::new(),
        }
    }

    async fn next(&mut self, name: &str) -> String {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |f: &str| {
                    block
                        .lines()
                        .filter_map(|l| l.strip_prefix(f))
                        .map(|v| v.strip_prefix(' ').unwrap_or(v))
                        .collect::<Vec<_>>()
                };
                if field("event:").first() == Some(&name) {
                    return field("data:").join("\n");
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("a server-sent event within 10 s")
                .unwrap()
                .expect("the stream goes on");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

/// A producer's JSON data with odd whitespace, duplicate keys and a 30-digit integer.
const ODD_DATA: &str = "{ \"k\" : 1,\n  \"k\": 2 ,\"big\":123456789012345678901234567890}";

#[tokio::test]
async fn events_come_back_byte_for_byte_through_pull_stream_and_tap() {
    let host = Host::start("[subscriptions.audit]\nsubscribe = [\"fid/>\"]\n").await;
    let mut tap = SseReader::open(&host, "/v1/tap?pattern=fid/>").await;
    let mut stream = SseReader::open(&host, "/v1/subscriptions/audit/stream").await;
    let head = r#""specversion":"1.0","source":"/p","type":"t""#;
    let sent = [
        format!(r#"{{{head},"id":"odd","count":42,"flag":true,"note":"42","data":{ODD_DATA}}}"#),
        format!(r#"{{{head},"id":"null","data":null}}"#),
        format!(r#"{{{head},"id":"none"}}"#),
    ];
    for body in &sent {
        let (s, text) = host
            .post_raw("fid/a", "application/cloudevents+json", body)
            .await;
        assert_eq!(s, 202, "{text}");
    }
    let binary_body = format!(" {ODD_DATA}\n");
    let r = host
        .http
        .post(host.url("/v1/events/fid/b"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "binary")
        .header("ce-source", "/p")
        .header("ce-type", "t")
        .header("content-type", "application/json")
        .body(binary_body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);

    let check = |text: &str, how: &str| {
        let value: Value =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{how}: {e}: {text}"));
        match value["id"].as_str().unwrap() {
            "odd" => {
                assert!(
                    text.contains(&format!(r#""data":{ODD_DATA}"#)),
                    "{how}: {text}"
                );
                assert_eq!(
                    (&value["count"], &value["flag"], &value["note"]),
                    (&json!(42), &json!(true), &json!("42")),
                    "{how}"
                );
            }
            "null" => assert!(text.contains(r#""data":null"#), "{how}: {text}"),
            "none" => assert!(
                value.get("data").is_none() && value.get("data_base64").is_none(),
                "{how}: {text}"
            ),
            "binary" => assert!(
                text.contains(&format!(r#""data":{binary_body}"#)),
                "{how}: {text}"
            ),
            other => panic!("{how}: unexpected {other}"),
        }
    };
    for _ in 0..4 {
        check(&tap.next("cloudevent").await, "tap");
        check(&stream.next("cloudevent").await, "stream");
    }
    let r = host
        .http
        .get(host.url("/v1/subscriptions/audit/events?max=10"))
        .send()
        .await
        .unwrap();
    let pulled = r.text().await.unwrap();
    let value: Value = serde_json::from_str(&pulled).unwrap();
    assert_eq!(value["events"].as_array().unwrap().len(), 4, "{pulled}");
    for ev in value["events"].as_array().unwrap() {
        let id = ev["event"]["id"].as_str().unwrap();
        // Each event's exact text, cut out of the answer by its id.
        let at = pulled.find(&format!(r#""id":"{id}""#)).unwrap();
        let start = pulled[..at].rfind(r#""event":{"#).unwrap() + 8;
        let text = &pulled[start..];
        let end = (1..=text.len())
            .find(|n| serde_json::from_str::<serde::de::IgnoredAny>(&text[..*n]).is_ok())
            .unwrap();
        check(&text[..end], "pull");
    }
    drop((tap, stream));
    host.stop().await.unwrap();
}

#[tokio::test]
async fn bad_strings_encoded_slashes_and_empty_batches_get_clear_answers() {
    let host = Host::start("[subscriptions.audit]\nsubscribe = [\">\"]\n").await;
    let (s, body) = host.publish("a%2Fb", "1", "{}").await;
    problem(s, &body, 400, "invalid-topic", "encoded slash (%2F)");
    let r = host
        .http
        .post(host.url("/v1/events/a"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "line%0Abreak")
        .header("ce-source", "/p")
        .header("ce-type", "t")
        .send()
        .await
        .unwrap();
    let (s, body) = (r.status().as_u16(), r.json::<Value>().await.unwrap());
    problem(
        s,
        &body,
        400,
        "invalid-event",
        "header `ce-id` holds a control character (U+000A)",
    );
    let (s, text) = host
        .post_raw("a", "application/cloudevents-batch+json", "[]")
        .await;
    assert_eq!((s, text.as_str()), (202, r#"{"accepted":[]}"#));
    let (_, body) = host.get("/v1/status").await;
    assert_eq!(body["subscriptions"][0]["queue_depth"], 0, "nothing stored");
    host.stop().await.unwrap();
}

#[tokio::test]
async fn an_event_stored_before_ids_were_checked_streams_without_breaking_anything() {
    let config = "[subscriptions.audit]\nsubscribe = [\">\"]\n";
    let host = Host::start(config).await;
    let dir = host.stop_keeping_data().await;
    // What a host before this check could have stored: an id with a line break.
    let store = weft_store::Store::open(weft_store::StoreConfig::new(
        dir.path().join("data/weft.redb"),
    ))
    .unwrap();
    let name = weft_core::Name::parse("audit").unwrap();
    let queue = store
        .queue(&weft_core::name::queue_of_subscription(&name))
        .await
        .unwrap();
    let event = weft_core::Event {
        id: "bad\r\nid".into(),
        source: "/old".into(),
        ty: "t".into(),
        subject: None,
        time: None,
        datacontenttype: Some("application/json".into()),
        dataschema: None,
        extensions: Vec::new(),
        topic: "x".into(),
        data: Some(b"{\r\n\"a\":1}".to_vec()),
        hops: 0,
        origin: None,
    };
    store
        .append(vec![weft_store::NewEvent {
            dedup: None,
            payload: event.encode(),
            queues: vec![queue],
        }])
        .await
        .unwrap();
    store.close().await.unwrap();
    drop(store);

    let host = Host::start_in(dir, config, &[]).await;
    let mut stream = SseReader::open(&host, "/v1/subscriptions/audit/stream").await;
    let data = stream.next("cloudevent").await;
    let value: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(value["id"], "bad\r\nid");
    assert_eq!(
        value["data_base64"], "ew0KImEiOjF9",
        "the same bytes, on one line"
    );
    let (s, body) = host.get("/v1/subscriptions/audit/events").await;
    assert_eq!(
        (s, &body["events"][0]["event"]["id"]),
        (200, &json!("bad\r\nid"))
    );
    drop(stream);
    host.stop().await.unwrap();
}

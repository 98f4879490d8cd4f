//! The listener against slow, idle and hostile clients, in-process through
//! `weft_server::run` with raw TCP clients on loopback. Timeouts are set short
//! in each host's `[http]` so that every test runs in a second or two; the
//! flood under a low open-file limit needs its own process and is in
//! tests/e2e (`edge`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use std::time::{Duration, Instant};

use common::{Host, problem};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Everything the server sends until it closes the connection, and when it
/// closed (from `since`); `None` if it is still open after `within`.
async fn until_closed(
    stream: &mut TcpStream,
    since: Instant,
    within: Duration,
) -> Option<(String, Duration)> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::from_std(since + within);
    loop {
        let mut buf = [0u8; 4096];
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Some((String::from_utf8_lossy(&got).into_owned(), since.elapsed()));
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// The status and the JSON body of a raw HTTP/1.1 answer.
fn answer(raw: &str) -> (u16, Value) {
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

const EVENT_HEAD: &str = "POST /v1/events/orders/a HTTP/1.1\r\nhost: x\r\nce-specversion: 1.0\r\nce-id: e1\r\nce-source: /t\r\nce-type: t\r\ncontent-type: application/json\r\n";

async fn audit_is_empty(host: &Host) {
    let (s, body) = host.get("/v1/subscriptions/audit/events").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["events"], serde_json::json!([]), "nothing stored");
}

#[tokio::test]
async fn connections_trickling_their_headers_are_dropped_after_the_header_timeout() {
    let host = Host::start("[http]\nheader_timeout = \"500ms\"\n").await;
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..200 {
        let stream = host.raw(b"GET /healthz HTTP/1.1\r\n").await;
        let (mut read, mut write) = stream.into_split();
        // One byte of an endless header every 100 ms, until the host hangs up.
        let writer = tokio::spawn(async move {
            write.write_all(b"x-slow: ").await.ok();
            for _ in 0..100 {
                if write.write_all(b"a").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let deadline = started + Duration::from_secs(5);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, read.read(&mut buf)).await {
                    Err(_) => return None,
                    Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
                    Ok(Ok(_)) => {}
                }
            }
        });
        slow.push((writer, reader));
    }
    // Meanwhile a normal client is served.
    let (s, _) = host.get("/readyz").await;
    assert_eq!(s, 200);
    let mut latest = Duration::ZERO;
    for (writer, reader) in slow {
        let closed = reader.await.unwrap();
        writer.abort();
        let closed = closed.expect("a trickling connection was still open after 5 s");
        latest = latest.max(closed);
    }
    assert!(
        latest >= Duration::from_millis(450),
        "closed before its timeout: {latest:?}"
    );
    eprintln!("200 trickling connections all closed by {latest:?}");
    host.stop().await.unwrap();
}

#[tokio::test]
async fn a_stalled_body_is_cut_with_408_and_nothing_is_stored() {
    let host = Host::start(
        "[http]\nbody_timeout = \"300ms\"\n[subscriptions.audit]\nsubscribe = [\">\"]\n",
    )
    .await;
    let head = format!("{EVENT_HEAD}content-length: 100\r\n\r\n{{\"a\": 1,");
    let started = Instant::now();
    let mut stream = host.raw(head.as_bytes()).await;
    let (raw, after) = until_closed(&mut stream, started, Duration::from_secs(5))
        .await
        .expect("a stalled body was still held after 5 s");
    let (s, body) = answer(&raw);
    problem(s, &body, 408, "request-timeout", "too slowly");
    assert!(after >= Duration::from_millis(250), "cut at {after:?}");
    audit_is_empty(&host).await;
    host.stop().await.unwrap();
}

#[tokio::test]
async fn a_body_that_keeps_its_rate_is_not_cut() {
    let host = Host::start(
        "[http]\nbody_timeout = \"1s\"\nbody_min_rate = \"100KiB/s\"\n[subscriptions.audit]\nsubscribe = [\">\"]\n",
    )
    .await;
    // 20 KiB in 20 pieces over ~200 ms: the grace and the rate allow 1.2 s.
    let data = format!("\"{}\"", "a".repeat(20 * 1024 - 2));
    let head = format!("{EVENT_HEAD}content-length: {}\r\n\r\n", data.len());
    let mut stream = host.raw(head.as_bytes()).await;
    for piece in data.as_bytes().chunks(1024) {
        stream.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let raw = String::from_utf8_lossy(&buf[..n]);
    assert!(raw.starts_with("HTTP/1.1 202"), "{raw}");
    host.stop().await.unwrap();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_its_timeout() {
    let host = Host::start("[http]\nheader_timeout = \"10s\"\nidle_timeout = \"300ms\"\n").await;
    let mut stream = host.raw(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let mut buf = vec![0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let idle = Instant::now();
    let (rest, after) = until_closed(&mut stream, idle, Duration::from_secs(5))
        .await
        .expect("an idle keep-alive connection was still open after 5 s");
    assert!(rest.is_empty(), "nothing more is sent: {rest}");
    assert!(after >= Duration::from_millis(250), "closed at {after:?}");
    assert!(
        after < Duration::from_secs(5),
        "the idle timeout, not the header timeout"
    );
    host.stop().await.unwrap();
}

#[tokio::test]
async fn a_declared_body_over_max_body_gets_413_at_once_on_every_route_with_nothing_stored() {
    let host =
        Host::start("[ingest]\nmax_body = \"1KiB\"\n[subscriptions.audit]\nsubscribe = [\">\"]\n")
            .await;
    let huge = "content-length: 10000000000\r\n\r\n";
    for head in [
        EVENT_HEAD.to_owned(),
        "POST /hooks/github HTTP/1.1\r\nhost: x\r\n".to_owned(),
        "PUT /v1/subscriptions/big HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            .to_owned(),
        "POST /v1/errors/replay HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            .to_owned(),
    ] {
        let started = Instant::now();
        // The head only: an answer that waited for the body would never come.
        let mut stream = host.raw(format!("{head}{huge}").as_bytes()).await;
        let (raw, _) = until_closed(&mut stream, started, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("no answer within 5 s to {head}"));
        let (s, body) = answer(&raw);
        problem(s, &body, 413, "payload-too-large", "1024 bytes");
    }
    // A client that sends its body anyway still reads the answer: the host
    // drains what comes after it rather than reset the connection.
    for _ in 0..5 {
        let r = host
            .http
            .post(host.url("/v1/events/orders/a"))
            .header("ce-specversion", "1.0")
            .header("ce-id", "big")
            .header("ce-source", "/t")
            .header("ce-type", "t")
            .header("content-type", "application/json")
            .body(vec![b'1'; 2 * 1024 * 1024])
            .send()
            .await
            .unwrap();
        let (s, body) = (r.status().as_u16(), r.json::<Value>().await.unwrap());
        problem(s, &body, 413, "payload-too-large", "1024 bytes");
    }
    audit_is_empty(&host).await;
    let (_, subs) = host.get("/v1/subscriptions").await;
    assert_eq!(subs["subscriptions"].as_array().unwrap().len(), 1, "{subs}");
    host.stop().await.unwrap();
}

#[tokio::test]
async fn at_the_cap_the_connection_waiting_longest_makes_room_for_a_new_client() {
    let host = Host::start("[http]\nmax_connections = 4\nheader_timeout = \"30s\"\n").await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(host.raw(b"").await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s, _) = host.get("/healthz").await;
    assert_eq!(s, 200, "served at the cap");
    let started = Instant::now();
    let closed = until_closed(&mut idle[0], started, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "the oldest idle connection made room");
    host.stop().await.unwrap();
}

#[tokio::test]
async fn at_the_cap_with_every_connection_busy_a_new_one_gets_503() {
    let host = Host::start("[http]\nmax_connections = 2\n").await;
    let mut taps = Vec::new();
    for _ in 0..2 {
        let mut tap = host.raw(b"GET /v1/tap HTTP/1.1\r\nhost: x\r\n\r\n").await;
        let mut buf = vec![0u8; 1024];
        let n = tap.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        taps.push(tap);
    }
    let started = Instant::now();
    let mut third = host.raw(b"").await;
    let (raw, _) = until_closed(&mut third, started, Duration::from_secs(5))
        .await
        .expect("a connection over the cap is closed at once");
    let (s, body) = answer(&raw);
    problem(s, &body, 503, "unavailable", "max_connections");
    drop(taps);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (s, _) = host.get("/healthz").await;
    assert_eq!(s, 200, "served again once the busy ones are gone");
    host.stop().await.unwrap();
}

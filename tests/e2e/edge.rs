//! The listener of the real binary under a low open-file limit: what only a
//! process of its own can show. The rest of the listener's bounds (slow heads,
//! stalled bodies, idle keep-alives, the cap, early 413s) are tested in-process
//! in host/server/tests/edge.rs.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use weft_tests::{Host, sink_config};

use crate::WEFT;

/// A client with no pooled connections, so that each request connects anew
/// (as a new client would) and none reuses a socket the host closed.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// The log without its colours.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_flood_past_a_low_file_limit_does_not_keep_a_new_client_out() {
    let mut host = Host::new(WEFT);
    // Long waits, so that only the cap and the room it makes can let a client in.
    host.config(&format!(
        "[http]\nheader_timeout = \"60s\"\nidle_timeout = \"60s\"\n{}",
        sink_config("all", ">")
    ));
    host.wrapped(&["prlimit", "--nofile=256:256", "--"]);
    host.start().await;
    let log = plain(&host.log());
    assert!(
        log.contains("max_connections=128 open_files=256"),
        "half of 256 files: {log}"
    );
    // More sockets than the host has files, none sending a byte.
    let mut idle = Vec::new();
    for _ in 0..400 {
        idle.push(
            TcpStream::connect(format!("127.0.0.1:{}", host.port))
                .await
                .unwrap(),
        );
    }
    let started = Instant::now();
    let http = fresh_client();
    let r = http
        .post(host.url("/v1/events/orders/a"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "after-the-flood")
        .header("ce-source", "/t")
        .header("ce-type", "t")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("a new client is served despite 400 idle sockets");
    let took = started.elapsed();
    assert_eq!(r.status(), 202);
    eprintln!("served {took:?} after opening 400 idle sockets against 256 files");
    assert!(took < Duration::from_secs(5), "served promptly: {took:?}");
    let page: serde_json::Value = http
        .get(host.url("/v1/subscriptions/all/events"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"][0]["event"]["id"], "after-the-flood");
    drop(idle);
}

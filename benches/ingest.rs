//! Durable ingest over real HTTP: a real `weft` host with one pull subscription
//! (`>`), so every event is stored with a queue reference, fsynced (group commit)
//! before its 202. Two shapes of load, time-boxed rounds:
//!
//! - single: one 1 KiB event per request (binary mode), 64 requests in flight;
//! - batch: 100 events per request (`application/cloudevents-batch+json`), 16 in flight.
//!
//! Baseline, in the same run: `weft_store::Store` (redb) appends in-process with the
//! same payloads, dedup keys, queue reference and concurrency, i.e. ingest without
//! HTTP, CloudEvents decoding or routing. Also reports the host's resident memory
//! idle and after load.
//!
//! Needs the binary: `cargo build --release -p weft`, then
//! `cargo bench -p weft-benches --bench ingest`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use weft_benches::{ROUNDS, WeftBin, median, mib, order_json, status_kib, thousands};
use weft_core::Event;
use weft_store::{NewEvent, QueueId, Store, StoreConfig};
use weft_tests::Host;

/// Length of one measured round.
const ROUND: Duration = Duration::from_secs(2);
/// Warm-up before the rounds of each shape.
const WARMUP: Duration = Duration::from_secs(1);
/// Distinct event data cycled through.
const DISTINCT: usize = 1024;
const TOPIC: &str = "orders/created";

#[derive(Debug, Clone, Copy)]
struct Shape {
    name: &'static str,
    /// Events per request (or per store append).
    per_request: usize,
    in_flight: usize,
}

const SHAPES: [Shape; 2] = [
    Shape {
        name: "single",
        per_request: 1,
        in_flight: 64,
    },
    Shape {
        name: "batch",
        per_request: 100,
        in_flight: 16,
    },
];

fn main() -> anyhow::Result<()> {
    let bin = weft_benches::or_exit("ingest", weft_benches::weft_bin());
    weft_benches::runtime()?.block_on(bench(bin))
}

struct Row {
    shape: Shape,
    http: Vec<f64>,
    store: Vec<f64>,
    idle_kib: Option<u64>,
    loaded_kib: Option<u64>,
    peak_kib: Option<u64>,
}

async fn bench(bin: WeftBin) -> anyhow::Result<()> {
    let started = Instant::now();
    let data: Arc<Vec<String>> = Arc::new((0..DISTINCT as u64).map(order_json).collect());
    // Ids stay unique across rounds and shapes: deduplication is on, as by default.
    let ids = Arc::new(AtomicU64::new(0));
    let mut rows = Vec::new();
    for shape in SHAPES {
        // A fresh host and store per shape, so both start empty.
        let mut host = Host::new(bin.path.to_str().context("weft path is not UTF-8")?);
        host.config(&weft_tests::sink_config("sink", ">"));
        host.start().await;
        let pid = weft_benches::pid_with_arg(host.dir.path())
            .context("cannot find the weft process in /proc")?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle_kib = status_kib(pid, "VmRSS");

        let dir = tempfile::tempdir()?;
        let store = Store::open(StoreConfig::new(dir.path().join("weft.redb")))?;
        let queue = store.queue("sink").await?;

        let url = host.url(&format!("/v1/events/{TOPIC}"));
        let http = |d| http_round(&host.http, &url, shape, &data, &ids, d);
        let direct = |d| store_round(&store, queue, shape, &data, &ids, d);
        http(WARMUP).await?;
        direct(WARMUP).await?;
        let (mut http_rates, mut store_rates) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            http_rates.push(http(ROUND).await?);
            store_rates.push(direct(ROUND).await?);
        }
        let loaded_kib = status_kib(pid, "VmRSS");
        let peak_kib = status_kib(pid, "VmHWM");

        // Every acknowledged event is in the subscription's queue.
        let page = host.get("/v1/subscriptions/sink/events?max=100").await;
        let queued = page["events"].as_array().map_or(0, Vec::len);
        if queued != 100 {
            bail!("the sink subscription holds {queued} events, expected 100:\n{page}");
        }
        store.close().await?;
        rows.push(Row {
            shape,
            http: http_rates,
            store: store_rates,
            idle_kib,
            loaded_kib,
            peak_kib,
        });
    }
    report(&bin, &rows);
    println!("(took {:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

fn report(bin: &WeftBin, rows: &[Row]) {
    println!();
    println!(
        "durable ingest, {} B events, fsync before every 202 (group commit), {:?} rounds, median of {ROUNDS}",
        weft_benches::EVENT_BYTES,
        ROUND
    );
    println!("host: {}", bin.path.display());
    if !bin.release {
        println!("WARNING: a debug build of weft; run `cargo build --release -p weft` first");
    }
    println!(
        "{:<7} {:>9} {:>9} {:>12} {:>14} {:>8} {:>11} {:>11} {:>11}",
        "shape",
        "ev/req",
        "in flight",
        "HTTP ev/s",
        "store ev/s",
        "HTTP/st",
        "RSS idle",
        "RSS loaded",
        "RSS peak"
    );
    for r in rows {
        let (h, s) = (median(&r.http), median(&r.store));
        println!(
            "{:<7} {:>9} {:>9} {:>12} {:>14} {:>7.2}x {:>11} {:>11} {:>11}",
            r.shape.name,
            r.shape.per_request,
            r.shape.in_flight,
            thousands(h),
            thousands(s),
            h / s,
            mib(r.idle_kib),
            mib(r.loaded_kib),
            mib(r.peak_kib)
        );
    }
    for r in rows {
        let list = |v: &[f64]| {
            v.iter()
                .map(|x| thousands(*x))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "rounds {}: HTTP {} | store {}",
            r.shape.name,
            list(&r.http),
            list(&r.store)
        );
    }
    let best = rows.iter().map(|r| median(&r.http)).fold(0.0, f64::max);
    let idle = rows.iter().filter_map(|r| r.idle_kib).max().unwrap_or(0);
    println!(
        "target: >= 50,000 events/s over HTTP: {} ({}); idle host < 50 MiB: {} ({})",
        if best >= 50_000.0 { "met" } else { "MISSED" },
        thousands(best),
        if idle > 0 && idle < 50 * 1024 {
            "met"
        } else {
            "MISSED"
        },
        mib(Some(idle))
    );
}

/// Events/s acknowledged (202) by the host over `length`, `shape.in_flight`
/// requests at a time.
async fn http_round(
    client: &reqwest::Client,
    url: &str,
    shape: Shape,
    data: &Arc<Vec<String>>,
    ids: &Arc<AtomicU64>,
    length: Duration,
) -> anyhow::Result<f64> {
    let start = Instant::now();
    let deadline = start + length;
    let tasks: Vec<_> = (0..shape.in_flight)
        .map(|_| {
            let (client, url, data, ids) =
                (client.clone(), url.to_owned(), data.clone(), ids.clone());
            tokio::spawn(async move {
                let mut acked = 0u64;
                while Instant::now() < deadline {
                    let first = ids.fetch_add(shape.per_request as u64, Ordering::Relaxed);
                    let request = if shape.per_request == 1 {
                        client
                            .post(&url)
                            .header("ce-specversion", "1.0")
                            .header("ce-id", format!("o-{first}"))
                            .header("ce-source", "/bench")
                            .header("ce-type", "bench.order")
                            .header("content-type", "application/json")
                            .body(data[first as usize % DISTINCT].clone())
                    } else {
                        client
                            .post(&url)
                            .header("content-type", "application/cloudevents-batch+json")
                            .body(weft_benches::batch_body(&data, first, shape.per_request))
                    };
                    let response = request.send().await?;
                    let status = response.status();
                    let body = response.bytes().await?;
                    if status != reqwest::StatusCode::ACCEPTED {
                        bail!("{status}: {}", String::from_utf8_lossy(&body));
                    }
                    acked += shape.per_request as u64;
                }
                Ok(acked)
            })
        })
        .collect();
    let mut acked = 0;
    for t in tasks {
        acked += t.await??;
    }
    Ok(acked as f64 / start.elapsed().as_secs_f64())
}

/// Events/s appended durably to `store` directly, `shape.in_flight` appends of
/// `shape.per_request` events at a time: the hub's store work without HTTP.
async fn store_round(
    store: &Store,
    queue: QueueId,
    shape: Shape,
    data: &Arc<Vec<String>>,
    ids: &Arc<AtomicU64>,
    length: Duration,
) -> anyhow::Result<f64> {
    let start = Instant::now();
    let deadline = start + length;
    let tasks: Vec<_> = (0..shape.in_flight)
        .map(|_| {
            let (store, data, ids) = (store.clone(), data.clone(), ids.clone());
            tokio::spawn(async move {
                let mut acked = 0u64;
                while Instant::now() < deadline {
                    let first = ids.fetch_add(shape.per_request as u64, Ordering::Relaxed);
                    let events = (first..first + shape.per_request as u64)
                        .map(|id| {
                            let event = Event {
                                id: format!("o-{id}"),
                                source: "/bench".into(),
                                ty: "bench.order".into(),
                                subject: None,
                                time: None,
                                datacontenttype: Some("application/json".into()),
                                dataschema: None,
                                extensions: Vec::new(),
                                topic: TOPIC.into(),
                                data: Some(data[id as usize % DISTINCT].as_bytes().to_vec()),
                                hops: 0,
                                origin: None,
                            };
                            NewEvent {
                                dedup: Some(event.dedup_key()),
                                payload: event.encode(),
                                queues: vec![queue],
                            }
                        })
                        .collect();
                    let stored = store.append(events).await?;
                    if !stored.iter().all(|s| *s) {
                        bail!("the store took a fresh id for a duplicate");
                    }
                    acked += stored.len() as u64;
                }
                Ok(acked)
            })
        })
        .collect();
    let mut acked = 0;
    for t in tasks {
        acked += t.await??;
    }
    Ok(acked as f64 / start.elapsed().as_secs_f64())
}

//! store: how fast a store is ready again after `kill -9`, by its size, with redb's
//! quick repair (weft's default) against without it (the baseline); and how many
//! bytes the store keeps per accepted event over a longer run.
//!
//! Recovery: a child process (this benchmark, re-run with `WEFT_BENCH_CHILD`) fills a
//! store with queued 1 KiB events to the size asked, then makes durable commits until
//! it is killed with SIGKILL. The benchmark then times, in its own process,
//! `Store::open` up to the first `peek` of the queue, split into the engine's open
//! (redb's repair) and the store's own loading (queue depths, the dedup index). Each
//! round kills a fresh child on the same store. `WEFT_BENCH_GIB` (default
//! `0.1,1,4`) picks the sizes; each needs that much free disk.
//!
//! Growth: producers at full speed with a unique dedup key per event, a consumer that
//! keeps up, a 10 s dedup window, `WEFT_BENCH_GROWTH_SECS` (default 60) seconds; the
//! store's size and bytes per accepted event every 10 s.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use weft_benches::median;
use weft_store::{Completion, NewEvent, Store, StoreConfig};

const ROUNDS: usize = 5;
const PAYLOAD: usize = 1024;

fn main() -> anyhow::Result<()> {
    if let Ok(spec) = std::env::var("WEFT_BENCH_CHILD") {
        return child(&spec);
    }
    let sizes: Vec<f64> = std::env::var("WEFT_BENCH_GIB")
        .unwrap_or_else(|_| "0.1,1,4".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .context("WEFT_BENCH_GIB: sizes in GiB, comma-separated")
        })
        .collect::<Result<_, _>>()?;
    commit_latency()?;
    println!("## store: ready after kill -9 (median of {ROUNDS} rounds, ms)\n");
    println!("| store | quick repair | ready | engine open | store load | rounds (ready) |");
    println!("|---|---|---|---|---|---|");
    for gib in sizes {
        for quick in [true, false] {
            recovery(gib, quick)?;
        }
    }
    growth()?;
    dedup_keys()?;
    Ok(())
}

/// What one dedup key costs: `WEFT_BENCH_KEYS` (default 2,000,000) keys accepted
/// (events no queue holds, so only the key is kept), then the store reopened with a
/// 1 MiB page cache, so that the resident growth is the in-memory index.
fn dedup_keys() -> anyhow::Result<()> {
    let n: u64 = std::env::var("WEFT_BENCH_KEYS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let dir = tempfile::tempdir()?;
    let mut c = StoreConfig::new(dir.path().join("weft.redb"));
    c.dedup_window = Duration::from_secs(3600);
    c.durable = false;
    c.cache_bytes = 1 << 20;
    let rt = tokio::runtime::Runtime::new()?;
    let empty = rt.block_on(async {
        let store = Store::open(c.clone())?;
        let empty = store.disk_usage();
        for first in (0..n).step_by(10_000) {
            let batch = (first..(first + 10_000).min(n))
                .map(|i| NewEvent {
                    dedup: Some(format!("/bench/source\0{:036}", i).into_bytes()),
                    payload: Vec::new(),
                    queues: Vec::new(),
                })
                .collect();
            store.append(batch).await?;
        }
        store.close().await?;
        anyhow::Ok(empty)
    })?;
    let pid = std::process::id();
    let before = weft_benches::status_kib(pid, "VmRSS").unwrap_or(0);
    let start = Instant::now();
    let store = Store::open(c)?;
    let load = start.elapsed();
    let after = weft_benches::status_kib(pid, "VmRSS").unwrap_or(0);
    let disk = store.disk_usage().saturating_sub(empty);
    println!("\n## store: dedup keys ({n} keys of 50-byte source + id, 1 MiB page cache)\n");
    println!("| on disk per key | resident per key | index load at open |");
    println!("|---|---|---|");
    println!(
        "| {:.1} bytes | {:.1} bytes | {:.0} ms ({:.2} us per key) |",
        disk as f64 / n as f64,
        (after.saturating_sub(before) * 1024) as f64 / n as f64,
        load.as_secs_f64() * 1e3,
        load.as_secs_f64() * 1e6 / n as f64
    );
    rt.block_on(store.close())?;
    Ok(())
}

fn config(path: &Path, quick: bool) -> StoreConfig {
    let mut c = StoreConfig::new(path);
    c.quick_repair = quick;
    c
}

/// What quick repair costs a durable commit (it makes the commit two-phase): one
/// event per append, one append at a time, 300 of them, on and off.
fn commit_latency() -> anyhow::Result<()> {
    println!("## store: durable commit, one event at a time (ms)\n");
    println!("| quick repair | p50 | p99 |");
    println!("|---|---|---|");
    let rt = tokio::runtime::Runtime::new()?;
    for quick in [true, false] {
        let dir = tempfile::tempdir()?;
        let store = Store::open(config(&dir.path().join("weft.redb"), quick))?;
        let mut ms: Vec<f64> = rt.block_on(async {
            let q = store.queue("q").await?;
            let mut ms = Vec::new();
            for i in 0..300u64 {
                let event = NewEvent {
                    dedup: Some(i.to_be_bytes().to_vec()),
                    payload: vec![b'x'; PAYLOAD],
                    queues: vec![q],
                };
                let start = Instant::now();
                store.append(vec![event]).await?;
                ms.push(start.elapsed().as_secs_f64() * 1e3);
            }
            store.close().await?;
            anyhow::Ok(ms)
        })?;
        ms.sort_by(f64::total_cmp);
        let p99 = ms[ms.len() * 99 / 100];
        println!(
            "| {} | {:.2} | {p99:.2} |",
            if quick { "on" } else { "off" },
            median(&ms)
        );
    }
    println!();
    Ok(())
}

/// One size, one setting: fill once, then kill and reopen `ROUNDS` times.
fn recovery(gib: f64, quick: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("weft.redb");
    let bytes = (gib * (1u64 << 30) as f64) as u64;
    let mut ready = Vec::new();
    let mut engine = Vec::new();
    let mut load = Vec::new();
    for round in 0..ROUNDS {
        let fill = if round == 0 { bytes } else { 0 };
        kill_child(&path, fill, quick)?;
        let start = Instant::now();
        let redb = weft_store::Redb::open_with(
            &path,
            weft_store::StoreConfig::new(&path).cache_bytes,
            quick,
        )?;
        let opened = start.elapsed();
        let store = Store::with_engine(Arc::new(redb), config(&path, quick))?;
        let q = store.queue_id("q").context("the child made queue q")?;
        store.peek(q, 1)?;
        let total = start.elapsed();
        ready.push(total.as_secs_f64() * 1e3);
        engine.push(opened.as_secs_f64() * 1e3);
        load.push((total - opened).as_secs_f64() * 1e3);
        let rt = tokio::runtime::Runtime::new()?;
        rt.block_on(store.close())?;
    }
    // The file's length; redb grows it by doubling, so what it holds (its allocated
    // blocks) is shown beside it.
    let meta = std::fs::metadata(&path)?;
    let size = meta.len() as f64 / (1u64 << 30) as f64;
    let held = std::os::unix::fs::MetadataExt::blocks(&meta) as f64 * 512.0 / (1u64 << 30) as f64;
    let rounds: Vec<String> = ready.iter().map(|r| format!("{r:.0}")).collect();
    println!(
        "| {size:.2} GiB ({held:.2} GiB held) | {} | {:.0} | {:.0} | {:.0} | {} |",
        if quick { "on" } else { "off" },
        median(&ready),
        median(&engine),
        median(&load),
        rounds.join(", ")
    );
    Ok(())
}

/// Runs a child that fills the store to `fill` bytes (0: as it is), commits durably
/// for a moment, and is then killed with SIGKILL.
fn kill_child(path: &Path, fill: u64, quick: bool) -> anyhow::Result<()> {
    let mut child = Command::new(std::env::current_exe()?)
        .env(
            "WEFT_BENCH_CHILD",
            format!("{}|{fill}|{quick}", path.display()),
        )
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("child stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    if line.trim() != "committing" {
        let _ = child.kill();
        bail!("the filling child stopped early: {line:?}");
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill()?;
    child.wait()?;
    Ok(())
}

fn child(spec: &str) -> anyhow::Result<()> {
    let mut parts = spec.split('|');
    let path = PathBuf::from(parts.next().context("path")?);
    let fill: u64 = parts.next().context("fill")?.parse()?;
    let quick: bool = parts.next().context("quick")?.parse()?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let mut c = config(&path, quick);
        c.durable = false;
        c.sync_interval = Duration::from_secs(3600);
        c.dedup_window = Duration::ZERO;
        let store = Store::open(c)?;
        let q = store.queue("q").await?;
        let mut next = store.depth(q);
        // By count rather than by the file's size, which redb grows by doubling.
        let events = fill / (PAYLOAD as u64 + 64);
        while next < events {
            let batch = (0..1000)
                .map(|i| NewEvent {
                    dedup: None,
                    payload: format!("{:0width$}", next + i, width = PAYLOAD).into_bytes(),
                    queues: vec![q],
                })
                .collect();
            store.append(batch).await?;
            next += 1000;
        }
        store.close().await?;
        drop(store);
        // Durable commits, as a host under load makes them, until killed.
        let store = Store::open(config(&path, quick))?;
        println!("committing");
        loop {
            let batch = (0..10)
                .map(|_| NewEvent {
                    dedup: Some(next.to_be_bytes().to_vec()),
                    payload: vec![b'x'; PAYLOAD],
                    queues: vec![q],
                })
                .collect();
            store.append(batch).await?;
            let head: Vec<u64> = store.peek(q, 10)?.iter().map(|d| d.seq).collect();
            store
                .complete(Completion {
                    queue: q,
                    consumed: head,
                    ..Default::default()
                })
                .await?;
            next += 10;
        }
    })
}

/// Bytes kept per accepted event over a longer run, every 10 s.
fn growth() -> anyhow::Result<()> {
    let secs: u64 = std::env::var("WEFT_BENCH_GROWTH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    println!("\n## store: size over {secs} s of ingest, 10 s dedup window, consumer keeping up\n");
    println!("| after | events accepted | events/s | store | bytes per event |");
    println!("|---|---|---|---|---|");
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let mut c = StoreConfig::new(dir.path().join("weft.redb"));
        c.dedup_window = Duration::from_secs(10);
        let store = Store::open(c)?;
        let q = store.queue("q").await?;
        let accepted = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for p in 0..4u64 {
            let (store, accepted, stop) = (store.clone(), accepted.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut next = p << 40;
                while !stop.load(Ordering::Relaxed) {
                    if store.depth(q) >= 20_000 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                    let batch = (next..next + 100)
                        .map(|i| NewEvent {
                            dedup: Some(format!("/bench\0{i}").into_bytes()),
                            payload: vec![b'x'; 256],
                            queues: vec![q],
                        })
                        .collect();
                    if store.append(batch).await.is_err() {
                        return;
                    }
                    next += 100;
                    accepted.fetch_add(100, Ordering::Relaxed);
                }
            }));
        }
        let (store2, stop2) = (store.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop2.load(Ordering::Relaxed) {
                let Ok(batch) = store2.peek(q, 2000) else {
                    return;
                };
                if batch.is_empty() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                }
                let consumed = batch.iter().map(|d| d.seq).collect();
                let done = Completion {
                    queue: q,
                    consumed,
                    ..Default::default()
                };
                if store2.complete(done).await.is_err() {
                    return;
                }
            }
        }));
        let start = Instant::now();
        for _ in 0..secs / 10 {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let n = accepted.load(Ordering::Relaxed);
            let size = store.disk_usage();
            println!(
                "| {:.0} s | {n} | {:.0} | {:.1} MiB | {:.1} |",
                start.elapsed().as_secs_f64(),
                n as f64 / start.elapsed().as_secs_f64(),
                size as f64 / (1u64 << 20) as f64,
                size as f64 / n.max(1) as f64
            );
        }
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await?;
        }
        store.close().await?;
        anyhow::Ok(())
    })
}

//! Hot swap, measured on the real binary:
//!
//! - swap latency: from a new `.wasm` having settled in the modules folder to the
//!   new version taking over (weft's own `swap_ms`, in `weft status`), excluding
//!   compile time (versions already in the compile cache) and including it (fresh
//!   bytes every time: a custom section with a counter appended to the component);
//! - start-up: a host with 20 modules, all in the compile cache, from spawn to
//!   `/readyz`, against an empty host in the same run.
//!
//! `cargo bench -p weft-benches --bench swap` (build `weft` in release first; see
//! scripts/bench.sh).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;
use weft_benches::{median, percentile, weft_bin};
use weft_tests::{Host, guest};

const MANIFEST: &str =
    "subscribe = [\"in/>\"]\npublish = [\"out\"]\n[config]\noutput_topic = \"out\"\n";
const SWAPS_CACHED: usize = 40;
const SWAPS_FRESH: usize = 10;
const MODULES: usize = 20;
const START_ROUNDS: usize = 5;

fn main() -> anyhow::Result<()> {
    let bin = weft_bin().map_err(anyhow::Error::msg)?;
    if !bin.release {
        eprintln!(
            "warning: {} is a debug build; its numbers mean little",
            bin.path.display()
        );
    }
    let bin = bin
        .path
        .to_str()
        .context("weft path is not UTF-8")?
        .to_owned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        swaps(&bin).await?;
        startup(&bin).await
    })
}

/// The component with a custom section `weft-bench` holding `n` appended: the same
/// code under a new hash, so the host compiles it afresh.
fn fresh(wasm: &[u8], n: usize) -> Vec<u8> {
    let name = b"weft-bench";
    let payload = n.to_string();
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name);
    body.extend_from_slice(payload.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0);
    out.push(body.len() as u8);
    out.extend_from_slice(&body);
    out
}

fn drop_in(modules: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = modules.join(".m.wasm.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, modules.join("m.wasm"))?;
    Ok(())
}

/// The `swapped` entries of module `m` in the status.
async fn swapped(host: &Host) -> Vec<Value> {
    let status = host.get("/v1/status").await;
    status["modules"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "m"))
        .and_then(|m| m["history"].as_array())
        .map(|h| {
            h.iter()
                .filter(|c| c["action"] == "swapped")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Drops `bytes` in and waits for a `swapped` entry newer than `after` (history
/// is bounded, so entries are told apart by time, not counted).
async fn swap_once(host: &Host, bytes: &[u8], after: &mut String) -> anyhow::Result<(f64, f64)> {
    drop_in(&host.modules(), bytes)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = swapped(host).await;
        if let Some(last) = s.last()
            && last["at"].as_str().is_some_and(|at| at != after.as_str())
        {
            *after = last["at"].as_str().unwrap_or_default().to_owned();
            let swap = last["swap_ms"].as_f64().unwrap_or(f64::NAN);
            let compile = last["compile_ms"].as_f64().unwrap_or(f64::NAN);
            return Ok((swap, compile));
        }
        anyhow::ensure!(Instant::now() < deadline, "swap not seen:\n{}", host.log());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn swaps(bin: &str) -> anyhow::Result<()> {
    let mut host = Host::new(bin);
    host.module("m", &guest("echo"), MANIFEST);
    host.start().await;
    let versions = [
        std::fs::read(guest("json-transform"))?,
        std::fs::read(guest("echo"))?,
    ];
    let (mut excl, mut incl, mut compiles) = (Vec::new(), Vec::new(), Vec::new());
    let mut after = String::new();
    for i in 0..SWAPS_CACHED {
        let (swap, compile) = swap_once(&host, &versions[i % 2], &mut after).await?;
        // The first two compile (or load) each version once; the rest are cached.
        if i >= 2 {
            excl.push(swap - compile);
        }
    }
    for i in 0..SWAPS_FRESH {
        let bytes = fresh(
            &versions[i % 2],
            i + 1_000_000 * std::process::id() as usize,
        );
        let (swap, compile) = swap_once(&host, &bytes, &mut after).await?;
        incl.push(swap);
        compiles.push(compile);
    }
    println!(
        "swap latency (settled file -> new version serving), ms, {} cached + {} fresh swaps",
        excl.len(),
        incl.len()
    );
    println!("| | p50 | p99 | max |");
    println!("|---|---|---|---|");
    let row = |name: &str, v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        let v = v.as_slice();
        let max = v.iter().cloned().fold(f64::NAN, f64::max);
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} |",
            percentile(v, 50.0),
            percentile(v, 99.0),
            max
        );
    };
    row("excluding compile (cached)", &excl);
    row("including compile (new bytes)", &incl);
    row("compile + validate alone", &compiles);
    Ok(())
}

async fn startup(bin: &str) -> anyhow::Result<()> {
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..START_ROUNDS {
        for (i, modules) in [0, MODULES].into_iter().enumerate() {
            let mut host = Host::new(bin);
            for m in 0..modules {
                host.module(&format!("m{m:02}"), &guest("echo"), MANIFEST);
            }
            let started = Instant::now();
            host.start().await;
            times[i].push(started.elapsed().as_secs_f64() * 1000.0);
            host.terminate();
        }
    }
    let (empty, full) = (median(&times[0]), median(&times[1]));
    println!();
    println!("start-up to /readyz, ms, median of {START_ROUNDS} (compile cache warm)");
    println!("| host | ms | ratio |");
    println!("|---|---|---|");
    println!("| no modules (baseline) | {empty:.0} | 1.00x |");
    println!("| {MODULES} modules | {full:.0} | {:.2}x |", full / empty);
    Ok(())
}

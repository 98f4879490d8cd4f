//! The same `json-transform` processor written in Rust, Python (componentize-py)
//! and JavaScript (componentize-js), run in-process through the real component
//! runtime on the same 1 KiB order events. The Rust guest is the baseline: every
//! number is also given as a ratio to it, measured in the same run.
//!
//! Per language:
//! - compile, cold: `Module::load` on a `Runtime` over an empty cache folder
//!   (validate, compile with Cranelift, write the cache entry, link, instantiate
//!   once); one sample, since a cold compile of an interpreter guest takes seconds;
//! - load, cached: `Module::load` again on a second `Runtime` over the same folder
//!   (deserialize the cache entry, link, instantiate once); median of 3;
//! - instantiate: on a fresh handler (no instance yet), the first one-event
//!   `process` call minus the second one on the same handler: instantiation plus
//!   whatever the guest does lazily on its first call; median of 10 handlers;
//! - events/s at batch 1 and batch 64 (one component call per batch), a fixed
//!   number of events per round, median of 3 interleaved rounds after a warm-up;
//! - memory: `Handler::memory()` of the batch-64 handler after its last round,
//!   i.e. the instance's linear memory.
//!
//! Run: `cargo bench -p weft-benches --bench languages`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark")]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use weft_benches::{check_same, median, order_event, process_rate, thousands};
use weft_core::{Event, Handler};
use weft_runtime::{Defaults, Manifest, Module, Runtime};

/// Distinct events cycled through.
const DISTINCT: usize = 4096;
/// Rounds of the throughput cases; the median is reported.
const ROUNDS: usize = 3;
/// Samples of the cached load.
const LOADS: usize = 3;
/// Fresh handlers whose first call is timed.
const FRESH: usize = 10;
/// The call budget for every guest: generous, since the machine may be loaded and
/// a timeout would end the benchmark, not measure anything.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

struct Lang {
    name: &'static str,
    wasm_path: PathBuf,
    wasm: Vec<u8>,
    manifest: Manifest,
    /// Events per throughput case per round.
    per_round: usize,
}

#[derive(Default)]
struct Row {
    cold_ms: f64,
    cached_ms: f64,
    inst_ms: f64,
    b1: f64,
    b64: f64,
    mem_mib: f64,
    mem_b1_mib: f64,
    recycled: u64,
    rounds: Vec<Vec<f64>>,
}

fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let root = weft_tests::repo_root();
    let lang = |name: &'static str, wasm_path: PathBuf, manifest_path: PathBuf, per_round| {
        let wasm = std::fs::read(&wasm_path)
            .with_context(|| format!("cannot read {}", wasm_path.display()))?;
        let text = std::fs::read_to_string(&manifest_path)
            .with_context(|| format!("cannot read {}", manifest_path.display()))?;
        let mut manifest = Manifest::parse(&text, &Defaults::default())
            .map_err(|e| anyhow!("{}: {e}", manifest_path.display()))?;
        manifest.call_timeout = CALL_TIMEOUT;
        anyhow::Ok(Lang {
            name,
            wasm_path,
            wasm,
            manifest,
            per_round,
        })
    };
    let langs = [
        lang(
            "Rust",
            weft_tests::guest("json-transform"),
            root.join("guests/processors/json-transform/json-transform.toml"),
            20_000,
        )?,
        lang(
            "Python",
            weft_tests::python_guest("json-transform"),
            root.join("guests/python/json-transform/json-transform.toml"),
            5_000,
        )?,
        lang(
            "JS",
            weft_tests::js_guest("json-transform"),
            root.join("guests/js/json-transform/json-transform.toml"),
            5_000,
        )?,
    ];
    eprintln!("guests ready ({:.1} s)", started.elapsed().as_secs_f64());
    let mut rows: Vec<Row> = langs.iter().map(|_| Row::default()).collect();

    // Compile, cold: one runtime over an empty cache folder. None of the three is
    // in it yet, so each load compiles.
    let cache = tempfile::tempdir()?;
    {
        let cold = Runtime::new(cache.path())?;
        for (l, row) in langs.iter().zip(&mut rows) {
            anyhow::ensure!(!cold.is_cached(&l.wasm), "{}: cache not empty", l.name);
            let t = Instant::now();
            let m = Module::load(&cold, "json-transform", &l.wasm, l.manifest.clone())
                .map_err(|e| anyhow!("{} json-transform {e}", l.name))?;
            row.cold_ms = ms(t.elapsed());
            drop(m);
            anyhow::ensure!(cold.is_cached(&l.wasm), "{}: not cached", l.name);
            eprintln!("{}: cold compile {:.0} ms", l.name, row.cold_ms);
        }
    }

    // Load, cached: a second runtime over the same folder. Its modules serve the
    // rest of the benchmark.
    let runtime = Runtime::new(cache.path())?;
    let mut modules = Vec::new();
    for (l, row) in langs.iter().zip(&mut rows) {
        let mut times = Vec::new();
        let mut module = None;
        for _ in 0..LOADS {
            let t = Instant::now();
            let m = Module::load(&runtime, "json-transform", &l.wasm, l.manifest.clone())
                .map_err(|e| anyhow!("{} json-transform {e}", l.name))?;
            times.push(ms(t.elapsed()));
            module = Some(m);
        }
        row.cached_ms = median(&times);
        modules.push(Arc::new(module.unwrap()));
    }

    let events: Vec<Event> = (0..DISTINCT as u64).map(order_event).collect();

    // All three must do the same work: compare their outputs on a batch.
    let sample = &events[..64];
    let expected = modules[0].handler().process(sample)?;
    for (l, m) in langs.iter().zip(&modules).skip(1) {
        let got = m.handler().process(sample)?;
        check_same(l.name, "the Rust guest", &got, &expected)?;
    }

    // Instantiation: a fresh handler's first tiny call minus its second.
    for (row, m) in rows.iter_mut().zip(&modules) {
        let one = &events[..1];
        let mut diffs = Vec::new();
        for _ in 0..FRESH {
            let mut h = m.handler();
            let t = Instant::now();
            black_box(h.process(one)?);
            let first = t.elapsed();
            let t = Instant::now();
            black_box(h.process(one)?);
            let second = t.elapsed();
            diffs.push(ms(first.saturating_sub(second)));
        }
        row.inst_ms = median(&diffs);
    }
    eprintln!(
        "loads and instantiation done ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // Throughput: batch 1 and batch 64 per language, warm-up, then interleaved rounds.
    let mut cases: Vec<(usize, usize, Box<dyn Handler>)> = Vec::new();
    for (i, m) in modules.iter().enumerate() {
        cases.push((i, 1, m.handler()));
        cases.push((i, 64, m.handler()));
    }
    for (i, batch, handler) in &mut cases {
        process_rate(handler.as_mut(), &events, *batch, langs[*i].per_round / 4)?;
    }
    let mut rates = vec![Vec::new(); cases.len()];
    for _ in 0..ROUNDS {
        for ((i, batch, handler), rates) in cases.iter_mut().zip(&mut rates) {
            rates.push(process_rate(
                handler.as_mut(),
                &events,
                *batch,
                langs[*i].per_round,
            )?);
        }
    }
    for ((i, batch, handler), r) in cases.iter().zip(rates) {
        let row = &mut rows[*i];
        let mem = handler.memory().unwrap_or(0) as f64 / (1024.0 * 1024.0);
        row.recycled += handler.recycled();
        if *batch == 1 {
            row.b1 = median(&r);
            row.mem_b1_mib = mem;
        } else {
            row.b64 = median(&r);
            row.mem_mib = mem;
        }
        row.rounds.push(r);
    }

    let base = &rows[0];
    let (bc, bl, bi, b1, b64, bm) = (
        base.cold_ms,
        base.cached_ms,
        base.inst_ms,
        base.b1,
        base.b64,
        base.mem_mib,
    );
    println!();
    println!(
        "json-transform per guest language, {} B JSON events; (x) = ratio to the Rust guest",
        weft_benches::EVENT_BYTES
    );
    println!();
    println!(
        "| guest | .wasm | compile cold ms | load cached ms | instantiate ms | ev/s batch 1 | ev/s batch 64 | b64/b1 | memory MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (l, r) in langs.iter().zip(&rows) {
        println!(
            "| {} | {:.1} MiB | {:.0} ({:.0}x) | {:.1} ({:.0}x) | {:.2} ({:.0}x) | {} ({:.3}x) | {} ({:.3}x) | {:.1}x | {:.1} ({:.0}x) |",
            l.name,
            l.wasm.len() as f64 / (1024.0 * 1024.0),
            r.cold_ms,
            r.cold_ms / bc,
            r.cached_ms,
            r.cached_ms / bl,
            r.inst_ms,
            r.inst_ms / bi,
            thousands(r.b1),
            r.b1 / b1,
            thousands(r.b64),
            r.b64 / b64,
            r.b64 / r.b1,
            r.mem_mib,
            r.mem_mib / bm,
        );
    }
    println!();
    for (l, r) in langs.iter().zip(&rows) {
        let rounds: Vec<String> = r
            .rounds
            .iter()
            .map(|v| {
                v.iter()
                    .map(|x| thousands(*x))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        println!(
            "{}: {} events/round; rounds b1 [{}] b64 [{}]; memory after batch-1 run {:.1} MiB; instances recycled {}; {}",
            l.name,
            l.per_round,
            rounds[0],
            rounds[1],
            r.mem_b1_mib,
            r.recycled,
            l.wasm_path.display()
        );
    }
    println!("(took {:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

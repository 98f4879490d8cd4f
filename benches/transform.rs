//! Throughput of the `json-transform` guest through the real component runtime,
//! against the same transform written as native Rust, on the same 1 KiB events in
//! the same process.
//!
//! Both sides implement `weft_core::Handler`, so both are measured from the
//! worker's point of view: a batch of `Event`s in, one `Outcome` per event out.
//! The guest is called at batch sizes 1 and 64 (one component call per batch).
//!
//! Run: `cargo bench -p weft-benches --bench transform`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark")]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, anyhow};
use serde_json::{Map, Value};
use weft_benches::{ROUNDS, check_same, median, order_event, process_rate, thousands};
use weft_core::{CallError, Event, Handler, Outcome};
use weft_runtime::{Defaults, Manifest, Module, Runtime};

/// Distinct events cycled through.
const DISTINCT: usize = 4096;
/// Events per case per round.
const PER_ROUND: usize = 65_536;

fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    // `WEFT_BENCH_GUEST=path.wasm` measures another build of the guest (e.g. other
    // optimisation settings) against the same native baseline.
    let wasm_path = std::env::var_os("WEFT_BENCH_GUEST")
        .filter(|p| !p.is_empty())
        .map_or_else(|| weft_tests::guest("json-transform"), Into::into);
    let wasm = std::fs::read(&wasm_path)
        .with_context(|| format!("cannot read {}", wasm_path.display()))?;
    let runtime = Runtime::new(weft_tests::target_dir().join("weft-bench-cache"))?;
    let manifest = Manifest::parse(
        &weft_tests::example_manifest("json-transform"),
        &Defaults::default(),
    )
    .map_err(|e| anyhow!("json-transform.toml: {e}"))?;
    let native_handler = Native::new(&manifest.config)?;
    let module = Arc::new(
        Module::load(&runtime, "json-transform", &wasm, manifest)
            .map_err(|e| anyhow!("json-transform {e}"))?,
    );

    // The `echo` fixture passes events through untouched: what is left of the
    // guest's cost without JSON is the call and the copies across the boundary.
    let echo_wasm = std::fs::read(weft_tests::guest("echo"))?;
    let echo_manifest = Manifest::parse(
        &weft_tests::manifest("orders/created", "orders/enriched", ""),
        &Defaults::default(),
    )
    .map_err(|e| anyhow!("echo manifest: {e}"))?;
    let echo = Arc::new(
        Module::load(&runtime, "echo", &echo_wasm, echo_manifest)
            .map_err(|e| anyhow!("echo {e}"))?,
    );

    let events: Vec<Event> = (0..DISTINCT as u64).map(order_event).collect();
    let mut cases: Vec<(&str, usize, Box<dyn Handler>)> = vec![
        ("wasm, batch 1", 1, module.handler()),
        ("wasm, batch 64", 64, module.handler()),
        ("native, batch 64", 64, Box::new(native_handler)),
        ("echo wasm, b 64", 64, echo.handler()),
    ];

    // Both sides must do the same work: compare their outputs on a batch.
    let sample = &events[..64];
    let expected = cases[2].2.process(sample)?;
    for (name, _, handler) in &mut cases[..2] {
        let got = handler.process(sample)?;
        check_same(name, "native", &got, &expected)?;
    }

    // Warm up (instances, caches, allocator), then the rounds, interleaved.
    for (_, batch, handler) in &mut cases {
        process_rate(handler.as_mut(), &events, *batch, PER_ROUND / 4)?;
    }
    let mut rates = vec![Vec::new(); cases.len()];
    for _ in 0..ROUNDS {
        for ((_, batch, handler), rates) in cases.iter_mut().zip(&mut rates) {
            rates.push(process_rate(handler.as_mut(), &events, *batch, PER_ROUND)?);
        }
    }
    let medians: Vec<f64> = rates.iter().map(|r| median(r)).collect();
    let native = medians[2];

    println!();
    println!(
        "json-transform, {} B JSON events, {PER_ROUND} events per case per round, median of {ROUNDS} rounds",
        weft_benches::EVENT_BYTES
    );
    println!(
        "{:<18} {:>12} {:>10} {:>10}   rounds (events/s)",
        "case", "events/s", "us/event", "vs native"
    );
    for ((name, _, _), (m, r)) in cases.iter().zip(medians.iter().zip(&rates)) {
        let all: Vec<String> = r.iter().map(|x| thousands(*x)).collect();
        println!(
            "{name:<18} {:>12} {:>10.2} {:>9.2}x   {}",
            thousands(*m),
            1e6 / m,
            m / native,
            all.join(" ")
        );
    }
    println!(
        "(echo: a guest that passes events through, no JSON: the call and boundary copies alone)"
    );
    let ratio = medians[1] / native;
    println!(
        "target: wasm at batch 64 >= 0.80x native: {:.2}x, {}",
        ratio,
        if ratio >= 0.8 { "met" } else { "MISSED" }
    );
    println!("guest: {} ({} bytes)", wasm_path.display(), wasm.len());
    println!("(took {:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

/// The json-transform guest's logic as native Rust, configured from the same manifest.
struct Native {
    output_topic: String,
    rename: BTreeMap<String, String>,
    add: Map<String, Value>,
}

impl Native {
    fn new(config: &[(String, String)]) -> anyhow::Result<Self> {
        let get = |k: &str| config.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        Ok(Self {
            output_topic: get("output_topic").context("no output_topic")?.to_owned(),
            rename: serde_json::from_str(get("rename").unwrap_or("{}"))?,
            add: serde_json::from_str(get("add").unwrap_or("{}"))?,
        })
    }

    fn apply(&self, fields: Map<String, Value>) -> Map<String, Value> {
        let overwritten: BTreeSet<&String> = self
            .rename
            .iter()
            .filter(|(old, _)| fields.contains_key(old.as_str()))
            .map(|(_, new)| new)
            .collect();
        let mut out = Map::with_capacity(fields.len() + self.add.len());
        for (name, value) in fields {
            match self.rename.get(&name) {
                Some(new) => {
                    out.insert(new.clone(), value);
                }
                None if overwritten.contains(&name) => {}
                None => {
                    out.insert(name, value);
                }
            }
        }
        for (name, value) in &self.add {
            if !out.contains_key(name) {
                out.insert(name.clone(), value.clone());
            }
        }
        out
    }

    fn one(&self, event: &Event) -> Outcome {
        let fields = match serde_json::from_slice::<Value>(event.data_bytes()) {
            Ok(Value::Object(fields)) => fields,
            Ok(_) => return Outcome::Reject("data must be a JSON object".into()),
            Err(e) => return Outcome::Reject(format!("data is not JSON: {e}")),
        };
        let data = match serde_json::to_vec(&self.apply(fields)) {
            Ok(d) => d,
            Err(e) => return Outcome::Reject(e.to_string()),
        };
        Outcome::Emit(vec![Event {
            id: event.id.clone(),
            source: event.source.clone(),
            ty: event.ty.clone(),
            subject: event.subject.clone(),
            time: event.time.clone(),
            datacontenttype: Some("application/json".into()),
            dataschema: event.dataschema.clone(),
            extensions: event.extensions.clone(),
            topic: self.output_topic.clone(),
            data: Some(data),
            hops: 0,
            origin: None,
        }])
    }
}

impl Handler for Native {
    fn process(&mut self, batch: &[Event]) -> Result<Vec<Outcome>, CallError> {
        Ok(batch.iter().map(|e| self.one(e)).collect())
    }

    fn version(&self) -> &str {
        "native"
    }
}

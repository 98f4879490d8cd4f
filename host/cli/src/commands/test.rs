//! `weft test FILE.wasm --input events.jsonl`: run a module on sample events,
//! offline, and print what it emits; `--expect cases.jsonl`: check what it emits
//! against expectations and exit non-zero with a diff on a mismatch (`expect`).
//!
//! Both load the module exactly as a host does: its manifest's limits (memory,
//! call timeout) and grants apply, and outputs are checked against `publish` and
//! stamped by the same code as in a host, so a case that passes here behaves the
//! same in a host.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::json;
use weft_core::{Topic, cloudevents};
use weft_runtime::{Manifest, Module, Runtime};

use super::expect;
use crate::offline::{Got, Progress, cache_dir, call, offline_defaults};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  weft test enrich.wasm --input events.jsonl --topic orders/created
  weft test enrich.wasm --expect cases.jsonl --topic orders/created

A line of cases.jsonl: an input event and what it must give, one of
  {\"input\": {...}, \"emitted\": [{\"topic\": \"orders/enriched\", \"data\": {...}}]}
  {\"input\": {...}, \"rejected\": \"text the reason contains\"}
  {\"input\": {...}, \"retry\": true}
An emitted event is compared on the members the case names, each exactly.")]
pub struct Args {
    file: PathBuf,
    /// CloudEvents in structured JSON, one per line (each may carry a `topic`).
    #[arg(long, required_unless_present = "expect", conflicts_with = "expect")]
    input: Option<PathBuf>,
    /// Cases, one JSON object a line: `input` and the expected `emitted`,
    /// `rejected` or `retry`. Exits 1 with a diff if any case does not hold.
    #[arg(long, value_name = "CASES")]
    expect: Option<PathBuf>,
    /// The manifest (default: FILE.toml).
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Topic for input events without one.
    #[arg(long)]
    topic: Option<String>,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        let module = load(&a.file, a.manifest.as_deref())?;
        let topic = a.topic.as_deref().map(Topic::parse).transpose()?;
        match (&a.input, &a.expect) {
            (_, Some(cases)) => expect::run(&module, cases, topic.as_ref()),
            (Some(input), None) => print_outputs(&module, input, topic.as_ref()),
            (None, None) => anyhow::bail!("pass --input EVENTS or --expect CASES"),
        }
    })
    .await?
}

/// Loads a module with its manifest (FILE.toml unless named), as a host would.
fn load(file: &Path, manifest: Option<&Path>) -> anyhow::Result<Arc<Module>> {
    let runtime = Runtime::new(cache_dir())?;
    let wasm = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let manifest_path = manifest
        .map(Path::to_path_buf)
        .unwrap_or_else(|| file.with_extension("toml"));
    let text = std::fs::read_to_string(&manifest_path).with_context(|| {
        format!(
            "cannot read the manifest {}: pass --manifest or put it beside the module",
            manifest_path.display()
        )
    })?;
    let invalid = |e: weft_runtime::ManifestError| {
        anyhow::anyhow!(
            "{} is invalid:\n  {}",
            manifest_path.display(),
            e.to_string().replace('\n', "\n  ")
        )
    };
    let mut manifest = Manifest::parse(&text, &offline_defaults(&text)).map_err(invalid)?;
    let name = weft_runtime::folder::module_name(file)
        .map_err(|e| anyhow::anyhow!("{} {e}", file.display()))?;
    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    manifest.load_schemas(dir, &name).map_err(invalid)?;
    let module = Arc::new(
        {
            let _progress = Progress::start(&runtime, file, &wasm);
            Module::load(&runtime, &name, &wasm, manifest)
        }
        .map_err(|e| anyhow::anyhow!("{} {e}", file.display()))?,
    );
    if module.kind == weft_runtime::Kind::Ingress {
        anyhow::bail!(
            "{} is an ingress connector: `weft test` feeds events to processors and egress \
             connectors; run an ingress connector in a host (its triggers need the host)",
            file.display()
        );
    }
    Ok(module)
}

/// Runs a module on sample events and prints, per input, what it emitted or why
/// it failed, one JSON line each.
fn print_outputs(module: &Arc<Module>, input: &Path, topic: Option<&Topic>) -> anyhow::Result<()> {
    let reader = std::io::BufReader::new(
        std::fs::File::open(input).with_context(|| format!("cannot read {}", input.display()))?,
    );
    let mut handler = module.handler();
    for (n, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        serde_json::from_str::<&serde_json::value::RawValue>(&line)
            .with_context(|| format!("{}:{}: not JSON", input.display(), n + 1))?;
        let event = cloudevents::from_json(&line, topic)
            .map_err(|e| anyhow::anyhow!("{}:{}: {e}", input.display(), n + 1))?;
        let line = match call(module, handler.as_mut(), &event) {
            Got::Emitted(emitted) => {
                // Written as text, not through a `Value`, so data goes out as it is.
                let input = json!({ "input": event.id }).to_string();
                let head = input.strip_suffix('}').unwrap_or(&input);
                println!("{head},\"emitted\":[{}]}}", emitted.join(","));
                continue;
            }
            Got::Retry(reason) => json!({ "input": event.id, "retry": reason }),
            Got::Rejected(reason) => json!({ "input": event.id, "rejected": reason }),
        };
        println!("{line}");
    }
    Ok(())
}

//! `weft test FILE.wasm --input events.jsonl`: run a module on sample events,
//! offline, and print what it emits.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::json;
use weft_core::{CallError, Outcome, Topic, cloudevents, stamp_outputs};
use weft_runtime::{Manifest, Module, Runtime};

use crate::offline::{Progress, cache_dir, offline_defaults};

#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  weft test enrich.wasm --input events.jsonl --topic orders/created"
)]
pub struct Args {
    file: PathBuf,
    /// CloudEvents in structured JSON, one per line (each may carry a `topic`).
    #[arg(long)]
    input: PathBuf,
    /// The manifest (default: FILE.toml).
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Topic for input lines without one.
    #[arg(long)]
    topic: Option<String>,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        test(&a.file, &a.input, a.manifest.as_deref(), a.topic.as_deref())
    })
    .await?
}

/// Runs a module on sample events and prints, per input, what it emitted or why
/// it failed, one JSON line each. Outputs are checked against the manifest's
/// grants exactly as the host does.
fn test(
    file: &Path,
    input: &Path,
    manifest: Option<&Path>,
    topic: Option<&str>,
) -> anyhow::Result<()> {
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
    let manifest = Manifest::parse(&text, &offline_defaults(&text)).map_err(|e| {
        anyhow::anyhow!(
            "{} is invalid:\n  {}",
            manifest_path.display(),
            e.to_string().replace('\n', "\n  ")
        )
    })?;
    let name = weft_runtime::folder::module_name(file)
        .map_err(|e| anyhow::anyhow!("{} {e}", file.display()))?;
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
    let default_topic = topic.map(Topic::parse).transpose()?;
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
        let event = cloudevents::from_json(&line, default_topic.as_ref())
            .map_err(|e| anyhow::anyhow!("{}:{}: {e}", input.display(), n + 1))?;
        let result = match handler.process(std::slice::from_ref(&event)) {
            Ok(mut outcomes) if outcomes.len() == 1 => outcomes.remove(0),
            Ok(o) => Outcome::Reject(format!("returned {} outcomes for 1 event", o.len())),
            Err(CallError::Timeout(d)) => {
                Outcome::Reject(format!("interrupted after its time budget of {d:?}"))
            }
            Err(e) => Outcome::Reject(e.to_string()),
        };
        let line = match result {
            Outcome::Emit(outs) => {
                match stamp_outputs(&module.name, &module.manifest.publish, &event, outs) {
                    Ok(outs) => {
                        // Written as text, not through a `Value`, so data goes out as it is.
                        let emitted: Vec<String> = outs
                            .iter()
                            .map(|o| cloudevents::to_json_text(o, cloudevents::Form::Json))
                            .collect();
                        let input = json!({ "input": event.id });
                        let input = input.to_string();
                        let head = input.strip_suffix('}').unwrap_or(&input);
                        println!("{head},\"emitted\":[{}]}}", emitted.join(","));
                        continue;
                    }
                    Err(reason) => json!({ "input": event.id, "rejected": reason }),
                }
            }
            Outcome::Retry(reason) => json!({ "input": event.id, "retry": reason }),
            Outcome::Reject(reason) => json!({ "input": event.id, "rejected": reason }),
        };
        println!("{line}");
    }
    Ok(())
}

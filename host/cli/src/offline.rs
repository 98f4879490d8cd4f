//! `weft check` and `weft test`: a plugin author's inner loop, no host needed.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::json;
use weft_core::{CallError, Outcome, Topic, cloudevents, stamp_outputs};
use weft_runtime::{Defaults, Manifest, Module, Runtime};

fn cache_dir() -> PathBuf {
    std::env::var_os("WEFT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("weft-cache"))
}

/// Prints what a `.wasm` is (world, imports, exports) and checks the manifest
/// beside it, if any. Errors name the file and the reason.
pub fn check(file: &Path) -> anyhow::Result<()> {
    let runtime = Runtime::new(cache_dir())?;
    let wasm = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let report = weft_runtime::inspect(&runtime, &wasm)
        .map_err(|reason| anyhow::anyhow!("{} {reason}", file.display()))?;
    println!("{}: a valid weft {} module", file.display(), report.world);
    println!("  version  sha256:{}", report.version);
    println!("  size     {} bytes", report.size);
    println!("  exports  {}", report.exports.join(", "));
    println!("  imports  {}", report.imports.join(", "));
    let manifest = file.with_extension("toml");
    if manifest.exists() {
        let text = std::fs::read_to_string(&manifest)?;
        let m = Manifest::parse(&text, &Defaults::default()).map_err(|e| {
            anyhow::anyhow!(
                "{} is invalid:\n  {}",
                manifest.display(),
                e.replace('\n', "\n  ")
            )
        })?;
        println!(
            "  manifest {} (subscribe {:?}, publish {:?})",
            manifest.display(),
            m.subscribe
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>(),
            m.publish.iter().map(|p| p.to_string()).collect::<Vec<_>>()
        );
    } else {
        println!(
            "  manifest none yet: write {} to deploy it",
            manifest.display()
        );
    }
    Ok(())
}

/// Runs a module on sample events and prints, per input, what it emitted or why
/// it failed, one JSON line each. Outputs are checked against the manifest's
/// grants exactly as the host does.
pub fn test(
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
    let manifest = Manifest::parse(&text, &Defaults::default()).map_err(|e| {
        anyhow::anyhow!(
            "{} is invalid:\n  {}",
            manifest_path.display(),
            e.replace('\n', "\n  ")
        )
    })?;
    let name = weft_runtime::folder::module_name(file)
        .map_err(|e| anyhow::anyhow!("{} {e}", file.display()))?;
    let module = Arc::new(
        Module::load(&runtime, &name, &wasm, manifest)
            .map_err(|e| anyhow::anyhow!("{} {e}", file.display()))?,
    );
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
        let value: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not JSON", input.display(), n + 1))?;
        let event = cloudevents::from_json(value, default_topic.as_ref())
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
                        json!({ "input": event.id, "emitted": outs.iter().map(cloudevents::to_json).collect::<Vec<_>>() })
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

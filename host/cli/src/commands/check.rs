//! `weft check FILE.wasm`: is it a weft module, and does its manifest fit it?

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use weft_runtime::{Manifest, Runtime};

use crate::offline::{Progress, cache_dir, offline_defaults};

#[derive(clap::Args)]
#[command(after_help = "Example:\n  weft check modules/enrich.wasm")]
pub struct Args {
    file: PathBuf,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || check(&a.file)).await?
}

/// Prints what a `.wasm` is (world, imports, exports) and checks the manifest
/// beside it, if any. Errors name the file and the reason.
fn check(file: &Path) -> anyhow::Result<()> {
    let runtime = Runtime::new(cache_dir())?;
    let wasm = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let progress = Progress::start(&runtime, file, &wasm);
    let report = weft_runtime::inspect(&runtime, &wasm)
        .map_err(|reason| anyhow::anyhow!("{} {reason}", file.display()));
    drop(progress);
    let report = report?;
    println!("{}: a valid weft {}", file.display(), report.world);
    println!("  version  sha256:{}", report.version);
    println!("  size     {} bytes", report.size);
    println!("  exports  {}", report.exports.join(", "));
    println!("  imports  {}", report.imports.join(", "));
    let manifest = file.with_extension("toml");
    if manifest.exists() {
        let text = std::fs::read_to_string(&manifest)?;
        let invalid = |e: weft_runtime::ManifestError| {
            anyhow::anyhow!(
                "{} is invalid:\n  {}",
                manifest.display(),
                e.to_string().replace('\n', "\n  ")
            )
        };
        let mut m = Manifest::parse(&text, &offline_defaults(&text)).map_err(invalid)?;
        let name = weft_runtime::folder::module_name(file)
            .map_err(|e| anyhow::anyhow!("{} {e}", file.display()))?;
        let dir = manifest.parent().unwrap_or(Path::new("."));
        m.load_schemas(dir, &name).map_err(invalid)?;
        m.check_world(report.world.kind()).map_err(|e| {
            anyhow::anyhow!(
                "{} does not fit a {}:\n  {}",
                manifest.display(),
                report.world,
                e.to_string().replace('\n', "\n  ")
            )
        })?;
        let list = |p: &weft_core::Patterns| p.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        println!("  manifest {}", manifest.display());
        if m.subscribe.iter().next().is_some() {
            println!("    subscribe {:?}", list(&m.subscribe));
        }
        if m.publish.iter().next().is_some() {
            println!("    publish   {:?}", list(&m.publish));
        }
        if let Some(t) = &m.ingress {
            println!("    triggers  {t:?}");
        }
        if !m.http.is_none() {
            println!("    http      {:?}", m.http);
        }
        for f in &m.folders {
            let mode = if f.write { "read-write" } else { "read-only" };
            println!("    folder    {} -> {} ({mode})", f.guest, f.host.display());
        }
        for s in m.schemas.entries() {
            let enforced = if m.schemas.enforce {
                "enforced"
            } else {
                "describes only"
            };
            println!("    schema    {} -> {} ({enforced})", s.pattern, s.file);
        }
        for (k, v) in m.shown_config() {
            println!("    config    {k} = {v}");
        }
    } else {
        println!(
            "  manifest none yet: write {} to deploy it",
            manifest.display()
        );
    }
    Ok(())
}

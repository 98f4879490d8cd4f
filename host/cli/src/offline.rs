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
        let m = Manifest::parse(&text, &offline_defaults(&text)).map_err(|e| {
            anyhow::anyhow!(
                "{} is invalid:\n  {}",
                manifest.display(),
                e.to_string().replace('\n', "\n  ")
            )
        })?;
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

/// Says on stderr that a long compile is under way, then every 5 s how long it
/// has taken, until dropped: an interpreted guest (Python, JavaScript) compiles for
/// 10-40 s the first time, and a silent command looks hung. Quiet for small or
/// cached modules.
struct Progress {
    done: Option<std::sync::mpsc::Sender<()>>,
}

impl Progress {
    fn start(runtime: &Runtime, file: &Path, wasm: &[u8]) -> Self {
        if runtime.is_cached(wasm) || wasm.len() < 2 * 1024 * 1024 {
            return Self { done: None };
        }
        eprintln!(
            "compiling {} ({:.1} MiB) for the first time; interpreted guests take 10-40 s, then load from the cache in milliseconds",
            file.display(),
            wasm.len() as f64 / (1024.0 * 1024.0)
        );
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let started = std::time::Instant::now();
        std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                wait.recv_timeout(std::time::Duration::from_secs(5))
            {
                eprintln!("  still compiling, {} s", started.elapsed().as_secs());
            }
        });
        Self { done: Some(done) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

/// Offline there are no host secrets: each secret a manifest names stands in as
/// `<secret NAME>`, so the manifest checks and nothing real is ever shown.
fn offline_defaults(manifest: &str) -> Defaults {
    let config = toml::from_str::<toml::Table>(manifest)
        .ok()
        .and_then(|t| t.get("config").and_then(|c| c.as_table()).cloned())
        .unwrap_or_default();
    let names: std::collections::BTreeMap<String, String> = config
        .values()
        .filter_map(|v| v.as_table()?.get("secret")?.as_str())
        .map(|name| (name.to_owned(), format!("<secret {name}>")))
        .collect();
    Defaults {
        secrets: weft_runtime::Secrets::new(names),
        ..Defaults::default()
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    /// `weft check` runs without the host's secrets: a manifest naming one still
    /// checks, and shows the name, not a value.
    #[test]
    fn offline_secrets_stand_in_by_name() {
        let text = "subscribe = [\"a\"]\n[config]\nsecret = { secret = \"HOOK\" }   # a comment\nplain = 1\n";
        let d = super::offline_defaults(text);
        let m = weft_runtime::Manifest::parse(text, &d).unwrap();
        assert_eq!(
            m.shown_config(),
            [
                ("plain".to_owned(), "1".to_owned()),
                ("secret".to_owned(), "<secret HOOK>".to_owned())
            ]
        );
    }
}

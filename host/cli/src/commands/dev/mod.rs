//! `weft dev [PATH]`: the author loop in one terminal. Builds the module project
//! in PATH, checks it, swaps it into a host, and again on every saved change;
//! shows the build, the check, the swap (or the refusal and why) and a live tap
//! of the module's input and output topics; `--input` replays sample events after
//! each swap. A failed build or check leaves the running version serving.
//!
//! | module | what |
//! |---|---|
//! | `project` | the project's language, name and build |
//! | `host` | the local host (or `--modules DIR`), putting a version in place |
//! | `watch` | saved changes, settled |
//! | `show` | the live tap and the replay |

mod host;
mod project;
mod show;
mod watch;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use weft_runtime::{Manifest, Runtime};

use crate::client::Remote;
use crate::offline::{cache_dir, offline_defaults};
use host::{Outcome, Target};
use project::{Built, Project};
use show::say;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  weft new processor hello && cd hello && weft dev
  weft dev --input sample.jsonl
  weft dev path/to/project --modules /srv/weft/modules --host http://127.0.0.1:8080")]
pub struct Args {
    /// The module project (Cargo.toml, app.py or app.js, and NAME.toml).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Swap into this running host's modules folder instead of a local host of
    /// its own (then --host is that host's API, for the status and the tap).
    #[arg(long, value_name = "DIR")]
    modules: Option<PathBuf>,
    /// Sample events (structured CloudEvents, one a line) published after each
    /// swap; lines without a `topic` go to the manifest's first subscribe topic.
    #[arg(long, value_name = "EVENTS")]
    input: Option<PathBuf>,
    /// Build, check and swap once, show what the replay gave, and exit (scripts).
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    remote: Remote,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let project = Project::find(&a.path)?;
    let cache = cache_dir();
    // The check compiles with Winch, as the local host (tiered) serves first:
    // the host then loads the check's code from the shared cache.
    let runtime = Runtime::new(&cache)?.baseline()?;
    say(&format!(
        "weft dev: {} ({}) in {}",
        project.name,
        project.lang,
        project.dir.display()
    ));
    say(&format!("  build: {}", project.describe_build()));
    let target = match &a.modules {
        Some(dir) => Target::external(dir.clone(), a.remote.clone())?,
        None => Target::local(&project.dir.join(".weft"), &cache).await?,
    };
    match &target.log {
        Some(log) => say(&format!(
            "  host: {} (modules {}, log {})",
            target.remote.host,
            target.modules.display(),
            log.display()
        )),
        None => say(&format!(
            "  host: {} (modules {})",
            target.remote.host,
            target.modules.display()
        )),
    }
    let mut changes = watch::Changes::start(&project)?;
    // The local host goes with `weft dev` (Target's drop) on SIGTERM as on Ctrl-C.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tapping = false;
    let mut round = 0u32;
    let mut saved = Some(Instant::now());
    loop {
        if let Some(at) = saved.take() {
            round += 1;
            cycle(&project, &runtime, &target, at, &a, round, &mut tapping).await;
            if a.once {
                // Whatever the replay emits shows within a moment.
                tokio::time::sleep(Duration::from_millis(500)).await;
                return Ok(());
            }
            say("watching for changes (Ctrl-C to stop)");
        }
        tokio::select! {
            at = changes.next() => saved = Some(at?),
            _ = tokio::signal::ctrl_c() => {
                say("stopped");
                return Ok(());
            }
            _ = terminate.recv() => {
                say("stopped");
                return Ok(());
            }
        }
    }
}

/// One round: build, check, put in place, report, replay; the tap of the
/// module's topics starts with the first version serving.
async fn cycle(
    project: &Project,
    runtime: &Runtime,
    target: &Target,
    saved: Instant,
    a: &Args,
    round: u32,
    tapping: &mut bool,
) {
    let built = match project.build().await {
        Ok(b) => b,
        Err(e) => {
            say(&format!("build failed: {e:#}; the running version stays"));
            return;
        }
    };
    say(&format!(
        "built {} ({} KiB) in {:.2} s",
        built.path.display(),
        built.wasm.len() / 1024,
        built.took.as_secs_f64()
    ));
    let (manifest_text, manifest) = match check(project, runtime, &built).await {
        Ok(m) => m,
        Err(e) => {
            say(&format!("check failed: {e:#}; the running version stays"));
            return;
        }
    };
    let within = Duration::from_secs(120);
    match target
        .install(&project.name, &built.wasm, manifest_text.as_bytes(), within)
        .await
    {
        Ok(Outcome::Serving {
            action,
            version,
            compile_ms,
            swap_ms,
        }) => say(&format!(
            "{action}: version {} (host compile {} ms, swap {} ms); serving {:.2} s after the change",
            &version[..version.len().min(12)],
            compile_ms.unwrap_or(0),
            swap_ms.unwrap_or(0),
            saved.elapsed().as_secs_f64()
        )),
        Ok(Outcome::Refused(reason)) => {
            say(&format!(
                "refused by the host: {reason}; the running version stays"
            ));
            return;
        }
        Ok(Outcome::Unchanged) => say("unchanged: the host runs this version already"),
        Ok(Outcome::Silent) => {
            say(&format!(
                "the host said nothing about {} within {} s; see its log",
                project.name,
                within.as_secs()
            ));
            return;
        }
        Err(e) => {
            say(&format!("cannot put it in place: {e:#}"));
            return;
        }
    }
    if !*tapping {
        let list = |p: &weft_core::Patterns| p.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        show::tap(
            &target.remote,
            &list(&manifest.subscribe),
            &list(&manifest.publish),
        )
        .await;
        *tapping = true;
    }
    if let Some(input) = &a.input {
        let topic = manifest
            .subscribe
            .iter()
            .map(|p| p.to_string())
            .find(|p| weft_core::Topic::parse(p).is_ok());
        show::replay(target, input, topic.as_deref(), round, a.modules.is_some()).await;
    }
}

/// `weft check` on the build with the project's manifest, offline. Compiles into
/// the cache the local host shares, so the host then loads it from there.
async fn check(
    project: &Project,
    runtime: &Runtime,
    built: &Built,
) -> anyhow::Result<(String, Manifest)> {
    let text = std::fs::read_to_string(&project.manifest)?;
    let manifest = Manifest::parse(&text, &offline_defaults(&text))
        .map_err(|e| anyhow::anyhow!("{} is invalid: {e}", project.manifest.display()))?;
    let (runtime, wasm) = (runtime.clone(), built.wasm.clone());
    let started = Instant::now();
    // Where Winch cannot compile the guest, the host falls back to Cranelift,
    // and so does the check.
    let report = tokio::task::spawn_blocking(move || {
        weft_runtime::inspect(&runtime, &wasm).or_else(|winch| {
            let optimized = Runtime::new(cache_dir()).map_err(|_| winch)?;
            weft_runtime::inspect(&optimized, &wasm)
        })
    })
    .await?
    .map_err(|reason| anyhow::anyhow!("{} {reason}", built.path.display()))?;
    manifest.check_world(report.world.kind()).map_err(|e| {
        anyhow::anyhow!(
            "{} does not fit a {}: {e}",
            project.manifest.display(),
            report.world
        )
    })?;
    say(&format!(
        "check ok: a valid weft {} ({:.2} s)",
        report.world,
        started.elapsed().as_secs_f64()
    ));
    Ok((text, manifest))
}

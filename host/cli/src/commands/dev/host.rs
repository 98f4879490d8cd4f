//! The host `weft dev` swaps into: a local `weft run` it starts with its own
//! folders under the project's `.weft/` (modules, data, compile cache shared with
//! the check, so the host loads what the check compiled), or a running host's
//! modules folder (`--modules DIR`). Either way a new version goes in as any
//! operator's would: written beside the folder's file, renamed into place, and
//! the host's own swap takes it; what it did is read back from `/v1/status`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::client::Remote;

pub struct Target {
    pub modules: PathBuf,
    pub remote: Remote,
    /// The local host, killed when `weft dev` ends (its store survives that).
    child: Option<tokio::process::Child>,
    pub log: Option<PathBuf>,
}

/// What the host did with a version put in place.
pub enum Outcome {
    /// Serving: loaded or swapped in, with the host's timings.
    Serving {
        action: String,
        version: String,
        compile_ms: Option<u64>,
        swap_ms: Option<u64>,
    },
    /// Refused; the running version (if any) stays.
    Refused(String),
    /// Nothing seen within the wait.
    Silent,
    /// The files in place are these already.
    Unchanged,
}

impl Target {
    /// A host of its own under `work` (`PROJECT/.weft`), listening on a free
    /// loopback port. Dedup is off there: `--input` replays the same ids after
    /// every swap.
    pub async fn local(work: &Path, cache: &Path) -> anyhow::Result<Self> {
        let modules = work.join("modules");
        let data = work.join("data");
        std::fs::create_dir_all(&modules)
            .with_context(|| format!("cannot create {}", modules.display()))?;
        let config = work.join("weft.toml");
        std::fs::write(
            &config,
            "# Written by `weft dev` for its own host.\n[ingest]\ndedup_window = \"0s\"\n\
             [modules]\ntiered = true\n",
        )?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = work.join("host.log");
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot write {}", log.display()))?;
        let child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("run")
            .arg("--modules")
            .arg(&modules)
            .arg("--data")
            .arg(&data)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--config")
            .arg(&config)
            .arg("--cache")
            .arg(cache)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the local host (weft run)")?;
        let remote = Remote {
            host: format!("http://127.0.0.1:{port}"),
            token: None,
            ca: None,
        };
        let mut target = Self {
            modules,
            remote,
            child: Some(child),
            log: Some(log),
        };
        target.wait_ready().await?;
        Ok(target)
    }

    /// A running host's modules folder; `remote` is where its API is.
    pub fn external(modules: PathBuf, remote: Remote) -> anyhow::Result<Self> {
        if !modules.is_dir() {
            bail!(
                "--modules {} is not a folder: give the modules folder of a running `weft run`",
                modules.display()
            );
        }
        Ok(Self {
            modules,
            remote,
            child: None,
            log: None,
        })
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = self.remote.client()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(self.remote.url("/readyz")).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait()?
            {
                let log = self.log.clone().unwrap_or_default();
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let why = text
                    .lines()
                    .rev()
                    .find_map(|l| l.strip_prefix("weft: "))
                    .unwrap_or("see its log");
                let hint = if why.contains("already open") {
                    "; is another `weft dev` running in this project? stop it first"
                } else {
                    ""
                };
                bail!(
                    "the local host exited ({status}): {why}{hint} (log: {})",
                    log.display()
                );
            }
            if Instant::now() > deadline {
                bail!("the local host did not become ready within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The host's status, or `Null` when it does not answer.
    async fn status(&self) -> Value {
        let Ok(client) = self.remote.client() else {
            return Value::Null;
        };
        match client.get(self.remote.url("/v1/status")).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// What marks the host's last word about `name`: its newest history entry and
    /// the refusal of its file, if any.
    async fn mark(&self, name: &str) -> (Value, Value) {
        let status = self.status().await;
        let module = status["modules"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["name"] == name))
            .map(|m| {
                m["history"]
                    .as_array()
                    .and_then(|h| h.last())
                    .cloned()
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let file = format!("{name}.wasm");
        let refused = status["refused"]
            .as_array()
            .and_then(|r| {
                r.iter()
                    .find(|r| r["file"].as_str().is_some_and(|f| f.ends_with(&file)))
            })
            .cloned()
            .unwrap_or_default();
        (module, refused)
    }

    /// Puts `NAME.wasm` and `NAME.toml` in place (each written beside, then
    /// renamed, so the host never sees half a file) and waits up to `within` for
    /// the host to say what it did with them.
    pub async fn install(
        &self,
        name: &str,
        wasm: &[u8],
        manifest: &[u8],
        within: Duration,
    ) -> anyhow::Result<Outcome> {
        let before = self.mark(name).await;
        let mut changed = false;
        for (file, bytes) in [
            (format!("{name}.toml"), manifest),
            (format!("{name}.wasm"), wasm),
        ] {
            let to = self.modules.join(&file);
            if std::fs::read(&to).ok().as_deref() == Some(bytes) {
                continue;
            }
            changed = true;
            let tmp = self.modules.join(format!(".{file}.tmp"));
            std::fs::write(&tmp, bytes)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, &to)
                .with_context(|| format!("cannot rename into {}", to.display()))?;
        }
        if !changed {
            return Ok(Outcome::Unchanged);
        }
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(25)).await;
            let (entry, refused) = self.mark(name).await;
            if refused != before.1 && !refused.is_null() {
                return Ok(Outcome::Refused(
                    refused["reason"].as_str().unwrap_or_default().to_owned(),
                ));
            }
            // A tier-up of the version before is not this version's answer.
            if entry != before.0 && !entry.is_null() && entry["action"] != "tiered_up" {
                let action = entry["action"].as_str().unwrap_or_default().to_owned();
                if action == "refused" {
                    return Ok(Outcome::Refused(
                        entry["detail"].as_str().unwrap_or_default().to_owned(),
                    ));
                }
                return Ok(Outcome::Serving {
                    action,
                    version: entry["version"].as_str().unwrap_or_default().to_owned(),
                    compile_ms: entry["compile_ms"].as_u64(),
                    swap_ms: entry["swap_ms"].as_u64(),
                });
            }
        }
        Ok(Outcome::Silent)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
        }
    }
}

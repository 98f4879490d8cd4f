//! A module project as `weft dev` finds it: its language (from its files), its
//! name (the manifest `NAME.toml` beside the sources) and how it is built.
//!
//! Rust builds with cargo in a profile of its own, `weft-dev`: the release
//! profile with `opt-level = 1`, no LTO, 16 codegen units and incremental
//! builds, defined on the command line (`--config`), so the project's
//! `Cargo.toml` is left alone and its release builds keep their own folder.
//! Python and JavaScript build with the project's `build.sh`, which pins
//! componentize-py / componentize-js (the templates carry it).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        })
    }
}

/// The profile `weft dev` builds Rust in, and what it says about it.
pub const RUST_PROFILE: &str = "weft-dev";
const RUST_PROFILE_CONFIG: [&str; 6] = [
    "profile.weft-dev.inherits=\"release\"",
    "profile.weft-dev.opt-level=1",
    "profile.weft-dev.lto=false",
    "profile.weft-dev.codegen-units=16",
    "profile.weft-dev.incremental=true",
    "profile.weft-dev.strip=true",
];

pub struct Project {
    pub dir: PathBuf,
    pub lang: Lang,
    /// The module name: the manifest's file stem.
    pub name: String,
    pub manifest: PathBuf,
}

/// A finished build.
pub struct Built {
    pub wasm: Vec<u8>,
    pub path: PathBuf,
    pub took: Duration,
}

impl Project {
    /// Finds the project in `dir`: Rust with a `Cargo.toml`, Python with an
    /// `app.py`, JavaScript with an `app.js` (and a `build.sh` for both), and
    /// exactly one manifest `NAME.toml` besides `Cargo.toml`.
    pub fn find(dir: &Path) -> anyhow::Result<Self> {
        let dir = dir
            .canonicalize()
            .with_context(|| format!("cannot open the project folder {}", dir.display()))?;
        let has = |f: &str| dir.join(f).is_file();
        let lang = if has("Cargo.toml") {
            Lang::Rust
        } else if has("app.py") {
            Lang::Python
        } else if has("app.js") {
            Lang::Js
        } else {
            bail!(
                "{} is not a module project: no Cargo.toml (Rust), app.py (Python) or app.js \
                 (JavaScript); start one with `weft new processor NAME [--lang python|js]`",
                dir.display()
            );
        };
        if lang != Lang::Rust && !has("build.sh") {
            bail!(
                "{} has no build.sh: a {lang} project builds with the build.sh `weft new` writes",
                dir.display()
            );
        }
        let mut manifests: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "toml")
                    && !matches!(
                        p.file_name().and_then(|n| n.to_str()),
                        Some("Cargo.toml" | "pyproject.toml" | "rustfmt.toml" | "clippy.toml")
                    )
            })
            .collect();
        manifests.sort();
        let manifest = match manifests.as_slice() {
            [one] => one.clone(),
            [] => bail!(
                "{} has no manifest: write NAME.toml (the module's topics, limits and config) \
                 beside the sources",
                dir.display()
            ),
            many => bail!(
                "{} has {} manifests ({}); keep the module's NAME.toml only",
                dir.display(),
                many.len(),
                many.iter()
                    .filter_map(|p| p.file_name()?.to_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let name = manifest
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            dir,
            lang,
            name,
            manifest,
        })
    }

    /// What the build is, for the first line `weft dev` prints.
    pub fn describe_build(&self) -> String {
        match self.lang {
            Lang::Rust => format!(
                "cargo, profile `{RUST_PROFILE}` (release with opt-level 1, no LTO, incremental: \
                 a faster build than --release, not the one to ship)"
            ),
            Lang::Python => "build.sh (componentize-py)".into(),
            Lang::Js => "build.sh (componentize-js)".into(),
        }
    }

    /// Builds the component. The compiler's own output goes to the terminal as it
    /// comes; a failed build is an error saying so (the compiler said why).
    pub async fn build(&self) -> anyhow::Result<Built> {
        let started = Instant::now();
        let path = match self.lang {
            Lang::Rust => self.cargo().await?,
            Lang::Python | Lang::Js => {
                let status = tokio::process::Command::new("bash")
                    .arg("build.sh")
                    .current_dir(&self.dir)
                    .stdin(Stdio::null())
                    .stdout(Stdio::inherit())
                    .stderr(Stdio::inherit())
                    .status()
                    .await
                    .context("cannot run bash build.sh")?;
                if !status.success() {
                    bail!("build.sh failed ({status}); see its output above");
                }
                self.dir.join(format!("{}.wasm", self.name))
            }
        };
        let wasm = tokio::fs::read(&path)
            .await
            .with_context(|| format!("the build wrote no {}", path.display()))?;
        Ok(Built {
            wasm,
            path,
            took: started.elapsed(),
        })
    }

    /// `cargo build` for wasm32-wasip2 in the dev profile; the component's path
    /// as cargo reports it (wherever the target folder is).
    async fn cargo(&self) -> anyhow::Result<PathBuf> {
        let mut cmd =
            tokio::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args([
            "build",
            "--target",
            "wasm32-wasip2",
            "--profile",
            RUST_PROFILE,
        ])
        .args(["--message-format", "json-render-diagnostics"]);
        for c in RUST_PROFILE_CONFIG {
            cmd.args(["--config", c]);
        }
        let out = cmd
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Not `output()`: tokio's pipes stderr too, and the author must see the
            // compiler's messages as they come.
            .spawn()
            .context("cannot run cargo: is Rust installed (rustup)?")?
            .wait_with_output()
            .await
            .context("cannot run cargo")?;
        if !out.status.success() {
            bail!(
                "cargo build failed ({}); the compiler's message is above",
                out.status
            );
        }
        let wasm = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact")
            .flat_map(|m| {
                m["filenames"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|f| f.as_str().map(PathBuf::from))
            })
            .rfind(|f| f.extension().is_some_and(|x| x == "wasm"));
        wasm.context(
            "cargo built no .wasm: the crate needs `crate-type = [\"cdylib\"]` under [lib]",
        )
    }

    /// Whether a changed path is a source (not a build output or a tool's folder).
    pub fn is_source(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(&self.dir) else {
            return false;
        };
        let skipped = rel.components().any(|c| {
            let c = c.as_os_str().to_string_lossy();
            c.starts_with('.')
                || matches!(
                    c.as_ref(),
                    "target" | "node_modules" | "__pycache__" | "bindings"
                )
        });
        let output = rel.extension().is_some_and(|x| x == "wasm" || x == "tmp")
            || rel
                .file_name()
                .is_some_and(|n| n == "package-lock.json" || n == "Cargo.lock");
        !skipped && !output
    }
}

//! The one wasmtime `Engine` every module shares, its epoch ticker, the linker and
//! the compile cache.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

use crate::bindings::{Processor, State, StateReader};

/// How often the epoch advances; a call's time budget is counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

#[derive(Clone)]
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: std::sync::Arc<Linker<State>>,
    cache_dir: PathBuf,
    /// Where modules' committed `state` is read; `None` offline (`weft test`).
    pub(crate) state: Option<std::sync::Arc<dyn StateReader>>,
}

impl Runtime {
    /// Builds the engine (epoch interruption on) and starts its ticker. The ticker
    /// holds only a weak reference, so it stops when the last `Runtime` is dropped.
    pub fn new(cache_dir: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        // Linked for every module; what a request may reach is the module's
        // `[http]` grant, checked per request (crate::http).
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
        // The three worlds share `types`, `log` and `config`; each is linked once.
        Processor::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        crate::bindings::ingress_world::weft::integration::state::add_to_linker::<_, HasSelf<_>>(
            &mut linker,
            |s| s,
        )?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("weft-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .context("cannot start the epoch ticker thread")?;
        let cache_dir = cache_dir.into();
        std::fs::create_dir_all(&cache_dir).with_context(|| {
            format!(
                "cannot create the compile cache folder {}",
                cache_dir.display()
            )
        })?;
        Ok(Self {
            engine,
            linker: std::sync::Arc::new(linker),
            cache_dir,
            state: None,
        })
    }

    /// Modules loaded by this runtime read their committed `state` from `reader`.
    pub fn with_state(mut self, reader: std::sync::Arc<dyn StateReader>) -> Self {
        self.state = Some(reader);
        self
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles a component, or loads it from the compile cache.
    ///
    /// The cache key is the SHA-256 of the `.wasm` and a hash of the engine's
    /// settings and version, so a file is only ever loaded by the engine that
    /// wrote it. Only files the host wrote into its own cache folder are loaded as
    /// compiled code, never anything from the modules folder.
    pub fn compile(&self, wasm: &[u8]) -> wasmtime::Result<Component> {
        let path = self.cache_path(wasm);
        if path.exists() {
            match self.load_cached(&path) {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "unusable compile cache entry, compiling again")
                }
            }
        }
        let component = Component::new(&self.engine, wasm)?;
        if let Err(e) = self.store_cached(&path, &component) {
            tracing::warn!(file = %path.display(), error = %e, "cannot write the compile cache");
        }
        Ok(component)
    }

    /// Whether `wasm` is in the compile cache (so loading it will be fast).
    pub fn is_cached(&self, wasm: &[u8]) -> bool {
        self.cache_path(wasm).exists()
    }

    fn cache_path(&self, wasm: &[u8]) -> PathBuf {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        self.cache_dir.join(format!(
            "{}-{:016x}.cwasm",
            hex::encode(Sha256::digest(wasm)),
            h.finish()
        ))
    }

    #[allow(
        unsafe_code,
        reason = "deserializing compiled code is unsafe because a tampered file could run as \
                  machine code; only files this host wrote to its own cache folder, keyed by \
                  content hash and engine settings, are loaded"
    )]
    fn load_cached(&self, path: &Path) -> wasmtime::Result<Component> {
        // SAFETY: see the allow reason above; the file was produced by
        // `Component::serialize` on an engine with the same compatibility hash.
        Ok(unsafe { Component::deserialize_file(&self.engine, path)? })
    }

    fn store_cached(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        let bytes = component.serialize()?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

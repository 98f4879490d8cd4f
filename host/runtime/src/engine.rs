//! The one wasmtime `Engine` every module shares, its epoch ticker, the linker and
//! the compile cache.
//!
//! The engine is where the limits that are not per store live: the depth of the
//! wasm stack, and how instances get their memories and tables. By default a
//! pooling allocator reserves slots for [`RuntimeConfig::pool_instances`] instances
//! up front, so starting an instance takes a free slot instead of mapping memory;
//! when the pool is turned off, or the machine refuses its address-space
//! reservation, instances are allocated on demand (the log says which). Neither
//! choice changes the compiled code, so the compile cache serves both.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::PoisonError;
use std::time::Duration;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Strategy,
};

use crate::bindings::{self, InstanceState, LogBudget, Processor, StateReader};
use crate::cache_file;

/// How often the epoch advances; a call's time budget is counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Deepest a guest's wasm stack may grow before the call traps with "call stack
/// exhausted", so unbounded recursion fails the call instead of the host.
///
/// Twice wasmtime's default (512 KiB), for interpreters compiled to wasm
/// (CPython, SpiderMonkey), whose frames are large. Guest calls run on tokio's
/// blocking threads, whose stacks are 2 MiB: the other half is left to the host
/// functions a guest calls and to the frames below the call. Near 2 MiB, a guest
/// that recursed deep and then called the host could overflow the thread's
/// stack, which aborts the process instead of trapping (wasmtime's docs).
pub const MAX_WASM_STACK: usize = 1024 * 1024;

/// Default size of the instance pool ([`RuntimeConfig::pool_instances`]).
pub const POOL_INSTANCES: u32 = 128;

/// Pool slots per instance. Every guest measured (Rust, componentize-py,
/// componentize-js) has one linear memory, two tables and 3 to 14 core modules;
/// the pool leaves room for twice the memories and tables. Core instances cost
/// the pool only a counter, so it counts them generously.
const POOL_MEMORIES_PER_INSTANCE: u32 = 2;
const POOL_TABLES_PER_INSTANCE: u32 = 4;
const POOL_CORE_INSTANCES_PER_INSTANCE: u32 = 32;

/// How the runtime is set up, from the host config (`[modules]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Instances the pooling allocator keeps slots for (`[modules] pool_instances`);
    /// 0 turns the pool off and allocates each instance on demand.
    ///
    /// Each live instance takes a slot: one per worker lane of each processor and
    /// egress connector, one per ingress connector, plus the one a module starts
    /// while it is checked at load (and, during a hot swap, the new version's
    /// beside the old one's). Past the pool, starting an instance fails with
    /// "maximum concurrent limit of N for component instances reached", and the
    /// call fails as a trap would (retried, then the error queue): size the pool
    /// for the instances the host runs.
    ///
    /// Each slot reserves address space (not memory) for its linear memories:
    /// 4 GiB, the largest `[limits] memory` a manifest may ask for, plus a
    /// 32 MiB guard, twice per instance: about 1 TiB for the default 128 of a
    /// 64-bit address space of 128 TiB. A machine that refuses the reservation
    /// (`ulimit -v`) gets on-demand allocation and a warning.
    pub pool_instances: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            pool_instances: POOL_INSTANCES,
        }
    }
}

/// How the engine allocates instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allocator {
    /// From a pool with slots for this many instances.
    Pool { instances: u32 },
    /// Each instance maps its own memory when it starts.
    OnDemand,
}

impl std::fmt::Display for Allocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Allocator::Pool { instances } => write!(f, "pool of {instances} instances"),
            Allocator::OnDemand => f.write_str("on demand"),
        }
    }
}

/// Which compiler a runtime's engine uses.
///
/// `Optimized` is Cranelift: the code every module runs in the end. `Baseline`
/// is Winch, wasmtime's single-pass compiler: it compiles an interpreted guest
/// (CPython, SpiderMonkey: 12-20 MiB of wasm) several times faster, into slower
/// code, so a new version can serve while Cranelift works in the background
/// (tiered compilation, see the host's supervisor). Each tier is its own engine,
/// and its compiled code its own cache entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Optimized,
    Baseline,
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tier::Optimized => "cranelift",
            Tier::Baseline => "winch",
        })
    }
}

#[derive(Clone)]
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: std::sync::Arc<Linker<InstanceState>>,
    cache_dir: PathBuf,
    /// Where modules' committed `state` is read; `None` offline (`weft test`).
    pub(crate) state: Option<std::sync::Arc<dyn StateReader>>,
    allocator: Allocator,
    /// Each module's log budget, by name, shared by its instances and versions.
    logs: std::sync::Arc<std::sync::Mutex<HashMap<String, LogBudget>>>,
    config: RuntimeConfig,
    tier: Tier,
}

impl Runtime {
    /// A runtime with the default [`RuntimeConfig`].
    pub fn new(cache_dir: impl Into<PathBuf>) -> anyhow::Result<Self> {
        Self::with_config(cache_dir, RuntimeConfig::default())
    }

    /// Builds the engine (epoch interruption on, the stack limit, the instance
    /// pool) and starts its ticker. The ticker holds only a weak reference, so it
    /// stops when the last `Runtime` is dropped.
    pub fn with_config(
        cache_dir: impl Into<PathBuf>,
        runtime: RuntimeConfig,
    ) -> anyhow::Result<Self> {
        Self::build(cache_dir.into(), runtime, Tier::Optimized)
    }

    /// A runtime like this one whose engine compiles with Winch
    /// ([`Tier::Baseline`]): same limits, cache folder, state and log budgets.
    pub fn baseline(&self) -> anyhow::Result<Self> {
        let mut twin = Self::build(self.cache_dir.clone(), self.config.clone(), Tier::Baseline)?;
        twin.state = self.state.clone();
        twin.logs = self.logs.clone();
        Ok(twin)
    }

    /// The compiler this runtime's engine uses.
    pub fn tier(&self) -> Tier {
        self.tier
    }

    fn build(cache_dir: PathBuf, runtime: RuntimeConfig, tier: Tier) -> anyhow::Result<Self> {
        let (engine, allocator) = engine(&runtime, tier)?;
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
            allocator,
            logs: Default::default(),
            config: runtime,
            tier,
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

    fn log_budget(&self, module: &str) -> LogBudget {
        let mut logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        logs.entry(module.to_owned()).or_default().clone()
    }

    /// How this runtime's instances are allocated.
    pub fn allocator(&self) -> &Allocator {
        &self.allocator
    }

    /// A store for one instance, with the limits that wasmtime keeps per store
    /// (those kept by the store's data are set up by [`InstanceState::new`]) and its
    /// module's log budget, shared with the module's other instances.
    pub(crate) fn store(&self, mut state: InstanceState) -> Store<InstanceState> {
        state.log = self.log_budget(&state.module);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_hostcall_fuel(bindings::MAX_COPY_TO_HOST);
        store.set_max_component_handles(bindings::MAX_HANDLES);
        store
    }

    /// Compiles a component, or loads it from the compile cache.
    ///
    /// The cache key is the SHA-256 of the `.wasm` and a hash of the engine's
    /// settings and version, so a file is only ever loaded by the engine that
    /// wrote it; an entry whose checksum does not match (torn by a crash, damaged)
    /// is compiled again, never loaded (`cache_file`). Only files the host wrote into its own cache folder are loaded as
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
        // Each tier's code is its own entry, whatever the engines' hashes say.
        if self.tier == Tier::Baseline {
            "winch".hash(&mut h);
        }
        // `.sum`: entries end with their checksum (`cache_file`), so an older weft
        // sharing the folder, which would not check it, never reads one.
        self.cache_dir.join(format!(
            "{}-{:016x}.sum.cwasm",
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
        let entry = std::fs::read(path)?;
        let serialized = cache_file::unseal(&entry)?;
        // SAFETY: see the allow reason above; the bytes were produced by
        // `Component::serialize` on an engine with the same compatibility hash, and
        // are whole (their checksum matched).
        Ok(unsafe { Component::deserialize(&self.engine, serialized)? })
    }

    fn store_cached(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        let bytes = cache_file::seal(component.serialize()?);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// An error with its causes on one line, without wasm backtraces, short enough
/// for a log line or an error record.
pub fn root(e: &wasmtime::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        // A host function's error (a limit, say) comes wrapped in the backtrace
        // of the guest that called it: only the error says why.
        if s.starts_with("error while executing at wasm backtrace:") {
            continue;
        }
        let s = s.split("\nwasm backtrace:").next().unwrap_or("").trim();
        if s.is_empty() || text.contains(s) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(s);
    }
    if text.len() > 1024 {
        let mut end = 1024;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The engine for `runtime`: pooled if asked and possible, else on demand.
fn engine(runtime: &RuntimeConfig, tier: Tier) -> anyhow::Result<(Engine, Allocator)> {
    let mut config = Config::new();
    if tier == Tier::Baseline {
        config.strategy(Strategy::Winch);
    }
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config.max_wasm_stack(MAX_WASM_STACK);
    if runtime.pool_instances > 0 {
        let instances = runtime.pool_instances;
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool(instances)));
        match Engine::new(&config) {
            Ok(engine) => {
                tracing::debug!(
                    instances,
                    memories = instances.saturating_mul(POOL_MEMORIES_PER_INSTANCE),
                    "instance pool reserved"
                );
                return Ok((engine, Allocator::Pool { instances }));
            }
            Err(e) => tracing::warn!(
                instances,
                error = %root(&e),
                "cannot reserve the instance pool; allocating instances on demand (lower [modules] pool_instances, or raise `ulimit -v`)"
            ),
        }
        config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
    } else {
        tracing::debug!(
            "instance pool off ([modules] pool_instances = 0): instances are allocated on demand"
        );
    }
    let engine = Engine::new(&config)?;
    Ok((engine, Allocator::OnDemand))
}

/// The pool for `instances` instances. Its per-instance limits are the store's
/// (crate::bindings), so a module that loads with the pool loads without it.
fn pool(instances: u32) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(POOL_CORE_INSTANCES_PER_INSTANCE))
        .total_memories(instances.saturating_mul(POOL_MEMORIES_PER_INSTANCE))
        .total_tables(instances.saturating_mul(POOL_TABLES_PER_INSTANCE))
        .max_core_instances_per_component(bindings::MAX_INSTANCES as u32)
        .max_memories_per_component(bindings::MAX_MEMORIES as u32)
        .max_tables_per_component(bindings::MAX_TABLES as u32)
        .max_memories_per_module(bindings::MAX_MEMORIES as u32)
        .max_tables_per_module(bindings::MAX_TABLES as u32)
        .table_elements(bindings::MAX_TABLE_ELEMENTS)
        // Every slot can hold the largest memory a manifest may ask for; the
        // store's limiter holds each instance to its own manifest's limit.
        .max_memory_size(usize::try_from(crate::manifest::MAX_MEMORY).unwrap_or(usize::MAX));
    pool
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn the_instance_pool_leaves_the_compile_cache_key_alone() {
        let cache = tempfile::tempdir().unwrap();
        let pooled =
            Runtime::with_config(cache.path(), RuntimeConfig { pool_instances: 2 }).unwrap();
        let on_demand =
            Runtime::with_config(cache.path(), RuntimeConfig { pool_instances: 0 }).unwrap();
        assert_eq!(pooled.allocator(), &Allocator::Pool { instances: 2 });
        assert_eq!(on_demand.allocator(), &Allocator::OnDemand);
        // The allocator does not change the compiled code, so one cache serves both.
        assert_eq!(pooled.cache_path(b"x"), on_demand.cache_path(b"x"));
    }

    /// The smallest component: the header alone.
    const EMPTY_COMPONENT: &[u8] = &[0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    #[test]
    fn a_torn_compile_cache_entry_is_compiled_again_not_loaded() {
        let cache = tempfile::tempdir().unwrap();
        let runtime =
            Runtime::with_config(cache.path(), RuntimeConfig { pool_instances: 0 }).unwrap();
        runtime.compile(EMPTY_COMPONENT).unwrap();
        let path = runtime.cache_path(EMPTY_COMPONENT);
        assert!(runtime.load_cached(&path).is_ok(), "a whole entry loads");

        // A power cut kept the entry's name but not all of its pages: part of it
        // holds other bytes (zeros, or whatever the disk had there).
        let mut torn = std::fs::read(&path).unwrap();
        let middle = torn.len() / 2;
        for b in &mut torn[middle..middle + 16] {
            *b ^= 0xff;
        }
        std::fs::write(&path, &torn).unwrap();
        let refused = runtime.load_cached(&path).map(|_| ()).unwrap_err();
        assert!(refused.to_string().contains("torn"), "{refused}");

        runtime.compile(EMPTY_COMPONENT).unwrap();
        assert!(
            runtime.load_cached(&path).is_ok(),
            "the entry was compiled again and rewritten whole"
        );
    }
}

//! Host side of the WIT contract, generated from `wit/` (the one definition) and
//! the host's implementations of the imports: `log`, `config` and `state`.
//!
//! Each world is generated in its own module; the interfaces they share are
//! generated once (in `processor_world`) and mapped into the others with `with`,
//! so one `Event` type and one implementation of each import serve all three.
//!
//! [`InstanceState`] (what each instance's `Store` holds) is also where its
//! limits are kept: the constants below bound what a guest can make the host
//! hold (memory outside its own linear memory, host resources, copies, log
//! lines). Each names the attack it stops; passing one fails the call (a trap,
//! whose reason names the limit) or, for logs, drops lines and says so. The
//! engine-wide ones (stack depth, the instance pool) are in [`crate::engine`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub mod processor_world {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "processor",
    });
}

pub mod ingress_world {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "ingress",
        // A guest past its state limits traps instead of growing the store.
        imports: { "weft:integration/state.set": trappable },
        with: {
            "weft:integration/types": super::processor_world::weft::integration::types,
            "weft:integration/log": super::processor_world::weft::integration::log,
            "weft:integration/config": super::processor_world::weft::integration::config,
        },
    });
}

pub mod egress_world {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "egress",
        with: {
            "weft:integration/types": super::processor_world::weft::integration::types,
            "weft:integration/log": super::processor_world::weft::integration::log,
            "weft:integration/config": super::processor_world::weft::integration::config,
            "weft:integration/state": super::ingress_world::weft::integration::state,
        },
    });
}

pub use egress_world::{Egress, EgressPre};
pub use ingress_world::exports::weft::integration::source as wit_source;
use ingress_world::weft::integration::state;
pub use ingress_world::{Ingress, IngressPre};
pub use processor_world::weft::integration::types::{Event as WitEvent, Failure};
use processor_world::weft::integration::{config, log, types};
pub use processor_world::{Processor, ProcessorPre};

/// Limits on a module's `state`, so a guest cannot grow the host's store without bound.
pub const MAX_STATE_KEY: usize = 256;
pub const MAX_STATE_VALUE: usize = 64 * 1024;
pub const MAX_STATE_KEYS: usize = 10_000;

/// Linear memories one instance may create. Every guest measured (Rust,
/// componentize-py, componentize-js) has one. The manifest's memory limit bounds
/// them together ([`GuestLimits`]), so this only keeps the count sane.
pub const MAX_MEMORIES: usize = 4;
/// Tables one instance may create (guests measured: two). With
/// [`MAX_TABLE_ELEMENTS`] this bounds the host memory tables take: 16 x 100,000
/// pointers, 12.5 MiB.
pub const MAX_TABLES: usize = 16;
/// Core module instances one instance may create (componentize-py: 14).
pub const MAX_INSTANCES: usize = 64;
/// Largest table, in elements. A table lives in host memory, outside the
/// manifest's memory limit, a pointer per element, and wasm lets it grow to 2^32
/// elements (32 GiB). Function tables measured: Rust under 100, CPython 5,674,
/// SpiderMonkey 7,691; a C# debug build was seen past 10,000 (wasmtime #8504).
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Host resources one instance may hold at once: streams, pollables, HTTP fields,
/// requests, bodies. Each costs host memory outside the guest's limit, up to
/// [`MAX_HTTP_FIELDS`] for a `fields` and two [`crate::http::BODY_CHUNK`]s for an
/// outgoing body, and wasmtime's default allows a million of them; at 1,024 a
/// guest that leaks them makes the host hold at most ~16 MiB of fields or ~45 MiB
/// of unsent bodies. A guest that runs out gets a trap naming the resource
/// table. Guests measured (Rust, CPython, SpiderMonkey) hold none between calls;
/// an HTTP request takes about ten while it runs.
pub const MAX_RESOURCES: usize = 1024;
/// Component-model handles one store may hold at once (wasmtime's
/// `set_max_component_handles`, default 100,000): the guest side of host
/// resources and resources a component defines itself, created without the host
/// in the loop. Four per host resource.
pub const MAX_HANDLES: usize = 4 * MAX_RESOURCES;
/// Most bytes one HTTP `fields` may hold, counted as wasi-http counts them (the
/// in-memory size, somewhat more than on the wire). Twice the 8 KiB most proxies
/// accept for a request's headers; wasi-http's default is 128 KiB.
pub const MAX_HTTP_FIELDS: usize = 16 * 1024;
/// Largest `wasi:random` answer, allocated by the host before it is copied in.
/// Interpreters ask for a few dozen bytes to seed their hashes; wasi's default
/// is 64 MiB.
pub const MAX_RANDOM_BYTES: u64 = 1024 * 1024;
/// Most data one call may copy from the guest into the host (wasmtime's
/// "hostcall fuel", counted in host bytes, so a list of a million empty strings
/// counts their host size): the arguments of an import, and a call's results.
/// A guest's memory limit bounds the data it holds, but a host representation
/// can be several times larger. 128 MiB is wasmtime's default, kept because a
/// batch's results are copied in one go: 64 events of 1 MiB (ingest's largest
/// body) fit; a batch whose results do not fails and is run again one event at a
/// time, as any failed batch is.
pub const MAX_COPY_TO_HOST: usize = 128 * 1024 * 1024;

/// Guest log lines are written to the host's log as they come; so that a guest
/// logging in a loop cannot fill the disk under it, each module may log
/// [`LOG_BYTES_PER_SECOND`] on average, in bursts of as much. Past that, lines are
/// dropped and counted, and the next line that fits is preceded by a warning
/// with the count (never a silent drop).
pub const LOG_BYTES_PER_SECOND: u64 = 1024 * 1024;

/// Where a module's committed `state` is read from (the store, or nothing offline).
pub trait StateReader: Send + Sync {
    fn get(&self, owner: &str, key: &str) -> Option<Vec<u8>>;
    fn len(&self, owner: &str, max: usize) -> usize;
}

impl StateReader for weft_store::Store {
    fn get(&self, owner: &str, key: &str) -> Option<Vec<u8>> {
        match self.state_get(owner, key) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(module = owner, error = %e, "cannot read module state");
                None
            }
        }
    }

    fn len(&self, owner: &str, max: usize) -> usize {
        self.state_len(owner, max).unwrap_or(0)
    }
}

/// A call's writes to the `state` import, held until the call succeeds: the
/// caller commits them with the call's results, so a failed call's writes are
/// dropped with it and weft's store never holds half a call's writes.
#[derive(Default)]
pub struct StateWrites {
    reader: Option<Arc<dyn StateReader>>,
    changes: BTreeMap<String, Option<Vec<u8>>>,
}

impl StateWrites {
    /// The changes made since the last take, for the commit.
    pub fn take(&mut self) -> Vec<(String, Option<Vec<u8>>)> {
        std::mem::take(&mut self.changes).into_iter().collect()
    }

    pub fn clear(&mut self) {
        self.changes.clear();
    }
}

/// Longest log line a guest may write; longer ones are cut, so a guest cannot
/// flood the host's log with one call.
const MAX_LOG_LINE: usize = 4096;

/// Why an instance's state could not be set up. A module is started once
/// before it is accepted, so this reaches an operator as "fails to start" at
/// load, or as a failed call if a folder went away since.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// A `[folders]` entry the host cannot open (gone, or not permitted).
    #[error("cannot map folder {} to {guest}: {error}", .host.display())]
    Folder {
        host: PathBuf,
        guest: String,
        error: wasmtime::Error,
    },
}

/// What one instance's `Store` holds: its module's grants and config, its
/// limits, and the `state` writes of the call in progress. Named apart from
/// the `state` import, which is only one of the things it serves.
pub struct InstanceState {
    pub module: Arc<str>,
    pub config: Arc<Vec<(String, String)>>,
    pub limits: GuestLimits,
    pub writes: StateWrites,
    wasi: WasiCtx,
    table: ResourceTable,
    http_ctx: WasiHttpCtx,
    http: crate::http::HttpPolicy,
    /// The module's log budget; [`crate::Runtime::store`] puts the shared one here.
    pub(crate) log: LogBudget,
}

/// The memory, table and instance limits of one instance, which wasmtime asks
/// before each allocation. Unlike wasmtime's `StoreLimits`, whose memory limit
/// holds per linear memory, the manifest's limit holds for all of an instance's
/// memories together. Passing a limit traps (a failed `memory.grow` would only
/// return -1, and most guests then abort with a less helpful message).
pub struct GuestLimits {
    /// `[limits] memory`, in bytes.
    memory: usize,
    /// The sum of the instance's linear memories' sizes.
    memory_used: usize,
    /// The last growth allowed, taken back if the allocation then failed.
    growing: usize,
}

impl GuestLimits {
    pub fn new(memory: usize) -> Self {
        Self {
            memory,
            memory_used: 0,
            growing: 0,
        }
    }

    /// The instance's linear memories, together, in bytes: what the recycling
    /// watermark watches.
    pub fn memory_used(&self) -> usize {
        self.memory_used
    }
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

impl ResourceLimiter for GuestLimits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if let Some(max) = maximum.filter(|max| desired > *max) {
            wasmtime::bail!(
                "memory limit: a linear memory cannot grow to {}, past its maximum of {}",
                mib(desired),
                mib(max)
            );
        }
        let total = self
            .memory_used
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.memory {
            wasmtime::bail!(
                "memory limit: growing to {} would pass the module's limit of {} ([limits] memory)",
                mib(total),
                mib(self.memory)
            );
        }
        self.memory_used = total;
        self.growing = desired.saturating_sub(current);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_used = self.memory_used.saturating_sub(self.growing);
        Err(error.context("memory limit: the host could not grow a linear memory"))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let max = maximum.unwrap_or(usize::MAX).min(MAX_TABLE_ELEMENTS);
        if desired > max {
            wasmtime::bail!(
                "table limit: a table cannot grow to {desired} elements, past its maximum of {max}"
            );
        }
        Ok(true)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        Err(error.context("table limit: the host could not grow a table"))
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// A token bucket over the bytes a module logs ([`LOG_BYTES_PER_SECOND`]),
/// shared by all its instances and versions (the runtime keeps one per module
/// name), so that a guest cannot get a fresh burst by trapping and being
/// started again.
#[derive(Clone)]
pub struct LogBudget(Arc<Mutex<Bucket>>);

struct Bucket {
    bytes: u64,
    refilled: Instant,
    dropped: u64,
}

impl Default for LogBudget {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Bucket {
            bytes: LOG_BYTES_PER_SECOND,
            refilled: Instant::now(),
            dropped: 0,
        })))
    }
}

impl LogBudget {
    /// Takes `len` bytes for a line. `None`: drop it (counted). `Some(n)`: write
    /// it, after saying that the `n` lines before it were dropped.
    fn take(&self, len: usize) -> Option<u64> {
        let mut b = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let earned = u64::try_from(now.duration_since(b.refilled).as_micros())
            .unwrap_or(u64::MAX)
            .saturating_mul(LOG_BYTES_PER_SECOND)
            / 1_000_000;
        if earned > 0 {
            b.bytes = b.bytes.saturating_add(earned).min(LOG_BYTES_PER_SECOND);
            b.refilled = now;
        }
        let len = len as u64;
        if len > b.bytes {
            b.dropped += 1;
            return None;
        }
        b.bytes -= len;
        Some(std::mem::take(&mut b.dropped))
    }
}

impl InstanceState {
    /// A guest's state with exactly what its manifest grants: the folders it maps
    /// (read-only unless `write = true`) and the HTTP origins it lists. No
    /// environment, no sockets, no inherited stdio.
    pub fn new(
        module: Arc<str>,
        manifest: &crate::Manifest,
        config: Arc<Vec<(String, String)>>,
        reader: Option<Arc<dyn StateReader>>,
    ) -> Result<Self, InstanceError> {
        let mut wasi = WasiCtx::builder();
        // Sockets are off by default in wasmtime-wasi 48; saying so keeps them off
        // should a default change. HTTP goes through wasi:http and its policy.
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .max_random_size(MAX_RANDOM_BYTES);
        // stdin is closed and stdout/stderr discard what they get (wasi's
        // defaults): nothing a guest prints is buffered by the host.
        for f in &manifest.folders {
            let perms = if f.write {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            wasi.preopened_dir(&f.host, &f.guest, perms)
                .map_err(|error| InstanceError::Folder {
                    host: f.host.clone(),
                    guest: f.guest.clone(),
                    error,
                })?;
        }
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let mut http_ctx = WasiHttpCtx::new();
        http_ctx.set_field_size_limit(MAX_HTTP_FIELDS);
        Ok(Self {
            http: crate::http::HttpPolicy::new(module.clone(), manifest.http.clone()),
            module,
            config,
            limits: GuestLimits::new(usize::try_from(manifest.memory).unwrap_or(usize::MAX)),
            writes: StateWrites {
                reader,
                changes: BTreeMap::new(),
            },
            wasi: wasi.build(),
            table,
            http_ctx,
            log: LogBudget::default(),
        })
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl InstanceState {
    /// The trace context the call about to handle `batch` sends with its requests.
    pub(crate) fn trace_batch(&mut self, batch: &[weft_core::Event]) {
        self.http.trace_batch(batch);
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http,
        }
    }
}

impl state::Host for InstanceState {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        if let Some(v) = self.writes.changes.get(&key) {
            return v.clone();
        }
        self.writes.reader.as_ref()?.get(&self.module, &key)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        if key.len() > MAX_STATE_KEY || value.len() > MAX_STATE_VALUE {
            wasmtime::bail!(
                "state.set: key of {} bytes or value of {} bytes is over the limit ({MAX_STATE_KEY} and {MAX_STATE_VALUE})",
                key.len(),
                value.len()
            );
        }
        // Counting keys is a range read: only a new key can pass the limit.
        let known = self.writes.changes.contains_key(&key)
            || self
                .writes
                .reader
                .as_ref()
                .is_some_and(|r| r.get(&self.module, &key).is_some());
        if !known {
            let held = self
                .writes
                .reader
                .as_ref()
                .map_or(0, |r| r.len(&self.module, MAX_STATE_KEYS + 1));
            if held + self.writes.changes.len() >= MAX_STATE_KEYS {
                wasmtime::bail!("state.set: the module holds {MAX_STATE_KEYS} keys already");
            }
        }
        self.writes.changes.insert(key, Some(value));
        Ok(())
    }

    fn remove(&mut self, key: String) {
        self.writes.changes.insert(key, None);
    }
}

impl types::Host for InstanceState {}

impl log::Host for InstanceState {
    fn log(&mut self, level: log::Level, message: String) {
        let mut message = message;
        if message.len() > MAX_LOG_LINE {
            let mut end = MAX_LOG_LINE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        let module = &*self.module;
        // Lines the log filter drops cost nothing, so they do not count.
        if !enabled(level) {
            return;
        }
        match self.log.take(message.len()) {
            None => return,
            Some(0) => {}
            Some(dropped) => {
                tracing::warn!(target: "weft::guest", module, dropped, "guest log over {LOG_BYTES_PER_SECOND} bytes per second: {dropped} lines dropped")
            }
        }
        match level {
            log::Level::Trace => tracing::trace!(target: "weft::guest", module, "{message}"),
            log::Level::Debug => tracing::debug!(target: "weft::guest", module, "{message}"),
            log::Level::Info => tracing::info!(target: "weft::guest", module, "{message}"),
            log::Level::Warn => tracing::warn!(target: "weft::guest", module, "{message}"),
            log::Level::Error => tracing::error!(target: "weft::guest", module, "{message}"),
        }
    }
}

/// Whether the host's log filter keeps guest lines of `level`.
fn enabled(level: log::Level) -> bool {
    use tracing::Level;
    match level {
        log::Level::Trace => tracing::enabled!(target: "weft::guest", Level::TRACE),
        log::Level::Debug => tracing::enabled!(target: "weft::guest", Level::DEBUG),
        log::Level::Info => tracing::enabled!(target: "weft::guest", Level::INFO),
        log::Level::Warn => tracing::enabled!(target: "weft::guest", Level::WARN),
        log::Level::Error => tracing::enabled!(target: "weft::guest", Level::ERROR),
    }
}

impl config::Host for InstanceState {
    fn get(&mut self, key: String) -> Option<String> {
        self.config
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }

    fn entries(&mut self) -> Vec<(String, String)> {
        self.config.as_ref().clone()
    }
}

/// An event as a guest sees it: extensions as their canonical strings, no data as
/// empty data, no `hops` or `origin` (see `wit/weft.wit`).
pub fn to_wit(e: &weft_core::Event) -> WitEvent {
    WitEvent {
        id: e.id.clone(),
        source: e.source.clone(),
        type_: e.ty.clone(),
        subject: e.subject.clone(),
        time: e.time.clone(),
        datacontenttype: e.datacontenttype.clone(),
        dataschema: e.dataschema.clone(),
        extensions: e
            .extensions
            .iter()
            .map(|(k, v)| (k.clone(), v.canonical().into_owned()))
            .collect(),
        topic: e.topic.clone(),
        data: e.data.clone().unwrap_or_default(),
    }
}

/// A guest's event: its extensions are Strings here, typed like the input's by
/// `weft_core::stamp_outputs`; empty data is no data.
pub fn from_wit(e: WitEvent) -> weft_core::Event {
    weft_core::Event {
        id: e.id,
        source: e.source,
        ty: e.type_,
        subject: e.subject,
        time: e.time,
        datacontenttype: e.datacontenttype,
        dataschema: e.dataschema,
        extensions: e
            .extensions
            .into_iter()
            .map(|(k, v)| (k, weft_core::ExtValue::String(v)))
            .collect(),
        topic: e.topic,
        data: Some(e.data).filter(|d| !d.is_empty()),
        hops: 0,
        origin: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_memory_limit_holds_for_all_of_an_instances_memories_together() {
        let mut limits = GuestLimits::new(10 << 20);
        assert!(limits.memory_growing(0, 6 << 20, None).unwrap());
        assert!(limits.memory_growing(0, 4 << 20, None).unwrap());
        let e = limits.memory_growing(4 << 20, 5 << 20, None).unwrap_err();
        assert!(e.to_string().contains("memory limit"), "{e}");
        assert!(limits.table_growing(0, MAX_TABLE_ELEMENTS, None).unwrap());
        let e = limits
            .table_growing(0, MAX_TABLE_ELEMENTS + 1, None)
            .unwrap_err();
        assert!(e.to_string().contains("table limit"), "{e}");
    }

    #[test]
    fn an_unmappable_folder_names_host_and_guest_paths() {
        let manifest = crate::Manifest::parse(
            "subscribe = [\"a\"]\n[folders]\n\"/in\" = { path = \"/nonexistent/weft/in\" }",
            &crate::Defaults::default(),
        )
        .unwrap();
        let error = InstanceState::new("m".into(), &manifest, Arc::default(), None)
            .err()
            .unwrap();
        let shown = error.to_string();
        assert!(
            shown.starts_with("cannot map folder /nonexistent/weft/in to /in: "),
            "{shown}"
        );
    }

    #[test]
    fn a_log_budget_drops_what_passes_its_rate_and_counts_it() {
        let budget = LogBudget::default();
        // Lines so long that a stall of the test cannot refill one unnoticed.
        let line = 64 * 1024;
        let fits = (LOG_BYTES_PER_SECOND as usize) / line;
        for _ in 0..fits {
            assert_eq!(budget.take(line), Some(0));
        }
        assert_eq!(budget.take(line), None);
        assert_eq!(budget.take(line), None);
        std::thread::sleep(std::time::Duration::from_millis(100));
        // Refilled: the next line goes out, saying two were dropped.
        assert_eq!(budget.take(line), Some(2));
        // The same budget is shared by a module's instances.
        let other = budget.clone();
        while other.take(line).is_some() {}
        assert_eq!(budget.take(line), None);
    }
}

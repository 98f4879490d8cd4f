//! Host side of the WIT contract, generated from `wit/` (the one definition) and
//! the host's implementations of the imports: `log`, `config` and `state`.
//!
//! Each world is generated in its own module; the interfaces they share are
//! generated once (in `processor_world`) and mapped into the others with `with`,
//! so one `Event` type and one implementation of each import serve all three.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
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

/// A call's writes to `state`, committed with the call's results by the caller.
#[derive(Default)]
pub struct PendingState {
    reader: Option<Arc<dyn StateReader>>,
    changes: BTreeMap<String, Option<Vec<u8>>>,
}

impl PendingState {
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

/// What one instance's `Store` holds.
pub struct State {
    pub module: Arc<str>,
    pub config: Arc<Vec<(String, String)>>,
    pub limits: StoreLimits,
    pub state: PendingState,
    wasi: WasiCtx,
    table: ResourceTable,
    http_ctx: WasiHttpCtx,
    http: crate::http::HttpPolicy,
}

impl State {
    /// A guest's state with exactly what its manifest grants: the folders it maps
    /// (read-only unless `write = true`) and the HTTP origins it lists. No
    /// environment, no sockets, no inherited stdio.
    pub fn new(
        module: Arc<str>,
        manifest: &crate::Manifest,
        config: Arc<Vec<(String, String)>>,
        reader: Option<Arc<dyn StateReader>>,
    ) -> Result<Self, String> {
        let mut wasi = WasiCtx::builder();
        for f in &manifest.folders {
            let perms = if f.write {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            wasi.preopened_dir(&f.host, &f.guest, perms).map_err(|e| {
                format!("cannot map folder {} to {}: {e}", f.host.display(), f.guest)
            })?;
        }
        Ok(Self {
            http: crate::http::HttpPolicy::new(module.clone(), manifest.http.clone()),
            module,
            config,
            limits: StoreLimitsBuilder::new()
                .memory_size(usize::try_from(manifest.memory).unwrap_or(usize::MAX))
                .trap_on_grow_failure(true)
                .instances(64)
                .tables(64)
                .memories(16)
                .build(),
            state: PendingState {
                reader,
                changes: BTreeMap::new(),
            },
            wasi: wasi.build(),
            table: ResourceTable::new(),
            http_ctx: WasiHttpCtx::new(),
        })
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http,
        }
    }
}

impl state::Host for State {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        if let Some(v) = self.state.changes.get(&key) {
            return v.clone();
        }
        self.state.reader.as_ref()?.get(&self.module, &key)
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
        let known = self.state.changes.contains_key(&key)
            || self
                .state
                .reader
                .as_ref()
                .is_some_and(|r| r.get(&self.module, &key).is_some());
        if !known {
            let held = self
                .state
                .reader
                .as_ref()
                .map_or(0, |r| r.len(&self.module, MAX_STATE_KEYS + 1));
            if held + self.state.changes.len() >= MAX_STATE_KEYS {
                wasmtime::bail!("state.set: the module holds {MAX_STATE_KEYS} keys already");
            }
        }
        self.state.changes.insert(key, Some(value));
        Ok(())
    }

    fn remove(&mut self, key: String) {
        self.state.changes.insert(key, None);
    }
}

impl types::Host for State {}

impl log::Host for State {
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
        match level {
            log::Level::Trace => tracing::trace!(target: "weft::guest", module, "{message}"),
            log::Level::Debug => tracing::debug!(target: "weft::guest", module, "{message}"),
            log::Level::Info => tracing::info!(target: "weft::guest", module, "{message}"),
            log::Level::Warn => tracing::warn!(target: "weft::guest", module, "{message}"),
            log::Level::Error => tracing::error!(target: "weft::guest", module, "{message}"),
        }
    }
}

impl config::Host for State {
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

pub fn to_wit(e: &weft_core::Event) -> WitEvent {
    WitEvent {
        id: e.id.clone(),
        source: e.source.clone(),
        type_: e.ty.clone(),
        subject: e.subject.clone(),
        time: e.time.clone(),
        datacontenttype: e.datacontenttype.clone(),
        dataschema: e.dataschema.clone(),
        extensions: e.extensions.clone(),
        topic: e.topic.clone(),
        data: e.data.clone(),
    }
}

pub fn from_wit(e: WitEvent) -> weft_core::Event {
    weft_core::Event {
        id: e.id,
        source: e.source,
        ty: e.type_,
        subject: e.subject,
        time: e.time,
        datacontenttype: e.datacontenttype,
        dataschema: e.dataschema,
        extensions: e.extensions,
        topic: e.topic,
        data: e.data,
    }
}

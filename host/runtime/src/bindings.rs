//! Host side of the WIT contract, generated from `wit/` (the one definition) and
//! the host's implementations of the imports every world gets: `log` and `config`.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "processor",
});

pub use exports::weft::integration::handler::Event as WitEvent;
pub use weft::integration::types::Failure;
use weft::integration::{config, log, types};

/// Longest log line a guest may write; longer ones are cut, so a guest cannot
/// flood the host's log with one call.
const MAX_LOG_LINE: usize = 4096;

/// What one instance's `Store` holds.
pub struct State {
    pub module: Arc<str>,
    pub config: Arc<Vec<(String, String)>>,
    pub limits: StoreLimits,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl State {
    pub fn new(module: Arc<str>, config: Arc<Vec<(String, String)>>, memory: u64) -> Self {
        Self {
            module,
            config,
            limits: StoreLimitsBuilder::new()
                .memory_size(usize::try_from(memory).unwrap_or(usize::MAX))
                .trap_on_grow_failure(true)
                .instances(64)
                .tables(64)
                .memories(16)
                .build(),
            // Nothing granted: no preopened folders, no environment, no network,
            // no inherited stdio. Guest toolchains import WASI regardless.
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        }
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

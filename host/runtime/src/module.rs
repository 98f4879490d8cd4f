//! A loaded module version: compiled, type-checked against its world and linked
//! once (`*Pre`), then instantiated cheaply for each worker or trigger that runs it.
//!
//! Processors and egress connectors run under a [`weft_core::Worker`] through
//! [`Module::handler`]; ingress connectors are called by the host's triggers
//! through [`Module::source`]. Either way an instance is kept between calls and
//! dropped after a trap (wasmtime refuses to enter a trapped instance, and its
//! state could not be trusted anyway); a fresh one serves the next call.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Component;
use wasmtime::{Store, Trap};
use weft_core::{CallError, Event, Handler, Outcome};

use crate::bindings::{self, Egress, Failure, Ingress, InstanceState, Processor, wit_source};
use crate::engine::{EPOCH_TICK, Runtime, root};
use crate::error::LoadError;
use crate::inspect::{self, Pre};
use crate::manifest::{Kind, Manifest};

pub struct Module {
    pub name: String,
    /// SHA-256 of the `.wasm`, hex.
    pub version: String,
    pub manifest: Manifest,
    pub kind: Kind,
    runtime: Runtime,
    pre: Pre,
    name_arc: Arc<str>,
    config: Arc<Vec<(String, String)>>,
}

enum Bindings {
    Processor(Processor),
    Ingress(Ingress),
    Egress(Egress),
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A state change a call made, for the commit that carries its results.
pub type StateChanges = Vec<(String, Option<Vec<u8>>)>;

/// What a timer tick or a file produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub events: Vec<Event>,
    pub more: bool,
}

/// Why a trigger produced nothing this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerFailure {
    Retry(String),
    Reject(String),
}

/// A request to `/hooks/NAME`, as the connector sees it.
#[derive(Debug, Clone, Default)]
pub struct HookRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The connector's answer to a hook request and the events it publishes.
#[derive(Debug, Clone)]
pub struct HookReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub events: Vec<Event>,
}

impl Module {
    /// Validates, compiles and links `wasm` as module `name`. The error is the reason
    /// it was refused, for the operator.
    pub fn load(
        runtime: &Runtime,
        name: &str,
        wasm: &[u8],
        manifest: Manifest,
    ) -> Result<Self, LoadError> {
        let component = inspect::compile(runtime, wasm).map_err(LoadError::Component)?;
        Self::link(runtime, name, wasm, &component, manifest)
    }

    fn link(
        runtime: &Runtime,
        name: &str,
        wasm: &[u8],
        component: &Component,
        manifest: Manifest,
    ) -> Result<Self, LoadError> {
        let Some(world) = inspect::world(runtime, component) else {
            return Err(LoadError::NotWeft(inspect::exports(runtime, component)));
        };
        let kind = world.kind();
        manifest
            .check_world(kind)
            .map_err(|error| LoadError::World { world, error })?;
        let pre = inspect::link(runtime, component, world).map_err(LoadError::Component)?;
        for f in &manifest.folders {
            if f.write {
                std::fs::create_dir_all(&f.host).map_err(|error| LoadError::FolderCreate {
                    host: f.host.clone(),
                    error,
                })?;
            } else if !f.host.is_dir() {
                return Err(LoadError::FolderMissing {
                    host: f.host.clone(),
                    guest: f.guest.clone(),
                });
            }
        }
        let module = Self {
            name: name.to_owned(),
            version: crate::engine::sha256_hex(wasm),
            kind,
            runtime: runtime.clone(),
            pre,
            name_arc: name.into(),
            config: Arc::new(manifest.config.clone()),
            manifest,
        };
        // A module that traps while starting is refused now, not on its first event.
        module.instantiate().map_err(LoadError::Start)?;
        Ok(module)
    }

    /// The compiler this version's code came from.
    pub fn tier(&self) -> crate::engine::Tier {
        self.runtime.tier()
    }

    /// A handler for one worker (processors and egress connectors); it keeps its
    /// instance between batches.
    pub fn handler(self: &Arc<Self>) -> Box<dyn Handler> {
        Box::new(ModuleHandler {
            caller: Caller::new(self.clone()),
        })
    }

    /// The triggers of an ingress connector, on one instance.
    pub fn source(self: &Arc<Self>) -> Source {
        Source {
            caller: Caller::new(self.clone()),
        }
    }

    fn instantiate(&self) -> Result<Instance, CallError> {
        let state = InstanceState::new(
            self.name_arc.clone(),
            &self.manifest,
            self.config.clone(),
            self.runtime.state.clone(),
        )
        .map_err(|e| CallError::Other(e.to_string()))?;
        let mut store = self.runtime.store(state);
        store.set_epoch_deadline(ticks(self.manifest.call_timeout));
        let timeout = self.manifest.call_timeout;
        let bindings = match &self.pre {
            Pre::Processor(p) => p.instantiate(&mut store).map(Bindings::Processor),
            Pre::Ingress(p) => p.instantiate(&mut store).map(Bindings::Ingress),
            Pre::Egress(p) => p.instantiate(&mut store).map(Bindings::Egress),
        }
        .map_err(|e| classify(e, timeout))?;
        Ok(Instance { store, bindings })
    }
}

struct Instance {
    store: Store<InstanceState>,
    bindings: Bindings,
}

/// Instances are recycled (dropped between calls; the next call starts a fresh
/// one) once their memory passes this share of the manifest's limit: interpreted
/// guests grow call after call (componentize-py leaks ~1 KiB per call) and would
/// otherwise trap at the limit, failing a call. Between calls nothing is in flight,
/// so no event is lost.
pub const RECYCLE_AT_PERCENT: usize = 75;

/// One instance of a module, kept between calls, replaced after a failed one and
/// recycled at a watermark.
struct Caller {
    module: Arc<Module>,
    instance: Option<Instance>,
    /// The state changes of the last successful call.
    state: StateChanges,
    /// Calls on the current instance.
    calls: u64,
    /// Memory of the current instance after its last call, in bytes.
    memory: usize,
    /// Instances recycled so far.
    recycled: u64,
}

impl Caller {
    fn new(module: Arc<Module>) -> Self {
        Self {
            module,
            instance: None,
            state: Vec::new(),
            calls: 0,
            memory: 0,
            recycled: 0,
        }
    }

    /// Whether the instance that just served should go: its memory passed the
    /// watermark, or it served `[limits] recycle_after` calls.
    fn should_recycle(&self) -> bool {
        let m = &self.module.manifest;
        let limit = usize::try_from(m.memory).unwrap_or(usize::MAX);
        self.memory > limit / 100 * RECYCLE_AT_PERCENT
            || m.recycle_after.is_some_and(|n| self.calls >= n)
    }

    /// Runs `f` on an instance within the call's time budget. State written by a
    /// call that fails is dropped with the instance.
    fn call<T>(
        &mut self,
        f: impl FnOnce(&Bindings, &mut Store<InstanceState>) -> wasmtime::Result<T>,
    ) -> Result<T, CallError> {
        let mut instance = match self.instance.take() {
            Some(i) => i,
            None => {
                self.calls = 0;
                self.module.instantiate()?
            }
        };
        let timeout = self.module.manifest.call_timeout;
        instance.store.set_epoch_deadline(ticks(timeout));
        instance.store.data_mut().writes.clear();
        let Instance { store, bindings } = &mut instance;
        match f(bindings, store) {
            Ok(v) => {
                self.state = instance.store.data_mut().writes.take();
                self.calls += 1;
                self.memory = instance.store.data().limits.memory_used();
                if self.should_recycle() {
                    self.recycled += 1;
                    tracing::info!(module = %self.module.name, calls = self.calls, memory = self.memory, "instance recycled");
                } else {
                    self.instance = Some(instance);
                }
                Ok(v)
            }
            Err(e) => Err(classify(e, timeout)),
        }
    }
}

struct ModuleHandler {
    caller: Caller,
}

impl Handler for ModuleHandler {
    fn process(&mut self, batch: &[Event]) -> Result<Vec<Outcome>, CallError> {
        let input: Vec<_> = batch.iter().map(bindings::to_wit).collect();
        let n = batch.len();
        self.caller.call(|b, store| {
            store.data_mut().trace_batch(batch);
            match b {
                Bindings::Processor(p) => Ok(p
                    .weft_integration_handler()
                    .call_process(store, &input)?
                    .into_iter()
                    .map(outcome)
                    .collect()),
                Bindings::Egress(e) => {
                    let results = e.weft_integration_sink().call_deliver(store, &input)?;
                    Ok(delivered(results, n))
                }
                Bindings::Ingress(_) => Err(wasmtime::format_err!(
                    "an ingress connector receives no events"
                )),
            }
        })
    }

    fn version(&self) -> &str {
        &self.caller.module.version
    }

    fn take_state(&mut self) -> StateChanges {
        std::mem::take(&mut self.caller.state)
    }

    /// The live instance's memory; none is live after a recycle or a failed call.
    fn memory(&self) -> Option<u64> {
        Some(
            self.caller
                .instance
                .as_ref()
                .map_or(0, |_| self.caller.memory as u64),
        )
    }

    fn recycled(&self) -> u64 {
        self.caller.recycled
    }
}

/// An egress batch's results: one per event, or one standing for the whole batch.
fn delivered(results: Vec<Result<(), Failure>>, n: usize) -> Vec<Outcome> {
    let one = |r: Result<(), Failure>| match r {
        Ok(()) => Outcome::Emit(Vec::new()),
        Err(Failure::Retry(reason)) => Outcome::Retry(reason),
        Err(Failure::Reject(reason)) => Outcome::Reject(reason),
    };
    match <[_; 1]>::try_from(results) {
        Ok([only]) => vec![one(only); n],
        Err(results) => results.into_iter().map(one).collect(),
    }
}

/// The triggers of one ingress connector instance. Each call returns what to
/// publish and the state changes to commit with it.
pub struct Source {
    caller: Caller,
}

impl Source {
    pub fn module(&self) -> &Arc<Module> {
        &self.caller.module
    }

    /// The timer trigger.
    pub fn poll(&mut self) -> Result<(Result<Batch, TriggerFailure>, StateChanges), CallError> {
        let r = self.caller.call(|b, store| match b {
            Bindings::Ingress(i) => i.weft_integration_source().call_poll(store),
            _ => Err(wasmtime::format_err!("not an ingress connector")),
        })?;
        Ok((batch(r), std::mem::take(&mut self.caller.state)))
    }

    /// The folder trigger.
    pub fn file(
        &mut self,
        name: &str,
        contents: &[u8],
    ) -> Result<(Result<Batch, TriggerFailure>, StateChanges), CallError> {
        let r = self.caller.call(|b, store| match b {
            Bindings::Ingress(i) => i.weft_integration_source().call_file(store, name, contents),
            _ => Err(wasmtime::format_err!("not an ingress connector")),
        })?;
        Ok((batch(r), std::mem::take(&mut self.caller.state)))
    }

    /// The webhook trigger.
    pub fn webhook(&mut self, req: HookRequest) -> Result<(HookReply, StateChanges), CallError> {
        let req = wit_source::Request {
            method: req.method,
            path: req.path,
            query: req.query,
            headers: req.headers,
            body: req.body,
        };
        let reply = self.caller.call(|b, store| match b {
            Bindings::Ingress(i) => i.weft_integration_source().call_webhook(store, &req),
            _ => Err(wasmtime::format_err!("not an ingress connector")),
        })?;
        Ok((
            HookReply {
                status: reply.response.status,
                headers: reply.response.headers,
                body: reply.response.body,
                events: reply.events.into_iter().map(bindings::from_wit).collect(),
            },
            std::mem::take(&mut self.caller.state),
        ))
    }
}

fn batch(r: Result<wit_source::Batch, Failure>) -> Result<Batch, TriggerFailure> {
    match r {
        Ok(b) => Ok(Batch {
            events: b.events.into_iter().map(bindings::from_wit).collect(),
            more: b.more,
        }),
        Err(Failure::Retry(reason)) => Err(TriggerFailure::Retry(reason)),
        Err(Failure::Reject(reason)) => Err(TriggerFailure::Reject(reason)),
    }
}

fn outcome(o: Result<Vec<bindings::WitEvent>, Failure>) -> Outcome {
    match o {
        Ok(events) => Outcome::Emit(events.into_iter().map(bindings::from_wit).collect()),
        Err(Failure::Retry(reason)) => Outcome::Retry(reason),
        Err(Failure::Reject(reason)) => Outcome::Reject(reason),
    }
}

fn ticks(timeout: Duration) -> u64 {
    (timeout.as_micros() / EPOCH_TICK.as_micros()).max(1) as u64 + 1
}

fn classify(e: wasmtime::Error, timeout: Duration) -> CallError {
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallError::Timeout(timeout),
        Some(_) => CallError::Trap(root(&e)),
        None => CallError::Trap(root(&e)),
    }
}

//! A loaded module version: compiled, type-checked and linked once
//! (`ProcessorPre`), then instantiated cheaply for the worker that runs it.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Component;
use wasmtime::{Store, Trap};
use weft_core::{CallError, Event, Handler, Outcome};

use crate::Manifest;
use crate::bindings::{self, Failure, Processor, ProcessorPre, State};
use crate::engine::{EPOCH_TICK, Runtime};
use crate::inspect;

pub struct Module {
    pub name: String,
    /// SHA-256 of the `.wasm`, hex.
    pub version: String,
    pub manifest: Manifest,
    runtime: Runtime,
    pre: ProcessorPre<State>,
    name_arc: Arc<str>,
    config: Arc<Vec<(String, String)>>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Module {
    /// Validates, compiles and links `wasm` as module `name`. The error is the reason
    /// it was refused, for the operator.
    pub fn load(
        runtime: &Runtime,
        name: &str,
        wasm: &[u8],
        manifest: Manifest,
    ) -> Result<Self, String> {
        inspect::check_header(wasm)?;
        let component = runtime
            .compile(wasm)
            .map_err(|e| format!("is not a valid component: {}", inspect::root(&e)))?;
        Self::link(runtime, name, wasm, &component, manifest)
    }

    fn link(
        runtime: &Runtime,
        name: &str,
        wasm: &[u8],
        component: &Component,
        manifest: Manifest,
    ) -> Result<Self, String> {
        let world = inspect::world(runtime, component);
        if world != Some(inspect::World::Processor) {
            return Err(format!(
                "is not a weft processor: it exports {:?}; a processor exports `{}` (build it against world `processor` of wit/)",
                inspect::exports(runtime, component),
                inspect::PROCESSOR_EXPORT
            ));
        }
        let pre = runtime
            .linker
            .instantiate_pre(component)
            .map_err(|e| format!("cannot be linked: {}", inspect::root(&e)))?;
        let pre = ProcessorPre::new(pre)
            .map_err(|e| format!("does not match world `processor`: {}", inspect::root(&e)))?;
        let module = Self {
            name: name.to_owned(),
            version: crate::engine::sha256_hex(wasm),
            runtime: runtime.clone(),
            pre,
            name_arc: name.into(),
            config: Arc::new(manifest.config.clone()),
            manifest,
        };
        // A module that traps while starting is refused now, not on its first event.
        module
            .instantiate()
            .map_err(|e| format!("fails to start: {e}"))?;
        Ok(module)
    }

    /// A handler for one worker; it keeps its instance between batches.
    pub fn handler(self: &Arc<Self>) -> Box<dyn Handler> {
        Box::new(ModuleHandler {
            module: self.clone(),
            instance: None,
        })
    }

    fn instantiate(&self) -> Result<Instance, CallError> {
        let state = State::new(
            self.name_arc.clone(),
            self.config.clone(),
            self.manifest.memory,
        );
        let mut store = Store::new(&self.runtime.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(ticks(self.manifest.call_timeout));
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| classify(e, self.manifest.call_timeout))?;
        Ok(Instance { store, bindings })
    }
}

struct Instance {
    store: Store<State>,
    bindings: Processor,
}

struct ModuleHandler {
    module: Arc<Module>,
    instance: Option<Instance>,
}

impl Handler for ModuleHandler {
    fn process(&mut self, batch: &[Event]) -> Result<Vec<Outcome>, CallError> {
        let mut instance = match self.instance.take() {
            Some(i) => i,
            None => self.module.instantiate()?,
        };
        let timeout = self.module.manifest.call_timeout;
        instance.store.set_epoch_deadline(ticks(timeout));
        let input: Vec<_> = batch.iter().map(bindings::to_wit).collect();
        let result = instance
            .bindings
            .weft_integration_handler()
            .call_process(&mut instance.store, &input);
        match result {
            Ok(outcomes) => {
                // Only an instance that returned normally is kept: after a trap its
                // state cannot be trusted (wasmtime refuses to enter it again).
                self.instance = Some(instance);
                Ok(outcomes.into_iter().map(outcome).collect())
            }
            Err(e) => Err(classify(e, timeout)),
        }
    }

    fn version(&self) -> &str {
        &self.module.version
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
        Some(_) => CallError::Trap(inspect::root(&e)),
        None => CallError::Trap(inspect::root(&e)),
    }
}

//! What a `.wasm` file is: `weft check`'s answers, and the checks loading
//! shares with it (header, compile, world, link), so both say the same.

use wasmtime::component::Component;

use crate::bindings::{EgressPre, IngressPre, InstanceState, ProcessorPre};
use crate::engine::Runtime;
/// Re-exported: callers know it from here (it lives with the engine it reads).
pub use crate::engine::root;

pub const PROCESSOR_EXPORT: &str = "weft:integration/handler@0.1.0";
pub const INGRESS_EXPORT: &str = "weft:integration/source@0.1.0";
pub const EGRESS_EXPORT: &str = "weft:integration/sink@0.1.0";
/// The export that makes each world, as `weft check` names them.
pub const EXPORTS: [&str; 3] = [PROCESSOR_EXPORT, INGRESS_EXPORT, EGRESS_EXPORT];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    Processor,
    Ingress,
    Egress,
}

impl World {
    pub fn kind(self) -> crate::manifest::Kind {
        match self {
            World::Processor => crate::manifest::Kind::Processor,
            World::Ingress => crate::manifest::Kind::Ingress,
            World::Egress => crate::manifest::Kind::Egress,
        }
    }
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            World::Processor => "processor",
            World::Ingress => "ingress connector",
            World::Egress => "egress connector",
        })
    }
}

/// A component linked once for its world, ready to be instantiated cheaply.
pub(crate) enum Pre {
    Processor(ProcessorPre<InstanceState>),
    Ingress(IngressPre<InstanceState>),
    Egress(EgressPre<InstanceState>),
}

/// What `weft check` reports about a valid module.
#[derive(Debug, Clone)]
pub struct Report {
    pub world: World,
    pub version: String,
    pub size: usize,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// Why a `.wasm` is not a weft module, as `weft check` reports it. Loading
/// reports the same through [`crate::LoadError::Component`], except a
/// component of no weft world, whose load message adds how to build one
/// ([`crate::LoadError::NotWeft`]). Each says what the file is instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    #[error("is empty")]
    Empty,
    #[error("is not WebAssembly (no `\\0asm` header)")]
    NotWasm,
    #[error(
        "is a core WebAssembly module, not a component: build it with \
         `cargo build --target wasm32-wasip2` or wrap it with \
         `wasm-tools component new`"
    )]
    CoreModule,
    #[error("has an unknown WebAssembly version/layer {0:?}")]
    UnknownVersion(Vec<u8>),
    /// The compiler refused it; the reason is [`root`]'s one line.
    #[error("is not a valid component: {0}")]
    NotComponent(String),
    /// A component, but not of one weft world.
    #[error(
        "is not a weft module: it exports {exports:?}; a module exports exactly one of {EXPORTS:?}"
    )]
    NotWeft { exports: Vec<String> },
    /// It imports what the host does not provide.
    #[error("cannot be linked: {0}")]
    Link(String),
    /// It exports a world's interface with functions that do not fit it.
    #[error("does not match world `{world}`: {reason}")]
    Mismatch { world: World, reason: String },
}

/// Refuses what is not a component before handing it to the compiler, with a
/// message that says what the file is instead.
pub fn check_header(wasm: &[u8]) -> Result<(), InspectError> {
    if wasm.is_empty() {
        return Err(InspectError::Empty);
    }
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(InspectError::NotWasm);
    }
    match &wasm[4..8] {
        [1, 0, 0, 0] => Err(InspectError::CoreModule),
        [_, _, 1, 0] => Ok(()),
        other => Err(InspectError::UnknownVersion(other.to_vec())),
    }
}

/// Compiles a component after [`check_header`], or says why it is not one.
pub(crate) fn compile(runtime: &Runtime, wasm: &[u8]) -> Result<Component, InspectError> {
    check_header(wasm)?;
    runtime
        .compile(wasm)
        .map_err(|e| InspectError::NotComponent(root(&e)))
}

/// Links `component` as `world`, checking its export's functions as loading does.
pub(crate) fn link(
    runtime: &Runtime,
    component: &Component,
    world: World,
) -> Result<Pre, InspectError> {
    let pre = runtime
        .linker
        .instantiate_pre(component)
        .map_err(|e| InspectError::Link(root(&e)))?;
    let mismatch = |e: wasmtime::Error| InspectError::Mismatch {
        world,
        reason: root(&e),
    };
    Ok(match world {
        World::Processor => Pre::Processor(ProcessorPre::new(pre).map_err(mismatch)?),
        World::Ingress => Pre::Ingress(IngressPre::new(pre).map_err(mismatch)?),
        World::Egress => Pre::Egress(EgressPre::new(pre).map_err(mismatch)?),
    })
}

/// The world a component implements, by its one weft export; `None` for none or
/// more than one (a component is one kind of module).
pub fn world(runtime: &Runtime, component: &Component) -> Option<World> {
    let exports = exports(runtime, component);
    let found: Vec<World> = [
        (PROCESSOR_EXPORT, World::Processor),
        (INGRESS_EXPORT, World::Ingress),
        (EGRESS_EXPORT, World::Egress),
    ]
    .into_iter()
    .filter(|(name, _)| exports.iter().any(|e| e == name))
    .map(|(_, w)| w)
    .collect();
    match found.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

pub fn exports(runtime: &Runtime, component: &Component) -> Vec<String> {
    component
        .component_type()
        .exports(&runtime.engine)
        .map(|(name, _)| name.to_owned())
        .collect()
}

pub fn imports(runtime: &Runtime, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(&runtime.engine)
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// Checks a file as `weft check` does: the same path as loading, minus the manifest.
pub fn inspect(runtime: &Runtime, wasm: &[u8]) -> Result<Report, InspectError> {
    let component = compile(runtime, wasm)?;
    let world = world(runtime, &component).ok_or_else(|| InspectError::NotWeft {
        exports: exports(runtime, &component),
    })?;
    // As loading does: the export's name is not enough, its functions must fit.
    link(runtime, &component, world)?;
    Ok(Report {
        world,
        version: crate::engine::sha256_hex(wasm),
        size: wasm.len(),
        imports: imports(runtime, &component),
        exports: exports(runtime, &component),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn a_refused_header_says_what_the_file_is_instead() {
        let shown = |wasm: &[u8]| check_header(wasm).unwrap_err().to_string();
        assert_eq!(shown(b""), "is empty");
        assert_eq!(shown(b"hello"), "is not WebAssembly (no `\\0asm` header)");
        assert!(
            shown(b"\0asm\x01\0\0\0").starts_with("is a core WebAssembly module, not a component: build it with `cargo build --target wasm32-wasip2`"),
            "{}",
            shown(b"\0asm\x01\0\0\0")
        );
        assert_eq!(
            shown(b"\0asm\x01\0\x02\0"),
            "has an unknown WebAssembly version/layer [1, 0, 2, 0]"
        );
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
        let mismatch = InspectError::Mismatch {
            world: World::Ingress,
            reason: "no func `poll`".into(),
        };
        assert_eq!(
            mismatch.to_string(),
            "does not match world `ingress connector`: no func `poll`"
        );
    }
}

//! What a `.wasm` file is: `weft check`'s answers, and the first checks on load.

use wasmtime::component::Component;

use crate::engine::Runtime;

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

/// What `weft check` reports about a valid module.
#[derive(Debug, Clone)]
pub struct Report {
    pub world: World,
    pub version: String,
    pub size: usize,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// Refuses what is not a component before handing it to the compiler, with a
/// message that says what the file is instead.
pub fn check_header(wasm: &[u8]) -> Result<(), String> {
    if wasm.is_empty() {
        return Err("is empty".into());
    }
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err("is not WebAssembly (no `\\0asm` header)".into());
    }
    match &wasm[4..8] {
        [1, 0, 0, 0] => Err(
            "is a core WebAssembly module, not a component: build it with \
                             `cargo build --target wasm32-wasip2` or wrap it with \
                             `wasm-tools component new`"
                .into(),
        ),
        [_, _, 1, 0] => Ok(()),
        other => Err(format!(
            "has an unknown WebAssembly version/layer {other:?}"
        )),
    }
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
pub fn inspect(runtime: &Runtime, wasm: &[u8]) -> Result<Report, String> {
    check_header(wasm)?;
    let component = runtime
        .compile(wasm)
        .map_err(|e| format!("is not a valid component: {}", root(&e)))?;
    let world = world(runtime, &component).ok_or_else(|| {
        format!(
            "is not a weft module: it exports {:?}; a module exports exactly one of {EXPORTS:?}",
            exports(runtime, &component)
        )
    })?;
    let pre = runtime
        .linker
        .instantiate_pre(&component)
        .map_err(|e| format!("cannot be linked: {}", root(&e)))?;
    // As loading does: the export's name is not enough, its functions must fit.
    match world {
        World::Processor => crate::bindings::ProcessorPre::new(pre).map(drop),
        World::Ingress => crate::bindings::IngressPre::new(pre).map(drop),
        World::Egress => crate::bindings::EgressPre::new(pre).map(drop),
    }
    .map_err(|e| format!("does not match world `{world}`: {}", root(&e)))?;
    Ok(Report {
        world,
        version: crate::engine::sha256_hex(wasm),
        size: wasm.len(),
        imports: imports(runtime, &component),
        exports: exports(runtime, &component),
    })
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

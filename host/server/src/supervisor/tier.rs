//! Tiered compilation (`[modules] tiered = true`): a new version that Cranelift
//! has not compiled before is loaded from Winch's code, which compiles an
//! interpreted guest several times faster, and serves at once; Cranelift then
//! compiles it in the background, and its code is swapped in at a batch boundary
//! through the same path as any swap, as the same version: no probation (the
//! code's behaviour is the same), a `tiered_up` entry in the history. Both tiers'
//! code is cached, so a restart loads Cranelift's at once.
//!
//! When Winch cannot compile a guest (a feature it lacks on this CPU), the
//! version is loaded with Cranelift as without tiering; the log says so, and
//! `weft status` shows the module's compiler with the reason.

use std::path::{Path, PathBuf};

use weft_runtime::{Defaults, Module, Runtime, Tier};

/// A loaded version and, if Winch was tried and failed, why.
pub struct Loaded {
    pub module: Module,
    pub fallback: Option<String>,
}

/// Cranelift's code for a version serving from Winch's, when it is ready.
pub struct Upgrade {
    pub name: String,
    pub version: String,
    pub result: Result<Module, String>,
    pub compile_ms: u64,
}

/// Loads `wasm` from the baseline tier when there is one and Cranelift's code is
/// not cached yet; else, or when Winch fails, with Cranelift.
pub fn load(
    optimized: &Runtime,
    baseline: Option<&Runtime>,
    wasm: &Path,
    defaults: &Defaults,
) -> Result<Loaded, String> {
    // Bounded: a reason quotes the file, whose lines may be megabytes.
    let load = |runtime: &Runtime| {
        weft_runtime::load_file(runtime, wasm, defaults)
            .map_err(|e| weft_core::excerpt::bounded(&e.to_string()))
    };
    // Only a regular file of a module's size is read here: a FIFO would block this
    // thread for good and a sparse giant would be read whole; `load_file` refuses
    // those with their reason.
    let readable = || {
        std::fs::symlink_metadata(wasm)
            .is_ok_and(|m| m.is_file() && m.len() <= weft_runtime::folder::MAX_MODULE_BYTES)
    };
    let cached = || std::fs::read(wasm).is_ok_and(|bytes| optimized.is_cached(&bytes));
    let Some(baseline) = baseline.filter(|_| readable() && !cached()) else {
        return load(optimized).map(|module| Loaded {
            module,
            fallback: None,
        });
    };
    match load(baseline) {
        Ok(module) => Ok(Loaded {
            module,
            fallback: None,
        }),
        Err(winch) => {
            let module = load(optimized)?;
            tracing::warn!(module = %module.name, reason = %winch, "Winch cannot compile this module; loaded with Cranelift instead");
            Ok(Loaded {
                module,
                fallback: Some(winch),
            })
        }
    }
}

/// Compiles `wasm` with Cranelift off the event path and sends the result.
pub fn upgrade(
    optimized: Runtime,
    wasm: PathBuf,
    defaults: Defaults,
    name: String,
    version: String,
    done: tokio::sync::mpsc::UnboundedSender<Upgrade>,
) {
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let result = weft_runtime::load_file(&optimized, &wasm, &defaults)
            .map_err(|e| weft_core::excerpt::bounded(&e.to_string()));
        let _ = done.send(Upgrade {
            name,
            version,
            result,
            compile_ms: started.elapsed().as_millis() as u64,
        });
    });
}

/// What `weft status` shows as a module's compiler.
pub fn shown(module: &Module, fallback: Option<&str>) -> String {
    match (module.tier(), fallback) {
        (Tier::Baseline, _) => "winch (cranelift compiling)".to_owned(),
        (Tier::Optimized, None) => "cranelift".to_owned(),
        (Tier::Optimized, Some(why)) => format!("cranelift (winch could not compile it: {why})"),
    }
}

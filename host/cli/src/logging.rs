//! The log filter: `RUST_LOG` as written (`info` without it), except that the
//! compiler's and the engine's own targets (Cranelift, regalloc2, wasmtime,
//! the wasm parsers) stay at `info` when `RUST_LOG` asks for more everywhere.
//! At `trace` they write about 1.8 GB per module compiled, drowning weft's own
//! lines and filling the disk; whoever needs them names them
//! (`RUST_LOG=trace,cranelift_codegen=trace`). A filter asking for less
//! everywhere (`warn`) is not raised for them.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// Target prefixes kept at `info` unless `RUST_LOG` names them.
const QUIET: [&str; 8] = [
    "cranelift",
    "regalloc2",
    "wasmtime",
    "wasmparser",
    "wasm_encoder",
    "wit_parser",
    "wit_component",
    "object",
];

/// The filter for `spec` (the value of `RUST_LOG`, if set).
pub fn filter(spec: Option<&str>) -> EnvFilter {
    let spec = spec
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("info");
    let Ok(mut filter) = EnvFilter::try_new(spec) else {
        eprintln!("weft: RUST_LOG={spec:?} is not a log filter; logging at info");
        return EnvFilter::new("info");
    };
    if global_level(spec).is_some_and(|l| l > LevelFilter::INFO) {
        for target in QUIET.iter().filter(|t| !spec.contains(*t)) {
            if let Ok(d) = format!("{target}=info").parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    filter
}

/// The level of the directive without a target (`trace` in `trace,weft=debug`).
fn global_level(spec: &str) -> Option<LevelFilter> {
    spec.split(',')
        .map(str::trim)
        .filter(|d| !d.contains('=') && !d.contains('['))
        .filter_map(|d| d.parse::<LevelFilter>().ok())
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// Which of a compiler trace line and a weft trace line `spec` lets through.
    fn shows(spec: &str) -> (bool, bool, bool) {
        let subscriber = tracing_subscriber::registry().with(filter(Some(spec)));
        tracing::subscriber::with_default(subscriber, || {
            (
                tracing::enabled!(target: "cranelift_codegen::machinst", tracing::Level::TRACE),
                tracing::enabled!(target: "cranelift_codegen::machinst", tracing::Level::INFO),
                tracing::enabled!(target: "weft_server::edge", tracing::Level::TRACE),
            )
        })
    }

    #[test]
    fn trace_everywhere_keeps_the_compiler_at_info() {
        assert_eq!(shows("trace"), (false, true, true));
        assert_eq!(shows("debug,weft_server=trace"), (false, true, true));
    }

    #[test]
    fn a_compiler_target_named_in_rust_log_gets_what_it_asks() {
        assert_eq!(shows("trace,cranelift_codegen=trace"), (true, true, true));
    }

    #[test]
    fn a_quieter_filter_is_not_raised_for_the_compiler() {
        assert_eq!(shows("warn"), (false, false, false));
        assert_eq!(shows("info"), (false, true, false));
    }
}

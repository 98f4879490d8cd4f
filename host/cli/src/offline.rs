//! What `weft check` and `weft test` share: a runtime without a host (its own
//! compile cache, no secrets, no store), a word on stderr while a large module
//! compiles, and one call of a module checked as a host checks it (`test` and its
//! `--expect` both use it).

use std::path::{Path, PathBuf};

use weft_core::{CallError, Event, Handler, Outcome, cloudevents, stamp_outputs};
use weft_runtime::{Defaults, Module, Runtime};

pub fn cache_dir() -> PathBuf {
    std::env::var_os("WEFT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("weft-cache"))
}

/// Says on stderr that a long compile is under way, then every 5 s how long it
/// has taken, until dropped: an interpreted guest (Python, JavaScript) compiles for
/// 10-40 s the first time, and a silent command looks hung. Quiet for small or
/// cached modules.
pub struct Progress {
    done: Option<std::sync::mpsc::Sender<()>>,
}

impl Progress {
    pub fn start(runtime: &Runtime, file: &Path, wasm: &[u8]) -> Self {
        if runtime.is_cached(wasm) || wasm.len() < 2 * 1024 * 1024 {
            return Self { done: None };
        }
        eprintln!(
            "compiling {} ({:.1} MiB) for the first time; interpreted guests take 10-40 s, then load from the cache in milliseconds",
            file.display(),
            wasm.len() as f64 / (1024.0 * 1024.0)
        );
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let started = std::time::Instant::now();
        std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                wait.recv_timeout(std::time::Duration::from_secs(5))
            {
                eprintln!("  still compiling, {} s", started.elapsed().as_secs());
            }
        });
        Self { done: Some(done) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

/// Offline there are no host secrets: each secret a manifest names stands in as
/// `<secret NAME>`, so the manifest checks and nothing real is ever shown.
pub fn offline_defaults(manifest: &str) -> Defaults {
    let config = toml::from_str::<toml::Table>(manifest)
        .ok()
        .and_then(|t| t.get("config").and_then(|c| c.as_table()).cloned())
        .unwrap_or_default();
    let names: std::collections::BTreeMap<String, String> = config
        .values()
        .filter_map(|v| v.as_table()?.get("secret")?.as_str())
        .map(|name| (name.to_owned(), format!("<secret {name}>")))
        .collect();
    Defaults {
        secrets: weft_core::secrets::Secrets::new(names),
        ..Defaults::default()
    }
}

/// What a module did with one input event.
pub enum Got {
    /// The outputs, each as the JSON text `weft tap` prints (none for a delivery).
    Emitted(Vec<String>),
    Rejected(String),
    Retry(String),
}

/// Calls the module on one event and checks its outputs as the host does.
pub fn call(module: &Module, handler: &mut dyn Handler, event: &Event) -> Got {
    let result = match handler.process(std::slice::from_ref(event)) {
        Ok(mut outcomes) if outcomes.len() == 1 => outcomes.remove(0),
        Ok(o) => Outcome::Reject(format!("returned {} outcomes for 1 event", o.len())),
        Err(CallError::Timeout(d)) => {
            Outcome::Reject(format!("interrupted after its time budget of {d:?}"))
        }
        Err(e) => Outcome::Reject(e.to_string()),
    };
    match result {
        Outcome::Emit(outs) => {
            let stamped = stamp_outputs(&module.name, &module.manifest.publish, event, outs)
                .and_then(|outs| {
                    weft_core::check_outputs(&module.manifest.schemas, &outs).map(|()| outs)
                });
            match stamped {
                Ok(outs) => Got::Emitted(
                    outs.iter()
                        .map(|o| cloudevents::to_json_text(o, cloudevents::Form::Json))
                        .collect(),
                ),
                Err(reason) => Got::Rejected(reason),
            }
        }
        Outcome::Retry(reason) => Got::Retry(reason),
        Outcome::Reject(reason) => Got::Rejected(reason),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    /// `weft check` runs without the host's secrets: a manifest naming one still
    /// checks, and shows the name, not a value.
    #[test]
    fn offline_secrets_stand_in_by_name() {
        let text = "subscribe = [\"a\"]\n[config]\nsecret = { secret = \"HOOK\" }   # a comment\nplain = 1\n";
        let d = super::offline_defaults(text);
        let m = weft_runtime::Manifest::parse(text, &d).unwrap();
        assert_eq!(
            m.shown_config(),
            [
                ("plain".to_owned(), "1".to_owned()),
                ("secret".to_owned(), "<secret HOOK>".to_owned())
            ]
        );
    }
}

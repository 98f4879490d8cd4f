//! When a module's files are ready to take: the modules folder looked at over
//! time.
//!
//! A file being written (in place, or copied slowly) must never be loaded half
//! done, and a writer that stages `.NAME.wasm.tmp` and renames it into place must
//! be taken at once after the rename settles. So each `NAME.wasm`/`NAME.toml` pair
//! is known by its [`Look`] (sizes and modification times), and a pair is taken
//! only once it has looked the same for [`SETTLE`]. Nothing here loads or runs a
//! module: [`Settle::plan`] says what to take and what is gone, and the supervisor
//! acts on it, so the rules are tested against a real folder without wasmtime.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash as _, Hasher as _};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// How long a file must look unchanged before it is loaded.
pub const SETTLE: Duration = Duration::from_millis(300);

/// A file's size and modification time, if it exists.
pub type FileLook = Option<(u64, SystemTime)>;

/// How a module's files look: the `.wasm`, the `.toml`, and its JSON Schemas
/// (`NAME.*.schema.json`, see `weft_runtime::schema`) folded into one number, so
/// a changed schema file reloads the module like a changed manifest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Look {
    pub wasm: FileLook,
    pub toml: FileLook,
    /// 0 without schema files; else a hash of their names, sizes and times.
    pub schemas: u64,
}

/// What to do after one look at the folder.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Modules whose files settled in a look not yet running nor refused:
    /// (name, look, when they settled).
    pub take: Vec<(String, Look, Instant)>,
    /// Running modules whose `.wasm` is gone.
    pub gone: Vec<String>,
    /// Something is still settling: look again soon.
    pub unsettled: bool,
}

/// The folder's modules and how their files look now. Hidden files (writers
/// stage files under hidden names before renaming them into place) and other
/// extensions are ignored.
pub fn scan(dir: &Path) -> BTreeMap<String, Look> {
    let mut out: BTreeMap<String, Look> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let ext = path.extension().and_then(|e| e.to_str());
        let Some(file) = path.file_name().and_then(|s| s.to_str()) else {
            continue;
        };
        let name = match ext {
            Some("wasm") | Some("toml") => path.file_stem().and_then(|s| s.to_str()),
            // `NAME.*.schema.json`: module names have no dots.
            Some("json") if file.ends_with(".schema.json") => file.split('.').next(),
            _ => None,
        };
        let Some(name) = name else {
            continue;
        };
        if name.is_empty() || name.starts_with('.') {
            continue;
        }
        let look = std::fs::symlink_metadata(&path)
            .ok()
            .map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
        let e = out.entry(name.to_owned()).or_default();
        match ext {
            Some("wasm") => e.wasm = look,
            Some("toml") => e.toml = look,
            _ => {
                // Summed, so the order the folder lists files in does not matter.
                let mut h = std::hash::DefaultHasher::new();
                (file, look).hash(&mut h);
                e.schemas = e.schemas.wrapping_add(h.finish() | 1);
            }
        }
    }
    out
}

/// The looks seen so far, by module name, and since when each was seen unchanged.
#[derive(Debug, Default)]
pub struct Settle {
    seen: HashMap<String, (Look, Instant)>,
}

impl Settle {
    /// Marks `scanned` as seen at `now` without planning anything: what the host
    /// finds at start is taken at once.
    pub fn seen_at_start(&mut self, scanned: &BTreeMap<String, Look>, now: Instant) {
        for (name, look) in scanned {
            self.seen.insert(name.clone(), (*look, now));
        }
    }

    /// What to do, given the folder as `scanned` at `now`, the look of each
    /// running module (`running`) and the looks refused before (`refused`: not
    /// tried again until the files change).
    pub fn plan(
        &mut self,
        scanned: &BTreeMap<String, Look>,
        now: Instant,
        running: &dyn Fn(&str) -> Option<Look>,
        refused: &dyn Fn(&str) -> Option<Look>,
        running_names: impl Iterator<Item = String>,
    ) -> Plan {
        let mut plan = Plan::default();
        for (name, look) in scanned {
            let since = match self.seen.get(name) {
                Some((seen, since)) if seen == look => *since,
                _ => {
                    self.seen.insert(name.clone(), (*look, now));
                    plan.unsettled = true;
                    continue;
                }
            };
            if running(name) == Some(*look) || refused(name) == Some(*look) {
                continue;
            }
            if look.wasm.is_none() {
                continue; // a manifest alone is not a module (yet)
            }
            if now.duration_since(since) < SETTLE {
                plan.unsettled = true;
                continue;
            }
            plan.take.push((name.clone(), *look, since + SETTLE));
        }
        self.seen.retain(|n, _| scanned.contains_key(n));
        plan.gone = running_names
            .filter(|n| scanned.get(n).is_none_or(|l| l.wasm.is_none()))
            .collect();
        plan
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    struct Folder {
        dir: tempfile::TempDir,
        settle: Settle,
        running: HashMap<String, Look>,
        refused: HashMap<String, Look>,
    }

    impl Folder {
        fn new() -> Self {
            Self {
                dir: tempfile::tempdir().unwrap(),
                settle: Settle::default(),
                running: HashMap::new(),
                refused: HashMap::new(),
            }
        }

        fn write(&self, file: &str, bytes: &[u8]) {
            std::fs::write(self.dir.path().join(file), bytes).unwrap();
        }

        fn plan(&mut self, at: Instant) -> Plan {
            let scanned = scan(self.dir.path());
            let (running, refused) = (self.running.clone(), self.refused.clone());
            self.settle.plan(
                &scanned,
                at,
                &|n| running.get(n).copied(),
                &|n| refused.get(n).copied(),
                running.keys().cloned(),
            )
        }

        fn names(plan: &Plan) -> Vec<&str> {
            plan.take.iter().map(|(n, _, _)| n.as_str()).collect()
        }
    }

    #[test]
    fn a_pair_is_taken_only_after_it_looked_the_same_for_the_settle_time() {
        let mut f = Folder::new();
        let t0 = Instant::now();
        f.write("m.wasm", b"wasm");
        f.write("m.toml", b"subscribe = []");
        let first = f.plan(t0);
        assert!(
            first.take.is_empty() && first.unsettled,
            "just seen: {first:?}"
        );
        let early = f.plan(t0 + SETTLE / 2);
        assert!(early.take.is_empty() && early.unsettled);
        let settled = f.plan(t0 + SETTLE);
        assert_eq!(Folder::names(&settled), ["m"]);
        assert_eq!(settled.take[0].2, t0 + SETTLE, "settled when the look held");
    }

    #[test]
    fn a_file_still_being_written_restarts_the_wait() {
        let mut f = Folder::new();
        let t0 = Instant::now();
        f.write("m.wasm", b"part");
        f.write("m.toml", b"");
        f.plan(t0);
        f.write("m.wasm", b"part and more");
        let changed = f.plan(t0 + SETTLE);
        assert!(changed.take.is_empty() && changed.unsettled, "{changed:?}");
        assert!(f.plan(t0 + SETTLE + SETTLE / 2).take.is_empty());
        assert_eq!(Folder::names(&f.plan(t0 + SETTLE * 2)), ["m"]);
    }

    #[test]
    fn hidden_staging_files_and_other_files_are_not_modules() {
        let mut f = Folder::new();
        let t0 = Instant::now();
        f.write(".m.wasm.tmp", b"staged");
        f.write(".m.wasm", b"staged");
        f.write("notes.txt", b"");
        f.plan(t0);
        let plan = f.plan(t0 + SETTLE);
        assert!(plan.take.is_empty() && !plan.unsettled, "{plan:?}");
        std::fs::rename(f.dir.path().join(".m.wasm"), f.dir.path().join("m.wasm")).unwrap();
        f.plan(t0 + SETTLE);
        assert_eq!(Folder::names(&f.plan(t0 + SETTLE * 2)), ["m"]);
    }

    #[test]
    fn a_changed_schema_file_is_a_changed_module() {
        let mut f = Folder::new();
        let t0 = Instant::now();
        f.write("a.wasm", b"a");
        f.write("a.toml", b"");
        f.write("a.order.schema.json", b"{}");
        f.write("ab.order.json", b"{}");
        f.plan(t0);
        let plan = f.plan(t0 + SETTLE);
        assert_eq!(Folder::names(&plan), ["a"]);
        assert_ne!(plan.take[0].1.schemas, 0);
        f.running.insert("a".into(), plan.take[0].1);
        assert!(f.plan(t0 + SETTLE * 2).take.is_empty());
        f.write("a.order.schema.json", b"{\"type\": \"object\"}");
        f.plan(t0 + SETTLE * 2);
        assert_eq!(
            Folder::names(&f.plan(t0 + SETTLE * 3)),
            ["a"],
            "taken again"
        );
        std::fs::remove_file(f.dir.path().join("a.order.schema.json")).unwrap();
        f.plan(t0 + SETTLE * 3);
        let plan = f.plan(t0 + SETTLE * 4);
        assert_eq!(Folder::names(&plan), ["a"], "a removed schema too");
        assert_eq!(plan.take[0].1.schemas, 0);
    }

    #[test]
    fn a_manifest_alone_is_not_taken() {
        let mut f = Folder::new();
        let t0 = Instant::now();
        f.write("m.toml", b"");
        f.plan(t0);
        let plan = f.plan(t0 + SETTLE * 3);
        assert!(plan.take.is_empty() && !plan.unsettled, "{plan:?}");
    }

    #[test]
    fn what_runs_or_was_refused_is_not_taken_again_until_it_changes() {
        let mut f = Folder::new();
        let t0 = Instant::now();
        f.write("a.wasm", b"a");
        f.write("b.wasm", b"b");
        f.plan(t0);
        let plan = f.plan(t0 + SETTLE);
        assert_eq!(Folder::names(&plan), ["a", "b"]);
        f.running.insert("a".into(), plan.take[0].1);
        f.refused.insert("b".into(), plan.take[1].1);
        assert!(f.plan(t0 + SETTLE * 5).take.is_empty());
        f.write("b.wasm", b"b, fixed");
        f.plan(t0 + SETTLE * 5);
        assert_eq!(Folder::names(&f.plan(t0 + SETTLE * 6)), ["b"]);
    }

    #[test]
    fn a_running_module_whose_wasm_is_gone_is_gone() {
        let mut f = Folder::new();
        let t0 = Instant::now();
        f.write("a.wasm", b"a");
        f.write("a.toml", b"");
        f.plan(t0);
        let look = f.plan(t0 + SETTLE).take[0].1;
        f.running.insert("a".into(), look);
        std::fs::remove_file(f.dir.path().join("a.wasm")).unwrap();
        let plan = f.plan(t0 + SETTLE * 2);
        assert_eq!(plan.gone, ["a"], "a manifest left behind does not keep it");
    }

    #[test]
    fn what_is_there_at_start_is_taken_at_once() {
        let mut f = Folder::new();
        f.write("a.wasm", b"a");
        let t0 = Instant::now();
        f.settle.seen_at_start(&scan(f.dir.path()), t0);
        // A later look sees the same files as settled since the start.
        assert_eq!(Folder::names(&f.plan(t0 + SETTLE)), ["a"]);
    }
}

//! `file`: appends each event as one JSON line to a file, rotating it by size.
//!
//! Each event is written as a structured CloudEvent (the CloudEvents JSON format,
//! weft's topic as the member `topic`) followed by `\n`, to `<folder>/<file>`. When
//! a line would take the file past `max_bytes`, the file is first renamed to
//! `<stem>-<n><ext>` (`events-1.jsonl`, `events-2.jsonl`, ...: one more than the
//! highest there, so the numbers keep the order) and a new one started. A line
//! longer than `max_bytes` gets a file of its own.
//!
//! A batch is written and then synced once (`fdatasync` through
//! `wasi:filesystem`): an event counts as delivered only once it is on disk. The
//! folder is synced, best effort, after a file is created or renamed. I/O errors
//! are `retry` with the reason: the events are written again later, so after a
//! failed sync a line may appear twice (its `id` tells).
//!
//! Settings (the manifest's `[config]`):
//! - `folder` (default `/out`): a guest path the manifest's `[folders]` grants
//!   with `write = true`.
//! - `file` (default `events.jsonl`): a plain file name.
//! - `max_bytes` (default 10 MiB).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::OnceLock;

use weft_sdk::{Event, Failure, Sink, cloudevent, config, log};

/// The parsed `[config]`, read once per instance.
#[derive(Debug)]
struct Settings {
    folder: PathBuf,
    file: String,
    max_bytes: u64,
}

impl Settings {
    fn load() -> Result<Self, Failure> {
        let file = config::get("file").unwrap_or_else(|| "events.jsonl".into());
        if file.is_empty() || file.contains(['/', '\\']) || file == "." || file == ".." {
            return Err(Failure::reject(format!(
                "config `file` must be a plain file name, not `{file}`"
            )));
        }
        Ok(Self {
            folder: config::get("folder")
                .unwrap_or_else(|| "/out".into())
                .into(),
            file,
            max_bytes: config::get_json("max_bytes")?.unwrap_or(10 * 1024 * 1024),
        })
    }

    fn get() -> Result<&'static Self, Failure> {
        static SETTINGS: OnceLock<Result<Settings, Failure>> = OnceLock::new();
        SETTINGS
            .get_or_init(Self::load)
            .as_ref()
            .map_err(Clone::clone)
    }

    fn path(&self) -> PathBuf {
        self.folder.join(&self.file)
    }

    /// The file name's stem and extension: `events.jsonl` -> (`events`, `.jsonl`).
    fn stem_and_ext(&self) -> (&str, &str) {
        match self.file.rfind('.') {
            Some(dot) if dot > 0 => self.file.split_at(dot),
            _ => (self.file.as_str(), ""),
        }
    }

    /// The name the current file is rotated to: one past the highest `n` among
    /// `names` of the form `<stem>-<n><ext>`.
    fn rotated_name<'a>(&self, names: impl Iterator<Item = &'a str>) -> String {
        let (stem, ext) = self.stem_and_ext();
        let highest = names
            .filter_map(|name| {
                name.strip_prefix(stem)?
                    .strip_prefix('-')?
                    .strip_suffix(ext)
            })
            .filter_map(|n| n.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        format!("{stem}-{}{ext}", highest + 1)
    }
}

/// The file being appended to during one batch.
struct Appender<'a> {
    settings: &'a Settings,
    open: Option<(File, u64)>,
}

impl<'a> Appender<'a> {
    fn new(settings: &'a Settings) -> Self {
        Self {
            settings,
            open: None,
        }
    }

    /// Appends `line`, rotating first when it would take the file past the limit.
    fn append(&mut self, line: &[u8]) -> io::Result<()> {
        let len = line.len() as u64;
        let (file, size) = match self.open.take() {
            Some(open) => open,
            None => self.open_file()?,
        };
        let (mut file, size) = if size > 0 && size + len > self.settings.max_bytes {
            file.sync_data()?;
            drop(file);
            self.rotate()?;
            self.open_file()?
        } else {
            (file, size)
        };
        file.write_all(line)?;
        self.open = Some((file, size + len));
        Ok(())
    }

    /// Makes what was appended durable.
    fn finish(self) -> io::Result<()> {
        match self.open {
            Some((file, _)) => file.sync_data(),
            None => Ok(()),
        }
    }

    fn open_file(&self) -> io::Result<(File, u64)> {
        let path = self.settings.path();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        if size == 0 {
            self.sync_folder();
        }
        Ok((file, size))
    }

    fn rotate(&self) -> io::Result<()> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.settings.folder)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        let rotated = self.settings.rotated_name(names.iter().map(String::as_str));
        fs::rename(self.settings.path(), self.settings.folder.join(&rotated))?;
        self.sync_folder();
        log::info(&format!("rotated {} to {rotated}", self.settings.file));
        Ok(())
    }

    /// Persists the folder's entries (a new file, a rename). Best effort: the data
    /// itself is synced either way.
    fn sync_folder(&self) {
        if let Err(err) = File::open(&self.settings.folder).and_then(|dir| dir.sync_all()) {
            log::debug(&format!(
                "cannot sync {}: {err}",
                self.settings.folder.display()
            ));
        }
    }
}

/// Writes a batch and syncs it: one result per event, `retry` from the first
/// error on, and for all of them when the sync fails.
fn write_batch(settings: &Settings, batch: Vec<Event>) -> Vec<Result<(), Failure>> {
    let path = settings.path();
    let mut appender = Appender::new(settings);
    let mut results = weft_sdk::in_order(batch, "written", |event| {
        let mut line = cloudevent::to_vec(&event);
        line.push(b'\n');
        appender
            .append(&line)
            .map_err(|err| Failure::retry(format!("writing {}: {err}", path.display())))
    });
    if let Err(err) = appender.finish() {
        let reason = format!("syncing {}: {err}", path.display());
        for result in &mut results {
            if result.is_ok() {
                *result = Err(Failure::retry(reason.clone()));
            }
        }
    }
    results
}

struct FileSink;

impl Sink for FileSink {
    fn deliver(event: Event) -> Result<(), Failure> {
        Self::deliver_batch(vec![event])
            .pop()
            .unwrap_or_else(|| Err(Failure::retry("the event was not written")))
    }

    /// One sync per batch, not per event: a sync costs milliseconds.
    fn deliver_batch(batch: Vec<Event>) -> Vec<Result<(), Failure>> {
        match Settings::get() {
            Ok(settings) => write_batch(settings, batch),
            Err(failure) => batch.iter().map(|_| Err(failure.clone())).collect(),
        }
    }
}

weft_sdk::export_egress!(FileSink);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn settings(folder: &std::path::Path, max_bytes: u64) -> Settings {
        Settings {
            folder: folder.to_owned(),
            file: "events.jsonl".into(),
            max_bytes,
        }
    }

    fn event(id: &str) -> Event {
        Event::new("t", "a/b").with_id(id).with_data("{\"n\":1}")
    }

    fn lines(path: PathBuf) -> Vec<String> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["id"].to_string())
            .collect()
    }

    #[test]
    fn rotated_names_count_up_from_the_highest() {
        let s = settings(std::path::Path::new("/out"), 1);
        assert_eq!(
            s.rotated_name(["events.jsonl"].into_iter()),
            "events-1.jsonl"
        );
        let names = [
            "events-2.jsonl",
            "events-10.jsonl",
            "events-x.jsonl",
            "other-99.jsonl",
        ];
        assert_eq!(s.rotated_name(names.into_iter()), "events-11.jsonl");
        let plain = Settings {
            file: "log".into(),
            ..settings(std::path::Path::new("/out"), 1)
        };
        assert_eq!(plain.rotated_name(["log-1"].into_iter()), "log-2");
    }

    #[test]
    fn events_are_appended_as_lines_and_the_file_rotates_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let line_len = cloudevent::to_vec(&event("1")).len() as u64 + 1;
        // Room for two lines per file.
        let s = settings(dir.path(), 2 * line_len + 1);
        let batch = (1..=5).map(|n| event(&n.to_string())).collect();
        assert!(write_batch(&s, batch).iter().all(Result::is_ok));
        assert_eq!(lines(dir.path().join("events-1.jsonl")), ["\"1\"", "\"2\""]);
        assert_eq!(lines(dir.path().join("events-2.jsonl")), ["\"3\"", "\"4\""]);
        assert_eq!(lines(dir.path().join("events.jsonl")), ["\"5\""]);
        // A later batch goes on where the last one stopped.
        assert!(
            write_batch(&s, vec![event("6"), event("7")])
                .iter()
                .all(Result::is_ok)
        );
        assert_eq!(lines(dir.path().join("events-3.jsonl")), ["\"5\"", "\"6\""]);
        assert_eq!(lines(dir.path().join("events.jsonl")), ["\"7\""]);
    }

    #[test]
    fn an_io_error_retries_the_event_and_those_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(&dir.path().join("missing"), 1024);
        let results = write_batch(&s, vec![event("1"), event("2")]);
        assert!(
            matches!(&results[0], Err(Failure::Retry(r)) if r.contains("missing/events.jsonl"))
        );
        assert!(matches!(&results[1], Err(Failure::Retry(r)) if r.starts_with("not written")));
    }
}

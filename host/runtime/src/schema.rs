//! A module's JSON Schemas (its manifest's `[schemas]`): the files read,
//! checked and compiled once per module load, and the check of an output's
//! data against the schema of the first pattern its topic matches.
//!
//! A file must be `NAME.*.schema.json` beside the manifest, a regular file,
//! JSON, and a valid JSON Schema (checked against its draft's meta-schema; the
//! draft is the one `$schema` names, else 2020-12). External `$ref`s are not
//! fetched: a schema is one self-contained file, so what the host enforces is
//! exactly what the folder holds. Changing a file reloads the module like a
//! changed manifest (the supervisor watches `NAME.*.schema.json` too).
//!
//! With `enforce = true` the host refuses an output whose data does not
//! conform, through [`weft_core::OutputCheck`]: the input goes to the error
//! queue with the validation errors as its reason, and nothing of it is
//! published. Without it the schemas only describe (the event catalog).

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use weft_core::{Event, Pattern, Topic};

use crate::error::FileError;

/// Largest schema file accepted.
pub const MAX_SCHEMA_BYTES: u64 = 1024 * 1024;
/// Validation errors quoted in a refusal; the rest are counted.
const ERRORS_SHOWN: usize = 3;

/// The `[schemas]` of a manifest, in the order written.
#[derive(Clone, Default)]
pub struct Schemas {
    /// Refuse outputs that do not conform (`[schemas] enforce = true`).
    pub enforce: bool,
    entries: Vec<Entry>,
}

/// One published pattern and its schema file.
#[derive(Clone)]
pub struct Entry {
    pub pattern: Pattern,
    /// The file name as the manifest gives it (beside the manifest).
    pub file: String,
    compiled: Option<Arc<Compiled>>,
}

struct Compiled {
    document: Value,
    validator: jsonschema::Validator,
}

impl Entry {
    /// The schema document, once [`Schemas::load`] read it.
    pub fn document(&self) -> Option<&Value> {
        self.compiled.as_ref().map(|c| &c.document)
    }
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas")
            .field("enforce", &self.enforce)
            .field(
                "files",
                &self
                    .entries
                    .iter()
                    .map(|e| (e.pattern.as_str(), e.file.as_str()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Schemas {
    pub(crate) fn declare(&mut self, pattern: Pattern, file: String) {
        self.entries.push(Entry {
            pattern,
            file,
            compiled: None,
        });
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reads and compiles every file from `dir` (the manifest's folder) for
    /// module `module`. The problems name the key, the file and what is wrong.
    pub fn load(&mut self, dir: &Path, module: &str) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for entry in &mut self.entries {
            match compile(dir, module, &entry.file) {
                Ok(c) => entry.compiled = Some(Arc::new(c)),
                Err(why) => problems.push(format!("schemas.\"{}\": {why}", entry.pattern)),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Checks `out`'s data against the schema of the first pattern its topic
    /// matches, when enforced. No data is checked as JSON `null`.
    pub fn check(&self, out: &Event) -> Result<(), String> {
        if !self.enforce {
            return Ok(());
        }
        let Ok(topic) = Topic::parse(&out.topic) else {
            return Ok(()); // refused by the topic check already
        };
        let Some(entry) = self.entries.iter().find(|e| e.pattern.matches(&topic)) else {
            return Ok(());
        };
        let Some(compiled) = &entry.compiled else {
            return Err(format!(
                "has no compiled schema for `{}` ({} was not loaded)",
                entry.pattern, entry.file
            ));
        };
        let instance = match out.data.as_deref() {
            None | Some([]) => Value::Null,
            Some(bytes) => serde_json::from_slice(bytes).map_err(|e| {
                format!(
                    "does not conform to {} (schema for `{}`): its data is not JSON: {e}",
                    entry.file, entry.pattern
                )
            })?,
        };
        let errors: Vec<String> = compiled
            .validator
            .iter_errors(&instance)
            .map(|e| format!("at {}: {e}", place(e.instance_path().as_str())))
            .collect();
        if errors.is_empty() {
            return Ok(());
        }
        let mut shown = errors
            .iter()
            .take(ERRORS_SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        if errors.len() > ERRORS_SHOWN {
            shown.push_str(&format!("; and {} more", errors.len() - ERRORS_SHOWN));
        }
        Err(weft_core::excerpt::bounded(&format!(
            "does not conform to {} (schema for `{}`): {shown}",
            entry.file, entry.pattern
        )))
    }
}

impl weft_core::OutputCheck for Schemas {
    fn check(&self, out: &Event) -> Result<(), String> {
        Schemas::check(self, out)
    }
}

/// A JSON pointer as a reader sees it.
fn place(pointer: &str) -> String {
    if pointer.is_empty() {
        "the top level".to_owned()
    } else {
        pointer.to_owned()
    }
}

/// Whether `file` is a schema file name of module `module`: `NAME.*.schema.json`.
pub fn is_schema_file(file: &str, module: &str) -> bool {
    file.strip_prefix(module)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".schema.json"))
        .is_some_and(|middle| {
            !middle.is_empty() && !middle.contains(['/', '\\']) && !middle.starts_with('.')
        })
}

fn compile(dir: &Path, module: &str, file: &str) -> Result<Compiled, String> {
    if !is_schema_file(file, module) {
        return Err(format!(
            "\"{file}\" is not a schema file name of module `{module}`: name it \
             `{module}.SOMETHING.schema.json`, beside the manifest"
        ));
    }
    let path = dir.join(file);
    let bytes = match crate::folder::read_regular(&path, MAX_SCHEMA_BYTES) {
        Ok(b) => b,
        Err(FileError::Unreadable(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "{} is missing: write the JSON Schema there or remove the key",
                path.display()
            ));
        }
        Err(e) => return Err(format!("{} {e}", path.display())),
    };
    let document: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let validator = jsonschema::validator_for(&document).map_err(|e| {
        format!(
            "{} is not a valid JSON Schema: at {}: {e}",
            path.display(),
            place(e.instance_path().as_str())
        )
    })?;
    Ok(Compiled {
        document,
        validator,
    })
}

#[cfg(test)]
mod tests;

//! `weft test FILE.wasm --expect cases.jsonl`: an author's module test. Each line
//! is a case: an `input` event and what the module must do with it, as one of
//! `emitted` (the outputs, in order), `rejected` or `retry` (`true`, or text the
//! reason must contain). The case file is checked whole before the module runs,
//! so a typo fails at its line rather than as a mismatch.
//!
//! An emitted event is compared on the members the case names (leave out what
//! the host makes up: `id`, `time`), and each named member exactly, data
//! included: an extra key in the data is a difference. Mismatches are printed as
//! a diff by JSON path, `-` what the case expects and `+` what the module did.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use weft_core::{Topic, cloudevents};
use weft_runtime::Module;

use crate::offline::{Got, call};

/// One line of a case file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// A label shown with the result (default: the input's id).
    name: Option<String>,
    input: Box<RawValue>,
    emitted: Option<Vec<Value>>,
    rejected: Option<Reason>,
    retry: Option<Reason>,
}

/// A failure expected: any (`true`), or one whose reason contains the text.
#[derive(Deserialize)]
#[serde(untagged)]
enum Reason {
    Any(bool),
    Containing(String),
}

/// What a case expects.
enum Want {
    Emitted(Vec<Value>),
    Rejected(Reason),
    Retry(Reason),
}

/// Runs every case; an error (exit 1) if any did not hold.
pub fn run(module: &Arc<Module>, cases: &Path, topic: Option<&Topic>) -> anyhow::Result<()> {
    let name = cases.display().to_string();
    let text = std::fs::read_to_string(cases).with_context(|| format!("cannot read {name}"))?;
    let mut parsed = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{name}:{}", i + 1);
        let (label, event, want) =
            parse(line, topic).map_err(|e| anyhow::anyhow!("{at}: {e:#}"))?;
        parsed.push((i + 1, label, event, want));
    }
    if parsed.is_empty() {
        anyhow::bail!(
            "{name} has no cases; write one JSON object a line: {{\"input\": ..., \"emitted\": [...]}}"
        );
    }
    let mut handler = module.handler();
    let mut failed = 0;
    for (line, label, event, want) in &parsed {
        let got = call(module, handler.as_mut(), event);
        let diff = compare(want, &got);
        if diff.is_empty() {
            println!("ok    {name}:{line} {label}");
        } else {
            failed += 1;
            println!("FAIL  {name}:{line} {label}");
            for d in diff {
                println!("      {d}");
            }
        }
    }
    let total = parsed.len();
    println!("{total} cases: {} passed, {failed} failed", total - failed);
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {total} cases in {name} did not hold (diff above: - expected, + got)"
        );
    }
    Ok(())
}

fn parse(line: &str, topic: Option<&Topic>) -> anyhow::Result<(String, weft_core::Event, Want)> {
    let case: Case = serde_json::from_str(line).context(
        "not a case: a JSON object with `input` and one of `emitted`, `rejected`, `retry` \
         (and optionally `name`)",
    )?;
    let event = cloudevents::from_json(case.input.get(), topic)
        .map_err(|e| anyhow::anyhow!("its input: {e}"))?;
    let want = match (case.emitted, case.rejected, case.retry) {
        (Some(e), None, None) => {
            if let Some(i) = e.iter().position(|v| !v.is_object()) {
                anyhow::bail!("emitted[{i}] is not a JSON object (an event's members)");
            }
            Want::Emitted(e)
        }
        (None, Some(r), None) => Want::Rejected(r),
        (None, None, Some(r)) => Want::Retry(r),
        _ => anyhow::bail!(
            "give exactly one of `emitted` (a list, `[]` for nothing), `rejected` or `retry`"
        ),
    };
    let label = case
        .name
        .unwrap_or_else(|| format!("(input {:?})", event.id));
    Ok((label, event, want))
}

/// The differences between what a case wants and what the module did, one line
/// each; none when the case holds.
fn compare(want: &Want, got: &Got) -> Vec<String> {
    let mut out = Vec::new();
    match (want, got) {
        (Want::Emitted(want), Got::Emitted(got)) => {
            let got: Vec<Value> = got
                .iter()
                .map(|t| serde_json::from_str(t).unwrap_or(Value::Null))
                .collect();
            if want.len() != got.len() {
                out.push(format!(
                    "expected {} emitted events, got {}",
                    want.len(),
                    got.len()
                ));
            }
            for (i, w) in want.iter().enumerate() {
                let path = format!("emitted[{i}]");
                match got.get(i) {
                    Some(g) => members(&path, w, g, &mut out),
                    None => out.push(format!("- {path}: {w}")),
                }
            }
            for (i, g) in got.iter().enumerate().skip(want.len()) {
                out.push(format!("+ emitted[{i}]: {g}"));
            }
        }
        (Want::Rejected(r), Got::Rejected(reason)) | (Want::Retry(r), Got::Retry(reason)) => {
            if let Reason::Containing(text) = r
                && !reason.contains(text.as_str())
            {
                out.push(format!("- reason containing: {text:?}"));
                out.push(format!("+ reason: {reason:?}"));
            }
            if let Reason::Any(false) = r {
                out.push("`false` expects nothing: use `emitted` for a success".to_owned());
            }
        }
        (want, got) => {
            out.push(format!("- {}", shown_want(want)));
            out.push(format!("+ {}", shown_got(got)));
        }
    }
    out
}

/// An emitted event: the members the case names, each exactly.
fn members(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    let (Some(want), Some(got)) = (want.as_object(), got.as_object()) else {
        return exact(path, want, got, out);
    };
    for (key, w) in want {
        let p = format!("{path}.{key}");
        match got.get(key) {
            Some(g) => exact(&p, w, g, out),
            None => {
                out.push(format!("- {p}: {w}"));
                out.push(format!("+ {p}: (absent)"));
            }
        }
    }
}

fn exact(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (key, wv) in w {
                let p = format!("{path}.{key}");
                match g.get(key) {
                    Some(gv) => exact(&p, wv, gv, out),
                    None => out.push(format!("- {p}: {wv}")),
                }
            }
            for (key, gv) in g.iter().filter(|(k, _)| !w.contains_key(*k)) {
                out.push(format!("+ {path}.{key}: {gv}"));
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            for (i, wv) in w.iter().enumerate() {
                let p = format!("{path}[{i}]");
                match g.get(i) {
                    Some(gv) => exact(&p, wv, gv, out),
                    None => out.push(format!("- {p}: {wv}")),
                }
            }
            for (i, gv) in g.iter().enumerate().skip(w.len()) {
                out.push(format!("+ {path}[{i}]: {gv}"));
            }
        }
        (w, g) if w != g => {
            out.push(format!("- {path}: {w}"));
            out.push(format!("+ {path}: {g}"));
        }
        _ => {}
    }
}

fn shown_want(want: &Want) -> String {
    let reason = |r: &Reason| match r {
        Reason::Any(_) => "(any reason)".to_owned(),
        Reason::Containing(t) => format!("(reason containing {t:?})"),
    };
    match want {
        Want::Emitted(e) => format!("emitted {}", Value::Array(e.clone())),
        Want::Rejected(r) => format!("rejected {}", reason(r)),
        Want::Retry(r) => format!("retry {}", reason(r)),
    }
}

fn shown_got(got: &Got) -> String {
    match got {
        Got::Emitted(e) => format!("emitted [{}]", e.join(",")),
        Got::Rejected(r) => format!("rejected: {r}"),
        Got::Retry(r) => format!("retry: {r}"),
    }
}

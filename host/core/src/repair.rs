//! The repair station: find, replay and purge the records of the modules' error
//! queues.
//!
//! A replay puts a record's event back, optionally edited, either into the failing
//! module's own queue (the default: only that module sees it again) or onto its
//! topic (every current subscriber sees it again). The record is not deleted: it is
//! marked `replayed` and keeps the history of what was changed and where it went,
//! until it is purged. The event carries a replay counter (extension `weftreplays`),
//! and an event replayed `max_replays` times is refused, so a repair loop stops.
//! Putting the event back and updating the record is one store transaction.

use chrono::{DateTime, Utc};
use weft_store::{Completion, NewEvent, QueueId, Store};

use crate::failure::{REPLAYS_EXTENSION, RepairEntry, Status};
use crate::name::{QueueOwner, queue_of_export, queue_of_module};
use crate::{Event, ExtValue, FailureRecord, Hub, Pattern, Topic, cloudevents};

/// Which records an operation applies to; every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub module: Option<String>,
    pub seq: Option<u64>,
    /// The record's original topic matches this pattern.
    pub topic: Option<Pattern>,
    /// The reason contains this text.
    pub reason: Option<String>,
    /// Last failure at or after.
    pub since: Option<DateTime<Utc>>,
    /// Last failure before.
    pub until: Option<DateTime<Utc>>,
    /// `None`: any status.
    pub status: Option<Status>,
}

/// A record and where it is kept.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Found {
    pub module: String,
    pub seq: u64,
    pub record: FailureRecord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayTo {
    /// Back into the failing module's queue only.
    Module,
    /// Onto the event's topic, to every subscription matching it now.
    Topic,
}

/// Changes a repair makes to an event before replaying it.
#[derive(Debug, Clone, Default)]
pub struct Edit {
    pub data: Option<Vec<u8>>,
    /// Attributes to set: `type`, `subject`, `datacontenttype`, `dataschema`,
    /// `time`, `topic`, or an extension name.
    pub set: Vec<(String, String)>,
}

/// What a replay did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReplayReport {
    pub replayed: Vec<Replayed>,
    /// Records left alone, with the reason.
    pub refused: Vec<Refused>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Replayed {
    pub module: String,
    pub seq: u64,
    pub id: String,
    pub to: String,
    pub changes: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Refused {
    pub module: String,
    pub seq: u64,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error(transparent)]
    Store(#[from] weft_store::Error),
    #[error("the edit is invalid: {0}")]
    BadEdit(String),
}

/// The records matching `sel`, by module then age, at most `limit`.
pub fn find(store: &Store, sel: &Selection, limit: usize) -> Result<Vec<Found>, RepairError> {
    // Modules and mesh exports keep error queues; outside subscriptions do not.
    // A module's records go by its name, an export's by its outbox's queue name
    // (`export/NAME`), which no module name can take.
    let mut queues: Vec<(String, QueueId)> = store
        .queue_names()
        .into_iter()
        .filter_map(|(queue, id)| match QueueOwner::parse(&queue) {
            Ok(QueueOwner::Module(module)) => Some((module.to_string(), id)),
            Ok(QueueOwner::Export(_)) => Some((queue, id)),
            _ => None,
        })
        .filter(|(name, _)| sel.module.as_ref().is_none_or(|m| m == name))
        .collect();
    queues.sort();
    let mut found = Vec::new();
    for (module, queue) in queues {
        let records = match sel.seq {
            Some(seq) => store
                .error(queue, seq)?
                .map(|r| vec![(seq, r)])
                .unwrap_or_default(),
            None => store.errors(queue, usize::MAX)?,
        };
        for (seq, bytes) in records {
            let Ok(record) = FailureRecord::decode(&bytes) else {
                continue;
            };
            if matches(sel, &record) {
                found.push(Found {
                    module: module.clone(),
                    seq,
                    record,
                });
                if found.len() >= limit {
                    return Ok(found);
                }
            }
        }
    }
    Ok(found)
}

fn matches(sel: &Selection, r: &FailureRecord) -> bool {
    let when = DateTime::parse_from_rfc3339(&r.last_failure)
        .ok()
        .map(|t| t.with_timezone(&Utc));
    sel.topic
        .as_ref()
        .is_none_or(|p| Topic::parse(&r.topic).is_ok_and(|t| p.matches(&t)))
        && sel
            .reason
            .as_ref()
            .is_none_or(|s| r.reason.contains(s.as_str()))
        && sel.since.is_none_or(|s| when.is_some_and(|w| w >= s))
        && sel.until.is_none_or(|u| when.is_some_and(|w| w < u))
        && sel.status.is_none_or(|s| s == r.status)
}

/// Replays the failed records matching `sel` (records already replayed are skipped).
pub async fn replay(
    hub: &Hub,
    sel: &Selection,
    to: ReplayTo,
    edit: &Edit,
    max_replays: u32,
) -> Result<ReplayReport, RepairError> {
    let sel = Selection {
        status: Some(Status::Failed),
        ..sel.clone()
    };
    let store = hub.store();
    let mut report = ReplayReport::default();
    for found in find(store, &sel, 100_000)? {
        let refuse = |reason: String| Refused {
            module: found.module.clone(),
            seq: found.seq,
            reason,
        };
        let mut event = match cloudevents::from_json(found.record.event.get(), None) {
            Ok(e) => e,
            Err(e) => {
                report
                    .refused
                    .push(refuse(format!("the stored event cannot be read back: {e}")));
                continue;
            }
        };
        let replays = FailureRecord::replays_of(&event);
        if replays >= max_replays {
            report.refused.push(refuse(format!(
                "already replayed {replays} times (the limit is {max_replays}): fix the module or the event, then purge it"
            )));
            continue;
        }
        let changes = apply(&mut event, edit)?;
        let count = i32::try_from(replays + 1).unwrap_or(i32::MAX);
        set_extension(&mut event, REPLAYS_EXTENSION, ExtValue::Integer(count));
        let Some(queue) = module_queue(store, &found.module) else {
            continue;
        };
        let (queues, target) = match to {
            ReplayTo::Module => (vec![queue], format!("module {}", found.module)),
            ReplayTo::Topic => (hub.queues_for(&event), format!("topic {}", event.topic)),
        };
        let mut record = found.record.clone();
        record.status = Status::Replayed;
        record.history.push(RepairEntry {
            at: Utc::now().to_rfc3339(),
            action: "replayed".into(),
            to: target.clone(),
            changes: changes.clone(),
        });
        let id = event.id.clone();
        store
            .complete(Completion {
                queue,
                outputs: vec![NewEvent {
                    dedup: None,
                    payload: event.encode(),
                    queues: queues.clone(),
                }],
                updated: vec![(found.seq, record.encode())],
                ..Default::default()
            })
            .await?;
        hub.wake(&queues);
        hub.show(event);
        report.replayed.push(Replayed {
            module: found.module,
            seq: found.seq,
            id,
            to: target,
            changes,
        });
    }
    Ok(report)
}

/// Deletes the records matching `sel`; returns how many.
pub async fn purge(hub: &Hub, sel: &Selection) -> Result<usize, RepairError> {
    let store = hub.store();
    let found = find(store, sel, usize::MAX)?;
    let mut by_module: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for f in &found {
        by_module.entry(f.module.clone()).or_default().push(f.seq);
    }
    for (module, seqs) in by_module {
        let Some(queue) = module_queue(store, &module) else {
            continue;
        };
        store
            .complete(Completion {
                queue,
                resolved: seqs,
                ..Default::default()
            })
            .await?;
    }
    Ok(found.len())
}

/// The queue of the module a record names, if it still has one.
/// The queue of the owner of an error queue, by the name its records go by
/// (see [`find`]).
fn module_queue(store: &Store, module: &str) -> Option<QueueId> {
    let queue = match QueueOwner::parse(module).ok()? {
        QueueOwner::Module(name) => queue_of_module(&name),
        QueueOwner::Export(name) => queue_of_export(&name),
        QueueOwner::Subscription(_) => return None,
    };
    store.queue_id(&queue)
}

/// Applies an edit; returns what changed, in words, for the record's history.
fn apply(event: &mut Event, edit: &Edit) -> Result<Vec<String>, RepairError> {
    let mut changes = Vec::new();
    if let Some(data) = &edit.data {
        changes.push(format!(
            "data replaced ({} bytes, was {} bytes)",
            data.len(),
            event.data_bytes().len()
        ));
        event.data = Some(data.clone());
    }
    for (name, value) in &edit.set {
        let slot = match name.as_str() {
            "type" => Some(&mut event.ty),
            "topic" => {
                Topic::parse(value).map_err(|e| RepairError::BadEdit(e.to_string()))?;
                Some(&mut event.topic)
            }
            "id" | "source" | "specversion" => {
                return Err(RepairError::BadEdit(format!(
                    "`{name}` cannot be edited: it identifies the event"
                )));
            }
            _ => None,
        };
        let old = match slot {
            Some(s) => Some(std::mem::replace(s, value.clone())),
            None => {
                let opt = match name.as_str() {
                    "subject" => Some(&mut event.subject),
                    "time" => Some(&mut event.time),
                    "datacontenttype" => Some(&mut event.datacontenttype),
                    "dataschema" => Some(&mut event.dataschema),
                    _ => None,
                };
                match opt {
                    Some(o) => o.replace(value.clone()),
                    None => {
                        if name.is_empty()
                            || !name
                                .chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                        {
                            return Err(RepairError::BadEdit(format!(
                                "`{name}` is not an attribute: extension names are lowercase letters and digits"
                            )));
                        }
                        let typed = match event.extension(name) {
                            Some(old) => old.like(value.clone()),
                            None => ExtValue::String(value.clone()),
                        };
                        set_extension(event, name, typed).map(|old| old.canonical().into_owned())
                    }
                }
            }
        };
        changes.push(match old {
            Some(old) => format!("{name}: {old:?} -> {value:?}"),
            None => format!("{name}: set to {value:?}"),
        });
    }
    Ok(changes)
}

/// Sets an extension; an edit's string keeps the type the extension had when it is
/// that type's canonical form (the rule outputs of modules follow, see [`crate::value`]).
fn set_extension(event: &mut Event, name: &str, value: ExtValue) -> Option<ExtValue> {
    match event.extensions.iter_mut().find(|(k, _)| k == name) {
        Some((_, v)) => Some(std::mem::replace(v, value)),
        None => {
            event.extensions.push((name.to_owned(), value));
            None
        }
    }
}

//! The repair station over HTTP (`weft errors` uses it).
//!
//! Selections are the same everywhere: `module`, `seq`, `topic` (a pattern over the
//! original topic), `reason` (contained text), `since` / `until` (RFC 3339, last
//! failure), `status` (`failed`, `replayed`). Replay and purge refuse an empty
//! selection unless `all` is true, and purge asks for `"confirm": true`.
//!
//! With tokens, every route here needs an admin token, and a replay onto topics
//! (`"to": "topic"`) also needs `publish` grants for the topics it publishes to.

use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use weft_core::Pattern;
use weft_core::failure::Status;
use weft_core::repair::{self, Edit, ReplayTo, Selection};

use super::extract::{self, Expect, Path, Query};
use super::state::AppState;
use crate::auth::Access;
use crate::problem::{Kind, problem};

#[derive(Deserialize, Default, utoipa::ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SelectionParams {
    module: Option<String>,
    seq: Option<u64>,
    topic: Option<String>,
    reason: Option<String>,
    since: Option<String>,
    until: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
    #[serde(default)]
    all: bool,
    /// Replay: `module` (default) or `topic`.
    #[param(ignore)]
    to: Option<String>,
    /// Replay: new data, as JSON (stored as its JSON text; a string as its text) ...
    #[param(ignore)]
    #[schema(value_type = Option<Object>)]
    data: Option<Value>,
    /// ... or as base64 bytes.
    #[param(ignore)]
    data_base64: Option<String>,
    /// Replay: attributes to set.
    #[serde(default)]
    #[param(ignore)]
    set: std::collections::BTreeMap<String, String>,
    /// Purge: the confirmation.
    #[serde(default)]
    #[param(ignore)]
    confirm: bool,
}

impl Expect for SelectionParams {
    const WHAT: &'static str = "a selection has module, seq (a number), topic (a pattern), reason (text), since and until (RFC 3339 times like 2026-01-31T12:00:00Z), status (failed, replayed or any), limit (a number) and all (true or false); a replay also to (module or topic), data or data_base64, set (an object of attributes); a purge confirm (true)";
}

/// `/v1/errors/{module}/{seq}`.
#[derive(Deserialize)]
pub struct RecordPath {
    module: String,
    seq: u64,
}

impl Expect for RecordPath {
    const WHAT: &'static str = "the path is /v1/errors/MODULE/SEQ with SEQ a number: a record's `seq` as `weft errors list` shows it";
}

impl SelectionParams {
    fn selection(&self) -> Result<Selection, String> {
        let time = |s: &Option<String>, name: &str| {
            s.as_deref()
                .map(|t| {
                    chrono::DateTime::parse_from_rfc3339(t)
                        .map(|t| t.with_timezone(&chrono::Utc))
                        .map_err(|e| {
                            format!(
                                "`{name}` must be an RFC 3339 time like 2026-01-31T12:00:00Z: {e}"
                            )
                        })
                })
                .transpose()
        };
        Ok(Selection {
            module: self.module.clone(),
            seq: self.seq,
            topic: self
                .topic
                .as_deref()
                .map(Pattern::parse)
                .transpose()
                .map_err(|e| format!("`topic`: {e}"))?,
            reason: self.reason.clone(),
            since: time(&self.since, "since")?,
            until: time(&self.until, "until")?,
            status: match self.status.as_deref() {
                None | Some("any") => None,
                Some("failed") => Some(Status::Failed),
                Some("replayed") => Some(Status::Replayed),
                Some(other) => {
                    return Err(format!(
                        "`status` is failed, replayed or any, not `{other}`"
                    ));
                }
            },
        })
    }

    fn is_empty(&self) -> bool {
        self.module.is_none()
            && self.seq.is_none()
            && self.topic.is_none()
            && self.reason.is_none()
            && self.since.is_none()
            && self.until.is_none()
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Listed {
    /// Each: module, seq and the record (event, reason, attempts, status, history).
    #[schema(value_type = Vec<Object>)]
    errors: Vec<repair::Found>,
}

#[utoipa::path(get, path = "/v1/errors", tag = "errors",
    params(SelectionParams),
    responses((status = 200, description = "The error records selected, oldest first", body = Listed)))]
pub async fn list(State(app): State<AppState>, Query(q): Query<SelectionParams>) -> Response {
    let sel = match q.selection() {
        Ok(s) => s,
        Err(e) => return problem(Kind::InvalidRequest, e),
    };
    match repair::find(app.hub.store(), &sel, q.limit.unwrap_or(1000)) {
        // A typed answer, not `json!`: a record's event is kept as its exact text,
        // which a `serde_json::Value` would parse again (and could not, for data
        // nested deeper than its recursion limit).
        Ok(found) => Json(Listed { errors: found }).into_response(),
        Err(e) => problem(Kind::Internal, e.to_string()),
    }
}

#[utoipa::path(get, path = "/v1/errors/{module}", tag = "errors",
    params(("module" = String, Path, description = "The module's name"), SelectionParams),
    responses((status = 200, description = "The module's error records selected", body = Listed)))]
pub async fn list_module(
    state: State<AppState>,
    Path(module): Path<String>,
    Query(mut q): Query<SelectionParams>,
) -> Response {
    if state.hub.store().queue_id(&module).is_none() {
        return problem(
            Kind::NotFound,
            format!("no module `{module}` has run on this host"),
        );
    }
    q.module = Some(module);
    list(state, Query(q)).await
}

#[utoipa::path(get, path = "/v1/errors/{module}/{seq}", tag = "errors",
    params(("module" = String, Path, description = "The module's name"), ("seq" = u64, Path, description = "The record's `seq`")),
    responses((status = 200, description = "One record with its history", body = Object)))]
pub async fn show(
    State(app): State<AppState>,
    Path(RecordPath { module, seq }): Path<RecordPath>,
) -> Response {
    let sel = Selection {
        module: Some(module.clone()),
        seq: Some(seq),
        ..Default::default()
    };
    match repair::find(app.hub.store(), &sel, 1) {
        Ok(mut found) if !found.is_empty() => Json(found.remove(0)).into_response(),
        Ok(_) => problem(
            Kind::NotFound,
            format!("no error record {seq} for module `{module}`"),
        ),
        Err(e) => problem(Kind::Internal, e.to_string()),
    }
}

#[utoipa::path(post, path = "/v1/errors/replay", tag = "errors",
    request_body(content = SelectionParams, description = "Which records, where to (`to`: module or topic), and the edit: `data` or `data_base64`, `set` attributes"),
    responses((status = 200, description = "What was replayed and what was refused (and why)", body = Object)))]
pub async fn replay(
    State(app): State<AppState>,
    Extension(access): Extension<Access>,
    extract::Json(body): extract::Json<SelectionParams>,
) -> Response {
    if body.is_empty() && !body.all {
        return problem(
            Kind::InvalidRequest,
            "say which records to replay (module, seq, topic, reason, since, until) or set \"all\": true",
        );
    }
    let sel = match body.selection() {
        Ok(s) => s,
        Err(e) => return problem(Kind::InvalidRequest, e),
    };
    let to = match body.to.as_deref() {
        None | Some("module") => ReplayTo::Module,
        Some("topic") => ReplayTo::Topic,
        Some(other) => {
            return problem(
                Kind::InvalidRequest,
                format!("`to` is module or topic, not `{other}`"),
            );
        }
    };
    let data = match (&body.data, &body.data_base64) {
        (Some(_), Some(_)) => {
            return problem(
                Kind::InvalidRequest,
                "give `data` or `data_base64`, not both",
            );
        }
        (Some(v), None) => Some(match v {
            Value::String(s) => s.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        }),
        (None, Some(b)) => match base64::engine::general_purpose::STANDARD.decode(b) {
            Ok(d) => Some(d),
            Err(e) => {
                return problem(
                    Kind::InvalidRequest,
                    format!("`data_base64` is not base64: {e}"),
                );
            }
        },
        (None, None) => None,
    };
    let edit = Edit {
        data,
        set: body.set.into_iter().collect(),
    };
    if to == ReplayTo::Topic && matches!(access, Access::Token(_)) {
        return replay_granted(&app, &access, &sel, &edit).await;
    }
    match repair::replay(&app.hub, &sel, to, &edit, app.max_replays).await {
        Ok(report) => Json(report).into_response(),
        Err(repair::RepairError::BadEdit(e)) => problem(Kind::InvalidRequest, e),
        Err(e) => problem(Kind::Unavailable, e.to_string()),
    }
}

/// A replay onto topics by a token: it publishes, so every record's target topic
/// needs a `publish` grant. All are checked first (one refused, nothing replayed),
/// then exactly the checked records are replayed, one by one, so a record that fails
/// meanwhile is not replayed unchecked.
async fn replay_granted(app: &AppState, access: &Access, sel: &Selection, edit: &Edit) -> Response {
    let sel = Selection {
        status: Some(Status::Failed),
        ..sel.clone()
    };
    let found = match repair::find(app.hub.store(), &sel, 100_000) {
        Ok(f) => f,
        Err(e) => return problem(Kind::Internal, e.to_string()),
    };
    let new_topic = edit.set.iter().find(|(k, _)| k == "topic").map(|(_, v)| v);
    if let Some(Err(e)) = new_topic.map(|t| weft_core::Topic::parse(t)) {
        return problem(Kind::InvalidRequest, format!("the edit is invalid: {e}"));
    }
    for f in &found {
        let topic = new_topic.unwrap_or(&f.record.topic);
        if let Err(refused) = access.check_publish(topic) {
            return refused.into_response();
        }
    }
    let mut report = repair::ReplayReport::default();
    for f in found {
        let one = Selection {
            module: Some(f.module),
            seq: Some(f.seq),
            ..sel.clone()
        };
        match repair::replay(&app.hub, &one, ReplayTo::Topic, edit, app.max_replays).await {
            Ok(r) => {
                report.replayed.extend(r.replayed);
                report.refused.extend(r.refused);
            }
            Err(repair::RepairError::BadEdit(e)) => return problem(Kind::InvalidRequest, e),
            Err(e) => return problem(Kind::Unavailable, e.to_string()),
        }
    }
    Json(report).into_response()
}

#[utoipa::path(post, path = "/v1/errors/purge", tag = "errors",
    request_body(content = SelectionParams, description = "Which records, and `confirm: true`"),
    responses((status = 200, description = "How many records were purged", body = Object)))]
pub async fn purge(
    State(app): State<AppState>,
    extract::Json(body): extract::Json<SelectionParams>,
) -> Response {
    if body.is_empty() && !body.all {
        return problem(
            Kind::InvalidRequest,
            "say which records to purge (module, seq, topic, reason, since, until) or set \"all\": true",
        );
    }
    let sel = match body.selection() {
        Ok(s) => s,
        Err(e) => return problem(Kind::InvalidRequest, e),
    };
    if !body.confirm {
        let n = repair::find(app.hub.store(), &sel, usize::MAX)
            .map(|f| f.len())
            .unwrap_or(0);
        return problem(
            Kind::InvalidRequest,
            format!("this would purge {n} records for good: send it again with \"confirm\": true"),
        );
    }
    match repair::purge(&app.hub, &sel).await {
        Ok(n) => Json(json!({ "purged": n })).into_response(),
        Err(e) => problem(Kind::Unavailable, e.to_string()),
    }
}

//! The context attributes both modes share, and the checks every attribute gets.

use super::error::{Attr, DecodeError, shown};
use crate::event::SPEC_VERSION;
use crate::value::{check_string, is_absolute_uri};

/// Names no extension may take: the CloudEvents attributes, the JSON format's data members
/// and weft's `topic`.
pub(crate) const RESERVED: &[&str] = &[
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
    "data",
    "data_base64",
    "topic",
];

/// The context attributes both modes share (all but `datacontenttype`).
pub(crate) struct Context {
    pub id: String,
    pub source: String,
    pub ty: String,
    pub subject: Option<String>,
    pub time: Option<String>,
    pub dataschema: Option<String>,
}

/// Reads and checks the context attributes; `take` yields an attribute by name (absent or
/// null as `None`) with the [`Attr`] to blame. `specversion` comes first, so an event of
/// another version is told so rather than that it lacks something.
pub(crate) fn context(
    mut take: impl FnMut(&'static str) -> Result<(Option<String>, Attr), DecodeError>,
) -> Result<Context, DecodeError> {
    let (specversion, attr) = required(take("specversion")?)?;
    if specversion != SPEC_VERSION {
        let got = shown(&specversion);
        return Err(DecodeError::SpecVersion { attr, got });
    }
    let (id, _) = required(take("id")?)?;
    let (source, _) = required(take("source")?)?;
    let (ty, _) = required(take("type")?)?;
    let (subject, _) = optional(take("subject")?)?;
    let (time, attr) = optional(take("time")?)?;
    if let Some(time) = &time
        && let Err(reason) = chrono::DateTime::parse_from_rfc3339(time)
    {
        let got = shown(time);
        return Err(DecodeError::Time { attr, got, reason });
    }
    let (dataschema, attr) = optional(take("dataschema")?)?;
    if let Some(schema) = dataschema.as_deref().filter(|s| !is_absolute_uri(s)) {
        let got = shown(schema);
        return Err(DecodeError::DataSchema { attr, got });
    }
    Ok(Context {
        id,
        source,
        ty,
        subject,
        time,
        dataschema,
    })
}

pub(crate) fn required(
    (value, attr): (Option<String>, Attr),
) -> Result<(String, Attr), DecodeError> {
    match value {
        None => Err(DecodeError::Missing { attr }),
        Some(v) if v.is_empty() => Err(DecodeError::Empty { attr }),
        Some(v) => Ok((string(v, &attr)?, attr)),
    }
}

pub(crate) fn optional(
    (value, attr): (Option<String>, Attr),
) -> Result<(Option<String>, Attr), DecodeError> {
    match value {
        Some(v) if v.is_empty() => Err(DecodeError::Empty { attr }),
        Some(v) => Ok((Some(string(v, &attr)?), attr)),
        None => Ok((None, attr)),
    }
}

/// `value` if it is a CloudEvents String (see [`crate::value`]).
pub(crate) fn string(value: String, attr: &Attr) -> Result<String, DecodeError> {
    match check_string(&value) {
        Ok(()) => Ok(value),
        Err(bad) => Err(DecodeError::BadString {
            attr: attr.clone(),
            bad,
        }),
    }
}

pub(crate) fn is_extension_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

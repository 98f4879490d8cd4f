//! `[ingress]`: what calls an ingress connector. Only an ingress connector may
//! have the table and it must turn on a trigger; which world a module is comes
//! from its `.wasm`, so that half is checked by `Manifest::check_world`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::field;

/// Shortest poll interval: anything shorter is a busy loop, not polling (and
/// most likely a typo, "1us" for "1s").
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// What calls an ingress connector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Triggers {
    /// `poll` every so often.
    pub interval: Option<Duration>,
    /// `webhook` for requests to `/hooks/NAME`.
    pub route: bool,
    /// `file` for each file that settles in this host folder.
    pub watch: Option<PathBuf>,
    /// A webhook that fronts a pipeline synchronously: its request's first event
    /// becomes a request (see `weft_core::reply`) and the sender's answer waits
    /// for the reply, up to this long. `await_reply = "5s"`.
    pub await_reply: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IngressFile {
    interval: Option<String>,
    route: Option<bool>,
    watch: Option<String>,
    await_reply: Option<String>,
}

/// Reads `[ingress]`, if the manifest has one.
pub(super) fn parse(file: Option<&IngressFile>, problems: &mut Vec<String>) -> Option<Triggers> {
    let file = file?;
    let triggers = Triggers {
        interval: file.interval.as_deref().map(|s| {
            let d = field::duration(
                Some(s),
                "ingress.interval",
                Duration::from_secs(1),
                problems,
            );
            if d < MIN_INTERVAL {
                problems.push(format!(
                    "ingress.interval = \"{s}\" is too short: at least 10ms"
                ));
            }
            d
        }),
        route: file.route.unwrap_or(false),
        watch: file.watch.as_ref().map(PathBuf::from),
        await_reply: file.await_reply.as_deref().map(|s| {
            field::duration(
                Some(s),
                "ingress.await_reply",
                Duration::from_secs(5),
                problems,
            )
        }),
    };
    if triggers.await_reply.is_some() && !triggers.route {
        problems.push(
            "ingress.await_reply is set without `route = true`: only a webhook has a caller to answer"
                .into(),
        );
    }
    if triggers.await_reply.is_some_and(|d| d.is_zero()) {
        problems.push("ingress.await_reply = \"0s\": a wait must be more than zero".into());
    }
    if triggers.interval.is_none() && !triggers.route && triggers.watch.is_none() {
        problems.push(
            "[ingress] turns on no trigger: set `interval`, `route = true` or `watch`".into(),
        );
    }
    Some(triggers)
}

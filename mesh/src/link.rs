//! The connection to NATS: how the host authenticates, the stream it binds to,
//! and what the server says about the link (disconnections, permission errors).
//!
//! One client, one connection. A NATS client would reconnect by itself and then
//! send what it queued while it was away; but a connection that breaks loses what
//! was in flight on it, so messages queued after those would be stored before
//! them when resent, and an export's order would break. So a client here never
//! reconnects: a lost connection ends the link's session ([`Session::lost`]), and
//! the link makes a new client, whose exporters start again from the first event
//! JetStream has not acknowledged. On one connection the server receives a prefix
//! of what was sent, in order.
//!
//! Beside that: the first connection is retried until it succeeds (a host starts
//! whether NATS is up or not), the stream is created if missing and bound to as
//! it is otherwise, and the server's asynchronous permission errors are recorded:
//! a publish NATS refuses for permissions never gets an answer, only a `-ERR` on
//! the connection naming the subject, so the exporter looks the subject up here
//! when a publish times out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use async_nats::{Client, ConnectOptions, Event, ServerError};

use crate::config::{Auth, MeshConfig};
use crate::status::{Board, LinkState};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a JetStream request (a publish's acknowledgement, an API call) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a permission error is remembered for a subject.
const DENIED_FOR: Duration = Duration::from_secs(120);

/// Subjects the server refused this host, with its words, by when.
#[derive(Debug, Clone, Default)]
pub struct Denied(Arc<Mutex<HashMap<String, (Instant, String)>>>);

impl Denied {
    fn note(&self, message: &str) {
        let Some(subject) = quoted(message) else {
            return;
        };
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, (at, _)| at.elapsed() < DENIED_FOR);
        map.insert(subject.to_owned(), (Instant::now(), message.to_owned()));
    }

    /// The server's refusal of `subject`, if it refused it lately.
    pub fn refusal(&self, subject: &str) -> Option<String> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(subject)
            .filter(|(at, _)| at.elapsed() < DENIED_FOR)
            .map(|(_, m)| m.clone())
    }

    /// Forgets refusals (after a server reloaded its permissions, a publish
    /// that times out again should be judged afresh).
    pub fn forget(&self, subject: &str) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.remove(subject);
    }
}

/// `... to "subject"` -> `subject`.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('"')? + 1;
    let len = message.get(start..)?.find('"')?;
    message.get(start..start + len)
}

/// A connected client, and what tells that its connection broke.
pub struct Session {
    pub client: Client,
    lost: tokio::sync::watch::Receiver<bool>,
}

impl Session {
    /// Resolves when the connection is lost (the client will not reconnect).
    pub async fn lost(&mut self) {
        while !*self.lost.borrow() {
            if self.lost.changed().await.is_err() {
                return;
            }
        }
    }
}

/// The options a host connects with: its name, credentials, TLS, no
/// reconnection, and the event callback that keeps the board and the permission
/// record and says when the connection is lost.
async fn options(
    config: &MeshConfig,
    board: Arc<Board>,
    denied: Denied,
    lost: tokio::sync::watch::Sender<bool>,
) -> Result<ConnectOptions, String> {
    let mut o = match &config.auth {
        Auth::None => ConnectOptions::new(),
        Auth::Credentials(text) => ConnectOptions::with_credentials(text)
            .map_err(|e| format!("the [mesh] credentials are not a .creds file: {e}"))?,
        Auth::Nkey(seed) => ConnectOptions::with_nkey(seed.clone()),
        Auth::UserPassword { user, password } => {
            ConnectOptions::with_user_and_password(user.clone(), password.clone())
        }
        Auth::Token(t) => ConnectOptions::with_token(t.clone()),
    };
    if let Some(tls) = &config.tls {
        o = o.require_tls(true);
        if let Some(ca) = &tls.ca {
            o = o.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &tls.client {
            o = o.add_client_certificate(cert.clone(), key.clone());
        }
    } else if config.servers.iter().any(|s| s.starts_with("tls://")) {
        o = o.require_tls(true);
    }
    let name = config.name.clone();
    // The first connection tries every server once; after that the client would
    // only reconnect, which it must not (see the module docs): it waits a day
    // first, long after the link dropped it for a new one.
    let first_round = config.servers.len();
    Ok(o.name(format!("weft {name}"))
        .connection_timeout(CONNECT_TIMEOUT)
        .request_timeout(Some(REQUEST_TIMEOUT))
        .reconnect_delay_callback(move |attempt| {
            if attempt <= first_round {
                Duration::ZERO
            } else {
                Duration::from_secs(24 * 3600)
            }
        })
        .event_callback(move |event| {
            let (board, denied, lost) = (board.clone(), denied.clone(), lost.clone());
            async move {
                match event {
                    Event::Connected => board.reconnected(),
                    Event::Disconnected => {
                        tracing::warn!(
                            "mesh: disconnected from NATS; exports wait in their outboxes"
                        );
                        board.link(
                            LinkState::Disconnected,
                            Some("the connection to NATS was lost; connecting again".into()),
                        );
                        let _ = lost.send(true);
                    }
                    Event::ServerError(ServerError::Other(message))
                        if message.contains("Permissions Violation") =>
                    {
                        tracing::error!(%message, "mesh: NATS refused a subject to this host");
                        denied.note(&message);
                    }
                    Event::ServerError(e) => tracing::warn!(error = %e, "mesh: NATS server error"),
                    other => tracing::info!(event = %other, "mesh: NATS connection"),
                }
            }
        }))
}

/// Connects, trying again (up to every 5 s) until it works or `stop` turns true.
pub async fn connect(
    config: &MeshConfig,
    board: Arc<Board>,
    denied: Denied,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<Session> {
    let mut wait = Duration::from_millis(200);
    loop {
        if *stop.borrow() {
            return None;
        }
        let (lost_tx, lost) = tokio::sync::watch::channel(false);
        let attempt = async {
            options(config, board.clone(), denied.clone(), lost_tx)
                .await?
                .connect(config.servers.as_slice())
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", config.servers.join(", ")))
        };
        match attempt.await {
            Ok(client) => return Some(Session { client, lost }),
            Err(reason) => {
                tracing::warn!(%reason, retry_in = ?wait, "mesh: not connected; events wait in the outboxes");
                board.link(LinkState::Disconnected, Some(reason));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

/// The stream of the mesh: bound to if it exists (as the operator made it),
/// created otherwise. A stream that does not capture every subject of the prefix
/// is bound to anyway, with a warning: publishes it does not capture are refused
/// and land in the outbox's error queue, with the subject.
pub async fn stream(
    js: &jetstream::Context,
    config: &MeshConfig,
) -> Result<stream::Stream, String> {
    let s = &config.stream;
    match js.get_stream(&s.name).await {
        Ok(mut existing) => {
            let all = config.prefix.all();
            let info = existing
                .info()
                .await
                .map_err(|e| format!("cannot read stream `{}`: {e}", s.name))?;
            if !info.config.subjects.iter().any(|f| *f == all || f == ">") {
                tracing::warn!(stream = %s.name, subjects = ?info.config.subjects, want = %all, "mesh: the stream does not capture every subject of the mesh prefix");
            }
            Ok(existing)
        }
        Err(e) if matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(j) if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) => {
            js.create_stream(stream::Config {
                name: s.name.clone(),
                subjects: vec![config.prefix.all()],
                max_age: s.max_age,
                max_bytes: s
                    .max_bytes
                    .map_or(-1, |b| i64::try_from(b).unwrap_or(i64::MAX)),
                duplicate_window: s.duplicate_window,
                num_replicas: s.replicas,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("cannot create stream `{}`: {e}", s.name))
        }
        Err(e) => Err(format!("cannot look up stream `{}`: {e}", s.name)),
    }
}

/// The round trip of a ping to the server, for status.
pub async fn rtt(client: &Client) -> Option<f64> {
    let started = Instant::now();
    tokio::time::timeout(REQUEST_TIMEOUT, client.flush())
        .await
        .ok()?
        .ok()?;
    Some(started.elapsed().as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn a_permission_violation_names_its_subject() {
        let d = Denied::default();
        d.note("Permissions Violation for Publish to \"weft.secret.x\"");
        assert!(
            d.refusal("weft.secret.x")
                .unwrap()
                .contains("Permissions Violation")
        );
        assert!(d.refusal("weft.other").is_none());
        d.forget("weft.secret.x");
        assert!(d.refusal("weft.secret.x").is_none());
        assert_eq!(quoted("no quotes"), None);
    }
}

//! Request-reply: reply addresses and the callers waiting on them.
//!
//! A request is an ordinary event, stored and delivered like any other, that
//! carries the extension `replyto`: a reply address made here for it,
//! `_reply/HOST/NONCE`, where `HOST` names the host whose caller waits (its mesh
//! name, as a topic level) and `NONCE` is 128 random bits, so an address cannot be
//! guessed. A module answers by emitting an event to that address; the host
//! stamps it with `correlationid` (the request's id) and hands it to the waiting
//! caller here, never to a queue or a tap.
//!
//! Why replies are not stored: the caller waits in memory (an HTTP request held
//! open), so a stored reply would outlive the only one who can read it. What is
//! kept is bounded instead: a reply that finds no waiter (the caller timed out or
//! went away) is kept for [`Settings::keep`] for `GET /v1/replies/{id}`, then
//! dropped and counted; at most [`Settings::max_waiting`] requests wait at once.
//! The request itself is stored durably before anyone waits, so it is handled
//! whatever happens to its caller.
//!
//! Only the first reply to an address counts; later ones are dropped and counted,
//! as NATS's request-reply keeps the first response.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::event::Event;
use crate::value::ExtValue;

/// The first level of every reply address.
pub const PREFIX: &str = "_reply";
/// The extension a request carries its reply address in.
pub const REPLYTO: &str = "replyto";
/// The extension a reply carries its request's id in.
pub const CORRELATIONID: &str = "correlationid";
/// The `type` of the reply the host sends in a module's place when the request
/// failed for good there (rejected, or out of attempts): the caller gets the
/// reason at once instead of waiting for its timeout.
pub const FAILED_TYPE: &str = "io.weft.request.failed";

/// Whether `topic` is a reply address (`_reply/...`).
pub fn is_address(topic: &str) -> bool {
    topic
        .strip_prefix(PREFIX)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// The host level and nonce of a reply address, if it is one.
pub fn parts(topic: &str) -> Option<(&str, &str)> {
    let mut levels = topic.strip_prefix(PREFIX)?.strip_prefix('/')?.split('/');
    match (levels.next(), levels.next(), levels.next()) {
        (Some(host), Some(nonce), None) => Some((host, nonce)),
        _ => None,
    }
}

/// The reply address an event asks to be answered at, if it carries one.
pub fn replyto(event: &Event) -> Option<&str> {
    match event.extension(REPLYTO)? {
        ExtValue::String(s) if is_address(s) => Some(s),
        _ => None,
    }
}

/// A host name as a topic level: NATS host names may hold `.`, topic levels not.
pub fn host_level(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The failure reply for `request`, which failed for good in `module`.
pub fn failure(request: &Event, address: &str, module: &str, reason: &str) -> Event {
    let data = serde_json::json!({ "module": module, "reason": reason });
    Event {
        id: format!("{}-failed", request.id),
        source: format!("/weft/modules/{module}"),
        ty: FAILED_TYPE.to_owned(),
        subject: None,
        time: None,
        datacontenttype: Some("application/json".into()),
        dataschema: None,
        extensions: vec![(
            CORRELATIONID.to_owned(),
            ExtValue::String(request.id.clone()),
        )],
        topic: address.to_owned(),
        data: Some(data.to_string().into_bytes()),
        hops: request.hops,
        origin: None,
    }
}

/// How long unread replies are kept, and how many callers may wait at once.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub keep: Duration,
    pub max_waiting: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            keep: Duration::from_secs(60),
            max_waiting: 10_000,
        }
    }
}

/// What has happened to replies since the host started (`weft status`).
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Requests whose caller is waiting now.
    pub waiting: u64,
    /// Replies handed to their waiting caller.
    pub answered: u64,
    /// Replies kept because their caller had gone (readable by id for a while).
    pub kept: u64,
    /// Kept replies dropped unread after the keep time.
    pub expired: u64,
    /// Replies to an address nobody here knows (expired, or never made here).
    pub unknown: u64,
    /// Second and later replies to one request.
    pub extra: u64,
    /// Replies for another host, sent on to the mesh.
    pub forwarded: u64,
    /// Replies for another host that could not be sent on (no mesh, or it is behind).
    pub unroutable: u64,
}

/// Why a caller cannot wait.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error(
        "request `{0}` is already waiting for its reply: send each request with its own id, or fetch the reply with GET /v1/replies/{0}"
    )]
    Busy(String),
    #[error(
        "{0} requests are waiting for replies already, the host's limit ([requests] max_waiting): try again later"
    )]
    Full(usize),
}

/// The reply registry; one per host, shared through the [`crate::Hub`].
#[derive(Clone)]
pub struct Replies {
    inner: Arc<Inner>,
}

struct Inner {
    host: OnceLock<String>,
    settings: Settings,
    slots: Mutex<Slots>,
    forward: OnceLock<mpsc::Sender<Event>>,
    answered: AtomicU64,
    kept: AtomicU64,
    expired: AtomicU64,
    unknown: AtomicU64,
    extra: AtomicU64,
    forwarded: AtomicU64,
    unroutable: AtomicU64,
}

#[derive(Default)]
struct Slots {
    by_nonce: HashMap<String, Slot>,
    /// Request id and owner -> nonce.
    by_request: HashMap<(String, Option<String>), String>,
    /// When slots no one waits on may go, oldest first.
    expiry: VecDeque<(Instant, String)>,
    waiting: usize,
}

struct Slot {
    request: String,
    owner: Option<String>,
    state: State,
}

enum State {
    Waiting(oneshot::Sender<Event>),
    /// The caller went away before a reply; one may still come.
    Abandoned(Instant),
    Answered(Box<Event>, Instant),
}

/// A caller waiting for the reply to one request. Dropping it (the caller timed
/// out or disconnected) leaves the address open: a reply that comes later is
/// kept for `GET /v1/replies/{id}`.
pub struct Waiter {
    replies: Replies,
    nonce: String,
    /// The request's reply address.
    pub address: String,
    /// `true` when the request was sent before with this id and is waited on
    /// again: its replay to the store is a duplicate, and its reply may be here.
    pub resumed: bool,
    rx: Option<oneshot::Receiver<Event>>,
    ready: Option<Event>,
}

impl Waiter {
    /// The reply, or `None` when none came within `timeout`.
    pub async fn wait(&mut self, timeout: Duration) -> Option<Event> {
        if let Some(e) = self.ready.take() {
            return Some(e);
        }
        let rx = self.rx.as_mut()?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(event)) => Some(event),
            _ => None,
        }
    }

    /// Forgets the address: the request was not accepted, so no reply can come.
    pub fn cancel(mut self) {
        self.rx = None;
        let mut slots = self.replies.lock();
        if let Some(slot) = slots.by_nonce.remove(&self.nonce) {
            if matches!(slot.state, State::Waiting(_)) {
                slots.waiting -= 1;
            }
            slots.by_request.remove(&(slot.request, slot.owner));
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if self.rx.is_some() {
            self.replies.abandon(&self.nonce);
        }
    }
}

/// What `GET /v1/replies/{id}` finds.
pub enum Fetched {
    Reply(Box<Event>),
    /// The request is known and no reply has come yet.
    Pending,
    /// No such request (or another token's, or its reply expired).
    Unknown,
}

impl Replies {
    pub fn new(settings: Settings) -> Self {
        Self {
            inner: Arc::new(Inner {
                host: OnceLock::new(),
                settings,
                slots: Mutex::default(),
                forward: OnceLock::new(),
                answered: AtomicU64::new(0),
                kept: AtomicU64::new(0),
                expired: AtomicU64::new(0),
                unknown: AtomicU64::new(0),
                extra: AtomicU64::new(0),
                forwarded: AtomicU64::new(0),
                unroutable: AtomicU64::new(0),
            }),
        }
    }

    /// Names this host in the addresses it makes (its mesh name); set once,
    /// before the first request. Without it the host level is `local`.
    pub fn set_host(&self, name: &str) {
        let _ = self.inner.host.set(host_level(name));
    }

    fn host(&self) -> &str {
        self.inner.host.get().map_or("local", String::as_str)
    }

    /// Where replies for other hosts go (the mesh). Set once.
    pub fn set_forward(&self, tx: mpsc::Sender<Event>) {
        let _ = self.inner.forward.set(tx);
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // Recovered from a poisoned lock: every change below leaves the maps
        // consistent before anything that could panic, and refusing all
        // requests for one panic would be worse than serving them.
        self.inner.slots.lock().unwrap_or_else(|poisoned| {
            tracing::error!(
                "the reply registry's lock was poisoned by a panic; it is used as it is"
            );
            poisoned.into_inner()
        })
    }

    /// Opens a reply address for request `id` sent with `owner`'s token. The same
    /// id from the same owner again resumes the wait on the same address (a caller
    /// retrying after a timeout gets the first request's reply, not a second run).
    pub fn open(&self, id: &str, owner: Option<&str>) -> Result<Waiter, OpenError> {
        let mut slots = self.lock();
        self.sweep(&mut slots);
        let key = (id.to_owned(), owner.map(str::to_owned));
        if let Some(nonce) = slots.by_request.get(&key).cloned() {
            let address = self.address(&nonce);
            let waiting_now = slots.waiting;
            let Some(slot) = slots.by_nonce.get_mut(&nonce) else {
                return Err(OpenError::Busy(id.to_owned()));
            };
            let (tx, rx) = oneshot::channel();
            let (rx, ready) = match &slot.state {
                State::Waiting(_) => return Err(OpenError::Busy(id.to_owned())),
                State::Answered(event, _) => (None, Some((**event).clone())),
                State::Abandoned(_) => {
                    if waiting_now >= self.inner.settings.max_waiting {
                        return Err(OpenError::Full(waiting_now));
                    }
                    slot.state = State::Waiting(tx);
                    slots.waiting += 1;
                    (Some(rx), None)
                }
            };
            return Ok(Waiter {
                replies: self.clone(),
                nonce,
                address,
                resumed: true,
                rx,
                ready,
            });
        }
        if slots.waiting >= self.inner.settings.max_waiting {
            return Err(OpenError::Full(slots.waiting));
        }
        let nonce = format!("{:032x}", rand::random::<u128>());
        let (tx, rx) = oneshot::channel();
        slots.by_nonce.insert(
            nonce.clone(),
            Slot {
                request: id.to_owned(),
                owner: owner.map(str::to_owned),
                state: State::Waiting(tx),
            },
        );
        slots.by_request.insert(key, nonce.clone());
        slots.waiting += 1;
        Ok(Waiter {
            replies: self.clone(),
            address: self.address(&nonce),
            nonce,
            resumed: false,
            rx: Some(rx),
            ready: None,
        })
    }

    fn address(&self, nonce: &str) -> String {
        format!("{PREFIX}/{}/{nonce}", self.host())
    }

    fn abandon(&self, nonce: &str) {
        let mut slots = self.lock();
        let until = Instant::now() + self.inner.settings.keep;
        let Some(slot) = slots.by_nonce.get_mut(nonce) else {
            return;
        };
        let State::Waiting(_) = slot.state else {
            return;
        };
        slot.state = State::Abandoned(until);
        slots.waiting -= 1;
        slots.expiry.push_back((until, nonce.to_owned()));
    }

    /// Hands a reply to its waiting caller, keeps it for a caller that went, or
    /// sends it on toward the host it is for.
    pub fn deliver(&self, event: Event) {
        let Some((host, nonce)) = parts(&event.topic) else {
            self.inner.unknown.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(topic = %event.topic, "reply to a malformed reply address dropped");
            return;
        };
        if host != self.host() {
            return self.forward(event);
        }
        let mut slots = self.lock();
        self.sweep(&mut slots);
        let until = Instant::now() + self.inner.settings.keep;
        let nonce = nonce.to_owned();
        let Some(slot) = slots.by_nonce.get_mut(&nonce) else {
            self.inner.unknown.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(topic = %event.topic, id = %event.id, "reply for no known request dropped (its keep time may have passed)");
            return;
        };
        // The caller matches a reply by its request's id, whichever step of a
        // pipeline made it.
        let mut event = event;
        event.extensions.retain(|(name, _)| name != CORRELATIONID);
        event.extensions.push((
            CORRELATIONID.to_owned(),
            ExtValue::String(slot.request.clone()),
        ));
        match std::mem::replace(&mut slot.state, State::Abandoned(until)) {
            State::Waiting(tx) => {
                slots.waiting -= 1;
                match tx.send(event) {
                    Ok(()) => {
                        // The caller has it: nothing is kept (a retry with the
                        // same id is then a duplicate the store absorbs).
                        self.inner.answered.fetch_add(1, Ordering::Relaxed);
                        if let Some(slot) = slots.by_nonce.remove(&nonce) {
                            slots.by_request.remove(&(slot.request, slot.owner));
                        }
                        return;
                    }
                    Err(event) => {
                        self.inner.kept.fetch_add(1, Ordering::Relaxed);
                        let Some(slot) = slots.by_nonce.get_mut(&nonce) else {
                            return;
                        };
                        slot.state = State::Answered(Box::new(event), until);
                    }
                }
                slots.expiry.push_back((until, nonce));
            }
            State::Abandoned(_) => {
                self.inner.kept.fetch_add(1, Ordering::Relaxed);
                slot.state = State::Answered(Box::new(event), until);
                slots.expiry.push_back((until, nonce));
            }
            answered @ State::Answered(..) => {
                slot.state = answered;
                self.inner.extra.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(topic = %event.topic, id = %event.id, "a second reply to one request dropped");
            }
        }
    }

    fn forward(&self, event: Event) {
        let sent = self
            .inner
            .forward
            .get()
            .map(|tx| tx.try_send(event.clone()).is_ok());
        match sent {
            Some(true) => {
                self.inner.forwarded.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                self.inner.unroutable.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(topic = %event.topic, id = %event.id, "a reply for another host was dropped: this host has no mesh link for replies, or it is behind");
            }
        }
    }

    /// The reply to request `id` sent with `owner`'s token, if it came and is
    /// still kept. Another owner's request is `Unknown`, as a missing one is.
    pub fn fetch(&self, id: &str, owner: Option<&str>) -> Fetched {
        let mut slots = self.lock();
        self.sweep(&mut slots);
        let key = (id.to_owned(), owner.map(str::to_owned));
        let Some(nonce) = slots.by_request.get(&key) else {
            return Fetched::Unknown;
        };
        match slots.by_nonce.get(nonce).map(|s| &s.state) {
            Some(State::Answered(event, _)) => Fetched::Reply(event.clone()),
            Some(_) => Fetched::Pending,
            None => Fetched::Unknown,
        }
    }

    /// Drops the slots no one waits on whose keep time has passed.
    fn sweep(&self, slots: &mut Slots) {
        let now = Instant::now();
        while let Some((until, _)) = slots.expiry.front() {
            if *until > now {
                break;
            }
            let Some((until, nonce)) = slots.expiry.pop_front() else {
                break;
            };
            let gone = match slots.by_nonce.get(&nonce).map(|s| &s.state) {
                Some(State::Abandoned(u)) => *u <= until,
                Some(State::Answered(_, u)) => {
                    let due = *u <= until;
                    if due {
                        self.inner.expired.fetch_add(1, Ordering::Relaxed);
                    }
                    due
                }
                _ => false,
            };
            if gone && let Some(slot) = slots.by_nonce.remove(&nonce) {
                slots.by_request.remove(&(slot.request, slot.owner));
            }
        }
    }

    pub fn counts(&self) -> Counts {
        let waiting = self.lock().waiting as u64;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counts {
            waiting,
            answered: n(&self.inner.answered),
            kept: n(&self.inner.kept),
            expired: n(&self.inner.expired),
            unknown: n(&self.inner.unknown),
            extra: n(&self.inner.extra),
            forwarded: n(&self.inner.forwarded),
            unroutable: n(&self.inner.unroutable),
        }
    }
}

#[cfg(test)]
#[path = "reply_tests.rs"]
mod tests;

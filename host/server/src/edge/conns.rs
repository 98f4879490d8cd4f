//! The open connections and what each is doing, so that the listener can close
//! the ones that wait too long and make room at the cap.
//!
//! A connection is *busy* while a request of it is in the service (from its
//! head until its response body is written or dropped); otherwise it *waits*:
//! for its first request since accept, for the rest of a head that began, or
//! for the next request of a keep-alive. Only a waiting connection has a
//! deadline here (a busy one is bounded by its body's rate, see `body`), and
//! only a waiting one may be closed to make room: closing it loses no request.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Settings;

/// Why a waiting connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expiry {
    /// No whole request head within `header_timeout`.
    Header,
    /// An idle keep-alive past `idle_timeout`.
    Idle,
}

#[derive(Debug, Clone, Copy)]
struct Phase {
    /// Requests of this connection in the service (HTTP/1: one at a time).
    busy: u32,
    /// When it began to wait: accept, or the end of its last response.
    since: Instant,
    /// Whether it has served a request: before that, the whole wait is the head's.
    served: bool,
    /// When the first byte of the next head arrived, if one did.
    head_from: Option<Instant>,
    /// Chosen to make room: it closes as soon as it sees this.
    evicted: bool,
}

/// One connection's state, shared by its task, its IO and its requests.
pub(super) struct Conn {
    phase: Mutex<Phase>,
    /// Wakes the connection's task when it may have to act: a request ended
    /// (a new deadline begins) or it was evicted.
    pub(super) changed: Notify,
}

impl Conn {
    fn new() -> Conn {
        Conn {
            phase: Mutex::new(Phase {
                busy: 0,
                since: Instant::now(),
                served: false,
                head_from: None,
                evicted: false,
            }),
            changed: Notify::new(),
        }
    }

    /// The phase is a few plain fields, each change whole under the lock: a
    /// panic elsewhere cannot leave it half-written, so a poisoned lock is used.
    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes came in: if the connection was waiting, a head has begun.
    fn read_some(&self) {
        let mut p = self.phase();
        if p.busy == 0 && p.head_from.is_none() {
            p.head_from = Some(Instant::now());
        }
    }

    /// A request enters the service; it stays busy until the guard drops.
    pub(super) fn begin(self: &Arc<Self>) -> Busy {
        let mut p = self.phase();
        p.busy += 1;
        p.head_from = None;
        Busy(self.clone())
    }

    /// When the connection's wait ends, and why; `None` while busy.
    pub(super) fn deadline(&self, s: &Settings) -> Option<(Instant, Expiry)> {
        let p = self.phase();
        if p.busy > 0 {
            return None;
        }
        Some(match (p.served, p.head_from) {
            (false, _) => (p.since + s.header_timeout, Expiry::Header),
            (true, Some(from)) => (from + s.header_timeout, Expiry::Header),
            (true, None) => (p.since + s.idle_timeout, Expiry::Idle),
        })
    }

    /// Whether it was evicted and has no request in the service.
    pub(super) fn must_close(&self) -> bool {
        let p = self.phase();
        p.evicted && p.busy == 0
    }
}

/// A request in the service; dropping it (with the response body) ends it.
pub(super) struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut p = self.0.phase();
        p.busy = p.busy.saturating_sub(1);
        if p.busy == 0 {
            p.since = Instant::now();
            p.served = true;
            p.head_from = None;
        }
        drop(p);
        self.0.changed.notify_one();
    }
}

/// Every open connection, by id.
#[derive(Default)]
pub(super) struct Registry {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next: AtomicU64,
}

impl Registry {
    /// Entries are inserted and removed whole: a poisoned lock is used as is.
    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn len(&self) -> usize {
        self.conns().len()
    }

    /// A new connection, registered until its [`Entry`] drops.
    pub(super) fn add(self: &Arc<Self>) -> Entry {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn::new());
        self.conns().insert(id, conn.clone());
        Entry {
            id,
            conn,
            registry: self.clone(),
        }
    }

    /// Closes the connection that has waited longest without a request in the
    /// service; `false` when every connection is busy.
    pub(super) fn evict_oldest_waiting(&self) -> bool {
        let conns = self.conns();
        let oldest = conns
            .values()
            .filter_map(|c| {
                let p = c.phase();
                (p.busy == 0 && !p.evicted).then_some((p.since, c))
            })
            .min_by_key(|(since, _)| *since);
        let Some((_, conn)) = oldest else {
            return false;
        };
        conn.phase().evicted = true;
        conn.changed.notify_one();
        true
    }
}

/// A registered connection; it leaves the registry when this drops.
pub(super) struct Entry {
    id: u64,
    pub(super) conn: Arc<Conn>,
    registry: Arc<Registry>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.registry.conns().remove(&self.id);
    }
}

/// The socket, telling its [`Conn`] when bytes arrive.
pub(super) struct Tracked {
    pub(super) stream: super::stream::Stream,
    pub(super) conn: Arc<Conn>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.read_some();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use std::time::Duration;

    fn settings() -> Settings {
        Settings {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            ..Settings::default()
        }
    }

    #[tokio::test]
    async fn a_connection_waits_for_its_head_then_idles_between_requests() {
        let registry = Arc::new(Registry::default());
        let entry = registry.add();
        let c = &entry.conn;
        let (at, why) = c.deadline(&settings()).unwrap();
        assert_eq!(why, Expiry::Header, "a new connection owes its first head");
        let busy = c.begin();
        assert!(
            c.deadline(&settings()).is_none(),
            "a busy one has no deadline"
        );
        drop(busy);
        let (idle_at, why) = c.deadline(&settings()).unwrap();
        assert_eq!(why, Expiry::Idle);
        assert!(idle_at > at);
        c.read_some();
        assert_eq!(c.deadline(&settings()).unwrap().1, Expiry::Header);
        drop(entry);
        assert_eq!(registry.len(), 0);
    }

    #[tokio::test]
    async fn eviction_takes_the_longest_waiting_and_never_a_busy_one() {
        let registry = Arc::new(Registry::default());
        let old = registry.add();
        std::thread::sleep(Duration::from_millis(2));
        let busy_conn = registry.add();
        let _busy = busy_conn.conn.begin();
        std::thread::sleep(Duration::from_millis(2));
        let young = registry.add();
        assert!(registry.evict_oldest_waiting());
        assert!(old.conn.must_close());
        assert!(!young.conn.must_close());
        assert!(registry.evict_oldest_waiting());
        assert!(young.conn.must_close());
        assert!(!registry.evict_oldest_waiting(), "only a busy one is left");
        assert!(!busy_conn.conn.must_close());
    }
}

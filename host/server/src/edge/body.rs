//! Request and response bodies at the edge: a request body must keep a minimum
//! rate, and a response body keeps its connection busy until it is written.
//!
//! **The body's rate.** A body may take `body_timeout` (the grace) plus one
//! second per `body_min_rate` bytes received: at any moment after the head,
//! `elapsed <= grace + received / rate` must hold, else the body fails with
//! [`BodyError::Timeout`] and the handler answers `408`. A body that stalls
//! is cut at the latest `grace + max_body / rate` after its head, so a
//! `max_body` body has that long in all; a fast client never notices. A
//! minimum rate rather than one deadline keeps a large limit (`max_body =
//! "64MiB"`) usable on a slow link without letting a small stall last.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body as AxumBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use super::conns::Busy;

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error(
        "the request body came too slowly: {received} bytes in {elapsed:?}; after {grace:?} a body must keep {rate} bytes/s on average ([http] body_timeout, body_min_rate)"
    )]
    Timeout {
        received: u64,
        elapsed: Duration,
        grace: Duration,
        rate: u64,
    },
    #[error("the request body could not be read: {0}")]
    Read(#[from] hyper::Error),
}

/// The rate failure in `e` or in an error it wraps, if that is why a body
/// could not be read: handlers answer `408` for it rather than `400`.
pub fn timeout_in<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e BodyError> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(found @ BodyError::Timeout { .. }) = e.downcast_ref::<BodyError>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// A request body that fails when it falls below its minimum rate.
pub(super) struct TimedBody {
    inner: Incoming,
    started: Instant,
    grace: Duration,
    rate: u64,
    received: u64,
    timer: Pin<Box<Sleep>>,
    done: bool,
}

impl TimedBody {
    pub(super) fn new(inner: Incoming, grace: Duration, rate: u64) -> TimedBody {
        let started = Instant::now();
        TimedBody {
            inner,
            started,
            grace,
            rate: rate.max(1),
            received: 0,
            timer: Box::pin(tokio::time::sleep_until(started + grace)),
            done: false,
        }
    }

    /// The latest the next byte may come: `grace + received / rate`.
    fn deadline(&self) -> Instant {
        let earned = Duration::from_secs_f64(self.received as f64 / self.rate as f64);
        let wait = self.grace.saturating_add(earned);
        self.started
            .checked_add(wait)
            .unwrap_or_else(|| self.started + Duration::from_secs(365 * 24 * 3600))
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                this.received = this.received.saturating_add(len);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.done = true;
                Poll::Ready(Some(Err(BodyError::Read(e))))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let deadline = this.deadline();
                if this.timer.deadline() != deadline {
                    this.timer.as_mut().reset(deadline);
                }
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.done = true;
                Poll::Ready(Some(Err(BodyError::Timeout {
                    received: this.received,
                    elapsed: this.started.elapsed(),
                    grace: this.grace,
                    rate: this.rate,
                })))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its connection busy until it is written (or
/// dropped): a streamed answer is a request in progress, not an idle wait.
pub(super) struct Guarded {
    pub(super) inner: AxumBody,
    pub(super) _busy: Busy,
}

impl Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

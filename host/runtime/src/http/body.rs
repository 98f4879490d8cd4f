//! Step 4's bound on what comes back: a response body the guest reads one
//! frame at a time, cut with an error past `max_response`, when the server
//! stalls between frames, or at the request's overall `deadline`. The host never holds a whole body, so a huge or
//! endless answer costs it one frame.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::Error;

/// `now + wait`, saturating instead of overflowing on absurd durations.
pub(super) fn deadline_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// A hyper failure as the guest's error code; a timeout keeps its own code so
/// that a guest can tell a slow server from a broken one.
pub(super) fn response_error(e: hyper::Error) -> Error {
    if e.is_timeout() {
        Error::HttpResponseTimeout
    } else {
        Error::Hyper(e)
    }
}

/// Where a body cut short is reported, and at how many bytes.
#[derive(Debug)]
pub(super) struct BodyLimit {
    pub(super) module: Arc<str>,
    pub(super) url: String,
    pub(super) max: u64,
    /// The request's overall deadline (`[http] deadline`).
    pub(super) deadline: Instant,
}

/// A response body that ends in an error past `max_response` bytes or when a
/// wait for the next frame exceeds `between_bytes`.
pub(super) struct BoundedBody {
    incoming: Incoming,
    remaining: u64,
    limit: BodyLimit,
    between_bytes: Duration,
    timer: Pin<Box<Sleep>>,
    /// Whether the timer runs: it starts when the reader starts waiting, so a
    /// guest that reads late is not charged for its own delay.
    waiting: bool,
    done: bool,
}

impl BoundedBody {
    pub(super) fn new(
        incoming: Incoming,
        between_bytes: Duration,
        limit: BodyLimit,
    ) -> BoundedBody {
        BoundedBody {
            incoming,
            remaining: limit.max,
            between_bytes,
            timer: Box::pin(tokio::time::sleep_until(deadline_after(between_bytes))),
            limit,
            waiting: false,
            done: false,
        }
    }

    fn fail(&mut self, error: Error) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.done = true;
        if matches!(error, Error::ConnectionReadTimeout) && Instant::now() >= self.limit.deadline {
            tracing::warn!(
                target: "weft::sandbox",
                module = %self.limit.module,
                url = %self.limit.url,
                "outbound request cut at its deadline ([http] deadline)"
            );
        }
        if matches!(error, Error::HttpResponseBodySize(_)) {
            tracing::warn!(
                target: "weft::sandbox",
                module = %self.limit.module,
                url = %self.limit.url,
                max_response = self.limit.max,
                "outbound response body cut at max_response"
            );
        }
        Poll::Ready(Some(Err(error)))
    }
}

impl Body for BoundedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let too_large = Error::HttpResponseBodySize(Some(this.limit.max));
        // A `Content-Length` past the limit fails before anything is read.
        if this.incoming.size_hint().lower() > this.remaining {
            return this.fail(too_large);
        }
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => this.fail(response_error(e)),
            Poll::Ready(Some(Ok(_))) if Instant::now() >= this.limit.deadline => {
                this.fail(Error::ConnectionReadTimeout)
            }
            Poll::Ready(Some(Ok(frame))) => {
                this.waiting = false;
                let len = frame
                    .data_ref()
                    .map_or(0, |d| u64::try_from(d.len()).unwrap_or(u64::MAX));
                match this.remaining.checked_sub(len) {
                    Some(left) => {
                        this.remaining = left;
                        Poll::Ready(Some(Ok(frame)))
                    }
                    None => this.fail(too_large),
                }
            }
            Poll::Pending => {
                if !this.waiting {
                    this.waiting = true;
                    let at = deadline_after(this.between_bytes).min(this.limit.deadline);
                    this.timer.as_mut().reset(at);
                }
                ready!(this.timer.as_mut().poll(cx));
                this.fail(Error::ConnectionReadTimeout)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

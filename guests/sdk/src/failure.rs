//! Constructors for [`Failure`], the generated `failure` variant.
//!
//! The choice between the two is the one decision a processor makes about an
//! error, so each constructor says when to use it.
//!
//! `Display` and `std::error::Error` come from wit-bindgen, which derives them for
//! every type used as a function's error (`poll: func() -> result<batch, failure>`);
//! its `Display` is the `Debug` form, so use [`Failure::reason`] for the text.

use crate::Failure;

impl Failure {
    /// A transient failure: the host delivers the event again later, keeping order.
    ///
    /// Use it when the same event could succeed on a later try (a peer is down, a
    /// resource is busy). Events after it in the batch are redelivered too.
    pub fn retry(reason: impl Into<String>) -> Self {
        Self::Retry(reason.into())
    }

    /// A permanent failure: the event goes to the module's error queue with `reason`.
    ///
    /// Use it when retrying cannot help (malformed data, a failed validation, a
    /// missing route), so one bad event never holds up the ones behind it.
    pub fn reject(reason: impl Into<String>) -> Self {
        Self::Reject(reason.into())
    }

    /// The human-readable reason, whichever kind of failure this is.
    pub fn reason(&self) -> &str {
        match self {
            Self::Retry(reason) | Self::Reject(reason) => reason,
        }
    }
}

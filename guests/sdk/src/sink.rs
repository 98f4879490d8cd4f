//! Egress connectors: the `egress` world, which delivers a subscription's events.
//!
//! The host hands a sink batches of the events its manifest subscribes to, in
//! order. [`Sink::deliver`] takes one event at a time; the default
//! [`Sink::deliver_batch`] runs it over the batch and stops after the first `retry`,
//! as the processor loop does. Override `deliver_batch` for a destination that takes
//! many events in one request.
//!
//! ```ignore
//! use weft_sdk::{Event, Failure, Sink, log};
//!
//! struct Printer;
//!
//! impl Sink for Printer {
//!     fn deliver(event: Event) -> Result<(), Failure> {
//!         log::info(&format!("{} {}", event.id, event.text()?));
//!         Ok(())
//!     }
//! }
//!
//! weft_sdk::export_egress!(Printer);
//! ```
//!
//! A `retry` redelivers the event (and those after it) later with the same `id`:
//! use the id as the destination's idempotency key, so a delivery that succeeded
//! but was not acknowledged (a crash, a timeout) is not applied twice.

use core::marker::PhantomData;

use crate::bindings::egress::exports::weft::integration::sink::Guest;
use crate::{Event, Failure};

/// An egress connector: delivers events to the outside world.
///
/// The functions are associated (no `self`), as for [`Processor`](crate::Processor).
pub trait Sink {
    /// Delivers one event: `Ok(())` once the destination has it;
    /// `Err(Failure::retry(..))` when a later try could succeed (the destination is
    /// down, busy, timed out); `Err(Failure::reject(..))` when it cannot (the
    /// destination refuses the event), which moves it to the error queue.
    fn deliver(event: Event) -> Result<(), Failure>;

    /// Delivers a batch in order and returns one result per event, or a single
    /// result for the whole batch. The default calls [`Sink::deliver`] per event
    /// and, after the first `retry`, answers `retry` for the rest without trying.
    fn deliver_batch(batch: Vec<Event>) -> Vec<Result<(), Failure>> {
        crate::in_order(batch, "delivered", Self::deliver)
    }
}

/// Adapts a [`Sink`] to the generated export. Used by
/// [`export_egress!`](crate::export_egress); not meant to be named directly.
#[doc(hidden)]
pub struct SinkAdapter<S>(PhantomData<S>);

impl<S: Sink> Guest for SinkAdapter<S> {
    fn deliver(batch: Vec<Event>) -> Vec<Result<(), Failure>> {
        S::deliver_batch(batch)
    }
}

/// Exports a [`Sink`] as the component's `weft:integration/sink`.
///
/// ```ignore
/// weft_sdk::export_egress!(Printer);
/// ```
#[macro_export]
macro_rules! export_egress {
    ($sink:ty) => {
        const _: () = {
            type WeftSinkExport = $crate::sink::SinkAdapter<$sink>;
            $crate::bindings::egress::export! {
                WeftSinkExport with_types_in $crate::bindings::egress
            }
        };
    };
}

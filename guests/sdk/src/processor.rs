//! Processors: the `processor` world, one event in, zero or more events out.
//!
//! The host hands a processor *batches* of events and expects exactly one outcome
//! per input, in order. Batching exists for the host's sake (fewer guest calls,
//! group commits); almost no processor wants to see it, so [`Adapter`] turns the
//! batch call into one call of [`Processor::process`] per event.

use core::marker::PhantomData;

use crate::bindings::exports::weft::integration::handler::{Guest, Outcome};
use crate::{Event, Failure};

/// A processor handles one event at a time.
///
/// Implement it on a unit struct and export it with
/// [`export_processor!`](crate::export_processor). The function is associated (no
/// `self`) because the component model calls exports as free functions; keep state
/// that must outlive a call in a `static` (for example a `OnceLock` with parsed
/// configuration).
pub trait Processor {
    /// Turns one event into the events to emit.
    ///
    /// - `Ok(vec![])` filters the event out.
    /// - `Ok(events)` emits them, in order. Each must go to a topic the module's
    ///   manifest grants in `publish`. Their `id`s are replaced by the host with ids
    ///   derived from the input, so copying the input's id is fine; an empty
    ///   `source` becomes `/weft/modules/NAME`.
    /// - `Err(Failure::retry(..))` asks the host to deliver the event again later.
    /// - `Err(Failure::reject(..))` sends it to the module's error queue with the reason.
    fn process(event: Event) -> Result<Vec<Event>, Failure>;
}

/// Adapts a [`Processor`] to the generated batch export. Used by
/// [`export_processor!`](crate::export_processor); not meant to be named directly.
#[doc(hidden)]
pub struct Adapter<P>(PhantomData<P>);

impl<P: Processor> Guest for Adapter<P> {
    fn process(batch: Vec<Event>) -> Vec<Outcome> {
        crate::in_order(batch, "processed", P::process)
    }
}

/// Exports a [`Processor`] as the component's `weft:integration/handler`.
///
/// Call it once per crate, at the top level, with the type implementing
/// [`Processor`]:
///
/// ```ignore
/// weft_sdk::export_processor!(Transform);
/// ```
#[macro_export]
macro_rules! export_processor {
    ($processor:ty) => {
        const _: () = {
            // The generated export macro takes an identifier, so name the adapter.
            type WeftProcessorExport = $crate::Adapter<$processor>;
            $crate::bindings::export! { WeftProcessorExport with_types_in $crate::bindings }
        };
    };
}

//! What the publishers send, shared by both benchmarks in this folder: 1 KiB order
//! events (as JSON text for weft, as bytes for JetStream) and one id counter, so
//! every event of a run has its own id and neither side deduplicates anything.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use weft_benches::order_json;

use crate::DISTINCT;

/// Shared inputs: event data, the id counter.
pub struct Load {
    pub data: Arc<Vec<String>>,
    pub bytes: Arc<Vec<Bytes>>,
    pub ids: Arc<AtomicU64>,
}

impl Load {
    /// [`DISTINCT`] different orders, cycled through; ids from 0.
    pub fn new() -> Self {
        let data: Vec<String> = (0..DISTINCT as u64).map(order_json).collect();
        Self {
            bytes: Arc::new(data.iter().map(|d| Bytes::from(d.clone())).collect()),
            data: Arc::new(data),
            ids: Arc::new(AtomicU64::new(0)),
        }
    }
}

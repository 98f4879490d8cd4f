//! weft-mesh (in progress).

pub mod config;
pub mod subject;

//! What the link's tasks (exporters, importers, the replies' forwarder and inbox,
//! the monitor) share. Its own module so that those tasks and `run`, which starts
//! them, each import it rather than one another.

use std::sync::Arc;

use weft_core::Hub;

use crate::config::MeshConfig;
use crate::link::Denied;
use crate::status::Board;

pub struct Shared {
    pub(crate) config: MeshConfig,
    pub(crate) hub: Hub,
    pub(crate) board: Arc<Board>,
    pub(crate) denied: Denied,
}

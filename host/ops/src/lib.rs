//! What operators see of a weft host, kept out of `weft-server` so the server
//! does not grow with every view: the metrics exporter's setup, the dashboard
//! (assets and their handlers), `weft top`'s views and the event catalog
//! (AsyncAPI).
//!
//! # Invariants
//!
//! - This crate never reaches into the server: it reads host state only through
//!   the traits it defines here, which the server implements. Dependencies point
//!   `ops <- server <- cli`.
//! - Nothing here is on an event's path: a view that fails or is slow costs an
//!   operator a page, never an event.
//!
//! # Layout
//!
//! | module | what |
//! |---|---|
//! | `catalog` | the event catalog: an AsyncAPI 3.0 document from the running manifests and the mesh link ([`catalog::Inventory`]) |
//! | `dashboard` | the web dashboard at `/ui`: embedded assets, sign-in, sessions and their CSRF tokens |
//! | [`metrics`] | the Prometheus exporter behind `/metrics`; gauges set at scrape time through [`metrics::Gauges`] |

pub mod catalog;
pub mod dashboard;
pub mod metrics;

//! The event mesh: weft hosts linked through NATS JetStream.
//!
//! weft builds no cluster protocol of its own. Hosts are the edge; a NATS server,
//! cluster or leaf node with JetStream is the core that carries events between
//! them, replicates them, and enforces who may publish and subscribe where. This
//! is the only crate of the host that knows NATS; the server wires it in when the
//! host config has a `[mesh]` table.
//!
//! # Guarantees
//!
//! - **Store and forward, in order.** An exported event waits in a durable local
//!   outbox until JetStream acknowledged it; while NATS is away the host keeps
//!   accepting events up to the outbox's quota and drains them, in order, when
//!   NATS returns. Per topic, the stream holds them in outbox order.
//! - **Nothing lost, nothing twice at a subscriber.** An outbox entry is removed
//!   only after JetStream's acknowledgement, and a republish after a crash carries
//!   the same `Nats-Msg-Id` (a hash of source and id), which JetStream drops within
//!   its duplicate window. An import stores a fetched batch durably before it
//!   acknowledges it, and the store's deduplication on (source, id) absorbs a
//!   redelivery.
//! - **No loops.** An imported event is never exported again as itself (export
//!   outboxes take only events accepted on their host), a host never imports what
//!   it exported (`Weft-Origin`), and an event made from others through processors
//!   on several hosts stops after `max_hops` hosts (`Weft-Hops`), in the outbox's
//!   error queue with the reason.
//! - **Refusals wait, they are not dropped.** A publish NATS refuses for good (a
//!   permission, a subject outside the stream, a message too large) moves that
//!   event to the outbox's error queue with the reason and the subject, where
//!   `weft errors` lists and replays it; the others flow on.
//! - **One name, one host.** A host claims its mesh name in a JetStream key-value
//!   bucket and keeps renewing the claim; a second live host with the same name
//!   does not link, and says which name clashed.
//! - **Work shared across hosts.** Imports that name the same `group` share one
//!   durable consumer: each event goes to one host of the group, and a dead host's
//!   unacknowledged events go to the others after the ack wait. Across hosts that
//!   is at least once; a processor's outputs get the same derived ids wherever it
//!   runs, so on the mesh every output is kept once.
//!
//! - **Replies go back to the asking host.** A module's reply to a request from
//!   another host is published to that host's inbox subject over core NATS,
//!   outside the stream: never stored, at most once, as NATS replies are.
//!
//! # Layout
//!
//! | module | what |
//! |---|---|
//! | `config` | `[mesh]`: servers, name, credentials, TLS, stream, exports, imports |
//! | `subject` | topics and NATS subjects, one-to-one |
//! | `wire` | events on the wire: the CloudEvents NATS binding and weft's headers |
//! | `link` | connecting, the stream, the server's permission errors |
//! | `claim` | this host's name, held in a key-value bucket |
//! | `export` | outbox to JetStream |
//! | `import` | JetStream to the local store |
//! | `reply` | replies to requests from other hosts, over core NATS (not stored) |
//! | `status` | what `weft status` shows |
//! | `run` | [`Mesh`]: made before the host takes events, then run until it stops |

pub mod claim;
pub mod config;
pub mod export;
pub mod import;
pub mod link;
mod reply;
mod run;
pub mod status;
pub mod subject;
pub mod wire;

pub use config::MeshConfig;
pub use run::Mesh;
pub use status::MeshStatus;

//! Outbound HTTP for guests: what a module may reach (its manifest's `[http]`,
//! parsed into an [`HttpGrant`]) and the `wasi:http` sender that enforces it
//! ([`HttpPolicy`], the store's [`WasiHttpHooks`]).
//!
//! Every `wasi:http/outgoing-handler.handle` a guest makes ends in
//! [`WasiHttpHooks::send_request`], and passes these steps in order:
//!
//! 1. **Origin.** The request's scheme, host and port must equal an origin in
//!    `allow` (host names compared case-insensitively, IP literals normalised).
//!    Otherwise the guest gets `http-request-denied`.
//! 2. **Resolve once, vet every address.** Comparing names as text is not
//!    enough: `localhost`, or a public name whose DNS answer is `127.0.0.1`,
//!    reaches the host itself. Addresses forbidden by default (see
//!    [`forbidden`]) are dropped unless granted; if none remain the guest gets
//!    `destination-ip-prohibited` and the log names the address.
//! 3. **Connect to the vetted address itself.** The socket is opened to the
//!    `SocketAddr` that passed step 2 and the name is never resolved again, so
//!    a second, different DNS answer (rebinding) cannot redirect the request.
//!    `https` verifies the server's certificate for the host name against the
//!    webpki roots, as wasmtime's default sender does.
//! 4. **Bounded exchange.** `timeout` bounds reaching the server (DNS, TCP, TLS
//!    and the HTTP handshake together), the wait for the response head, and
//!    each wait for the next body frame; a guest's `request-options` can only
//!    shorten them. `deadline` (60 s by default, at most 1 h) bounds the whole
//!    request, from the start to the body's last byte: a server that trickles
//!    a byte just within each wait is cut there, and its connection closed. A body longer than `max_response` ends in an
//!    `http-response-body-size` error while the guest reads it: the host holds
//!    one frame at a time, never the whole body.
//!
//! Redirects are never followed. wasi:http hands the guest a 3xx as it is, and
//! the connection-level hyper client used here has no redirect logic; a guest
//! that follows `Location` makes a new request, which passes every step again.
//!
//! # Trace context
//!
//! A processor's or egress connector's requests carry the W3C `traceparent` and `tracestate`
//! headers of the events they deliver (see [`weft_core::trace`]): the trace id of
//! the batch's first event with a valid `traceparent`, a new parent id per request
//! (each request is a span of its own), the event's `tracestate` as it is. A
//! header the guest set itself is left alone. A connector that delivers events of
//! several traces in one call, one request each, and wants each request in its
//! own event's trace sets `traceparent` itself. An ingress connector's requests
//! carry none: no event is being handled.
//!
//! A refusal is logged at warn on target `weft::sandbox` with the module and
//! the origin (`scheme://host:port`), never the path or query, which may carry
//! secrets.
//!
//! The policy's parts, one file each, in the order a request meets them:
//!
//! | file         | role                                                            |
//! |--------------|-----------------------------------------------------------------|
//! | `grant.rs`   | [`HttpGrant`]: `[http]` checked; the questions of steps 1 and 2 |
//! | `address.rs` | [`forbidden`] addresses and the CIDR blocks that grant them     |
//! | `sender.rs`  | [`HttpPolicy`]: the steps in order; DNS, connect, TLS, timeouts |
//! | `body.rs`    | the response body, bounded by `max_response` and the timeout    |
//!
//! [`WasiHttpHooks`]: wasmtime_wasi_http::WasiHttpHooks
//! [`WasiHttpHooks::send_request`]: wasmtime_wasi_http::WasiHttpHooks::send_request

mod address;
mod body;
mod grant;
mod sender;
#[cfg(test)]
mod tests;

pub use address::forbidden;
pub use grant::{
    DEFAULT_DEADLINE, DEFAULT_MAX_RESPONSE, DEFAULT_TIMEOUT, HttpGrant, HttpGrantError,
    MAX_DEADLINE,
};
pub use sender::{BODY_CHUNK, HttpPolicy};

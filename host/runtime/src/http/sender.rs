//! The request itself, steps 1 to 4 in order: [`HttpPolicy`] is what a
//! module's store hands wasi:http, so every outgoing request ends in its
//! [`WasiHttpHooks::send_request`]. It asks the grant, resolves once, connects
//! to the vetted address, and returns a response whose body is bounded.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, LazyLock};
use std::task::Poll;
use std::time::Duration;

use http::uri::{PathAndQuery, Uri};
use http::{Request, Response};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};
use weft_core::trace::{self, TraceParent};

use super::body::{BodyLimit, BoundedBody, deadline_after, response_error};
use super::grant::{Host, HttpGrant, Origin, Refusal};

/// The future `send_request` hands back to drive the connection after the head.
type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// The three waits of one request; a guest's `request-options` may only shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Timeouts {
    pub(super) connect: Duration,
    pub(super) first_byte: Duration,
    pub(super) between_bytes: Duration,
}

impl Timeouts {
    pub(super) fn new(grant: Duration, options: Option<RequestOptions>) -> Timeouts {
        let options = options.unwrap_or_default();
        let cap = |asked: Option<Duration>| asked.map_or(grant, |a| a.min(grant));
        Timeouts {
            connect: cap(options.connect_timeout),
            first_byte: cap(options.first_byte_timeout),
            between_bytes: cap(options.between_bytes_timeout),
        }
    }
}

/// One module's outbound HTTP: the [`WasiHttpHooks`] its store hands wasi:http.
#[derive(Debug, Clone)]
pub struct HttpPolicy {
    module: Arc<str>,
    grant: Arc<HttpGrant>,
    /// The trace context of the events being delivered, sent on as W3C headers.
    trace: Option<Trace>,
}

/// What an egress call's requests carry as `traceparent` and `tracestate`.
#[derive(Debug, Clone)]
struct Trace {
    parent: TraceParent,
    state: Option<http::HeaderValue>,
}

impl HttpPolicy {
    pub fn new(module: Arc<str>, grant: Arc<HttpGrant>) -> HttpPolicy {
        HttpPolicy {
            module,
            grant,
            trace: None,
        }
    }

    /// Sets the trace context the requests of the next call carry (see
    /// [`crate::http`], "Trace context"): the first event of the batch with a
    /// valid one, or none.
    pub fn trace_batch(&mut self, batch: &[weft_core::Event]) {
        self.trace = batch
            .iter()
            .find_map(trace::context)
            .map(|(parent, state)| Trace {
                parent,
                // A tracestate that cannot be a header value is left out, never the request.
                state: state.and_then(|s| http::HeaderValue::from_str(s).ok()),
            });
    }

    /// Adds `traceparent` (a new span of the same trace, one per request) and
    /// `tracestate` unless the guest set its own `traceparent`.
    fn add_trace(&self, request: &mut Request<WasiBody>) {
        let Some(trace) = &self.trace else { return };
        let headers = request.headers_mut();
        if headers.contains_key(trace::TRACEPARENT) {
            return;
        }
        if let Ok(value) = http::HeaderValue::from_str(&trace.parent.child().to_string()) {
            headers.insert(trace::TRACEPARENT, value);
        }
        headers.remove(trace::TRACESTATE);
        if let Some(state) = &trace.state {
            headers.insert(trace::TRACESTATE, state.clone());
        }
    }

    /// Logs a refusal and turns it into the guest's error.
    fn refuse(&self, refusal: Refusal) -> Error {
        tracing::warn!(
            target: "weft::sandbox",
            module = %self.module,
            url = %refusal.url,
            reason = %refusal.reason,
            "outbound request refused"
        );
        refusal.error
    }

    /// The whole request, steps numbered as in the module docs.
    async fn send(
        self,
        mut request: Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<(Response<WasiBody>, IoFuture), Error> {
        let timeouts = Timeouts::new(self.grant.timeout, options);
        // The whole request ends by this, however each wait goes.
        let overall = deadline_after(self.grant.deadline);
        // 1. The origin must be allowed.
        let origin = self
            .grant
            .admit(request.uri())
            .map_err(|r| self.refuse(r))?;
        // 2. Resolve once; keep the addresses the grant permits.
        let deadline = deadline_after(timeouts.connect).min(overall);
        let resolved = resolve(&origin, deadline).await?;
        let addresses = self
            .grant
            .vet(&origin, &resolved)
            .map_err(|r| self.refuse(r))?;
        // 3. Connect to a vetted address, never to the name.
        let tcp = connect(&addresses, deadline).await?;
        // The socket is the origin; the request line carries path and query only.
        let target = request
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        *request.uri_mut() = Uri::from(target);
        self.add_trace(&mut request);
        // 4. TLS for https, then one HTTP/1.1 exchange with a bounded body.
        let limit = BodyLimit {
            module: self.module.clone(),
            url: origin.to_string(),
            max: self.grant.max_response,
            deadline: overall,
        };
        if origin.https {
            let tls = tls_connect(&origin.host, tcp, deadline).await?;
            exchange(tls, request, deadline, timeouts, limit).await
        } else {
            exchange(tcp, request, deadline, timeouts, limit).await
        }
    }
}

/// Largest write to an outgoing body's stream, and so the most data a body holds
/// before its request is sent (two chunks: wasi-http buffers one, plus a slot).
/// A guest can open bodies without ever sending them, so this times
/// [`crate::bindings::MAX_RESOURCES`] bounds what it can park in the host;
/// wasi-http's default of 1 MiB would let it park gigabytes. Guests write what
/// `check-write` allows (the SDK writes 4 KiB at a time), so smaller chunks only
/// mean more writes.
pub const BODY_CHUNK: usize = 64 * 1024;

impl WasiHttpHooks for HttpPolicy {
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        1
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        BODY_CHUNK
    }

    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<(Response<WasiBody>, IoFuture), Error>> + Send> {
        // As in the default sender: request-body errors reach the guest through
        // the outgoing body itself, so `fut` is not needed here.
        drop(fut);
        Box::new(self.clone().send(request, options))
    }
}

async fn resolve(origin: &Origin, deadline: Instant) -> Result<Vec<SocketAddr>, Error> {
    let name = match &origin.host {
        Host::Ip(ip) => return Ok(vec![SocketAddr::new(*ip, origin.port)]),
        Host::Name(name) => name.as_str(),
    };
    match timeout_at(deadline, tokio::net::lookup_host((name, origin.port))).await {
        Err(_) => Err(Error::DnsTimeout),
        Ok(Err(e)) => Err(Error::DnsError {
            rcode: Some(e.to_string()),
            info_code: None,
        }),
        Ok(Ok(found)) => Ok(found.collect()),
    }
}

/// Tries each vetted address in turn until one accepts or the deadline passes.
async fn connect(addresses: &[SocketAddr], deadline: Instant) -> Result<TcpStream, Error> {
    let mut last = None;
    for &address in addresses {
        match timeout_at(deadline, TcpStream::connect(address)).await {
            Err(_) => return Err(Error::ConnectionTimeout),
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = Some(e),
        }
    }
    Err(last.map_or(Error::ConnectionRefused, Error::Connect))
}

/// The client TLS configuration, built once: webpki roots, the ring provider
/// (the one wasmtime-wasi-http compiles in; no process-wide default needed).
fn tls_config() -> Result<Arc<ClientConfig>, Error> {
    static CONFIG: LazyLock<Result<Arc<ClientConfig>, String>> = LazyLock::new(|| {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = tokio_rustls::rustls::crypto::ring::default_provider();
        ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
            .map_err(|e| e.to_string())
    });
    CONFIG.clone().map_err(|e| Error::InternalError(Some(e)))
}

async fn tls_connect(
    host: &Host,
    tcp: TcpStream,
    deadline: Instant,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    let name = match host {
        Host::Name(name) => {
            ServerName::try_from(name.clone()).map_err(Error::InvalidDnsNameError)?
        }
        Host::Ip(ip) => ServerName::from(*ip),
    };
    let connector = TlsConnector::from(tls_config()?);
    match timeout_at(deadline, connector.connect(name, tcp)).await {
        Err(_) => Err(Error::ConnectionTimeout),
        Ok(stream) => stream.map_err(Error::Tls),
    }
}

/// One HTTP/1.1 request on `stream`: the response head within `first_byte`,
/// its body bounded, and the connection left for the caller to drive.
async fn exchange<S>(
    stream: S,
    request: Request<WasiBody>,
    deadline: Instant,
    timeouts: Timeouts,
    limit: BodyLimit,
) -> Result<(Response<WasiBody>, IoFuture), Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let handshake = hyper::client::conn::http1::handshake(TokioIo::new(stream));
    let (mut sender, conn) = match timeout_at(deadline, handshake).await {
        Err(_) => return Err(Error::ConnectionTimeout),
        Ok(handshake) => handshake.map_err(Error::Hyper)?,
    };
    // Drive the connection while waiting for the head, as the default sender does.
    let head_by = deadline_after(timeouts.first_byte).min(limit.deadline);
    let mut send = pin!(timeout_at(head_by, sender.send_request(request)));
    let mut conn = Some(conn);
    let head = poll_fn(|cx| {
        if let Poll::Ready(sent) = send.as_mut().poll(cx) {
            return Poll::Ready(match sent {
                Err(_) => Err(Error::ConnectionReadTimeout),
                Ok(sent) => sent.map_err(response_error),
            });
        }
        let Some(driver) = conn.as_mut() else {
            return Poll::Pending;
        };
        match Pin::new(driver).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(response_error(e))),
            Poll::Ready(Ok(())) => {
                // Closed cleanly: `send` now resolves, poll it again.
                conn = None;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    })
    .await?;
    // The connection itself ends at the deadline too, whether or not the
    // guest still reads: its socket is not held past it.
    let overall = limit.deadline;
    let io = async move {
        match conn {
            Some(conn) => match timeout_at(overall, conn).await {
                Ok(done) => done.map_err(response_error),
                Err(_) => Err(Error::ConnectionReadTimeout),
            },
            None => Ok(()),
        }
    };
    let response = head
        .map(|incoming| BoundedBody::new(incoming, timeouts.between_bytes, limit).boxed_unsync());
    Ok((response, Box::new(io)))
}

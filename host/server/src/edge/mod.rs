//! The listener: HTTP/1.1 connections served with hyper, each request handed
//! to the axum router, against clients that are slow, idle or hostile.
//!
//! What it holds, and the config (`[http]` in the host config) that sets it:
//!
//! | bound | default | what happens past it |
//! |---|---|---|
//! | `header_timeout` | 10 s | a request head (line and headers) not complete this long after accept, or after its first byte on a keep-alive connection: the connection is closed without an answer |
//! | `body_timeout`, `body_min_rate` | 10 s, 16 KiB/s | a body slower than the rate after the grace: `408` problem, connection closed (see `body`) |
//! | `idle_timeout` | 30 s | a keep-alive connection without a new request this long: closed |
//! | `max_connections` | half the open-file limit, at most 10,000 (see `files`) | the connection that has waited longest without a request in progress is closed to make room; if every connection is busy, the new one gets a `503` problem and is closed at once |
//! | `[ingest] max_body` | 1 MiB | a declared `Content-Length` over it: `413` problem before any of the body is read, connection closed (after `linger`) |
//!
//! Making room at the cap rather than refusing keeps the host serving under a
//! flood of idle or trickling sockets: each costs the attacker a connection and
//! the host nothing it was using. A connection is only closed for room while
//! no request of it is in the service, so no request is lost to it.
//!
//! Shutdown is graceful as with `axum::serve`: the listener closes, waiting
//! connections close, and requests in progress finish (their connections then
//! close) before [`serve`] returns.
//!
//! | module | what |
//! |---|---|
//! | `conns` | the open connections, what each waits for, eviction |
//! | `body` | the request body's minimum rate; the response body's busy guard |
//! | `files` | the open-file limit raised, the cap derived from it |
//! | `tls` | `[http.tls]`: the certificate and key, reloaded when their files change |
//! | `stream` | a socket, plain or TLS |
//! | here | [`Settings`], the accept loop, one connection, one request |

pub mod body;
mod conns;
pub mod files;
mod stream;
pub mod tls;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body as AxumBody;
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::problem::{Kind, Problem};
use conns::{Conn, Registry, Tracked};
use stream::Stream;

/// `[http]`: how long the listener waits for clients, and how many it holds.
#[derive(Debug, Clone)]
pub struct Settings {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    /// The grace before a request body must keep `body_min_rate`.
    pub body_timeout: Duration,
    /// Bytes per second a request body must average once its grace is over.
    pub body_min_rate: u64,
    /// Open connections at most; `None`: derived from the open-file limit.
    pub max_connections: Option<usize>,
    /// `[http.tls]`: serve HTTPS with this certificate; `None`: plain HTTP.
    pub tls: Option<tls::TlsFiles>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(10),
            body_min_rate: 16 * 1024,
            max_connections: None,
            tls: None,
        }
    }
}

/// `[ingest] max_body`, put into every request for the answers that name it.
#[derive(Debug, Clone, Copy)]
pub struct MaxBody(pub u64);

/// What every request of every connection shares.
struct Shared {
    app: Router,
    settings: Settings,
    max_body: u64,
    registry: Arc<Registry>,
    http: hyper::server::conn::http1::Builder,
    tls: Option<tls::Acceptor>,
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests in
/// progress finish and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: Settings,
    max_body: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let files = files::raise_limit();
    let cap = match settings.max_connections {
        Some(n) => n,
        None => files.map_or(files::MAX_AUTO, files::derived_cap),
    };
    tracing::info!(
        max_connections = cap,
        open_files = files,
        header_timeout = ?settings.header_timeout,
        idle_timeout = ?settings.idle_timeout,
        "listening"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let tls = match &settings.tls {
        Some(files) => Some(tls::Acceptor::start(files, stop_rx.clone())?),
        None => None,
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    // The head's and the idle wait's deadlines are the connection task's
    // (hyper's own header timeout would also run through keep-alive waits).
    http.timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let shared = Arc::new(Shared {
        app,
        max_body: max_body as u64,
        registry: Arc::new(Registry::default()),
        settings,
        http,
        tls,
    });
    let mut tasks = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next() => continue,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors (or another passing failure): make room
                // and try again soon, rather than stall every client for long.
                tracing::warn!(error = %e, "cannot accept a connection");
                shared.registry.evict_oldest_waiting();
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if shared.registry.len() >= cap && !shared.registry.evict_oldest_waiting() {
            refuse(&stream, cap, shared.tls.is_some());
            continue;
        }
        let _ = stream.set_nodelay(true);
        tasks.spawn(connection(stream, shared.clone(), stop_rx.clone()));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Over the cap with every connection busy: a `503` problem, written only if
/// the socket takes it at once, and the connection closed without reading.
fn refuse(stream: &TcpStream, cap: usize, tls: bool) {
    tracing::warn!(
        max_connections = cap,
        "connection refused: every connection is busy"
    );
    if tls {
        // No answer can be written before a handshake: the client sees a close.
        return;
    }
    let problem = Problem::new(
        Kind::Unavailable,
        format!(
            "this host serves at most {cap} connections ([http] max_connections) and all are busy: try again shortly"
        ),
    );
    let body = problem.json();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {}\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        crate::problem::PROBLEM_JSON,
        body.len()
    );
    let _ = stream.try_write(&[head.as_bytes(), body.as_bytes()].concat());
}

/// What woke a connection's task.
enum Woken {
    Done(hyper::Result<()>),
    Changed,
    Deadline,
    Stop,
}

/// How long a connection that answered is drained before it is closed, and
/// the longest silence that ends the draining sooner (see [`linger`]).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_SILENCE: Duration = Duration::from_millis(500);

/// One connection, until it closes, its wait expires, it is evicted, or the
/// host stops and its request in progress is done.
async fn connection(stream: TcpStream, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let entry = shared.registry.add();
    let conn = entry.conn.clone();
    let stream = match &shared.tls {
        None => Stream::Plain(stream),
        Some(acceptor) => {
            // The handshake is part of the head's wait: one that does not end
            // within `header_timeout` holds the connection no longer.
            let handshake =
                tokio::time::timeout(shared.settings.header_timeout, acceptor.accept(stream));
            tokio::select! {
                done = handshake => match done {
                    Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("TLS handshake not done within header_timeout");
                        return;
                    }
                },
                () = conn.changed.notified() => return,
                _ = stop.changed() => return,
            }
        }
    };
    let io = TokioIo::new(Tracked {
        stream,
        conn: conn.clone(),
    });
    let service = {
        let (shared, conn) = (shared.clone(), conn.clone());
        hyper::service::service_fn(move |req| Box::pin(request(req, shared.clone(), conn.clone())))
    };
    let mut served = shared.http.serve_connection(io, service);
    let mut stopping = *stop.borrow();
    if stopping {
        Pin::new(&mut served).graceful_shutdown();
    }
    loop {
        if conn.must_close() {
            tracing::debug!("connection closed to make room for a new one");
            return;
        }
        let deadline = conn.deadline(&shared.settings);
        let far = tokio::time::Instant::now() + Duration::from_secs(3600);
        let woken = tokio::select! {
            done = std::future::poll_fn(|cx| served.poll_without_shutdown(cx)) => Woken::Done(done),
            () = conn.changed.notified() => Woken::Changed,
            () = tokio::time::sleep_until(deadline.map_or(far, |(at, _)| at)), if deadline.is_some() => Woken::Deadline,
            _ = stop.changed(), if !stopping => Woken::Stop,
        };
        match woken {
            Woken::Done(Ok(())) => {
                linger(served.into_parts().io.into_inner().stream).await;
                return;
            }
            Woken::Done(Err(e)) => {
                tracing::debug!(error = %e, "connection ended with an error");
                return;
            }
            Woken::Changed => {}
            Woken::Deadline => {
                // Deadlines only move later; close only if this one still holds.
                if let Some((at, why)) = conn.deadline(&shared.settings)
                    && at <= tokio::time::Instant::now()
                {
                    tracing::debug!(?why, "connection closed: it waited too long");
                    return;
                }
            }
            Woken::Stop => {
                stopping = true;
                Pin::new(&mut served).graceful_shutdown();
            }
        }
    }
}

/// Closes a connection that answered without losing its answer: a client still
/// sending a body the host refused (a `413` before reading it) would otherwise
/// get a reset, which can discard the answer before it is read. So the write
/// side is closed first (the client sees the answer end), and what still comes
/// in is read and dropped for at most [`LINGER`], or until [`LINGER_SILENCE`]
/// passes without a byte. A client that closed its side costs nothing here.
async fn linger(mut stream: Stream) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    if stream.shutdown().await.is_err() {
        return;
    }
    let until = tokio::time::Instant::now() + LINGER;
    let mut sink = vec![0u8; 16 * 1024];
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left.min(LINGER_SILENCE), stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 && !left.is_zero() => {}
            _ => return,
        }
    }
}

/// One request: refused at once when it declares a body over `max_body`,
/// otherwise handed to the router with its body held to its minimum rate.
async fn request(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    conn: Arc<Conn>,
) -> Result<Response<AxumBody>, Infallible> {
    let busy = conn.begin();
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let response = match declared {
        Some(len) if len > shared.max_body => too_large(len, shared.max_body),
        _ => {
            let s = &shared.settings;
            let mut req = req
                .map(|b| AxumBody::new(body::TimedBody::new(b, s.body_timeout, s.body_min_rate)));
            req.extensions_mut().insert(MaxBody(shared.max_body));
            match shared.app.clone().oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        }
    };
    Ok(response.map(|inner| AxumBody::new(body::Guarded { inner, _busy: busy })))
}

fn too_large(declared: u64, max: u64) -> Response<AxumBody> {
    let mut r = Problem::new(
        Kind::PayloadTooLarge,
        format!(
            "the request declares a body of {declared} bytes, over this host's limit of {max} bytes ([ingest] max_body): nothing was read or stored; send at most {max} bytes per request (a batch can be split)"
        ),
    )
    .into_response();
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

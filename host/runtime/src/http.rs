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
//!    shorten them. A body longer than `max_response` ends in an
//!    `http-response-body-size` error while the guest reads it: the host holds
//!    one frame at a time, never the whole body.
//!
//! Redirects are never followed. wasi:http hands the guest a 3xx as it is, and
//! the connection-level hyper client used here has no redirect logic; a guest
//! that follows `Location` makes a new request, which passes every step again.
//!
//! A refusal is logged at warn on target `weft::sandbox` with the module and
//! the origin (`scheme://host:port`), never the path or query, which may carry
//! secrets.

use std::fmt;
use std::future::poll_fn;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{PathAndQuery, Uri};
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep, timeout, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// How long a request may wait at each stage unless the manifest says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest response body a module may read unless the manifest says otherwise.
pub const DEFAULT_MAX_RESPONSE: u64 = 4 * 1024 * 1024;

/// The future `send_request` hands back to drive the connection after the head.
type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// What a module may reach over HTTP: its manifest's `[http]` table, checked.
#[derive(Debug, Clone)]
pub struct HttpGrant {
    allow: Vec<Origin>,
    addresses: Vec<Cidr>,
    timeout: Duration,
    max_response: u64,
}

impl HttpGrant {
    /// Checks `[http]`: `allow` holds origins (`scheme://host[:port]`),
    /// `addresses` IP addresses or CIDR blocks granted although forbidden by
    /// default. Returns every problem at once, each naming the value.
    pub fn new(
        allow: &[String],
        addresses: &[String],
        timeout: Duration,
        max_response: u64,
    ) -> Result<HttpGrant, Vec<String>> {
        let mut problems = Vec::new();
        let allow = allow
            .iter()
            .filter_map(|v| {
                Origin::parse(v)
                    .map_err(|e| problems.push(format!("allow \"{v}\": {e}")))
                    .ok()
            })
            .collect();
        let addresses = addresses
            .iter()
            .filter_map(|v| {
                Cidr::parse(v)
                    .map_err(|e| problems.push(format!("addresses \"{v}\": {e}")))
                    .ok()
            })
            .collect();
        if timeout.is_zero() {
            problems.push("timeout must be more than zero".into());
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(HttpGrant {
            allow,
            addresses,
            timeout,
            max_response,
        })
    }

    /// Nothing allowed: the grant of a module without `[http]`.
    pub fn none() -> HttpGrant {
        HttpGrant {
            allow: Vec::new(),
            addresses: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            max_response: DEFAULT_MAX_RESPONSE,
        }
    }

    /// Whether no origin at all is allowed.
    pub fn is_none(&self) -> bool {
        self.allow.is_empty()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn max_response(&self) -> u64 {
        self.max_response
    }

    /// Step 1: the allowed origin a request's URI names, or why it is refused.
    fn admit(&self, uri: &Uri) -> Result<Origin, Refusal> {
        let origin = Origin::of_request(uri)?;
        if self.allow.contains(&origin) {
            Ok(origin)
        } else {
            Err(Refusal::denied(
                origin.to_string(),
                "origin not in [http] allow",
            ))
        }
    }

    /// Step 2: the resolved addresses this grant permits for `origin`; if none,
    /// a refusal naming the first forbidden one.
    fn vet(&self, origin: &Origin, resolved: &[SocketAddr]) -> Result<Vec<SocketAddr>, Refusal> {
        let mut refused = None;
        let permitted: Vec<SocketAddr> = resolved
            .iter()
            .filter(|a| match self.permits(a.ip(), &origin.host) {
                Ok(()) => true,
                Err(class) => {
                    refused.get_or_insert((a.ip(), class));
                    false
                }
            })
            .copied()
            .collect();
        if !permitted.is_empty() {
            if let Some((ip, class)) = refused {
                tracing::debug!(target: "weft::sandbox", url = %origin, %ip, class, "skipped a forbidden address");
            }
            return Ok(permitted);
        }
        let reason = match (refused, &origin.host) {
            (None, _) => "the name resolved to no address".to_string(),
            (Some((ip, class)), Host::Name(name)) => {
                format!("{name} resolved to {ip}, {class}; grant it by address in [http] addresses")
            }
            (Some((ip, class)), Host::Ip(_)) => {
                format!("{ip} is {class}; grant it by address in [http] addresses")
            }
        };
        Err(Refusal {
            url: origin.to_string(),
            reason,
            error: Error::DestinationIpProhibited,
        })
    }

    /// Whether `ip` may be connected to for an origin whose host is `host`.
    ///
    /// An address forbidden by default is permitted when `addresses` covers it,
    /// or when the allowed origin is that very IP literal (`http://127.0.0.1:8080`
    /// grants 127.0.0.1 by address already). Cloud metadata addresses are the
    /// exception: they hand out credentials, so only `addresses` grants them.
    fn permits(&self, ip: IpAddr, host: &Host) -> Result<(), &'static str> {
        let ip = ip.to_canonical();
        let Some(class) = forbidden(ip) else {
            return Ok(());
        };
        let literal = *host == Host::Ip(ip) && class != METADATA;
        if literal || self.addresses.iter().any(|c| c.contains(ip)) {
            Ok(())
        } else {
            Err(class)
        }
    }
}

const METADATA: &str = "a cloud metadata address";

/// Why an address is forbidden by default, or `None` if it is not.
///
/// Forbidden: the host itself (loopback, unspecified, `0.0.0.0/8`), link-local
/// (169.254/16, fe80::/10), multicast, broadcast, and the cloud metadata
/// services (169.254.169.254, fd00:ec2::254, 100.100.100.200), also when
/// written as IPv4-mapped, IPv4-compatible or NAT64 (64:ff9b::/96) IPv6.
/// Private LAN ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed: an
/// edge host talks to its LAN, and the origin allowlist already names them.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) if v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => {
            Some(METADATA)
        }
        IpAddr::V6(v6) if v6.is_unspecified() => Some("the unspecified address"),
        IpAddr::V6(v6) if v6.is_loopback() => Some("a loopback address"),
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => Some("a link-local address"),
        IpAddr::V6(v6) if v6.is_multicast() => Some("a multicast address"),
        IpAddr::V6(v6) => embedded_v4(v6).and_then(forbidden_v4),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        Some(METADATA)
    } else if ip.octets()[0] == 0 {
        // Linux connects 0.0.0.0 to the host itself.
        Some("an unspecified (0.0.0.0/8) address")
    } else if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if ip.is_broadcast() {
        Some("the broadcast address")
    } else {
        None
    }
}

/// The IPv4 address inside an IPv4-mapped, IPv4-compatible or NAT64 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let [.., a, b, c, d] = ip.octets();
    let tail = Ipv4Addr::new(a, b, c, d);
    let mapped = s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0);
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    (mapped || nat64).then_some(tail)
}

/// A request's scheme, host and port: what `allow` lists and requests must match.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    https: bool,
    host: Host,
    port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    /// Lower-cased, without a trailing dot.
    Name(String),
    /// Canonical: an IPv4-mapped IPv6 literal is its IPv4 address.
    Ip(IpAddr),
}

impl Origin {
    /// Parses an `allow` entry: exactly `scheme://host[:port]`.
    fn parse(text: &str) -> Result<Origin, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or("not of the form scheme://host[:port]")?;
        let https = parse_scheme(scheme)?;
        if rest.contains('@') {
            return Err("userinfo (user@) is not allowed".into());
        }
        if let Some(at) = rest.find(['/', '?', '#']) {
            let extra = rest.get(at..).unwrap_or_default();
            return Err(format!(
                "\"{extra}\" is a path, query or fragment; give only scheme://host[:port]"
            ));
        }
        let (host, port) = split_host_port(rest)?;
        let host = Host::parse(host)?;
        let port = match port {
            None => default_port(https),
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("port \"{p}\" is not a number from 1 to 65535"))?,
        };
        Ok(Origin { https, host, port })
    }

    /// The origin a request's URI names, parsed as strictly as `allow` entries.
    fn of_request(uri: &Uri) -> Result<Origin, Refusal> {
        let scheme = uri.scheme_str().unwrap_or_default();
        let host = uri.host().unwrap_or_default();
        let url = match uri.port() {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        };
        let refuse = |reason: String| Refusal::denied(url.clone(), reason);
        let https = parse_scheme(scheme).map_err(refuse)?;
        let authority = uri
            .authority()
            .ok_or_else(|| refuse("the URL names no host".into()))?;
        if authority.as_str().contains('@') {
            return Err(refuse("userinfo (user@) in the URL is not allowed".into()));
        }
        let host = Host::parse(authority.host()).map_err(refuse)?;
        let port = authority.port_u16().unwrap_or(default_port(https));
        Ok(Origin { https, host, port })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        match &self.host {
            Host::Name(name) => write!(f, "{scheme}://{name}:{}", self.port),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "{scheme}://[{ip}]:{}", self.port),
            Host::Ip(ip) => write!(f, "{scheme}://{ip}:{}", self.port),
        }
    }
}

fn parse_scheme(scheme: &str) -> Result<bool, String> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" => Ok(false),
        "https" => Ok(true),
        other => Err(format!("scheme \"{other}\" is not http or https")),
    }
}

fn default_port(https: bool) -> u16 {
    if https { 443 } else { 80 }
}

/// Splits `host[:port]`, where an IPv6 host is in brackets.
fn split_host_port(text: &str) -> Result<(&str, Option<&str>), String> {
    if text.starts_with('[') {
        let end = text.find(']').ok_or("an unclosed '['")?;
        let (host, rest) = text.split_at(end + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => rest
                .strip_prefix(':')
                .map(|port| (host, Some(port)))
                .ok_or_else(|| format!("\"{rest}\" after the IPv6 address is not :port")),
        };
    }
    match text.split_once(':') {
        None => Ok((text, None)),
        Some((_, port)) if port.contains(':') => {
            Err("an IPv6 address must be in brackets, as in http://[::1]:8080".into())
        }
        Some((host, port)) => Ok((host, Some(port))),
    }
}

impl Host {
    /// Parses a URL's host: a DNS name, an IPv4 literal or a bracketed IPv6 literal.
    fn parse(text: &str) -> Result<Host, String> {
        if let Some(inner) = text.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or("an unclosed '['")?;
            let ip: Ipv6Addr = inner
                .parse()
                .map_err(|_| format!("\"{inner}\" is not an IPv6 address"))?;
            return Ok(Host::Ip(IpAddr::V6(ip).to_canonical()));
        }
        if let Ok(ip) = text.parse::<Ipv4Addr>() {
            return Ok(Host::Ip(IpAddr::V4(ip)));
        }
        if text.contains('*') {
            return Err("wildcards are not allowed; list each host".into());
        }
        let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(format!("\"{text}\" is not a host name or IP address"));
        }
        // `127.1` or `2130706433` would reach an address through a name.
        if name
            .rsplit('.')
            .next()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(format!(
                "\"{text}\" looks like a numeric address; write it as a.b.c.d"
            ));
        }
        Ok(Host::Name(name))
    }
}

/// An IP address or CIDR block from `addresses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("\"{addr}\" is not an IP address"))?;
        let (value, width) = bits(net);
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= width)
                .ok_or_else(|| format!("prefix \"/{p}\" is not a number from 0 to {width}"))?,
        };
        let host_bits = low_bits(width - prefix);
        if value & host_bits != 0 {
            let base = value & !host_bits;
            let base = match net {
                IpAddr::V4(_) => IpAddr::from(Ipv4Addr::from(u32::try_from(base).unwrap_or(0))),
                IpAddr::V6(_) => IpAddr::from(Ipv6Addr::from(base)),
            };
            return Err(format!(
                "has bits set past its /{prefix} prefix; did you mean {base}/{prefix}?"
            ));
        }
        // `::ffff:a.b.c.d/n` is the IPv4 block a.b.c.d/(n-96).
        match (net.to_canonical(), prefix.checked_sub(96)) {
            (v4 @ IpAddr::V4(_), Some(p)) if net.is_ipv6() => Ok(Cidr { net: v4, prefix: p }),
            _ => Ok(Cidr { net, prefix }),
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ((net, width), (value, other)) = (bits(self.net), bits(ip));
        let host_bits = low_bits(width - self.prefix);
        width == other && net & !host_bits == value & !host_bits
    }
}

/// An address as a number, and how many bits it has.
fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

/// A mask of the lowest `n` bits (`n` at most 128).
fn low_bits(n: u8) -> u128 {
    u128::MAX.checked_shr(128 - u32::from(n)).unwrap_or(0)
}

/// Why a request was refused: the log gets the reason, the guest the error code.
#[derive(Debug)]
struct Refusal {
    /// `scheme://host:port` only: never the path or query.
    url: String,
    reason: String,
    error: Error,
}

impl Refusal {
    fn denied(url: String, reason: impl Into<String>) -> Refusal {
        Refusal {
            url,
            reason: reason.into(),
            error: Error::HttpRequestDenied,
        }
    }
}

/// The three waits of one request; a guest's `request-options` may only shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timeouts {
    connect: Duration,
    first_byte: Duration,
    between_bytes: Duration,
}

impl Timeouts {
    fn new(grant: Duration, options: Option<RequestOptions>) -> Timeouts {
        let options = options.unwrap_or_default();
        let cap = |asked: Option<Duration>| asked.map_or(grant, |a| a.min(grant));
        Timeouts {
            connect: cap(options.connect_timeout),
            first_byte: cap(options.first_byte_timeout),
            between_bytes: cap(options.between_bytes_timeout),
        }
    }
}

/// `now + wait`, saturating instead of overflowing on absurd durations.
fn deadline_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// One module's outbound HTTP: the [`WasiHttpHooks`] its store hands wasi:http.
#[derive(Debug, Clone)]
pub struct HttpPolicy {
    module: Arc<str>,
    grant: Arc<HttpGrant>,
}

impl HttpPolicy {
    pub fn new(module: Arc<str>, grant: Arc<HttpGrant>) -> HttpPolicy {
        HttpPolicy { module, grant }
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
        // 1. The origin must be allowed.
        let origin = self
            .grant
            .admit(request.uri())
            .map_err(|r| self.refuse(r))?;
        // 2. Resolve once; keep the addresses the grant permits.
        let deadline = deadline_after(timeouts.connect);
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
        // 4. TLS for https, then one HTTP/1.1 exchange with a bounded body.
        let limit = BodyLimit {
            module: self.module.clone(),
            url: origin.to_string(),
            max: self.grant.max_response,
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
    let mut send = pin!(timeout(timeouts.first_byte, sender.send_request(request)));
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
    let io = async move {
        match conn {
            Some(conn) => conn.await.map_err(response_error),
            None => Ok(()),
        }
    };
    let response = head
        .map(|incoming| BoundedBody::new(incoming, timeouts.between_bytes, limit).boxed_unsync());
    Ok((response, Box::new(io)))
}

fn response_error(e: hyper::Error) -> Error {
    if e.is_timeout() {
        Error::HttpResponseTimeout
    } else {
        Error::Hyper(e)
    }
}

/// Where a body cut short is reported, and at how many bytes.
#[derive(Debug)]
struct BodyLimit {
    module: Arc<str>,
    url: String,
    max: u64,
}

/// A response body that ends in an error past `max_response` bytes or when a
/// wait for the next frame exceeds `between_bytes`.
struct BoundedBody {
    incoming: Incoming,
    remaining: u64,
    limit: BodyLimit,
    between_bytes: Duration,
    timer: Pin<Box<Sleep>>,
    /// Whether the timer runs: it starts when the reader starts waiting, so a
    /// guest that reads late is not charged for its own delay.
    waiting: bool,
    done: bool,
}

impl BoundedBody {
    fn new(incoming: Incoming, between_bytes: Duration, limit: BodyLimit) -> BoundedBody {
        BoundedBody {
            incoming,
            remaining: limit.max,
            between_bytes,
            timer: Box::pin(tokio::time::sleep_until(deadline_after(between_bytes))),
            limit,
            waiting: false,
            done: false,
        }
    }

    fn fail(&mut self, error: Error) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.done = true;
        if matches!(error, Error::HttpResponseBodySize(_)) {
            tracing::warn!(
                target: "weft::sandbox",
                module = %self.limit.module,
                url = %self.limit.url,
                max_response = self.limit.max,
                "outbound response body cut at max_response"
            );
        }
        Poll::Ready(Some(Err(error)))
    }
}

impl Body for BoundedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let too_large = Error::HttpResponseBodySize(Some(this.limit.max));
        // A `Content-Length` past the limit fails before anything is read.
        if this.incoming.size_hint().lower() > this.remaining {
            return this.fail(too_large);
        }
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => this.fail(response_error(e)),
            Poll::Ready(Some(Ok(frame))) => {
                this.waiting = false;
                let len = frame
                    .data_ref()
                    .map_or(0, |d| u64::try_from(d.len()).unwrap_or(u64::MAX));
                match this.remaining.checked_sub(len) {
                    Some(left) => {
                        this.remaining = left;
                        Poll::Ready(Some(Ok(frame)))
                    }
                    None => this.fail(too_large),
                }
            }
            Poll::Pending => {
                if !this.waiting {
                    this.waiting = true;
                    let at = deadline_after(this.between_bytes);
                    this.timer.as_mut().reset(at);
                }
                ready!(this.timer.as_mut().poll(cx));
                this.fail(Error::ConnectionReadTimeout)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]
    use super::*;
    use http_body_util::Empty;
    use std::time::Instant as StdInstant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;

    fn grant(allow: &[&str], addresses: &[&str]) -> Arc<HttpGrant> {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let grant = HttpGrant::new(
            &owned(allow),
            &owned(addresses),
            Duration::from_secs(2),
            1024,
        );
        Arc::new(grant.unwrap())
    }

    fn with_timeout(grant: &HttpGrant, timeout: Duration) -> Arc<HttpGrant> {
        Arc::new(HttpGrant {
            timeout,
            ..grant.clone()
        })
    }

    /// Drives the hook as wasi:http's `outgoing-handler.handle` does.
    async fn get(grant: Arc<HttpGrant>, url: &str) -> Result<Response<WasiBody>, Error> {
        let body = Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = Request::get(url).body(body).unwrap();
        let mut policy = HttpPolicy::new("test".into(), grant);
        let sent = policy.send_request(request, None, Box::new(async { Ok(()) }));
        let (response, io) = Box::into_pin(sent).await?;
        tokio::spawn(Box::into_pin(io));
        Ok(response)
    }

    async fn read_body(response: Response<WasiBody>) -> Result<Bytes, Error> {
        Ok(response.into_body().collect().await?.to_bytes())
    }

    /// How a test server answers: `Close` writes the bytes and closes, `Hold`
    /// writes them and keeps the connection open without another byte.
    enum Reply {
        Close(Vec<u8>),
        Hold(Vec<u8>),
    }

    /// A server on 127.0.0.1 answering one connection; yields the request head it read.
    async fn serve_once(reply: Reply) -> (u16, oneshot::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
            match reply {
                Reply::Close(bytes) => {
                    socket.write_all(&bytes).await.unwrap();
                    socket.shutdown().await.unwrap();
                }
                Reply::Hold(bytes) => {
                    socket.write_all(&bytes).await.unwrap();
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            }
        });
        (port, rx)
    }

    /// Asserts nothing connected to `listener` (a connect would have completed
    /// before the refusal returned, so a pending one would be accepted at once).
    async fn assert_no_connection(listener: &TcpListener) {
        let accepted = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        assert!(accepted.is_err(), "the server saw a connection");
    }

    fn ok(body: &str) -> Reply {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        Reply::Close([head.as_bytes(), body.as_bytes()].concat())
    }

    #[tokio::test]
    async fn allowed_origin_gets_its_response_and_body() {
        let (port, head) = serve_once(ok("hello")).await;
        let grant = grant(&[&format!("http://127.0.0.1:{port}")], &[]);

        let response = get(grant, &format!("http://127.0.0.1:{port}/path?q=1"))
            .await
            .unwrap();

        assert_eq!(response.status(), 200);
        assert_eq!(read_body(response).await.unwrap(), "hello");
        // The origin is the socket: the request line is in origin form.
        assert!(
            head.await
                .unwrap()
                .starts_with("GET /path?q=1 HTTP/1.1\r\n")
        );
    }

    #[tokio::test]
    async fn origin_not_allowed_is_refused_before_connecting() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let other = port.wrapping_add(1);
        let grant = grant(
            &[
                &format!("http://127.0.0.1:{other}"),
                &format!("https://127.0.0.1:{port}"),
            ],
            &[],
        );

        let refused = get(grant, &format!("http://127.0.0.1:{port}/")).await;

        assert!(
            matches!(refused, Err(Error::HttpRequestDenied)),
            "{:?}",
            refused.err()
        );
        assert_no_connection(&listener).await;
    }

    #[tokio::test]
    async fn name_resolving_to_loopback_needs_the_address_granted() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let by_name = grant(&[&format!("http://LocalHost:{port}")], &[]);

        let refused = get(by_name, &format!("http://localhost:{port}/")).await;

        assert!(
            matches!(refused, Err(Error::DestinationIpProhibited)),
            "{:?}",
            refused.err()
        );
        assert_no_connection(&listener).await;
        drop(listener);

        let (port, _) = serve_once(ok("hi")).await;
        let granted = grant(&[&format!("http://localhost:{port}")], &["127.0.0.1"]);
        let response = get(granted, &format!("http://localhost:{port}/"))
            .await
            .unwrap();
        assert_eq!(read_body(response).await.unwrap(), "hi");
    }

    #[test]
    fn refusal_names_the_forbidden_address() {
        let grant = grant(&["http://localhost:8080"], &[]);
        let origin = grant
            .admit(&"http://localhost:8080/secret?token=x".parse().unwrap())
            .unwrap();
        let resolved = ["127.0.0.1:8080".parse().unwrap()];

        let refusal = grant.vet(&origin, &resolved).unwrap_err();

        assert_eq!(refusal.url, "http://localhost:8080");
        assert_eq!(
            refusal.reason,
            "localhost resolved to 127.0.0.1, a loopback address; grant it by address in [http] addresses"
        );
    }

    #[test]
    fn only_permitted_addresses_are_kept() {
        let grant = grant(&["http://edge.example:80"], &[]);
        let origin = grant
            .admit(&"http://edge.example/".parse().unwrap())
            .unwrap();
        let resolved: Vec<SocketAddr> = vec![
            "127.0.0.1:80".parse().unwrap(),
            "192.168.1.10:80".parse().unwrap(),
        ];

        assert_eq!(grant.vet(&origin, &resolved).unwrap(), vec![resolved[1]]);
    }

    #[tokio::test]
    async fn body_past_max_response_fails_while_reading() {
        let big = "x".repeat(4096);
        // Announced by Content-Length: fails before the body is read.
        let (port, _) = serve_once(ok(&big)).await;
        let grant = grant(&[&format!("http://127.0.0.1:{port}")], &[]);
        let response = get(grant.clone(), &format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let cut = read_body(response).await;
        assert!(
            matches!(cut, Err(Error::HttpResponseBodySize(Some(1024)))),
            "{:?}",
            cut.err()
        );

        // Not announced (read until close): fails once the count passes the limit.
        let head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
        let (port, _) = serve_once(Reply::Close([&head[..], big.as_bytes()].concat())).await;
        let grant = self::grant(&[&format!("http://127.0.0.1:{port}")], &[]);
        let response = get(grant, &format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap();
        let cut = read_body(response).await;
        assert!(
            matches!(cut, Err(Error::HttpResponseBodySize(Some(1024)))),
            "{:?}",
            cut.err()
        );
    }

    #[tokio::test]
    async fn silent_server_hits_the_timeout() {
        let (port, _) = serve_once(Reply::Hold(Vec::new())).await;
        let grant = grant(&[&format!("http://127.0.0.1:{port}")], &[]);
        let grant = with_timeout(&grant, Duration::from_millis(200));

        let started = StdInstant::now();
        let timed_out = get(grant, &format!("http://127.0.0.1:{port}/")).await;

        assert!(
            matches!(timed_out, Err(Error::ConnectionReadTimeout)),
            "{:?}",
            timed_out.err()
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn stalled_body_hits_the_timeout() {
        let reply = Reply::Hold(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel".to_vec());
        let (port, _) = serve_once(reply).await;
        let grant = grant(&[&format!("http://127.0.0.1:{port}")], &[]);
        let grant = with_timeout(&grant, Duration::from_millis(200));

        let response = get(grant, &format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap();
        let stalled = read_body(response).await;

        assert!(
            matches!(stalled, Err(Error::ConnectionReadTimeout)),
            "{:?}",
            stalled.err()
        );
    }

    #[tokio::test]
    async fn metadata_address_needs_an_explicit_grant() {
        // An IP literal in `allow` grants that address, except a metadata one.
        let literal = grant(&["http://169.254.169.254", "http://127.0.0.1:9"], &[]);
        let refused = get(literal.clone(), "http://169.254.169.254/latest/meta-data/").await;
        assert!(
            matches!(refused, Err(Error::DestinationIpProhibited)),
            "{:?}",
            refused.err()
        );

        let metadata: IpAddr = "169.254.169.254".parse().unwrap();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            literal.permits(metadata, &Host::Ip(metadata)),
            Err(METADATA)
        );
        assert_eq!(literal.permits(loopback, &Host::Ip(loopback)), Ok(()));
        let explicit = grant(&["http://169.254.169.254"], &["169.254.169.254"]);
        assert_eq!(explicit.permits(metadata, &Host::Ip(metadata)), Ok(()));
    }

    #[test]
    fn addresses_forbidden_by_default() {
        let forbidden_ips = [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "0.1.2.3",
            "169.254.1.1",
            "224.0.0.1",
            "255.255.255.255",
            "169.254.169.254",
            "100.100.100.200",
            "::1",
            "::",
            "fe80::1",
            "ff02::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
        ];
        for ip in forbidden_ips {
            assert!(
                forbidden(ip.parse().unwrap()).is_some(),
                "{ip} should be forbidden"
            );
        }
        let allowed_ips = [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "8.8.8.8",
            "fc00::1",
            "fd12::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ];
        for ip in allowed_ips {
            assert_eq!(
                forbidden(ip.parse().unwrap()),
                None,
                "{ip} should be allowed"
            );
        }
    }

    #[test]
    fn addresses_grant_blocks_and_mapped_forms() {
        let grant = grant(
            &["http://a.example"],
            &["10.0.0.0/8", "::1", "::ffff:127.0.0.1"],
        );
        let host = Host::Name("a.example".into());
        for ip in ["127.0.0.1", "::ffff:127.0.0.1", "::1"] {
            assert_eq!(grant.permits(ip.parse().unwrap(), &host), Ok(()), "{ip}");
        }
        assert!(grant.permits("127.0.0.2".parse().unwrap(), &host).is_err());
        assert!(
            Cidr::parse("10.0.0.0/8")
                .unwrap()
                .contains("10.255.0.1".parse().unwrap())
        );
        assert!(
            !Cidr::parse("10.0.0.0/8")
                .unwrap()
                .contains("11.0.0.1".parse().unwrap())
        );
        assert!(
            Cidr::parse("fe80::/10")
                .unwrap()
                .contains("fe80::1".parse().unwrap())
        );
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!(
            !Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
    }

    #[test]
    fn request_origins_match_allowed_ones_normalised() {
        let grant = grant(
            &[
                "https://API.example.com",
                "http://[::1]:8080",
                "http://10.0.0.1",
            ],
            &[],
        );
        let admitted = |url: &str| grant.admit(&url.parse().unwrap()).map(|o| o.to_string());

        assert_eq!(
            admitted("https://api.EXAMPLE.com/x").unwrap(),
            "https://api.example.com:443"
        );
        assert_eq!(
            admitted("https://api.example.com.:443/").unwrap(),
            "https://api.example.com:443"
        );
        assert_eq!(
            admitted("http://[0:0::1]:8080/").unwrap(),
            "http://[::1]:8080"
        );
        assert_eq!(
            admitted("http://10.0.0.1:80/").unwrap(),
            "http://10.0.0.1:80"
        );
        for refused in [
            "http://api.example.com/",
            "https://api.example.com:8443/",
            "https://user:pw@api.example.com/",
            "https://evil.api.example.com/",
            "http://[::1]:8081/",
            "http://10.0.0.01/",
        ] {
            let refusal = admitted(refused).unwrap_err();
            // Logged as scheme://host[:port]: no path, no userinfo.
            assert_eq!(refusal.url.matches('/').count(), 2, "{}", refusal.url);
            assert!(!refusal.url.contains("pw"), "{}", refusal.url);
        }
    }

    #[test]
    fn grant_lists_every_problem() {
        let allow = [
            "https://ok.example",
            "ftp://files.example",
            "https://api.example/v1",
            "https://user@api.example",
            "https://*.example",
            "http://::1:80",
            "http://a.example:0",
            "api.example",
            "http://127.1",
        ]
        .map(String::from);
        let addresses = ["10.0.0.0/8", "10.0.0.1/8", "localhost", "::1/129"].map(String::from);

        let problems = HttpGrant::new(&allow, &addresses, Duration::ZERO, 1).unwrap_err();

        assert_eq!(problems.len(), 8 + 3 + 1, "{problems:#?}");
        for bad in allow.iter().skip(1).chain(addresses.iter().skip(1)) {
            assert!(
                problems.iter().any(|p| p.contains(&format!("\"{bad}\""))),
                "{bad}: {problems:#?}"
            );
        }
        assert!(
            problems
                .iter()
                .any(|p| p.contains("did you mean 10.0.0.0/8")),
            "{problems:#?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with("timeout")),
            "{problems:#?}"
        );
    }

    #[test]
    fn none_allows_nothing() {
        let none = HttpGrant::none();
        assert!(none.is_none());
        assert!(
            none.admit(&"https://example.com/".parse().unwrap())
                .is_err()
        );
    }

    #[test]
    fn guest_options_only_shorten_timeouts() {
        let asked = RequestOptions {
            connect_timeout: Some(Duration::from_secs(60)),
            first_byte_timeout: Some(Duration::from_millis(5)),
            between_bytes_timeout: None,
        };
        let t = Timeouts::new(Duration::from_secs(10), Some(asked));
        assert_eq!(t.connect, Duration::from_secs(10));
        assert_eq!(t.first_byte, Duration::from_millis(5));
        assert_eq!(t.between_bytes, Duration::from_secs(10));
    }
}

//! Steps 1 and 2 as data: a manifest's `[http]` table checked into an
//! [`HttpGrant`], and the questions the sender asks it (is this origin
//! allowed, which of these resolved addresses may be connected to).
//!
//! Origins are parsed as strictly for requests as for `allow` entries, so a
//! request cannot slip past the list by spelling its host differently.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use http::uri::Uri;
use wasmtime_wasi_http::Error;

use super::address::{Cidr, METADATA, forbidden};

/// How long a request may wait at each stage unless the manifest says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take in all (connect, head, whole body) unless the
/// manifest says otherwise: the per-wait `timeout` alone lets a server that
/// trickles a byte per wait hold a worker for days.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);
/// The longest `deadline` a manifest may set.
pub const MAX_DEADLINE: Duration = Duration::from_secs(3600);
/// The largest response body a module may read unless the manifest says otherwise.
pub const DEFAULT_MAX_RESPONSE: u64 = 4 * 1024 * 1024;

/// Why a manifest's `[http]` table cannot be granted: every problem at once,
/// each naming the value (`allow "ftp://x": ...`), so the operator fixes the
/// table in one go. One problem per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct HttpGrantError {
    pub problems: Vec<String>,
}

/// What a module may reach over HTTP: its manifest's `[http]` table, checked.
#[derive(Debug, Clone)]
pub struct HttpGrant {
    pub(super) allow: Vec<Origin>,
    pub(super) addresses: Vec<Cidr>,
    pub(super) timeout: Duration,
    pub(super) deadline: Duration,
    pub(super) max_response: u64,
}

impl HttpGrant {
    /// Checks `[http]`: `allow` holds origins (`scheme://host[:port]`),
    /// `addresses` IP addresses or CIDR blocks granted although forbidden by
    /// default. Returns every problem at once, each naming the value.
    pub fn new(
        allow: &[String],
        addresses: &[String],
        timeout: Duration,
        deadline: Duration,
        max_response: u64,
    ) -> Result<HttpGrant, HttpGrantError> {
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
        if deadline.is_zero() || deadline > MAX_DEADLINE {
            problems.push(format!(
                "deadline = {deadline:?} is out of range: more than zero, at most {MAX_DEADLINE:?} (a whole request: connect, answer and body)"
            ));
        }
        if !problems.is_empty() {
            return Err(HttpGrantError { problems });
        }
        Ok(HttpGrant {
            allow,
            addresses,
            timeout,
            deadline,
            max_response,
        })
    }

    /// Nothing allowed: the grant of a module without `[http]`.
    pub fn none() -> HttpGrant {
        HttpGrant {
            allow: Vec::new(),
            addresses: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
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

    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    pub fn max_response(&self) -> u64 {
        self.max_response
    }

    /// Step 1: the allowed origin a request's URI names, or why it is refused.
    pub(super) fn admit(&self, uri: &Uri) -> Result<Origin, Refusal> {
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
    pub(super) fn vet(
        &self,
        origin: &Origin,
        resolved: &[SocketAddr],
    ) -> Result<Vec<SocketAddr>, Refusal> {
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
    pub(super) fn permits(&self, ip: IpAddr, host: &Host) -> Result<(), &'static str> {
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

/// A request's scheme, host and port: what `allow` lists and requests must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Origin {
    pub(super) https: bool,
    pub(super) host: Host,
    pub(super) port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Host {
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

/// Why a request was refused: the log gets the reason, the guest the error code.
#[derive(Debug)]
pub(super) struct Refusal {
    /// `scheme://host:port` only: never the path or query.
    pub(super) url: String,
    pub(super) reason: String,
    pub(super) error: Error,
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

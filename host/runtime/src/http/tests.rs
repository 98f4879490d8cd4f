//! The policy end to end against servers on 127.0.0.1, and its parts alone.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant as StdInstant;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::address::{Cidr, METADATA, forbidden};
use super::grant::Host;
use super::sender::Timeouts;
use super::{HttpGrant, HttpPolicy};

fn grant(allow: &[&str], addresses: &[&str]) -> Arc<HttpGrant> {
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let grant = HttpGrant::new(
        &owned(allow),
        &owned(addresses),
        Duration::from_secs(2),
        Duration::from_secs(60),
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
async fn a_server_trickling_within_each_wait_is_cut_at_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = socket.read(&mut buf).await;
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n";
        socket.write_all(head).await.unwrap();
        // One byte per 50 ms: every wait is far within the 2 s timeout.
        let started = StdInstant::now();
        while socket.write_all(b"x").await.is_ok() && started.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        started.elapsed()
    });
    let grant = grant(&[&format!("http://127.0.0.1:{port}")], &[]);
    let grant = Arc::new(HttpGrant {
        deadline: Duration::from_millis(500),
        ..(*grant).clone()
    });

    let started = StdInstant::now();
    let response = get(grant, &format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    let cut = read_body(response).await;

    assert!(
        matches!(cut, Err(Error::ConnectionReadTimeout)),
        "{:?}",
        cut.err()
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(450), "cut early: {took:?}");
    assert!(took < Duration::from_secs(5), "cut late: {took:?}");
    let held = server.await.unwrap();
    assert!(
        held < Duration::from_secs(5),
        "the server's connection was closed: held {held:?}"
    );
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

    let problems = HttpGrant::new(&allow, &addresses, Duration::ZERO, Duration::ZERO, 1)
        .unwrap_err()
        .problems;

    assert_eq!(problems.len(), 8 + 3 + 2, "{problems:#?}");
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
    assert!(
        problems.iter().any(|p| p.starts_with("deadline")),
        "{problems:#?}"
    );
}

#[test]
fn a_refused_grant_shows_one_problem_per_line() {
    let allow = ["ftp://files.example".to_owned()];
    let addresses = ["localhost".to_owned()];

    let error = HttpGrant::new(
        &allow,
        &addresses,
        Duration::from_secs(1),
        Duration::from_secs(60),
        1,
    )
    .unwrap_err();

    assert_eq!(
        error.to_string(),
        "allow \"ftp://files.example\": scheme \"ftp\" is not http or https\n\
         addresses \"localhost\": \"localhost\" is not an IP address"
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

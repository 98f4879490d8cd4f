//! A small blocking HTTP client over `wasi:http/outgoing-handler`.
//!
//! ```ignore
//! use weft_sdk::http::Request;
//!
//! let response = Request::get("https://api.example.com/items")
//!     .query("cursor", &cursor)
//!     .header("accept", "application/json")
//!     .send()?; // an HttpError converts into a Failure: retry or reject
//! if response.status == 200 { let page: Page = response.json()?; }
//! ```
//!
//! # What the host allows
//!
//! The host grants origins per module in the manifest's `[http]` table (`allow =
//! ["https://api.example.com"]`) and refuses every other request, and every
//! request to a forbidden address (loopback, link-local, ...) not granted in
//! `[http] addresses`: the error's kind is [`ErrorKind::Denied`], permanent. It
//! bounds the time (`[http] timeout`) and the response size (`[http] max_response`).
//! Redirects are not followed: a 3xx is a response like any other.
//!
//! # How a request runs
//!
//! Built on the raw `wasip2` bindings (`wasi:http@0.2`), which were reliable where
//! an async client was not (`wstd` 0.6.8's client failed 1–60% of requests
//! with a spurious "connection reset" when measured). A request is sent with `handle`, its body
//! written and finished, then the guest blocks on the response's pollable (the
//! host runs the I/O meanwhile), and reads the body to its end, refusing more than
//! [`Request::max_response`] bytes. Every resource is dropped child-first, as
//! `wasi:http` requires.

mod error;
mod url;

use core::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;

pub use self::error::{ErrorKind, HttpError};
use self::url::Target;
pub use self::url::percent_encode;

/// The largest response body read by default: 4 MiB.
pub const DEFAULT_MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// `wasi:io` writes at most 4096 bytes per `blocking-write-and-flush`.
const WRITE_CHUNK: usize = 4096;
/// Bytes asked for per read of the response body.
const READ_CHUNK: u64 = 64 * 1024;

/// An outgoing request, built up and then [sent](Request::send).
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
    max_response: usize,
}

impl Request {
    /// A request with `method` (`GET`, `POST`, ... or any token) to `url`
    /// (`http://` or `https://`).
    pub fn new(method: &str, url: impl Into<String>) -> Self {
        Self {
            method: method.to_ascii_uppercase(),
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
            max_response: DEFAULT_MAX_RESPONSE,
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new("POST", url)
    }

    /// A `PUT` request.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new("PUT", url)
    }

    /// A `DELETE` request.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new("DELETE", url)
    }

    /// Appends `name=value` to the URL's query, percent-encoded.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Adds a header. Hop-by-hop headers (`connection`, `host`, ...) are refused by
    /// the host when the request is sent.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body. A `content-length` is added when sent, unless set.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the body to `value` as JSON and `content-type: application/json`.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, HttpError> {
        let body = serde_json::to_vec(value).map_err(|err| {
            let detail = format!("cannot serialize the body: {err}");
            HttpError::new(
                ErrorKind::Invalid,
                &self.method,
                url::shown_raw(&self.url),
                detail,
            )
        })?;
        Ok(self
            .header("content-type", crate::event::APPLICATION_JSON)
            .body(body))
    }

    /// Bounds the wait for connecting, for the first byte of the response and
    /// between bytes, each. The host's `[http] timeout` applies as well.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Refuses response bodies over `bytes` ([`DEFAULT_MAX_RESPONSE`] unless set),
    /// as an error of kind [`ErrorKind::TooLarge`].
    pub fn max_response(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
    }

    /// Sends the request and reads the whole response; blocks until then.
    ///
    /// Any status is a response, 4xx and 5xx included: the error is for requests
    /// that got none (or one too large to read).
    pub fn send(self) -> Result<Response, HttpError> {
        let mut target = Target::parse(&self.url).map_err(|detail| {
            HttpError::new(
                ErrorKind::Invalid,
                &self.method,
                url::shown_raw(&self.url),
                detail,
            )
        })?;
        target.add_query(&self.query);
        let exchange = Exchange {
            method: &self.method,
            url: target.shown(),
        };
        exchange.run(&self, &target)
    }
}

/// A response, read to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code; redirects are not followed, so 3xx arrive here.
    pub status: u16,
    /// The headers, names in lower case, values as text (invalid UTF-8 replaced).
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The value of header `name`, compared without regard to case; the first one
    /// when the header is repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body parsed as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, core::str::Utf8Error> {
        core::str::from_utf8(&self.body)
    }
}

/// One request on the wire: the method and shown URL every error names.
struct Exchange<'a> {
    method: &'a str,
    url: String,
}

impl Exchange<'_> {
    fn error(&self, kind: ErrorKind, detail: impl Into<String>) -> HttpError {
        HttpError::new(kind, self.method, &self.url, detail)
    }

    fn code(&self, code: &ErrorCode) -> HttpError {
        HttpError::from_code(code, self.method, &self.url)
    }

    /// 1. builds the request, 2. hands it to the host, 3. writes the body,
    /// 4. waits for the response, 5. reads its body.
    fn run(&self, request: &Request, target: &Target) -> Result<Response, HttpError> {
        let outgoing = self.build(request, target)?;
        let body = outgoing
            .body()
            .map_err(|()| self.error(ErrorKind::Invalid, "the request body was taken twice"))?;
        let future = outgoing_handler::handle(outgoing, self.options(request.timeout)?)
            .map_err(|code| self.code(&code))?;
        // The response decides even when the body could not be sent: a refusal by
        // the host closes the body stream before the future reports the refusal,
        // and a server may answer (413, 401) without reading the body. A body that
        // broke for any other reason ends the exchange, so the future reports that.
        if let Err(err) = self.write_body(body, &request.body) {
            crate::log::debug(&format!("{err}; waiting for the response"));
        }
        let response = self.wait(&future)?;
        self.read(response, request.max_response)
    }

    fn build(&self, request: &Request, target: &Target) -> Result<OutgoingRequest, HttpError> {
        let invalid = |detail: String| self.error(ErrorKind::Invalid, detail);
        let mut headers = request.headers.clone();
        let has_length = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-length"));
        if !has_length && (!request.body.is_empty() || matches!(self.method, "POST" | "PUT")) {
            headers.push((
                "content-length".into(),
                request.body.len().to_string().into(),
            ));
        }
        let fields = Fields::from_list(&headers)
            .map_err(|err| invalid(format!("a header is refused ({err:?})")))?;
        let outgoing = OutgoingRequest::new(fields);
        let method = match self.method {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_owned()),
        };
        let scheme = if target.https {
            Scheme::Https
        } else {
            Scheme::Http
        };
        outgoing
            .set_method(&method)
            .map_err(|()| invalid(format!("`{}` is not a valid method", self.method)))?;
        outgoing
            .set_scheme(Some(&scheme))
            .and_then(|()| outgoing.set_authority(Some(&target.authority)))
            .and_then(|()| outgoing.set_path_with_query(Some(&target.path_with_query)))
            .map_err(|()| invalid("the URL is not valid".into()))?;
        Ok(outgoing)
    }

    fn options(&self, timeout: Option<Duration>) -> Result<Option<RequestOptions>, HttpError> {
        let Some(timeout) = timeout else {
            return Ok(None);
        };
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        let options = RequestOptions::new();
        options
            .set_connect_timeout(Some(nanos))
            .and_then(|()| options.set_first_byte_timeout(Some(nanos)))
            .and_then(|()| options.set_between_bytes_timeout(Some(nanos)))
            .map_err(|()| self.error(ErrorKind::Invalid, "the host does not take timeouts"))?;
        Ok(Some(options))
    }

    fn write_body(&self, body: OutgoingBody, bytes: &[u8]) -> Result<(), HttpError> {
        {
            let stream = body
                .write()
                .map_err(|()| self.error(ErrorKind::Invalid, "the request body was taken twice"))?;
            for chunk in bytes.chunks(WRITE_CHUNK) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|err| self.stream_error(err, "sending the body"))?;
            }
            // The stream is a child of the body: dropped here, before `finish`.
        }
        OutgoingBody::finish(body, None).map_err(|code| self.code(&code))
    }

    fn wait(&self, future: &FutureIncomingResponse) -> Result<IncomingResponse, HttpError> {
        loop {
            match future.get() {
                Some(Ok(Ok(response))) => return Ok(response),
                Some(Ok(Err(code))) => return Err(self.code(&code)),
                Some(Err(())) => {
                    return Err(self.error(ErrorKind::Connection, "the response was taken twice"));
                }
                None => future.subscribe().block(),
            }
        }
    }

    fn read(&self, response: IncomingResponse, max: usize) -> Result<Response, HttpError> {
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let incoming = response
            .consume()
            .map_err(|()| self.error(ErrorKind::Protocol, "the response body was taken twice"))?;
        let mut body = Vec::new();
        {
            let stream = incoming.stream().map_err(|()| {
                self.error(ErrorKind::Protocol, "the response body was taken twice")
            })?;
            loop {
                match stream.blocking_read(READ_CHUNK) {
                    Ok(chunk) if body.len() + chunk.len() > max => {
                        let detail = format!("the response body is over {max} bytes");
                        return Err(self.error(ErrorKind::TooLarge, detail));
                    }
                    Ok(chunk) => body.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(err) => return Err(self.stream_error(err, "reading the response")),
                }
            }
        }
        // A body that ended early reports it through its trailers.
        let trailers = IncomingBody::finish(incoming);
        loop {
            match trailers.get() {
                Some(Ok(Err(code))) => return Err(self.code(&code)),
                Some(_) => break,
                None => trailers.subscribe().block(),
            }
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn stream_error(&self, err: StreamError, doing: &str) -> HttpError {
        match err {
            StreamError::LastOperationFailed(io) => {
                match wasip2::http::types::http_error_code(&io) {
                    Some(code) => self.code(&code),
                    None => self.error(
                        ErrorKind::Connection,
                        format!("{doing} failed: {}", io.to_debug_string()),
                    ),
                }
            }
            StreamError::Closed => self.error(
                ErrorKind::Connection,
                format!("the connection closed while {doing}"),
            ),
        }
    }
}

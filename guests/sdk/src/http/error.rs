//! Why a request got no response, sorted by what a connector should do about it.
//!
//! `wasi:http` reports 39 error codes; a connector needs one decision: try again
//! later, or give up. [`ErrorKind`] keeps the causes a connector may want to
//! tell apart (above all: the host's sandbox refused the request, which no retry
//! fixes), and [`HttpError::is_transient`] makes the decision, which
//! `From<HttpError> for Failure` applies.

use core::fmt;

use wasip2::http::types::ErrorCode;

use crate::Failure;

/// What went wrong, by what can be done about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The host refused the request: its origin is not granted in the manifest's
    /// `[http] allow`, or its address is forbidden (loopback, link-local, ...) and
    /// not granted in `[http] addresses`. Permanent.
    Denied,
    /// The request cannot be sent as written: a bad URL, method, header or body.
    /// Permanent.
    Invalid,
    /// No answer in time: DNS, connecting, the first byte, between bytes. Transient.
    Timeout,
    /// No connection, or it broke: DNS failure, refused, reset, TLS. Transient.
    Connection,
    /// The response is larger than the bound ([`Request::max_response`](super::Request::max_response)
    /// or the host's `[http] max_response`). Permanent.
    TooLarge,
    /// The server's answer was not valid HTTP. Transient: servers get fixed.
    Protocol,
}

/// A request that got no response.
///
/// Its `Display` names the method and the URL without its query (which may carry
/// tokens), so it can go into a log or a failure reason as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    kind: ErrorKind,
    method: String,
    url: String,
    detail: String,
}

impl HttpError {
    pub(crate) fn new(kind: ErrorKind, method: &str, url: &str, detail: impl Into<String>) -> Self {
        Self {
            kind,
            method: method.to_owned(),
            url: url.to_owned(),
            detail: detail.into(),
        }
    }

    /// The error for a `wasi:http` error code.
    pub(crate) fn from_code(code: &ErrorCode, method: &str, url: &str) -> Self {
        let (kind, detail) = classify(code);
        Self::new(kind, method, url, detail)
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The URL, without its query.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether a later try could succeed: timeouts, connection and protocol errors.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Timeout | ErrorKind::Connection | ErrorKind::Protocol
        )
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.method, self.url, self.detail)
    }
}

impl std::error::Error for HttpError {}

/// `retry` for a transient error, `reject` for a permanent one, with the error as
/// the reason.
impl From<HttpError> for Failure {
    fn from(err: HttpError) -> Self {
        if err.is_transient() {
            Failure::retry(err.to_string())
        } else {
            Failure::reject(err.to_string())
        }
    }
}

/// The kind of a `wasi:http` error code and a message for people.
fn classify(code: &ErrorCode) -> (ErrorKind, String) {
    use ErrorKind::*;
    let (kind, text) = match code {
        ErrorCode::HttpRequestDenied => (
            Denied,
            "refused by the host: grant the origin in the manifest's [http] allow",
        ),
        ErrorCode::DestinationIpProhibited => (
            Denied,
            "refused by the host: the address is forbidden unless the manifest's \
             [http] addresses grants it",
        ),
        ErrorCode::DnsTimeout => (Timeout, "DNS lookup timed out"),
        ErrorCode::ConnectionTimeout => (Timeout, "connecting timed out"),
        ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
            (Timeout, "the response timed out")
        }
        ErrorCode::ConnectionWriteTimeout => (Timeout, "sending the request timed out"),
        ErrorCode::DnsError(_) => (Connection, "DNS lookup failed"),
        ErrorCode::DestinationNotFound => (Connection, "the host name was not found"),
        ErrorCode::DestinationUnavailable | ErrorCode::DestinationIpUnroutable => {
            (Connection, "the destination is unreachable")
        }
        ErrorCode::ConnectionRefused => (Connection, "connection refused"),
        ErrorCode::ConnectionTerminated => (Connection, "the connection was closed"),
        ErrorCode::ConnectionLimitReached => (Connection, "too many connections"),
        ErrorCode::TlsProtocolError
        | ErrorCode::TlsCertificateError
        | ErrorCode::TlsAlertReceived(_) => (Connection, "TLS failed"),
        ErrorCode::HttpResponseIncomplete => (Connection, "the response was cut short"),
        ErrorCode::InternalError(_) => (Connection, "the request failed"),
        ErrorCode::HttpResponseBodySize(_)
        | ErrorCode::HttpResponseHeaderSectionSize(_)
        | ErrorCode::HttpResponseHeaderSize(_) => (
            TooLarge,
            "the response is over the host's [http] max_response",
        ),
        ErrorCode::HttpUpgradeFailed
        | ErrorCode::HttpProtocolError
        | ErrorCode::HttpResponseTrailerSectionSize(_)
        | ErrorCode::HttpResponseTrailerSize(_)
        | ErrorCode::HttpResponseTransferCoding(_)
        | ErrorCode::HttpResponseContentCoding(_) => (Protocol, "the response is not valid HTTP"),
        ErrorCode::HttpRequestLengthRequired
        | ErrorCode::HttpRequestBodySize(_)
        | ErrorCode::HttpRequestMethodInvalid
        | ErrorCode::HttpRequestUriInvalid
        | ErrorCode::HttpRequestUriTooLong
        | ErrorCode::HttpRequestHeaderSectionSize(_)
        | ErrorCode::HttpRequestHeaderSize(_)
        | ErrorCode::HttpRequestTrailerSectionSize(_)
        | ErrorCode::HttpRequestTrailerSize(_)
        | ErrorCode::LoopDetected
        | ErrorCode::ConfigurationError => (Invalid, "the request is invalid"),
    };
    (kind, format!("{text} ({code:?})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_by_the_host_is_permanent_and_a_timeout_is_not() {
        let denied = HttpError::from_code(&ErrorCode::HttpRequestDenied, "GET", "http://h/x");
        assert_eq!(denied.kind(), ErrorKind::Denied);
        assert!(!denied.is_transient());
        assert!(matches!(Failure::from(denied.clone()), Failure::Reject(_)));
        assert!(
            denied
                .to_string()
                .starts_with("GET http://h/x: refused by the host")
        );

        let slow = HttpError::from_code(&ErrorCode::ConnectionTimeout, "POST", "http://h/x");
        assert_eq!(slow.kind(), ErrorKind::Timeout);
        assert!(matches!(Failure::from(slow), Failure::Retry(_)));

        let refused = HttpError::from_code(&ErrorCode::ConnectionRefused, "GET", "http://h/x");
        assert!(refused.is_transient());
    }
}

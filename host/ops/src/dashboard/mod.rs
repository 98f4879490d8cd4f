//! The web dashboard at `/ui`: plain HTML, CSS and JavaScript embedded in the
//! binary (no CDN, no build step, works offline). The page reads the admin API
//! (`/v1/status`, `/v1/errors`, `/v1/asyncapi.json`) from the browser and
//! draws it; throughput is the difference of successive polls.
//!
//! On a host with tokens, `/ui` first asks for a token ([`SIGN_IN`]) and, when
//! the host knows it, sets an HttpOnly, `SameSite=Strict` session cookie. The
//! server's guard then treats a request carrying that cookie as one carrying
//! the token, and refuses a change (any method but GET and HEAD) that lacks the
//! session's CSRF token in `x-csrf-token` ([`Sessions::bearer`]); the page
//! gets that token in a `<meta>` of its HTML. On a host without tokens the
//! page is open, on loopback, like the API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const INDEX: &str = include_str!("assets/index.html");
const SIGN_IN: &str = include_str!("assets/sign-in.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// The session cookie's name.
pub const COOKIE: &str = "weft_session";
/// How long a session lasts after sign-in.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Most sessions kept; the oldest goes first.
const MAX_SESSIONS: usize = 1024;

/// What the dashboard needs to know of the host's tokens, implemented by the
/// server.
pub trait Tokens: Send + Sync + 'static {
    /// No tokens configured: the page is open (the host is on loopback).
    fn is_open(&self) -> bool;
    /// Whether the host accepts `token` now (known, not expired).
    fn accepts(&self, token: &str) -> bool;
}

struct Session {
    token: String,
    csrf: String,
    created: Instant,
}

/// Signed-in browsers: session id to the token it stands for.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions")
    }
}

/// A random value for a session id or a CSRF token: two v4 UUIDs (244 random
/// bits from the OS's generator).
fn random() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Sessions {
    fn start(&self, token: &str) -> (String, String) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, s| s.created.elapsed() < SESSION_TTL);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        let (id, csrf) = (random(), random());
        map.insert(
            id.clone(),
            Session {
                token: token.to_owned(),
                csrf: csrf.clone(),
                created: Instant::now(),
            },
        );
        (id, csrf)
    }

    /// The live session of a request's cookie: (token, CSRF token).
    fn of(&self, headers: &HeaderMap) -> Option<(String, String)> {
        let id = cookie(headers, COOKIE)?;
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let s = map.get(id).filter(|s| s.created.elapsed() < SESSION_TTL)?;
        Some((s.token.clone(), s.csrf.clone()))
    }

    /// The token a request's session cookie stands for, for the API's guard:
    /// `None` without a live session; `Err` with the reason when the request
    /// changes something (not GET or HEAD) without the session's CSRF token.
    pub fn bearer(
        &self,
        method: &axum::http::Method,
        headers: &HeaderMap,
    ) -> Option<Result<String, String>> {
        let (token, csrf) = self.of(headers)?;
        let safe = method == axum::http::Method::GET || method == axum::http::Method::HEAD;
        let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
        if !safe && sent != Some(csrf.as_str()) {
            return Some(Err(
                "a change from the dashboard must carry its CSRF token (header x-csrf-token): reload the page and try again".into(),
            ));
        }
        Some(Ok(token))
    }
}

/// The value of cookie `name` in a request.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The dashboard's routes: `/ui`, its assets and the sign-in.
pub fn router(tokens: Arc<dyn Tokens>, sessions: Arc<Sessions>) -> Router {
    let (t1, s1) = (tokens.clone(), sessions.clone());
    Router::new()
        .route(
            "/ui",
            get(move |headers: HeaderMap| async move { page(&*t1, &s1, &headers) }),
        )
        .route(
            "/ui/sign-in",
            axum::routing::post(
                move |body: Bytes| async move { sign_in(&*tokens, &sessions, &body) },
            ),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/ui/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // Only this host's own scripts and styles; no framing.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

fn page(tokens: &dyn Tokens, sessions: &Sessions, headers: &HeaderMap) -> Response {
    if tokens.is_open() {
        return html(StatusCode::OK, INDEX.to_owned());
    }
    match sessions.of(headers) {
        Some((token, csrf)) if tokens.accepts(&token) => html(
            StatusCode::OK,
            INDEX.replacen(
                "<meta charset=\"utf-8\">",
                &format!("<meta charset=\"utf-8\">\n<meta name=\"csrf-token\" content=\"{csrf}\">"),
                1,
            ),
        ),
        _ => html(StatusCode::OK, SIGN_IN.to_owned()),
    }
}

fn sign_in(tokens: &dyn Tokens, sessions: &Sessions, body: &[u8]) -> Response {
    let token = form_value(body, "token").unwrap_or_default();
    if tokens.is_open() || !tokens.accepts(&token) {
        let message = if tokens.is_open() {
            "this host has no tokens: the dashboard is open at /ui"
        } else {
            "this host does not know that token (or it expired): check it, or ask for a new one"
        };
        return html(
            StatusCode::UNAUTHORIZED,
            SIGN_IN.replacen(
                "<!--MESSAGE-->",
                &format!("<p class=\"problem\">{message}</p>"),
                1,
            ),
        );
    }
    let (id, _) = sessions.start(&token);
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_TTL.as_secs()
    );
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/ui"));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// A field of an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
}

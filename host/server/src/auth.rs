//! Client grants: who may call the HTTP API, and for what.
//!
//! A client presents `Authorization: Bearer TOKEN` on every `/v1/*` route. Each token of
//! the host config (`[tokens.NAME]`) carries grants, NATS-style topic patterns. The shape
//! follows NATS users' `permissions { publish, subscribe }` (allow lists of subject
//! patterns, nothing granted by default) rather than Kafka's separate ACL bindings: a
//! host has few clients, and one table per client reads as what that client may do.
//!
//! - `publish`: topics it may publish to (each event of a request is checked; a replay
//!   onto a topic needs it too, since a replay publishes);
//! - `tap`: patterns it may tap. A tap pattern is allowed when one grant *covers* it
//!   (every topic the pattern can match, the grant matches: see [`covers`]); the stream
//!   then shows only events on topics a `tap` grant matches. A token whose `tap` grants
//!   cover every pattern of a subscription may also pull, acknowledge and stream that
//!   subscription: it could watch those events live anyway;
//! - `admin`: status, error records (list, show, replay, purge), creating, changing and
//!   deleting subscriptions.
//!
//! A missing or unknown token is `401` with `WWW-Authenticate: Bearer`; a known token
//! without the grant is `403`, with the same message whether or not anything uses the
//! topic. `/healthz`, `/readyz` and the webhook routes (`/hooks/...`, whose senders
//! sign their requests and are checked by their connector) are outside token auth.
//!
//! The host keeps only a SHA-256 digest of each token and compares digests in constant
//! time, against every token, so a comparison tells nothing about how close a guess
//! was. Logs name the token (`name`), never its value. A token past its `expires` is
//! refused like an unknown one (`401`), but logged with its name. Every refusal is
//! logged and counted: per token name, and for requests without a token or with an
//! unknown one (`/v1/status`, `tokens`), so an operator sees a client that keeps
//! knocking.
//!
//! With no token configured the API is open, and the host agrees to listen only on a
//! loopback address ([`check_listen`], called by `run` itself, so no caller of the
//! host can skip it).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};
use weft_core::{Pattern, Patterns, Topic};

use crate::problem::{Kind, Problem};

/// One client token and what it may do. `Debug` shows the name and the grants, never
/// the token or its digest.
#[derive(Clone)]
pub struct Grant {
    pub name: String,
    digest: [u8; 32],
    pub publish: Patterns,
    pub tap: Patterns,
    pub admin: bool,
    /// May scrape `/metrics` (`metrics = true`); admin may too.
    pub metrics: bool,
    /// After it the token is refused (`401`).
    pub expires: Option<chrono::DateTime<chrono::Utc>>,
    /// Requests of this token refused (`401` expired, `403`), since start.
    refused: Arc<AtomicU64>,
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("name", &self.name)
            .field("publish", &list(&self.publish))
            .field("tap", &list(&self.tap))
            .field("admin", &self.admin)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl Grant {
    pub fn new(name: String, token: &str, publish: Patterns, tap: Patterns, admin: bool) -> Self {
        Self::from_digest(name, digest(token), publish, tap, admin, None)
    }

    /// A grant known by its token's SHA-256 only (`digest = "sha256:..."`).
    pub fn from_digest(
        name: String,
        digest: [u8; 32],
        publish: Patterns,
        tap: Patterns,
        admin: bool,
        expires: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Self {
        Self {
            name,
            digest,
            publish,
            tap,
            admin,
            metrics: false,
            expires,
            refused: Arc::default(),
        }
    }

    /// Requests of this token refused since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Counts a refusal of this token; the count so far, for its log line.
    fn count_refusal(&self) -> u64 {
        self.refused.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Whether two grants are given the same token (a config error: which name
    /// would the logs show?).
    pub fn same_token(&self, other: &Self) -> bool {
        same(&self.digest, &other.digest)
    }
}

/// The SHA-256 of a token, as `[tokens.NAME] digest` gives it.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Constant-time equality of two digests.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn list(p: &Patterns) -> String {
    let v: Vec<_> = p.iter().map(Pattern::as_str).collect();
    if v.is_empty() {
        "nothing".into()
    } else {
        v.join(", ")
    }
}

/// Every token a host knows. Empty: the API is open (loopback only).
#[derive(Debug, Default)]
pub struct Auth {
    grants: Vec<Arc<Grant>>,
    /// Requests refused for want of a token.
    missing: AtomicU64,
    /// Requests refused with a token no grant has.
    unknown: AtomicU64,
    /// The dashboard's signed-in browsers: a session cookie stands for a token.
    pub sessions: Arc<weft_ops::dashboard::Sessions>,
}

impl weft_ops::dashboard::Tokens for Auth {
    fn is_open(&self) -> bool {
        Auth::is_open(self)
    }

    fn accepts(&self, token: &str) -> bool {
        self.authenticate(token)
            .is_some_and(|g| g.expires.is_none_or(|at| at > chrono::Utc::now()))
    }
}

impl Auth {
    pub fn new(grants: Vec<Grant>) -> Self {
        let now = chrono::Utc::now();
        for g in &grants {
            if g.expires.is_some_and(|at| at <= now) {
                tracing::warn!(token = %g.name, expires = ?g.expires, "token already expired: its requests are refused");
            }
        }
        Self {
            grants: grants.into_iter().map(Arc::new).collect(),
            ..Self::default()
        }
    }

    /// The refusals counted since start, for `/v1/status`: per token, and of
    /// requests without a known token.
    pub fn refusals(&self) -> serde_json::Value {
        let tokens: Vec<_> = self
            .grants
            .iter()
            .map(|g| {
                serde_json::json!({
                    "name": g.name,
                    "refused": g.refused(),
                    "expires": g.expires.map(|t| t.to_rfc3339()),
                })
            })
            .collect();
        serde_json::json!({
            "tokens": tokens,
            "refused_without_token": self.missing.load(Ordering::Relaxed),
            "refused_unknown_token": self.unknown.load(Ordering::Relaxed),
        })
    }

    pub fn is_open(&self) -> bool {
        self.grants.is_empty()
    }

    /// The grant of `token`, comparing its digest with every known one.
    pub fn authenticate(&self, token: &str) -> Option<Arc<Grant>> {
        let d = digest(token);
        let mut found = None;
        for g in &self.grants {
            if same(&g.digest, &d) {
                found = Some(g.clone());
            }
        }
        found
    }
}

/// What the caller of a request may do; the guard puts it into the request.
#[derive(Debug, Clone)]
pub enum Access {
    /// No tokens configured: everything (the host listens on loopback only).
    Open,
    Token(Arc<Grant>),
}

/// A refusal of a known token: `403` with the reason.
#[derive(Debug)]
pub struct Forbidden(String);

impl IntoResponse for Forbidden {
    fn into_response(self) -> Response {
        Problem::new(Kind::Forbidden, self.0).into_response()
    }
}

impl Access {
    pub fn is_admin(&self) -> bool {
        match self {
            Access::Open => true,
            Access::Token(g) => g.admin,
        }
    }

    /// May it publish to `topic`? The answer does not depend on whether anything
    /// subscribes to the topic.
    pub fn check_publish(&self, topic: &str) -> Result<(), Forbidden> {
        let Access::Token(g) = self else {
            return Ok(());
        };
        if Topic::parse(topic).is_ok_and(|t| g.publish.matches(&t)) {
            return Ok(());
        }
        let refused = g.count_refusal();
        tracing::warn!(token = %g.name, %topic, refused, "publish refused: not granted");
        Err(Forbidden(format!(
            "token `{}` may not publish to `{topic}` (it may publish to: {})",
            g.name,
            list(&g.publish)
        )))
    }

    /// May it tap `pattern`? Only if one `tap` grant covers the whole pattern.
    pub fn check_tap(&self, pattern: &Pattern) -> Result<(), Forbidden> {
        let Access::Token(g) = self else {
            return Ok(());
        };
        if g.tap.iter().any(|grant| covers(grant, pattern)) {
            return Ok(());
        }
        let refused = g.count_refusal();
        tracing::warn!(token = %g.name, %pattern, refused, "tap refused: not granted");
        Err(Forbidden(format!(
            "token `{}` may not tap `{pattern}` (it may tap: {})",
            g.name,
            list(&g.tap)
        )))
    }

    /// Whether a tap of this caller shows an event on `topic`.
    pub fn sees(&self, topic: &Topic) -> bool {
        match self {
            Access::Open => true,
            Access::Token(g) => g.tap.matches(topic),
        }
    }

    /// May it pull, acknowledge or stream subscription `name`, which collects
    /// `patterns` (`None`: no such subscription)? Admins may; other tokens when their
    /// `tap` grants cover every pattern. A token that may not gets the same answer
    /// whether the subscription exists or not.
    pub fn check_read(&self, name: &str, patterns: Option<&Patterns>) -> Result<(), Forbidden> {
        let Access::Token(g) = self else {
            return Ok(());
        };
        if g.admin {
            return Ok(());
        }
        let covered = patterns.is_some_and(|p| {
            p.iter()
                .all(|pattern| g.tap.iter().any(|grant| covers(grant, pattern)))
        });
        if covered {
            return Ok(());
        }
        let refused = g.count_refusal();
        tracing::warn!(token = %g.name, subscription = %name, refused, "subscription read refused: not granted");
        Err(Forbidden(format!(
            "token `{}` may not read subscription `{name}`: a token reads a subscription when it is admin or its tap grants ({}) cover all of the subscription's patterns",
            g.name,
            list(&g.tap)
        )))
    }
}

/// Does `grant` match every topic that `pattern` can match? See [`Pattern::covers`].
pub fn covers(grant: &Pattern, pattern: &Pattern) -> bool {
    grant.covers(pattern)
}

/// The guard in front of every `/v1/*` route: authenticates the bearer token, refuses
/// what needs admin, and hands the handlers the caller's [`Access`].
pub async fn guard(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    if !path.starts_with("/v1/") {
        return next.run(req).await;
    }
    // The dashboard's session cookie, when no bearer token is sent: it stands for
    // the token signed in with, and a change must carry the session's CSRF token.
    if !req.headers().contains_key(header::AUTHORIZATION)
        && let Some(session) = auth.sessions.bearer(req.method(), req.headers())
    {
        match session {
            Ok(token) => {
                if let Ok(v) = header::HeaderValue::from_str(&format!("Bearer {token}")) {
                    req.headers_mut().insert(header::AUTHORIZATION, v);
                }
            }
            Err(why) => return Problem::new(Kind::Forbidden, why).into_response(),
        }
    }
    match authorize(&auth, req.headers(), &path) {
        Ok(access) => {
            req.extensions_mut().insert(access);
            next.run(req).await
        }
        Err(refused) => refused.into_response(),
    }
}

/// What the caller of `/v1` route `path` may do, or the `401`/`403` answer.
/// The fallback for unknown `/v1` paths asks it too, so that a caller without
/// a known token learns nothing of which routes exist (every unknown route
/// needs admin, see `needs_admin`).
pub fn authorize(auth: &Auth, headers: &HeaderMap, path: &str) -> Result<Access, Problem> {
    let access = authenticate(auth, headers, path)?;
    if needs_admin(path)
        && let Access::Token(g) = &access
        && !g.admin
    {
        let refused = g.count_refusal();
        tracing::warn!(token = %g.name, %path, refused, "admin route refused");
        return Err(Problem::new(
            Kind::Forbidden,
            format!(
                "token `{}` may not use {path}: that needs a token with `admin = true`",
                g.name
            ),
        ));
    }
    Ok(access)
}

/// Who calls, or the `401` answer: the first check of every `/v1` request,
/// also of one with a method its route does not have (so that a `405` tells
/// only a known caller that the route exists).
pub fn authenticate(auth: &Auth, headers: &HeaderMap, path: &str) -> Result<Access, Problem> {
    Ok(if auth.is_open() {
        Access::Open
    } else {
        match bearer(headers) {
            Err(why) => {
                let n = auth.missing.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::info!(%path, refused = n, "request without a token refused");
                return Err(unauthorized(why, false));
            }
            Ok(token) => match auth.authenticate(token) {
                Some(g) => match g.expires {
                    Some(at) if at <= chrono::Utc::now() => {
                        let refused = g.count_refusal();
                        tracing::warn!(token = %g.name, %path, expired = %at, refused, "request with an expired token refused");
                        return Err(unauthorized(
                            &format!(
                                "token `{}` expired at {}: ask the operator for a new one (`weft token new`)",
                                g.name,
                                at.to_rfc3339()
                            ),
                            true,
                        ));
                    }
                    _ => Access::Token(g),
                },
                None => {
                    let n = auth.unknown.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::warn!(%path, refused = n, "request with an unknown token refused");
                    return Err(unauthorized("the token is not known to this host", true));
                }
            },
        }
    })
}

/// May the caller scrape `/metrics`? Open without tokens (loopback only, like
/// the API); with tokens, one granted `metrics` or admin (Prometheus sends it as
/// a bearer token).
pub fn authorize_metrics(auth: &Auth, headers: &HeaderMap) -> Result<(), Problem> {
    match authenticate(auth, headers, "/metrics")? {
        Access::Token(g) if !g.admin && !g.metrics => {
            let refused = g.count_refusal();
            tracing::warn!(token = %g.name, refused, "metrics scrape refused: not granted");
            Err(Problem::new(
                Kind::Forbidden,
                format!(
                    "token `{}` may not scrape /metrics: give it `metrics = true` (or admin) under [tokens.{}]",
                    g.name, g.name
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// Routes a token may use with `publish` or `tap` grants; every other `/v1/*` route,
/// including ones added later, needs admin.
fn needs_admin(route: &str) -> bool {
    !matches!(
        route,
        "/v1/events/{*topic}"
            | "/v1/requests/{*topic}"
            | "/v1/replies/{id}"
            | "/v1/tap"
            | "/v1/subscriptions/{name}/events"
            | "/v1/subscriptions/{name}/ack"
            | "/v1/subscriptions/{name}/stream"
    )
}

fn bearer(headers: &HeaderMap) -> Result<&str, &'static str> {
    const MISSING: &str = "this host needs a token: send `Authorization: Bearer TOKEN` (weft CLI: --token or WEFT_TOKEN)";
    let value = headers.get(header::AUTHORIZATION).ok_or(MISSING)?;
    let value = value.to_str().map_err(|_| MISSING)?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err("the Authorization header must be `Bearer TOKEN`"),
    }
}

fn unauthorized(message: &str, invalid: bool) -> Problem {
    let mut p = Problem::new(Kind::Unauthorized, message);
    p.challenge = Some(if invalid {
        "Bearer realm=\"weft\", error=\"invalid_token\""
    } else {
        "Bearer realm=\"weft\""
    });
    p
}

/// A host without tokens serves anyone who can reach it, so it may listen only on a
/// loopback address; it says so at start.
pub fn check_listen(listen: SocketAddr, grants: &[Grant]) -> anyhow::Result<()> {
    if !grants.is_empty() {
        return Ok(());
    }
    if !listen.ip().is_loopback() {
        anyhow::bail!(
            "refusing to listen on {listen} without API tokens: anyone who reaches it could publish, tap and purge. \
             Add [tokens.NAME] with `token = {{ secret = \"...\" }}` and [secrets] to the host config (see README), \
             or listen on a loopback address like 127.0.0.1"
        );
    }
    tracing::warn!(
        %listen,
        "no API tokens configured: the HTTP API is open to every local process (loopback only); add [tokens.NAME] and [secrets] to the host config to require tokens"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn covers_(grant: &str, pattern: &str) -> bool {
        covers(
            &Pattern::parse(grant).unwrap(),
            &Pattern::parse(pattern).unwrap(),
        )
    }

    #[test]
    fn a_tail_grant_covers_its_own_subtree_only() {
        assert!(covers_("orders/>", "orders/>"));
        assert!(covers_("orders/>", "orders/eu"));
        assert!(covers_("orders/>", "orders/eu/*"));
        assert!(covers_("orders/>", "orders/*/>"));
        assert!(!covers_("orders/>", "orders2/x"));
        assert!(!covers_("orders/>", "orders"), "`>` needs one more level");
        assert!(!covers_("orders/>", ">"));
        assert!(!covers_("orders/>", "*"));
        assert!(!covers_("orders/>", "*/eu"));
    }

    #[test]
    fn everything_is_covered_only_by_a_bare_tail() {
        assert!(covers_(">", ">"));
        assert!(covers_(">", "*"));
        assert!(covers_(">", "a/b/c"));
        assert!(!covers_("*", ">"), "`>` also matches a/b");
        assert!(!covers_("*/>", ">"), "`>` also matches a single level");
    }

    #[test]
    fn a_one_level_wildcard_covers_one_level() {
        assert!(covers_("*", "*"));
        assert!(covers_("*", "orders"));
        assert!(covers_("orders/*", "orders/eu"));
        assert!(covers_("orders/*/created", "orders/*/created"));
        assert!(!covers_("orders/*", "orders/eu/x"));
        assert!(!covers_("orders/*", "orders/>"));
        assert!(
            !covers_("orders/eu", "orders/*"),
            "an exact level covers no wildcard"
        );
        assert!(!covers_("orders/eu", "orders"));
        assert!(!covers_("orders", "orders/eu"));
        assert!(covers_("orders/eu", "orders/eu"));
    }

    #[test]
    fn covering_agrees_with_matching_on_samples() {
        let patterns = [
            ">", "*", "a", "a/*", "a/>", "a/b", "*/b", "a/*/c", "*/>", "a/b/>", "b/>",
        ];
        let topics = ["a", "b", "a/b", "a/c", "b/b", "a/b/c", "a/x/c", "a/b/c/d"];
        for g in patterns {
            for p in patterns {
                if covers_(g, p) {
                    let (g, p) = (Pattern::parse(g).unwrap(), Pattern::parse(p).unwrap());
                    for t in topics {
                        let t = Topic::parse(t).unwrap();
                        assert!(
                            !p.matches(&t) || g.matches(&t),
                            "{g} covers {p} but not {t}"
                        );
                    }
                }
            }
        }
    }

    fn grant(name: &str, token: &str, publish: &[&str], tap: &[&str], admin: bool) -> Grant {
        Grant::new(
            name.into(),
            token,
            Patterns::parse(publish).unwrap(),
            Patterns::parse(tap).unwrap(),
            admin,
        )
    }

    #[test]
    fn a_token_is_known_by_its_digest_and_shown_by_its_name() {
        let auth = Auth::new(vec![
            grant("ci", "s3cret-ci", &["orders/>"], &[], false),
            grant("ops", "s3cret-ops", &[], &[">"], true),
        ]);
        assert_eq!(auth.authenticate("s3cret-ops").unwrap().name, "ops");
        assert!(auth.authenticate("s3cret").is_none());
        assert!(auth.authenticate("").is_none());
        let shown = format!("{auth:?}");
        assert!(shown.contains("ci") && !shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn grants_decide_publish_tap_and_reads() {
        let ci = Access::Token(Arc::new(grant(
            "ci",
            "t",
            &["orders/>"],
            &["orders/>"],
            false,
        )));
        assert!(ci.check_publish("orders/eu/1").is_ok());
        let refused = ci.check_publish("orders2/x").unwrap_err().0;
        assert_eq!(
            refused,
            "token `ci` may not publish to `orders2/x` (it may publish to: orders/>)"
        );
        assert!(ci.check_tap(&Pattern::parse("orders/>").unwrap()).is_ok());
        assert!(ci.check_tap(&Pattern::parse(">").unwrap()).is_err());
        assert!(ci.sees(&Topic::parse("orders/x").unwrap()));
        assert!(!ci.sees(&Topic::parse("payments/x").unwrap()));
        let sub = Patterns::parse(&["orders/eu/>"]).unwrap();
        assert!(ci.check_read("eu", Some(&sub)).is_ok());
        let wide = Patterns::parse(&["orders/>", "payments/>"]).unwrap();
        assert!(ci.check_read("all", Some(&wide)).is_err());
        assert_eq!(
            ci.check_read("s", None).unwrap_err().0,
            ci.check_read("s", Some(&wide)).unwrap_err().0,
            "the same answer whether the subscription exists or not"
        );
        assert!(!ci.is_admin());
        assert!(
            Access::Open
                .check_tap(&Pattern::parse(">").unwrap())
                .is_ok()
        );
    }

    #[test]
    fn only_the_publish_tap_and_read_routes_skip_admin() {
        assert!(!needs_admin("/v1/events/{*topic}"));
        assert!(!needs_admin("/v1/tap"));
        assert!(!needs_admin("/v1/subscriptions/{name}/events"));
        for admin in [
            "/v1/status",
            "/v1/errors",
            "/v1/errors/replay",
            "/v1/errors/purge",
            "/v1/subscriptions",
            "/v1/subscriptions/{name}",
            "/v1/something-new",
        ] {
            assert!(needs_admin(admin), "{admin}");
        }
    }

    #[test]
    fn without_tokens_only_loopback_is_allowed() {
        assert!(check_listen("127.0.0.1:8080".parse().unwrap(), &[]).is_ok());
        assert!(check_listen("[::1]:8080".parse().unwrap(), &[]).is_ok());
        let err = check_listen("0.0.0.0:8080".parse().unwrap(), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("without API tokens"), "{err}");
        let g = grant("ci", "t", &["a"], &[], false);
        assert!(check_listen("0.0.0.0:8080".parse().unwrap(), &[g]).is_ok());
    }
}

//! The parts of an `http://` or `https://` URL that `wasi:http` takes separately.
//!
//! Deliberately small: an outgoing request needs a scheme, an authority and a
//! path with its query, and the host checks the origin against the manifest. No
//! normalisation happens here (no IDNA, no dot segments): what the guest wrote
//! is what the host sees and what the server gets.

/// A parsed request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// `true` for `https`, `false` for `http`.
    pub https: bool,
    /// `host[:port]`, as written.
    pub authority: String,
    /// `/path?query`, at least `/`; the fragment is dropped.
    pub path_with_query: String,
}

impl Target {
    /// Parses `url`; the error says what is wrong with it.
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("the URL contains whitespace or control characters".into());
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or("the URL has no scheme: write http://host/path or https://host/path")?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(format!("the scheme `{scheme}` is not http or https")),
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.is_empty() {
            return Err("the URL has no host".into());
        }
        if authority.contains('@') {
            return Err("the URL carries credentials: send them in a header instead".into());
        }
        let path_with_query = match path {
            "" => "/".to_owned(),
            query if query.starts_with('?') => format!("/{query}"),
            path => path.to_owned(),
        };
        Ok(Self {
            https,
            authority: authority.to_owned(),
            path_with_query,
        })
    }

    /// Appends `name=value` pairs to the query, percent-encoded.
    pub fn add_query(&mut self, pairs: &[(String, String)]) {
        for (name, value) in pairs {
            let separator = if self.path_with_query.contains('?') {
                '&'
            } else {
                '?'
            };
            self.path_with_query.push(separator);
            self.path_with_query.push_str(&percent_encode(name));
            self.path_with_query.push('=');
            self.path_with_query.push_str(&percent_encode(value));
        }
    }

    /// `scheme://authority/path`, without the query (which may carry tokens): the
    /// form errors and logs show.
    pub fn shown(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let path = self
            .path_with_query
            .split_once('?')
            .map_or(self.path_with_query.as_str(), |(path, _)| path);
        format!("{scheme}://{}{path}", self.authority)
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so the result
/// is safe as a query name or value.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The URL without its query and fragment, for messages about a URL that did not
/// parse.
pub(crate) fn shown_raw(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap_or_else(|err| Target {
            https: false,
            authority: format!("error: {err}"),
            path_with_query: String::new(),
        })
    }

    #[test]
    fn a_url_splits_into_scheme_authority_and_path() {
        let t = target("https://api.github.com:443/repos/x?page=2#top");
        assert!(t.https);
        assert_eq!(t.authority, "api.github.com:443");
        assert_eq!(t.path_with_query, "/repos/x?page=2");
        assert_eq!(t.shown(), "https://api.github.com:443/repos/x");
        assert_eq!(target("http://127.0.0.1:8080").path_with_query, "/");
        assert_eq!(target("HTTP://h?x=1").path_with_query, "/?x=1");
    }

    #[test]
    fn query_pairs_are_appended_encoded() {
        let mut t = target("http://h/items");
        t.add_query(&[
            ("cursor".into(), "a b&c=/é".into()),
            ("limit".into(), "5".into()),
        ]);
        assert_eq!(
            t.path_with_query,
            "/items?cursor=a%20b%26c%3D%2F%C3%A9&limit=5"
        );
        let mut t = target("http://h/items?x=1");
        t.add_query(&[("y".into(), "2".into())]);
        assert_eq!(t.path_with_query, "/items?x=1&y=2");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, says) in [
            ("ftp://h/x", "scheme `ftp`"),
            ("h/x", "no scheme"),
            ("http:///x", "no host"),
            ("http://u:p@h/x", "credentials"),
            ("http://h/a b", "whitespace"),
        ] {
            let err = Target::parse(url).err().unwrap_or_default();
            assert!(err.contains(says), "{url}: {err}");
        }
        assert_eq!(shown_raw("http://h/x?token=1#f"), "http://h/x");
    }
}

//! The configured base URL of an API, and the rule that keeps a token on it:
//! a base is https (plain http only on loopback, for sandboxes), URLs are
//! built from it segment by segment, and a next link the API sends is
//! followed only when it stays on the base's origin (or on a host the
//! connector allows explicitly).
//!
//! URLs in messages go through [`display_url`]: next links carry opaque
//! cursors, and a query is the one place a secret could hide in a URL.

use std::net::Ipv4Addr;

use url::{Host, Position, Url};

/// Why a base URL or a next link is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Plain http:// to a host that is not loopback.
    #[error("`{url}` uses plain http:// on a host that is not loopback; use https://")]
    Insecure { url: String },
    /// Not a URL, or not an http(s) one.
    #[error("`{url}` is not a usable URL: {reason}")]
    Invalid { url: String, reason: String },
    /// A next link to another origin; the token is not sent there.
    #[error("next link points at `{host}`, which is not the configured origin nor an allowed host; the token is not sent there")]
    Foreign { host: String },
}

/// A configured base URL (e.g. `https://api.example.com/v2`) and the hosts
/// a next link may point at besides its own origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiBase {
    url: Url,
    /// Further https hosts (port 443) next links may point at.
    allowed_hosts: Vec<String>,
}

impl ApiBase {
    /// Parses a configured base URL: https, or plain http on loopback
    /// (127.0.0.0/8, `::1`, `localhost`) only.
    pub fn parse(base: &str) -> Result<Self, UrlError> {
        let invalid = |reason: String| UrlError::Invalid {
            url: display_url(base),
            reason,
        };
        let url = Url::parse(base).map_err(|error| invalid(error.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => {
                return Err(UrlError::Insecure {
                    url: display_url(base),
                })
            }
            other => {
                return Err(invalid(format!(
                    "expected an https:// URL, found scheme `{other}`"
                )))
            }
        }
        Ok(Self {
            url,
            allowed_hosts: Vec::new(),
        })
    }

    /// Also lets next links point at these hosts, over https on port 443
    /// only (e.g. an API's regional hosts). Compared without case.
    pub fn allow_hosts<S: Into<String>>(mut self, hosts: impl IntoIterator<Item = S>) -> Self {
        self.allowed_hosts.extend(hosts.into_iter().map(Into::into));
        self
    }

    /// The base URL as configured (parsed).
    pub fn as_url(&self) -> &Url {
        &self.url
    }

    /// The base's host and port (when not the default), for messages.
    pub fn host_and_port(&self) -> &str {
        &self.url[Position::BeforeHost..Position::AfterPort]
    }

    /// The base with `segments` appended to its path, each percent-encoded,
    /// and the base's query dropped.
    pub fn url_for_segments<'a>(&self, segments: impl IntoIterator<Item = &'a str>) -> Url {
        let mut url = self.url.clone();
        url.set_query(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// The URL of `path` (e.g. `/api/machines`) under the base, with `query`
    /// as given: names such as OData's `$top` stay readable.
    pub fn url_for_path(&self, path: &str, query: Option<&str>) -> Url {
        let segments = path.split('/').filter(|segment| !segment.is_empty());
        let mut url = self.url_for_segments(segments);
        url.set_query(query);
        url
    }

    /// The URL a next link points at, when the token may go there: the
    /// base's origin (same scheme, host and port), or an allowed host over
    /// https. Relative links resolve against the base.
    pub fn check_next_link(&self, link: &str) -> Result<Url, UrlError> {
        let url = self.url.join(link).map_err(|error| UrlError::Invalid {
            url: display_url(link),
            reason: error.to_string(),
        })?;
        if self.same_origin(&url) || self.allowed_host(&url) {
            Ok(url)
        } else {
            let host = &url[Position::BeforeHost..Position::AfterPort];
            Err(UrlError::Foreign {
                host: host.to_string(),
            })
        }
    }

    fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.url.scheme()
            && url.host_str() == self.url.host_str()
            && url.port_or_known_default() == self.url.port_or_known_default()
    }

    fn allowed_host(&self, url: &Url) -> bool {
        url.scheme() == "https"
            && url.port_or_known_default() == Some(443)
            && url.host_str().is_some_and(|host| {
                self.allowed_hosts
                    .iter()
                    .any(|allowed| allowed.eq_ignore_ascii_case(host))
            })
    }
}

/// Whether `url`'s host is loopback: 127.0.0.0/8, `::1` or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(address)) => Ipv4Addr::is_loopback(&address),
        Some(Host::Ipv6(address)) => address.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// `url` as errors and logs show it: without user info, query or fragment.
/// A string that does not parse is cut at its first `?` or `#`.
pub fn display_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            // Cannot fail on http(s) URLs; ignored for the rest, which have
            // no user info to hide.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(url: &str) -> ApiBase {
        ApiBase::parse(url).expect("a valid base")
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let accepted = [
            "https://api.example",
            "https://203.0.113.9:8443/v1",
            "http://127.0.0.1:1",
            "http://127.9.9.9",
            "http://[::1]:8",
            "http://LOCALHOST:9",
            "http://localhost",
        ];
        for url in accepted {
            assert!(ApiBase::parse(url).is_ok(), "{url}");
        }
        let insecure = [
            ("http://example.com?x=1", "http://example.com/"),
            ("http://128.0.0.1", "http://128.0.0.1/"),
            ("http://[::2]", "http://[::2]/"),
            ("http://localhost.example", "http://localhost.example/"),
            ("http://0.0.0.0", "http://0.0.0.0/"),
        ];
        for (url, shown) in insecure {
            let error = ApiBase::parse(url).expect_err(url);
            assert_eq!(error, UrlError::Insecure { url: shown.into() }, "{url}");
        }
    }

    #[test]
    fn other_schemes_and_non_urls_are_invalid() {
        let error = ApiBase::parse("ftp://127.0.0.1").expect_err("not http");
        assert_eq!(
            error.to_string(),
            "`ftp://127.0.0.1/` is not a usable URL: expected an https:// URL, found scheme `ftp`"
        );
        let error = ApiBase::parse("api.example?key=s3cret").expect_err("no scheme");
        assert_eq!(
            error.to_string(),
            "`api.example` is not a usable URL: relative URL without a base"
        );
    }

    #[test]
    fn next_links_stay_on_the_origin_or_an_allowed_host() {
        let base = base("http://127.0.0.1:8080/base").allow_hosts(["EU.api.example"]);
        let url = base.check_next_link("http://127.0.0.1:8080/base/next?$skiptoken=a");
        assert_eq!(url.expect("same origin").path(), "/base/next");
        let url = base.check_next_link("/base/page?n=2").expect("relative");
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/base/page?n=2");
        let url = base.check_next_link("https://eu.api.example/x?a=1");
        assert!(url.is_ok(), "an allowed host");

        let refused = [
            ("http://127.0.0.1:8081/next", "127.0.0.1:8081"),
            ("https://127.0.0.1:8080/next", "127.0.0.1:8080"),
            ("http://localhost:8080/next", "localhost:8080"),
            ("https://evil.example/api?token=1", "evil.example"),
            ("http://eu.api.example/x", "eu.api.example"),
            ("https://eu.api.example:8443/x", "eu.api.example:8443"),
            ("https://other.api.example/x", "other.api.example"),
        ];
        for (link, host) in refused {
            let error = base.check_next_link(link).expect_err(link);
            assert_eq!(error, UrlError::Foreign { host: host.into() }, "{link}");
        }
    }

    #[test]
    fn a_default_port_is_the_same_origin() {
        let base = base("https://api.example/v1");
        assert!(base
            .check_next_link("https://api.example:443/v1/p2")
            .is_ok());
        assert!(base.check_next_link("https://API.example/v1/p2").is_ok());
        assert_eq!(base.host_and_port(), "api.example");
    }

    #[test]
    fn urls_keep_the_base_path_and_encode_segments() {
        let base = base("http://127.0.0.1:8080/base/?key=dropped");
        let url = base.url_for_path("/api/machines", Some("$top=10000&$skip=0"));
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/base/api/machines?$top=10000&$skip=0"
        );
        let url = base.url_for_segments(["tenant one", "a/b", "token"]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/base/tenant%20one/a%2Fb/token"
        );
        assert_eq!(base.host_and_port(), "127.0.0.1:8080");
    }

    #[test]
    fn display_url_drops_query_fragment_and_user_info() {
        let shown = display_url("https://user:pw@api.example/api/x?$skiptoken=abc&sig=s3cret#frag");
        assert_eq!(shown, "https://api.example/api/x");
        assert_eq!(display_url("not a url?token=1"), "not a url");
        assert_eq!(display_url("x#frag?y"), "x");
    }
}

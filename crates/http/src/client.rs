//! The `reqwest` client a connector should use: rustls, compressed answers,
//! connect and read timeouts, Inlet's User-Agent, and no redirects.

use std::time::Duration;

/// The User-Agent of every request.
pub const USER_AGENT: &str = concat!("inlet/", env!("CARGO_PKG_VERSION"));

/// Why the HTTP client could not be built (e.g. no TLS backend).
#[derive(Debug, thiserror::Error)]
#[error("could not set up the HTTP client")]
pub struct ClientBuildError(#[source] pub reqwest::Error);

/// What a client is built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Longest wait for a connection.
    pub connect_timeout: Duration,
    /// Longest wait for the next part of a response.
    pub read_timeout: Duration,
    pub user_agent: String,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(120),
            user_agent: USER_AGENT.to_string(),
        }
    }
}

/// A client with `settings`. It follows no redirect: one could carry the
/// request, and its token, to another host, so a redirect is an answer like
/// any other 3xx.
pub fn build_client(settings: &ClientSettings) -> Result<reqwest::Client, ClientBuildError> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .gzip(true)
        .deflate(true)
        .connect_timeout(settings.connect_timeout)
        .read_timeout(settings.read_timeout)
        .user_agent(settings.user_agent.as_str())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| ClientBuildError(error.without_url()))
}

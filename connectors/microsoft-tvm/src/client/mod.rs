//! The Defender client: one HTTP connection pool, the cached token, the
//! client-side rate limits and the retry rules every request goes through.
//!
//! - `auth`: the client-credentials token, cached and renewed.
//! - `http`: one request attempt and the retry loop around it.
//! - `limits`: the minute and hour quotas per endpoint family.
//! - `stream`: splitting a page body into records as it streams in.
//! - `reader`: one page, streamed, with the token, limits and retries.
//! - `paging`: whole pages, and the two ways of paging in batches.

mod auth;
mod http;
mod limits;
mod paging;
mod reader;
pub(crate) mod stream;

use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use inlet_core::{Secret, SyncCounters};
use url::{Host, Position, Url};

use crate::config::{Cloud, TvmConfig};
use crate::error::{display_url, TvmError};

pub use limits::{FamilyLimits, RateLimits};
pub use paging::{LinkPager, Page, SkipPager, MAX_WHOLE_PAGE_RECORDS};

/// The User-Agent of every request.
const USER_AGENT: &str = concat!("inlet/", env!("CARGO_PKG_VERSION"));

/// Waits for a while. Every wait of the client (backoff, `Retry-After`,
/// rate limits) goes through one, so tests can record the waits instead of
/// sleeping through them.
#[async_trait]
pub trait Sleeper: Send + Sync + fmt::Debug {
    async fn sleep(&self, duration: Duration);
}

/// The real sleeper: `tokio::time::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// How often and how patiently a request is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts of one request that fails with a 5xx, a connection error or
    /// a broken page, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; it doubles for each further one.
    pub initial_backoff: Duration,
    /// Longest backoff between two attempts.
    pub max_backoff: Duration,
    /// 429 answers one request may wait out before it fails; counted apart
    /// from `max_attempts` because waiting out a quota is normal.
    pub max_throttle_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_throttle_retries: 20,
        }
    }
}

/// What the client is built with besides the instance config.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub retry: RetryPolicy,
    pub limits: RateLimits,
    /// Devices per `/api/machines` page; Defender allows at most 10,000.
    pub machines_page_size: u32,
    /// Entries per `/api/vulnerabilities` page; Defender allows at most 8,000.
    pub catalog_page_size: u32,
    pub sleeper: Arc<dyn Sleeper>,
}

/// Most devices Defender serves in one `/api/machines` page.
pub const MAX_MACHINES_PAGE_SIZE: u32 = 10_000;

/// Most entries Defender serves in one `/api/vulnerabilities` page.
pub const MAX_CATALOG_PAGE_SIZE: u32 = 8_000;

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            limits: RateLimits::default(),
            machines_page_size: MAX_MACHINES_PAGE_SIZE,
            catalog_page_size: MAX_CATALOG_PAGE_SIZE,
            sleeper: Arc::new(TokioSleeper),
        }
    }
}

/// Which API a request calls: it picks the rate limits, the permission a
/// 403 is about, and whether a 404 means "nothing there".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /api/machines`.
    Machines,
    /// `GET /api/vulnerabilities`, limited like the machines.
    Catalog,
    /// The full and delta vulnerability exports.
    Export,
}

impl Endpoint {
    /// The application permission a 403 from this endpoint says is missing.
    pub fn permission(self) -> &'static str {
        match self {
            Self::Machines => "Machine.Read.All",
            Self::Catalog | Self::Export => "Vulnerability.Read.All",
        }
    }

    /// Whether a 404 is an empty answer: `/api/machines` answers 404 when a
    /// tenant has no recent devices.
    fn not_found_is_empty(self) -> bool {
        self == Self::Machines
    }
}

/// A client of one Defender tenant.
pub struct TvmClient {
    http: reqwest::Client,
    api_base: Url,
    login_base: Url,
    cloud: Cloud,
    tenant_id: String,
    client_id: String,
    client_secret: Secret,
    max_throttle_wait: Duration,
    options: ClientOptions,
    limiters: limits::Limiters,
    token: auth::TokenCache,
}

impl fmt::Debug for TvmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Spelled out so that no future field can leak the secret or token.
        f.debug_struct("TvmClient")
            .field("api_base", &self.api_base.as_str())
            .field("login_base", &self.login_base.as_str())
            .field("cloud", &self.cloud)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl TvmClient {
    pub fn new(config: &TvmConfig) -> Result<Self, TvmError> {
        Self::with_options(config, ClientOptions::default())
    }

    pub fn with_options(config: &TvmConfig, options: ClientOptions) -> Result<Self, TvmError> {
        let api_base = parse_base(config.api_base(), "/api_url")?;
        let login_base = parse_base(config.login_base(), "/login_url")?;
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .gzip(true)
            .deflate(true)
            .connect_timeout(Duration::from_secs(config.connect_timeout_secs.into()))
            .read_timeout(Duration::from_secs(config.read_timeout_secs.into()))
            .user_agent(USER_AGENT)
            // A redirect could carry the request to another host; Defender
            // does not redirect API calls, so one is an error.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| TvmError::HttpClient(error.without_url()))?;
        Ok(Self {
            http,
            api_base,
            login_base,
            cloud: config.cloud,
            tenant_id: config.tenant_id.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            max_throttle_wait: Duration::from_secs(config.max_throttle_wait_secs.into()),
            limiters: limits::Limiters::new(&options.limits),
            options,
            token: auth::TokenCache::default(),
        })
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The API URL of `path` (e.g. `/api/machines`) with `query` as given:
    /// OData names such as `$top` stay readable.
    pub fn api_url(&self, path: &str, query: Option<&str>) -> Url {
        let mut url = with_segments(&self.api_base, path.split('/').filter(|s| !s.is_empty()));
        url.set_query(query);
        url
    }

    /// The URL a next link points at, when the token may go there: the
    /// configured API origin, or (https only) a Defender API host of the
    /// cloud. Checked before anything is sent.
    pub fn check_next_link(&self, link: &str) -> Result<Url, TvmError> {
        let url = self
            .api_base
            .join(link)
            .map_err(|error| TvmError::InvalidUrl {
                url: display_url(link),
                reason: error.to_string(),
                pointer: "",
            })?;
        let same_origin = url.scheme() == self.api_base.scheme()
            && url.host_str() == self.api_base.host_str()
            && url.port_or_known_default() == self.api_base.port_or_known_default();
        let cloud_host = url.scheme() == "https"
            && url.port_or_known_default() == Some(443)
            && url.host_str().is_some_and(|host| {
                self.cloud
                    .endpoints()
                    .api_hosts
                    .iter()
                    .any(|api| api.eq_ignore_ascii_case(host))
            });
        if same_origin || cloud_host {
            Ok(url)
        } else {
            let host = &url[Position::BeforeHost..Position::AfterPort];
            Err(TvmError::ForeignLink {
                host: host.to_string(),
            })
        }
    }

    /// The sign-in host and port, for messages.
    pub fn login_host(&self) -> &str {
        &self.login_base[Position::BeforeHost..Position::AfterPort]
    }

    /// Whether the sign-in host answers HTTP at all (any status will do):
    /// one GET of the tenant's OpenID metadata, not retried.
    pub async fn probe_login(&self, counters: &SyncCounters) -> Result<u16, TvmError> {
        let segments = [
            self.tenant_id.as_str(),
            "v2.0",
            ".well-known",
            "openid-configuration",
        ];
        let url = with_segments(&self.login_base, segments);
        let request = self.http.get(url.clone());
        let answer = self.exchange("GET", &url, request, counters).await?;
        Ok(answer.status.as_u16())
    }

    /// Signs in unless a token is cached; for the connectivity check.
    pub async fn sign_in(&self, counters: &SyncCounters) -> Result<(), TvmError> {
        self.bearer(counters, None).await.map(drop)
    }
}

/// Parses a configured base URL; plain http is allowed on loopback only.
fn parse_base(base: &str, pointer: &'static str) -> Result<Url, TvmError> {
    let invalid = |reason: String| TvmError::InvalidUrl {
        url: display_url(base),
        reason,
        pointer,
    };
    let url = Url::parse(base).map_err(|error| invalid(error.to_string()))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(TvmError::InsecureUrl {
            url: display_url(base),
            pointer,
        }),
        other => Err(invalid(format!(
            "expected an https:// URL, found scheme `{other}`"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(address)) => Ipv4Addr::is_loopback(&address),
        Some(Host::Ipv6(address)) => address.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// `base` with `segments` appended to its path, each percent-encoded.
fn with_segments<'a>(base: &Url, segments: impl IntoIterator<Item = &'a str>) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(api_url: &str) -> TvmConfig {
        serde_json::from_value(serde_json::json!({
            "tenant_id": "00000000-0000-0000-0000-000000000001",
            "client_id": "11111111-1111-1111-1111-111111111111",
            "client_secret": "s3cret-value",
            "api_url": api_url,
        }))
        .expect("a valid config")
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for accepted in [
            "http://127.0.0.1:1",
            "http://127.9.9.9",
            "http://[::1]:8",
            "http://LOCALHOST:9",
        ] {
            assert!(TvmClient::new(&config(accepted)).is_ok(), "{accepted}");
        }
        let error = TvmClient::new(&config("http://example.com?x=1")).expect_err("insecure");
        assert!(matches!(error, TvmError::InsecureUrl { .. }), "{error:?}");
        assert_eq!(error.config_pointer(), "/api_url");
        assert_eq!(
            error.to_string(),
            "`http://example.com/` uses plain http:// on a host that is not loopback; use https://"
        );
        let error = TvmClient::new(&config("ftp://127.0.0.1")).expect_err("not http");
        assert!(
            matches!(
                error,
                TvmError::InvalidUrl {
                    pointer: "/api_url",
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn next_links_stay_on_the_api_origin_or_the_cloud_hosts() {
        let client = TvmClient::new(&config("http://127.0.0.1:8080/base")).expect("client");
        let url = client.check_next_link("http://127.0.0.1:8080/base/next?$skiptoken=a");
        assert_eq!(url.expect("same origin").path(), "/base/next");
        let url = client.check_next_link("https://eu.api.security.microsoft.com/api/x?a=1");
        assert!(url.is_ok(), "a commercial API host");

        let cases = [
            ("http://127.0.0.1:8081/next", "127.0.0.1:8081"),
            ("https://evil.example/api?token=1", "evil.example"),
            (
                "http://eu.api.security.microsoft.com/api",
                "eu.api.security.microsoft.com",
            ),
            (
                "https://api-gov.securitycenter.microsoft.us/api",
                "api-gov.securitycenter.microsoft.us",
            ),
        ];
        for (link, host) in cases {
            match client.check_next_link(link) {
                Err(TvmError::ForeignLink { host: found }) => assert_eq!(found, host, "{link}"),
                other => panic!("{link}: {other:?}"),
            }
        }
    }

    #[test]
    fn api_urls_keep_odata_names_and_the_base_path() {
        let client = TvmClient::new(&config("http://127.0.0.1:8080/base/")).expect("client");
        let url = client.api_url("/api/machines", Some("$top=10000&$skip=0"));
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/base/api/machines?$top=10000&$skip=0"
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let client = TvmClient::new(&config("http://127.0.0.1:1")).expect("client");
        let shown = format!("{client:?}");
        assert!(
            shown.contains("127.0.0.1:1") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}

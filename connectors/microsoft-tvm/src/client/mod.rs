//! The Defender client: one HTTP connection pool, the cached token, the
//! client-side rate limits and the retry rules every request goes through.
//! The generic parts (retry policy, backoff, quotas, token cache, base URLs
//! and next-link pinning) are `inlet-http`'s; this module adds Defender's.
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
use std::sync::Arc;
use std::time::Duration;

use inlet_core::{Secret, SyncCounters};
use inlet_http::{ApiBase, ClientSettings, RateLimiter, TokenCache, USER_AGENT};
use url::Url;

use crate::config::{Cloud, TvmConfig};
use crate::error::TvmError;

pub use inlet_http::{RetryPolicy, Sleeper, TokioSleeper};
pub use limits::{FamilyLimits, RateLimits};
pub use paging::{LinkPager, Page, SkipPager, MAX_WHOLE_PAGE_RECORDS};

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
    /// The API origin, and the cloud's API hosts next links may point at.
    api_base: ApiBase,
    login_base: ApiBase,
    cloud: Cloud,
    tenant_id: String,
    client_id: String,
    client_secret: Secret,
    max_throttle_wait: Duration,
    options: ClientOptions,
    limiters: RateLimiter<limits::Family>,
    token: TokenCache,
}

impl fmt::Debug for TvmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Spelled out so that no future field can leak the secret or token.
        f.debug_struct("TvmClient")
            .field("api_base", &self.api_base.as_url().as_str())
            .field("login_base", &self.login_base.as_url().as_str())
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
        let api_hosts = config.cloud.endpoints().api_hosts.iter().copied();
        let api_base = parse_base(config.api_base(), "/api_url")?.allow_hosts(api_hosts);
        let login_base = parse_base(config.login_base(), "/login_url")?;
        // No redirects: one could carry the request to another host;
        // Defender does not redirect API calls, so one is an error.
        let http = inlet_http::build_client(&ClientSettings {
            connect_timeout: Duration::from_secs(config.connect_timeout_secs.into()),
            read_timeout: Duration::from_secs(config.read_timeout_secs.into()),
            user_agent: USER_AGENT.to_string(),
        })?;
        Ok(Self {
            http,
            api_base,
            login_base,
            cloud: config.cloud,
            tenant_id: config.tenant_id.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            max_throttle_wait: Duration::from_secs(config.max_throttle_wait_secs.into()),
            limiters: limits::limiters(&options.limits),
            options,
            token: TokenCache::new(auth::RENEW_BEFORE_EXPIRY),
        })
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The API URL of `path` (e.g. `/api/machines`) with `query` as given:
    /// OData names such as `$top` stay readable.
    pub fn api_url(&self, path: &str, query: Option<&str>) -> Url {
        self.api_base.url_for_path(path, query)
    }

    /// The URL a next link points at, when the token may go there: the
    /// configured API origin, or (https only) a Defender API host of the
    /// cloud. Checked before anything is sent.
    pub fn check_next_link(&self, link: &str) -> Result<Url, TvmError> {
        self.api_base
            .check_next_link(link)
            .map_err(|error| TvmError::from_url(error, ""))
    }

    /// The sign-in host and port, for messages.
    pub fn login_host(&self) -> &str {
        self.login_base.host_and_port()
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
        let url = self.login_base.url_for_segments(segments);
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
/// `pointer` names the config field in the error.
fn parse_base(base: &str, pointer: &'static str) -> Result<ApiBase, TvmError> {
    ApiBase::parse(base).map_err(|error| TvmError::from_url(error, pointer))
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

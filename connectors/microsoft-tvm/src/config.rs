//! The `microsoft-tvm` instance config: what the person connecting a tenant
//! fills in. Doc comments become the schema's descriptions, which a UI shows.

use inlet_core::config::{GUID_OR_DOMAIN_PATTERN, GUID_PATTERN};
use inlet_core::Secret;
use schemars::JsonSchema;
use serde::Deserialize;

/// Most rows the vulnerability export serves in one page.
pub const MAX_PAGE_SIZE: u32 = 200_000;

/// The `healthStatus` values Defender reports for a device; an instance may
/// archive devices in any of them at once (`remove_assets_with_status`).
pub const HEALTH_STATUSES: [&str; 6] = [
    "Active",
    "Inactive",
    "ImpairedCommunication",
    "NoSensorData",
    "NoSensorDataImpairedCommunication",
    "Unknown",
];

fn default_page_size() -> u32 {
    MAX_PAGE_SIZE
}

fn default_true() -> bool {
    true
}

/// Default longest `Retry-After` a sync waits out: 15 minutes.
pub fn default_max_throttle_wait_secs() -> u32 {
    900
}

/// Default seconds to wait for a connection.
pub fn default_connect_timeout_secs() -> u32 {
    10
}

/// Default seconds to wait for more of a response.
pub fn default_read_timeout_secs() -> u32 {
    120
}

/// Connection settings of one Defender tenant.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Microsoft Defender vulnerability management")]
pub struct TvmConfig {
    /// Directory (tenant) ID of your Microsoft Entra tenant: a GUID, or a verified domain such as `contoso.onmicrosoft.com`. Shown on the app registration's Overview page.
    #[schemars(regex(pattern = GUID_OR_DOMAIN_PATTERN))]
    pub tenant_id: String,
    /// Application (client) ID of the app registration that has the `Machine.Read.All` and `Vulnerability.Read.All` permissions: a GUID.
    #[schemars(regex(pattern = GUID_PATTERN))]
    pub client_id: String,
    /// The client secret's value (not its ID) from Certificates & secrets: the value itself, `{ env = "VAR" }` or `{ file = "PATH" }`.
    pub client_secret: Secret,
    /// Which Microsoft cloud the tenant lives in; picks the sign-in host, the API host and the token audience together.
    #[serde(default)]
    pub cloud: Cloud,
    /// Base URL of the Defender API, to use a regional host (e.g. `https://eu.api.security.microsoft.com`) or the sandbox; the cloud's default when omitted. Must be `https://` unless it is a loopback address.
    #[serde(default)]
    #[schemars(url)]
    pub api_url: Option<String>,
    /// Base URL of the sign-in host, for the sandbox; the cloud's default when omitted.
    #[serde(default)]
    #[schemars(url)]
    pub login_url: Option<String>,
    /// Also put each device's external (internet-facing) IP address into its IP lists.
    #[serde(default)]
    pub map_external_ip: bool,
    /// Keep only devices whose onboarding status is `Onboarded`; others and their vulnerabilities are skipped.
    #[serde(default)]
    pub fetch_only_onboarded: bool,
    /// Rows per page of the vulnerability export (at most 200,000; each row is about 1 KB of JSON).
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 200000))]
    pub page_size: u32,
    /// Fetch the vulnerability catalog to fill in descriptions and CVSS vectors (cached between syncs).
    #[serde(default = "default_true")]
    pub enrich_from_catalog: bool,
    /// Longest wait in seconds a sync accepts when Defender answers "too many requests" with a `Retry-After`; a longer wait (such as an exhausted hourly quota) fails the sync at once.
    #[serde(default = "default_max_throttle_wait_secs")]
    #[schemars(range(min = 1, max = 7200))]
    pub max_throttle_wait_secs: u32,
    /// Seconds to wait for a connection to the sign-in or API host.
    #[serde(default = "default_connect_timeout_secs")]
    #[schemars(range(min = 1, max = 300))]
    pub connect_timeout_secs: u32,
    /// Seconds to wait for the next part of a response before retrying; large vulnerability pages take a while to start.
    #[serde(default = "default_read_timeout_secs")]
    #[schemars(range(min = 1, max = 3600))]
    pub read_timeout_secs: u32,
}

/// A Microsoft cloud: its sign-in host, API host and token audience.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Cloud {
    /// Microsoft's commercial cloud.
    #[default]
    Commercial,
    /// US Government Community Cloud.
    Gcc,
    /// US Government Community Cloud High.
    GccHigh,
    /// US Department of Defense.
    Dod,
}

/// The hosts and audience of one cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudEndpoints {
    pub login_url: &'static str,
    pub api_url: &'static str,
    /// The token audience; `/.default` is appended for the scope.
    pub audience: &'static str,
    /// Every API host of the cloud a next link may point at.
    pub api_hosts: &'static [&'static str],
}

const COMMERCIAL_API_HOSTS: &[&str] = &[
    "api.security.microsoft.com",
    "api.securitycenter.microsoft.com",
    "us.api.security.microsoft.com",
    "eu.api.security.microsoft.com",
    "uk.api.security.microsoft.com",
    "au.api.security.microsoft.com",
    "swa.api.security.microsoft.com",
    "ina.api.security.microsoft.com",
    "api-us.securitycenter.microsoft.com",
    "api-eu.securitycenter.microsoft.com",
    "api-uk.securitycenter.microsoft.com",
    "api-au.securitycenter.microsoft.com",
    "api.securitycenter.windows.com",
];

impl Cloud {
    pub fn endpoints(self) -> CloudEndpoints {
        match self {
            Self::Commercial => CloudEndpoints {
                login_url: "https://login.microsoftonline.com",
                api_url: "https://api.security.microsoft.com",
                audience: "https://api.securitycenter.microsoft.com",
                api_hosts: COMMERCIAL_API_HOSTS,
            },
            Self::Gcc => CloudEndpoints {
                login_url: "https://login.microsoftonline.com",
                api_url: "https://api-gcc.securitycenter.microsoft.us",
                audience: "https://api-gcc.securitycenter.microsoft.us",
                api_hosts: &["api-gcc.securitycenter.microsoft.us"],
            },
            Self::GccHigh | Self::Dod => CloudEndpoints {
                login_url: "https://login.microsoftonline.us",
                api_url: "https://api-gov.securitycenter.microsoft.us",
                audience: "https://api-gov.securitycenter.microsoft.us",
                api_hosts: &["api-gov.securitycenter.microsoft.us"],
            },
        }
    }
}

impl TvmConfig {
    /// The API base URL in use: the override, else the cloud's.
    pub fn api_base(&self) -> &str {
        self.api_url
            .as_deref()
            .unwrap_or(self.cloud.endpoints().api_url)
            .trim_end_matches('/')
    }

    /// The sign-in base URL in use: the override, else the cloud's.
    pub fn login_base(&self) -> &str {
        self.login_url
            .as_deref()
            .unwrap_or(self.cloud.endpoints().login_url)
            .trim_end_matches('/')
    }
}

/// An example `[instance.config]` table, used in docs and registry tests.
pub const EXAMPLE_CONFIG: &str = r#"tenant_id = "00000000-0000-0000-0000-000000000001"
client_id = "11111111-1111-1111-1111-111111111111"
client_secret = { env = "TVM_CLIENT_SECRET" }
cloud = "commercial"
map_external_ip = false
fetch_only_onboarded = true
page_size = 200000
enrich_from_catalog = true
"#;

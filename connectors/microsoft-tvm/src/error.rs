//! The connector's error enum: one variant per condition an operator acts on
//! differently (sign-in, permissions, throttling, broken pages, ...).
//!
//! URLs are always shown without their query string: next links carry opaque
//! cursors, and a query is the one place a secret could hide in a URL.

use std::fmt;

use inlet_http::{ClientBuildError, TransportError, UrlError};
use jiff::Timestamp;

pub use inlet_http::display_url;

/// Why a request to Defender or its sign-in host failed.
#[derive(Debug, thiserror::Error)]
pub enum TvmError {
    #[error("`{url}` uses plain http:// on a host that is not loopback; use https://")]
    InsecureUrl { url: String, pointer: &'static str },

    #[error("`{url}` is not a usable URL: {reason}")]
    InvalidUrl {
        url: String,
        reason: String,
        pointer: &'static str,
    },

    #[error("could not set up the HTTP client")]
    HttpClient(#[source] reqwest::Error),

    #[error("sign-in failed with HTTP {status}, error `{error}`{}: {hint}", aadsts_suffix(*.aadsts))]
    SignIn {
        status: u16,
        error: String,
        aadsts: Option<u32>,
        hint: String,
    },

    #[error("`{url}` still answered 401 Unauthorized after the token was renewed")]
    Unauthorized { url: String },

    #[error(
        "`{url}` answered 403 Forbidden: the app lacks the `{permission}` application permission \
         or its admin consent"
    )]
    Forbidden {
        url: String,
        permission: &'static str,
    },

    #[error("`{url}` is throttled and asks to wait {retry_after_secs} s; giving up")]
    Throttled { url: String, retry_after_secs: u64 },

    #[error("`{url}` answered HTTP {status}{}", ErrorDetail(code.as_deref(), message.as_deref()))]
    Http {
        status: u16,
        url: String,
        code: Option<String>,
        message: Option<String>,
    },

    #[error("`{url}` kept answering HTTP {status} after every retry")]
    Server { status: u16, url: String },

    #[error("request to `{url}` failed (connection, reset or timeout)")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("`{url}` sent a broken page after every retry: {detail}")]
    BrokenPage { url: String, detail: String },

    #[error(
        "next link points at `{host}`, which is not the configured API host nor a Defender API \
         host of the cloud; the token is not sent there"
    )]
    ForeignLink { host: String },

    #[error("`{url}` served the same page again; stopping instead of looping")]
    RepeatedPage { url: String },

    #[error(
        "a delta since `{since}` reaches further back than the {} days the export keeps; run a \
         full sync instead",
        crate::MAX_DELTA_DAYS
    )]
    DeltaTooOld { since: Timestamp },
}

impl TvmError {
    /// The config field a construction error is about, relative to `config`;
    /// empty for errors that are not about one field.
    pub fn config_pointer(&self) -> &'static str {
        match self {
            Self::InsecureUrl { pointer, .. } | Self::InvalidUrl { pointer, .. } => pointer,
            _ => "",
        }
    }

    /// A transport error, its URL stripped from the inner error.
    pub(crate) fn transport(url: &str, source: reqwest::Error) -> Self {
        TransportError::new(url, source).into()
    }

    /// A base URL or next link `inlet-http` refused; `pointer` names the
    /// config field (empty for a next link).
    pub(crate) fn from_url(error: UrlError, pointer: &'static str) -> Self {
        match error {
            UrlError::Insecure { url } => Self::InsecureUrl { url, pointer },
            UrlError::Invalid { url, reason } => Self::InvalidUrl {
                url,
                reason,
                pointer,
            },
            UrlError::Foreign { host } => Self::ForeignLink { host },
        }
    }
}

impl From<TransportError> for TvmError {
    fn from(error: TransportError) -> Self {
        Self::Transport {
            url: error.url,
            source: error.source,
        }
    }
}

impl From<ClientBuildError> for TvmError {
    fn from(error: ClientBuildError) -> Self {
        Self::HttpClient(error.0)
    }
}

fn aadsts_suffix(code: Option<u32>) -> String {
    code.map(|code| format!(" (AADSTS{code})"))
        .unwrap_or_default()
}

/// The `code` and `message` of an API error body, when it had them.
struct ErrorDetail<'a>(Option<&'a str>, Option<&'a str>);

impl fmt::Display for ErrorDetail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (Some(code), Some(message)) => write!(f, " `{code}`: {message}"),
            (Some(code), None) => write!(f, " `{code}`"),
            (None, Some(message)) => write!(f, ": {message}"),
            (None, None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_url_drops_query_fragment_and_user_info() {
        let shown = display_url("https://user:pw@api.example/api/x?$skiptoken=abc&sig=s3cret#frag");
        assert_eq!(shown, "https://api.example/api/x");
        assert_eq!(display_url("not a url?token=1"), "not a url");
    }

    #[test]
    fn messages_quote_values_and_name_the_code() {
        let error = TvmError::SignIn {
            status: 401,
            error: "invalid_client".into(),
            aadsts: Some(7_000_215),
            hint: "use the secret's Value, not its ID".into(),
        };
        assert_eq!(
            error.to_string(),
            "sign-in failed with HTTP 401, error `invalid_client` (AADSTS7000215): use the \
             secret's Value, not its ID"
        );
        let error = TvmError::Http {
            status: 400,
            url: "https://api.example/api/machines".into(),
            code: Some("BadRequest".into()),
            message: Some("bad filter".into()),
        };
        assert_eq!(
            error.to_string(),
            "`https://api.example/api/machines` answered HTTP 400 `BadRequest`: bad filter"
        );
    }

    #[test]
    fn only_construction_errors_name_a_config_field() {
        let error = TvmError::InsecureUrl {
            url: "http://example.com/".into(),
            pointer: "/api_url",
        };
        assert_eq!(error.config_pointer(), "/api_url");
        assert_eq!(
            TvmError::ForeignLink {
                host: "evil.example".into()
            }
            .config_pointer(),
            ""
        );
    }
}

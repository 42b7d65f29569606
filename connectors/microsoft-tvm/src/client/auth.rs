//! The client-credentials token: fetched from the v2.0 endpoint, cached until
//! shortly before it expires, renewed once when the API answers 401.
//!
//! The cache is `inlet-http`'s [`TokenCache`](inlet_http::TokenCache): it
//! holds its lock across the token request, so callers that find it empty
//! at the same time sign in once, not each.

use std::time::Duration;

use inlet_core::{Secret, SyncCounters};
use inlet_http::{Answer, FetchedToken};
use serde::{Deserialize, Deserializer};
use url::Url;

use super::http::{broken, shared_failure, Failure, Retrier};
use super::TvmClient;
use crate::error::{display_url, TvmError};

/// A token is renewed this long before it expires.
pub(super) const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(60);

/// Assumed lifetime when a token answer has no `expires_in`; Entra issues
/// one-hour tokens.
const DEFAULT_LIFETIME_SECS: u64 = 3599;

#[derive(Deserialize)]
struct TokenAnswer {
    // A `String`, not a `Secret`: `Secret`'s deserializer would read
    // `{ "file": .. }` from disk, which a sign-in answer must never cause.
    access_token: String,
    #[serde(default, deserialize_with = "number_or_string")]
    expires_in: Option<u64>,
}

/// The body of a sign-in error.
#[derive(Deserialize, Default)]
struct SignInErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u32>,
}

/// `expires_in` is a number from the v2.0 endpoint and a string from v1.
fn number_or_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Seconds {
        Number(u64),
        Text(String),
    }
    match Option::<Seconds>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Seconds::Number(seconds)) => Ok(Some(seconds)),
        Some(Seconds::Text(text)) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("`expires_in` is not a number of seconds")),
    }
}

impl TvmClient {
    /// A valid token: the cached one, or a new one when there is none, it is
    /// about to expire, or it is `stale` (the API just refused it).
    pub(super) async fn bearer(
        &self,
        counters: &SyncCounters,
        stale: Option<&Secret>,
    ) -> Result<Secret, TvmError> {
        self.token
            .bearer(stale, || self.request_token(counters))
            .await
    }

    /// Signs in, retrying throttling, 5xx and connection errors.
    async fn request_token(&self, counters: &SyncCounters) -> Result<FetchedToken, TvmError> {
        let segments = [self.tenant_id.as_str(), "oauth2", "v2.0", "token"];
        let url = self.login_base.url_for_segments(segments);
        let shown = display_url(url.as_str());
        let mut retrier = Retrier::new(self, counters);
        loop {
            match self.attempt_token(&url, counters).await {
                Ok(token) => return Ok(token),
                Err(failure) => retrier.after(&shown, failure).await?,
            }
        }
    }

    async fn attempt_token(
        &self,
        url: &Url,
        counters: &SyncCounters,
    ) -> Result<FetchedToken, Failure> {
        let scope = format!("{}/.default", self.cloud.endpoints().audience);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("scope", scope.as_str()),
        ];
        let request = self.http.post(url.clone()).form(&form);
        let answer = self
            .exchange("POST", url, request, counters)
            .await
            .map_err(Failure::Transient)?;
        if !answer.status.is_success() {
            return Err(classify_token_error(&answer, url));
        }

        // The parser's message is left out: it could quote the token.
        let answer: TokenAnswer = serde_json::from_slice(&answer.body).map_err(|_| {
            broken(
                url,
                "not a token answer with `access_token` and `expires_in`",
            )
        })?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(DEFAULT_LIFETIME_SECS));
        Ok(FetchedToken {
            value: Secret::new(answer.access_token),
            lifetime,
        })
    }
}

/// A failed sign-in: throttling and 5xx are retried, the rest is explained.
fn classify_token_error(answer: &Answer, url: &Url) -> Failure {
    if let Some(failure) = shared_failure(answer, url) {
        return failure;
    }
    let parsed: SignInErrorBody = serde_json::from_slice(&answer.body).unwrap_or_default();
    let aadsts = parsed.error_codes.first().copied().or_else(|| {
        parsed
            .error_description
            .as_deref()
            .and_then(aadsts_from_description)
    });
    Failure::Fatal(TvmError::SignIn {
        status: answer.status.as_u16(),
        error: parsed.error.unwrap_or_else(|| "unknown".into()),
        aadsts,
        hint: sign_in_hint(aadsts).into(),
    })
}

/// The code of an `AADSTSnnnn: text` description.
fn aadsts_from_description(description: &str) -> Option<u32> {
    let digits = description.trim_start().strip_prefix("AADSTS")?;
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// What to do about a sign-in error code.
pub(crate) fn sign_in_hint(aadsts: Option<u32>) -> &'static str {
    match aadsts {
        Some(7_000_215) => {
            "the client secret is wrong: use the secret's Value, not its ID, from Certificates & \
             secrets"
        }
        Some(7_000_222) => {
            "the client secret has expired: create a new one under Certificates & secrets and put \
             its Value in the config"
        }
        Some(90_002) | Some(900_023) => {
            "the tenant is unknown or malformed: copy the Directory (tenant) ID from the app \
             registration's Overview page"
        }
        Some(700_016) => {
            "the application is not known in this tenant: check client_id, and that the app is \
             registered in (or consented to by) this tenant"
        }
        Some(500_011) => {
            "the Defender API is not granted in this tenant: add the WindowsDefenderATP \
             application permissions and grant admin consent"
        }
        _ => "check tenant_id, client_id and client_secret against the app registration",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_is_a_number_or_a_numeric_string() {
        for body in [
            r#"{"access_token":"t","expires_in":3599}"#,
            r#"{"access_token":"t","expires_in":"3599"}"#,
        ] {
            let answer: TokenAnswer = serde_json::from_str(body).expect(body);
            assert_eq!(answer.expires_in, Some(3599));
        }
        let answer: TokenAnswer = serde_json::from_str(r#"{"access_token":"t"}"#).expect("absent");
        assert_eq!(answer.expires_in, None);
        assert!(
            serde_json::from_str::<TokenAnswer>(r#"{"access_token":"t","expires_in":"soon"}"#)
                .is_err()
        );
    }

    #[test]
    fn aadsts_code_comes_from_the_description_prefix() {
        assert_eq!(
            aadsts_from_description("AADSTS7000215: Invalid client secret."),
            Some(7_000_215)
        );
        assert_eq!(aadsts_from_description("something else"), None);
    }

    #[test]
    fn tokens_are_renewed_a_minute_early_or_at_half_life() {
        let usable =
            |secs| inlet_http::token::usable_for(Duration::from_secs(secs), RENEW_BEFORE_EXPIRY);
        assert_eq!(usable(3599), Duration::from_secs(3539));
        assert_eq!(usable(60), Duration::from_secs(30));
    }

    #[test]
    fn every_documented_code_has_its_own_hint() {
        let generic = sign_in_hint(None);
        for code in [7_000_215, 7_000_222, 90_002, 900_023, 700_016, 500_011] {
            assert_ne!(sign_in_hint(Some(code)), generic, "{code}");
        }
        assert!(sign_in_hint(Some(7_000_215)).contains("Value, not its ID"));
    }
}

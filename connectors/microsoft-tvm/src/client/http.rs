//! One HTTP exchange, how its failure is classified, and the retry loop's
//! decisions: wait out a 429, back off after a transient failure, or give up.

use std::time::{Duration, Instant};

use bytes::Bytes;
use inlet_core::SyncCounters;
use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use url::Url;

use super::{RetryPolicy, TvmClient};
use crate::error::{display_url, TvmError};

/// The wait a 429 without a usable `Retry-After` gets.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Longest API error message kept in an error.
const MAX_MESSAGE_CHARS: usize = 300;

/// An answer whose body was read in full.
#[derive(Debug)]
pub(super) struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

/// Why one attempt did not produce a result.
#[derive(Debug)]
pub(super) enum Failure {
    /// 429: wait this long, then send the same request again.
    Throttled { retry_after: Duration },
    /// Worth another attempt after a backoff: 5xx, connection trouble, a
    /// broken body.
    Transient(TvmError),
    /// 401 from the API: the token needs renewing.
    Unauthorized,
    /// Not worth retrying.
    Fatal(TvmError),
}

impl Failure {
    /// The failures every host shares: throttling and server errors.
    pub(super) fn from_answer(answer: &Answer, url: &Url) -> Option<Self> {
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = answer.retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
            Some(Self::Throttled { retry_after })
        } else if answer.status.is_server_error() {
            let url = display_url(url.as_str());
            Some(Self::Transient(TvmError::Server {
                status: answer.status.as_u16(),
                url,
            }))
        } else {
            None
        }
    }

    pub(super) fn broken(url: &Url, detail: impl Into<String>) -> Self {
        Self::Transient(TvmError::BrokenPage {
            url: display_url(url.as_str()),
            detail: detail.into(),
        })
    }
}

impl TvmClient {
    /// Sends `request` and reads the whole answer; counts and logs it. The
    /// error is a transport error, worth retrying.
    pub(super) async fn exchange(
        &self,
        method: &'static str,
        url: &Url,
        request: RequestBuilder,
        counters: &SyncCounters,
    ) -> Result<Answer, TvmError> {
        counters.add_request();
        let started = Instant::now();
        let transport = |error: reqwest::Error| {
            let elapsed_ms = started.elapsed().as_millis() as u64;
            tracing::debug!(method, path = url.path(), elapsed_ms, "request failed");
            TvmError::transport(url.as_str(), error)
        };

        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let retry_after = parse_retry_after(response.headers());
        let body = response.bytes().await.map_err(transport)?;

        let elapsed_ms = started.elapsed().as_millis() as u64;
        let status_code = status.as_u16();
        tracing::debug!(
            method,
            path = url.path(),
            status = status_code,
            elapsed_ms,
            "request"
        );
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }
}

/// The error every API host answers with: `{"error": {"code", "message"}}`.
pub(super) fn api_error(answer: &Answer, url: &Url) -> TvmError {
    #[derive(Deserialize)]
    struct Body {
        error: Detail,
    }
    #[derive(Deserialize)]
    struct Detail {
        #[serde(default)]
        code: Option<serde_json::Value>,
        #[serde(default)]
        message: Option<String>,
    }
    let detail = serde_json::from_slice::<Body>(&answer.body)
        .ok()
        .map(|body| body.error);
    let code = detail.as_ref().and_then(|detail| match &detail.code {
        Some(serde_json::Value::String(code)) => Some(code.clone()),
        Some(serde_json::Value::Number(code)) => Some(code.to_string()),
        _ => None,
    });
    let message = detail
        .and_then(|detail| detail.message)
        .map(|message| message.chars().take(MAX_MESSAGE_CHARS).collect());
    TvmError::Http {
        status: answer.status.as_u16(),
        url: display_url(url.as_str()),
        code,
        message,
    }
}

/// `Retry-After` as seconds or as an HTTP date.
pub(super) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = at.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// The retry state of one request: what was spent of which budget.
#[derive(Debug)]
pub(super) struct Retrier<'a> {
    client: &'a TvmClient,
    counters: &'a SyncCounters,
    /// Attempts made that ended in a transient failure.
    failures: u32,
    /// 429s waited out.
    throttles: u32,
}

impl<'a> Retrier<'a> {
    pub(super) fn new(client: &'a TvmClient, counters: &'a SyncCounters) -> Self {
        Self {
            client,
            counters,
            failures: 0,
            throttles: 0,
        }
    }

    /// Waits before the next attempt after `failure`, or returns the error
    /// that ends the request. `url` is shown without its query.
    pub(super) async fn after(&mut self, url: &str, failure: Failure) -> Result<(), TvmError> {
        match failure {
            Failure::Fatal(error) => Err(error),
            Failure::Unauthorized => Err(TvmError::Unauthorized { url: url.into() }),
            Failure::Throttled { retry_after } => self.wait_out_throttling(url, retry_after).await,
            Failure::Transient(error) => self.back_off(error).await,
        }
    }

    async fn wait_out_throttling(
        &mut self,
        url: &str,
        retry_after: Duration,
    ) -> Result<(), TvmError> {
        self.counters.add_throttled();
        let retry_after_secs = retry_after.as_secs();
        let policy = &self.client.options.retry;
        if retry_after > self.client.max_throttle_wait
            || self.throttles >= policy.max_throttle_retries
        {
            return Err(TvmError::Throttled {
                url: url.into(),
                retry_after_secs,
            });
        }

        self.throttles += 1;
        self.counters.add_retry();
        tracing::warn!(
            url,
            retry_after_secs,
            throttles = self.throttles,
            "throttled; waiting as asked"
        );
        self.client.options.sleeper.sleep(retry_after).await;
        Ok(())
    }

    async fn back_off(&mut self, error: TvmError) -> Result<(), TvmError> {
        self.failures += 1;
        let policy = &self.client.options.retry;
        if self.failures >= policy.max_attempts {
            return Err(error);
        }

        let delay = backoff(policy, self.failures);
        self.counters.add_retry();
        tracing::warn!(
            error = %inlet_core::error::error_chain(&error),
            attempt = self.failures,
            delay_ms = delay.as_millis() as u64,
            "request failed; retrying"
        );
        self.client.options.sleeper.sleep(delay).await;
        Ok(())
    }
}

/// The wait after the `failures`-th failure: the initial backoff doubled per
/// failure, capped, then jittered down by up to half so that clients that
/// failed together do not retry together.
pub(super) fn backoff(policy: &RetryPolicy, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let full = policy
        .initial_backoff
        .saturating_mul(1 << doublings)
        .min(policy.max_backoff);
    full.mul_f64(rand::rng().random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter() {
        let policy = RetryPolicy::default();
        for (failures, full_secs) in [(1, 1), (2, 2), (3, 4), (5, 16), (6, 30), (40, 30)] {
            let full = Duration::from_secs(full_secs);
            for _ in 0..20 {
                let delay = backoff(&policy, failures);
                assert!(delay >= full / 2 && delay <= full, "{failures}: {delay:?}");
            }
        }
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let mut headers = HeaderMap::new();
        assert_eq!(parse_retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("17"));
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(17)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            parse_retry_after(&headers),
            Some(Duration::ZERO),
            "a date in the past"
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&headers), None);
    }

    #[test]
    fn api_errors_keep_code_and_message_but_not_the_query() {
        let url = Url::parse("https://api.example/api/machines?$skiptoken=secret").expect("url");
        let body =
            r#"{"error":{"code":"Forbidden","message":"Missing application roles","target":"x"}}"#;
        let answer = Answer {
            status: StatusCode::BAD_REQUEST,
            retry_after: None,
            body: body.into(),
        };
        let error = api_error(&answer, &url);
        assert_eq!(
            error.to_string(),
            "`https://api.example/api/machines` answered HTTP 400 `Forbidden`: Missing application roles"
        );
        let answer = Answer {
            status: StatusCode::CONFLICT,
            retry_after: None,
            body: "<html>".into(),
        };
        assert_eq!(
            api_error(&answer, &url).to_string(),
            "`https://api.example/api/machines` answered HTTP 409"
        );
    }
}

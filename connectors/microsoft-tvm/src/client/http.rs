//! One HTTP exchange, how its failure is classified, and the retry loop's
//! decisions: wait out a 429, back off after a transient failure, or give up.
//! The exchange and the decisions are `inlet-http`'s; this module turns
//! Defender's answers into failures and the retrier's verdicts into
//! [`TvmError`]s.

use inlet_core::SyncCounters;
use inlet_http::{Answer, GiveUp};
use reqwest::RequestBuilder;
use serde::Deserialize;
use url::Url;

use super::TvmClient;
use crate::error::{display_url, TvmError};

/// Longest API error message kept in an error.
const MAX_MESSAGE_CHARS: usize = 300;

/// Why one attempt did not produce a result.
pub(super) type Failure = inlet_http::Failure<TvmError>;

/// The failures every host shares: throttling and server errors.
pub(super) fn shared_failure(answer: &Answer, url: &Url) -> Option<Failure> {
    Failure::from_status(answer.status, answer.retry_after, || TvmError::Server {
        status: answer.status.as_u16(),
        url: display_url(url.as_str()),
    })
}

/// A body that broke off or does not parse: worth another attempt.
pub(super) fn broken(url: &Url, detail: impl Into<String>) -> Failure {
    Failure::Transient(TvmError::BrokenPage {
        url: display_url(url.as_str()),
        detail: detail.into(),
    })
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
        let answer = inlet_http::exchange(method, url, request, counters).await?;
        Ok(answer)
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

/// The retry state of one request: `inlet-http`'s retrier with the
/// client's policy, sleeper and longest throttle wait.
#[derive(Debug)]
pub(super) struct Retrier<'a>(inlet_http::Retrier<'a>);

impl<'a> Retrier<'a> {
    pub(super) fn new(client: &'a TvmClient, counters: &'a SyncCounters) -> Self {
        let options = &client.options;
        let retrier = inlet_http::Retrier::new(&options.retry, options.sleeper.as_ref(), counters)
            .max_throttle_wait(client.max_throttle_wait);
        Self(retrier)
    }

    /// Waits before the next attempt after `failure`, or returns the error
    /// that ends the request. `url` is shown without its query.
    pub(super) async fn after(&mut self, url: &str, failure: Failure) -> Result<(), TvmError> {
        self.0
            .after(url, failure)
            .await
            .map_err(|give_up| given_up(url, give_up))
    }
}

/// The error that ends a request the retrier gave up on.
fn given_up(url: &str, give_up: GiveUp<TvmError>) -> TvmError {
    match give_up {
        GiveUp::Throttled { retry_after } => TvmError::Throttled {
            url: url.into(),
            retry_after_secs: retry_after.as_secs(),
        },
        GiveUp::Unauthorized => TvmError::Unauthorized { url: url.into() },
        GiveUp::Failed(error) => error,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::StatusCode;

    use super::*;

    fn answer(status: StatusCode, body: &'static str) -> Answer {
        Answer {
            status,
            retry_after: None,
            body: body.into(),
        }
    }

    #[test]
    fn api_errors_keep_code_and_message_but_not_the_query() {
        let url = Url::parse("https://api.example/api/machines?$skiptoken=secret").expect("url");
        let body =
            r#"{"error":{"code":"Forbidden","message":"Missing application roles","target":"x"}}"#;
        let error = api_error(&answer(StatusCode::BAD_REQUEST, body), &url);
        assert_eq!(
            error.to_string(),
            "`https://api.example/api/machines` answered HTTP 400 `Forbidden`: Missing application roles"
        );
        assert_eq!(
            api_error(&answer(StatusCode::CONFLICT, "<html>"), &url).to_string(),
            "`https://api.example/api/machines` answered HTTP 409"
        );
    }

    #[test]
    fn server_errors_and_throttling_are_retried_and_name_the_url_without_query() {
        let url = Url::parse("https://api.example/api/x?$skiptoken=secret").expect("url");
        let failure = shared_failure(&answer(StatusCode::BAD_GATEWAY, ""), &url);
        match failure {
            Some(Failure::Transient(error)) => assert_eq!(
                error.to_string(),
                "`https://api.example/api/x` kept answering HTTP 502 after every retry"
            ),
            other => panic!("{other:?}"),
        }
        let failure = shared_failure(&answer(StatusCode::TOO_MANY_REQUESTS, ""), &url);
        assert!(
            matches!(failure, Some(Failure::Throttled { retry_after }) if retry_after == Duration::from_secs(60)),
            "{failure:?}"
        );
        assert!(shared_failure(&answer(StatusCode::BAD_REQUEST, ""), &url).is_none());
    }

    #[test]
    fn given_up_requests_keep_their_messages() {
        let url = "https://api.example/api/x";
        let throttled = GiveUp::Throttled {
            retry_after: Duration::from_secs(3600),
        };
        assert_eq!(
            given_up(url, throttled).to_string(),
            "`https://api.example/api/x` is throttled and asks to wait 3600 s; giving up"
        );
        assert_eq!(
            given_up(url, GiveUp::Unauthorized).to_string(),
            "`https://api.example/api/x` still answered 401 Unauthorized after the token was renewed"
        );
        let failed = GiveUp::Failed(TvmError::RepeatedPage { url: url.into() });
        assert!(matches!(
            given_up(url, failed),
            TvmError::RepeatedPage { .. }
        ));
    }
}

//! How often and how patiently a request is retried, and the decision after
//! each failed attempt: wait out a 429 as the server asks, back off after a
//! transient failure, or give up.
//!
//! The [`Retrier`] only decides, waits (through the [`Sleeper`]), counts and
//! logs; sending the request and classifying its answer stay with the
//! caller, whose upstream knows which answers mean what.

use std::future::Future;
use std::time::Duration;

use inlet_core::SyncCounters;
use jiff::Timestamp;
use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

use crate::sleep::Sleeper;

/// The wait a 429 without a usable `Retry-After` gets.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The longest `Retry-After` a [`Retrier`] waits out unless told otherwise.
const DEFAULT_MAX_THROTTLE_WAIT: Duration = Duration::from_secs(900);

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

/// The backoff after the `failures`-th failure before jitter: the initial
/// backoff doubled per failure after the first, capped at the maximum.
pub fn backoff_ceiling(policy: &RetryPolicy, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    policy
        .initial_backoff
        .saturating_mul(1 << doublings)
        .min(policy.max_backoff)
}

/// The wait after the `failures`-th failure: [`backoff_ceiling`] jittered
/// down by up to half, so that clients that failed together do not retry
/// together.
pub fn backoff(policy: &RetryPolicy, failures: u32) -> Duration {
    backoff_ceiling(policy, failures).mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// The `Retry-After` header as a wait: seconds, or an HTTP date (a date in
/// the past is no wait). `None` when absent or unreadable.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    retry_after_from(value, Timestamp::now())
}

/// A `Retry-After` value as a wait from `now`.
pub fn retry_after_from(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = at.duration_since(now);
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// Why one attempt did not produce a result, as the retry loop sees it.
#[derive(Debug)]
pub enum Failure<E> {
    /// 429: wait this long, then send the same request again.
    Throttled { retry_after: Duration },
    /// Worth another attempt after a backoff: 5xx, connection trouble, a
    /// broken body.
    Transient(E),
    /// 401: the token needs renewing; the caller renews it (once) before it
    /// hands this to the retrier, which gives up on it.
    Unauthorized,
    /// Not worth retrying.
    Fatal(E),
}

impl<E> Failure<E> {
    /// The failures every API shares, from an answer's status: a 429 is
    /// throttling (waiting `retry_after`, or [`DEFAULT_RETRY_AFTER`]), a 5xx
    /// is transient with the error `server_error` makes. `None` otherwise.
    pub fn from_status(
        status: StatusCode,
        retry_after: Option<Duration>,
        server_error: impl FnOnce() -> E,
    ) -> Option<Self> {
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
            Some(Self::Throttled { retry_after })
        } else if status.is_server_error() {
            Some(Self::Transient(server_error()))
        } else {
            None
        }
    }
}

/// Why a request was given up.
#[derive(Debug)]
pub enum GiveUp<E> {
    /// A 429 asked for a longer wait than allowed, or came once too often.
    Throttled { retry_after: Duration },
    /// A 401 (after the caller renewed the token).
    Unauthorized,
    /// A fatal error, or the last transient one when the attempts ran out.
    Failed(E),
}

/// The retry state of one request: what was spent of which budget.
#[derive(Debug)]
pub struct Retrier<'a> {
    policy: &'a RetryPolicy,
    sleeper: &'a dyn Sleeper,
    counters: &'a SyncCounters,
    max_throttle_wait: Duration,
    /// Attempts made that ended in a transient failure.
    failures: u32,
    /// 429s waited out.
    throttles: u32,
}

impl<'a> Retrier<'a> {
    /// A retrier that waits through `sleeper` and counts retries and
    /// throttling in `counters`; it waits out a `Retry-After` of up to 15
    /// minutes (see [`max_throttle_wait`](Self::max_throttle_wait)).
    pub fn new(
        policy: &'a RetryPolicy,
        sleeper: &'a dyn Sleeper,
        counters: &'a SyncCounters,
    ) -> Self {
        Self {
            policy,
            sleeper,
            counters,
            max_throttle_wait: DEFAULT_MAX_THROTTLE_WAIT,
            failures: 0,
            throttles: 0,
        }
    }

    /// Sets the longest `Retry-After` waited out; a longer one gives up at
    /// once (an exhausted hourly quota should fail a sync, not stall it).
    pub fn max_throttle_wait(mut self, max_throttle_wait: Duration) -> Self {
        self.max_throttle_wait = max_throttle_wait;
        self
    }

    /// Runs `attempt` until it succeeds or the retrier gives up. `url` names
    /// the request in logs; pass it without its query ([`display_url`]).
    ///
    /// [`display_url`]: crate::display_url
    pub async fn run<T, E, F, Fut>(&mut self, url: &str, mut attempt: F) -> Result<T, GiveUp<E>>
    where
        E: std::error::Error + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure<E>>>,
    {
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(failure) => self.after(url, failure).await?,
            }
        }
    }

    /// Waits before the next attempt after `failure`, or says why the
    /// request ends. `url` is for logs, without its query.
    pub async fn after<E>(&mut self, url: &str, failure: Failure<E>) -> Result<(), GiveUp<E>>
    where
        E: std::error::Error + 'static,
    {
        match failure {
            Failure::Fatal(error) => Err(GiveUp::Failed(error)),
            Failure::Unauthorized => Err(GiveUp::Unauthorized),
            Failure::Throttled { retry_after } => self.wait_out_throttling(url, retry_after).await,
            Failure::Transient(error) => self.back_off(error).await,
        }
    }

    async fn wait_out_throttling<E>(
        &mut self,
        url: &str,
        retry_after: Duration,
    ) -> Result<(), GiveUp<E>> {
        self.counters.add_throttled();
        if retry_after > self.max_throttle_wait
            || self.throttles >= self.policy.max_throttle_retries
        {
            return Err(GiveUp::Throttled { retry_after });
        }

        self.throttles += 1;
        self.counters.add_retry();
        tracing::warn!(
            url,
            retry_after_secs = retry_after.as_secs(),
            throttles = self.throttles,
            "throttled; waiting as asked"
        );
        self.sleeper.sleep(retry_after).await;
        Ok(())
    }

    async fn back_off<E>(&mut self, error: E) -> Result<(), GiveUp<E>>
    where
        E: std::error::Error + 'static,
    {
        self.failures += 1;
        if self.failures >= self.policy.max_attempts {
            return Err(GiveUp::Failed(error));
        }

        let delay = backoff(self.policy, self.failures);
        self.counters.add_retry();
        tracing::warn!(
            error = %inlet_core::error::error_chain(&error),
            attempt = self.failures,
            delay_ms = delay.as_millis() as u64,
            "request failed; retrying"
        );
        self.sleeper.sleep(delay).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;
    use crate::sleep::RecordingSleeper;

    #[derive(Debug, thiserror::Error, PartialEq)]
    #[error("attempt {0} failed")]
    struct Broken(u32);

    fn secs(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let cases = [
            (0, 1),
            (1, 1),
            (2, 2),
            (3, 4),
            (4, 8),
            (5, 16),
            (6, 30),
            (40, 30),
        ];
        for (failures, ceiling) in cases {
            assert_eq!(
                backoff_ceiling(&policy, failures),
                secs(ceiling),
                "{failures}"
            );
        }
        let small = RetryPolicy {
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(25),
            ..RetryPolicy::default()
        };
        let ceilings: Vec<u128> = (1..=4)
            .map(|failures| backoff_ceiling(&small, failures).as_millis())
            .collect();
        assert_eq!(ceilings, [10, 20, 25, 25]);
    }

    #[test]
    fn backoff_is_jittered_down_by_at_most_half() {
        let policy = RetryPolicy::default();
        for failures in [1, 2, 3, 5, 6, 40] {
            let ceiling = backoff_ceiling(&policy, failures);
            for _ in 0..50 {
                let delay = backoff(&policy, failures);
                assert!(
                    delay >= ceiling / 2 && delay <= ceiling,
                    "{failures}: {delay:?}"
                );
            }
        }
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now: Timestamp = "2015-10-21T07:27:00Z".parse().expect("a timestamp");
        let cases = [
            ("17", Some(secs(17))),
            (" 0 ", Some(Duration::ZERO)),
            ("Wed, 21 Oct 2015 07:28:00 GMT", Some(secs(60))),
            ("Wed, 21 Oct 2015 07:26:00 GMT", Some(Duration::ZERO)),
            ("soon", None),
            ("-5", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(retry_after_from(value, now), expected, "{value:?}");
        }
    }

    #[test]
    fn retry_after_is_read_from_the_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(parse_retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("17"));
        assert_eq!(parse_retry_after(&headers), Some(secs(17)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&headers), Some(Duration::ZERO));
    }

    #[test]
    fn statuses_every_api_shares_are_classified() {
        let server = || Broken(0);
        let throttled = Failure::from_status(StatusCode::TOO_MANY_REQUESTS, None, server);
        assert!(
            matches!(throttled, Some(Failure::Throttled { retry_after }) if retry_after == DEFAULT_RETRY_AFTER)
        );
        let throttled = Failure::from_status(StatusCode::TOO_MANY_REQUESTS, Some(secs(3)), server);
        assert!(
            matches!(throttled, Some(Failure::Throttled { retry_after }) if retry_after == secs(3))
        );
        let unavailable = Failure::from_status(StatusCode::SERVICE_UNAVAILABLE, None, server);
        assert!(matches!(unavailable, Some(Failure::Transient(Broken(0)))));
        for status in [
            StatusCode::OK,
            StatusCode::NOT_FOUND,
            StatusCode::UNAUTHORIZED,
        ] {
            assert!(
                Failure::from_status(status, None, server).is_none(),
                "{status}"
            );
        }
    }

    #[tokio::test]
    async fn transient_failures_back_off_until_the_attempts_run_out() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let sleeper = RecordingSleeper::default();
        let counters = SyncCounters::default();
        let mut retrier = Retrier::new(&policy, &sleeper, &counters);
        let mut attempts = 0;
        let result: Result<(), _> = retrier
            .run("https://api.example/x", || {
                attempts += 1;
                let failed = Broken(attempts);
                async move { Err(Failure::Transient(failed)) }
            })
            .await;
        assert!(
            matches!(result, Err(GiveUp::Failed(Broken(3)))),
            "{result:?}"
        );

        // Two waits: about 1 s, then about 2 s.
        let waits = sleeper.waits();
        assert_eq!(waits.len(), 2);
        assert!(waits[0] >= secs(1) / 2 && waits[0] <= secs(1), "{waits:?}");
        assert!(waits[1] >= secs(1) && waits[1] <= secs(2), "{waits:?}");
        assert_eq!(
            counters.snapshot(),
            (0, 2, 0),
            "two retries, no request counted here"
        );
    }

    #[tokio::test]
    async fn throttling_is_waited_out_within_its_budget() {
        let policy = RetryPolicy {
            max_throttle_retries: 2,
            ..RetryPolicy::default()
        };
        let sleeper = RecordingSleeper::default();
        let counters = SyncCounters::default();
        let mut retrier = Retrier::new(&policy, &sleeper, &counters);
        for wait in [5, 7] {
            let failure = Failure::<Broken>::Throttled {
                retry_after: secs(wait),
            };
            retrier.after("u", failure).await.expect("waited out");
        }
        let failure = Failure::<Broken>::Throttled {
            retry_after: secs(1),
        };
        let given_up = retrier.after("u", failure).await;
        assert!(
            matches!(given_up, Err(GiveUp::Throttled { retry_after }) if retry_after == secs(1))
        );
        assert_eq!(sleeper.waits(), [secs(5), secs(7)]);
        assert_eq!(counters.snapshot(), (0, 2, 3));
    }

    #[tokio::test]
    async fn a_wait_longer_than_allowed_gives_up_at_once() {
        let policy = RetryPolicy::default();
        let sleeper = RecordingSleeper::default();
        let counters = SyncCounters::default();
        let mut retrier = Retrier::new(&policy, &sleeper, &counters).max_throttle_wait(secs(60));
        let failure = Failure::<Broken>::Throttled {
            retry_after: secs(60),
        };
        retrier
            .after("u", failure)
            .await
            .expect("exactly the limit is waited out");
        let failure = Failure::<Broken>::Throttled {
            retry_after: secs(3600),
        };
        let given_up = retrier.after("u", failure).await;
        assert!(
            matches!(given_up, Err(GiveUp::Throttled { retry_after }) if retry_after == secs(3600))
        );
        assert_eq!(sleeper.waits(), [secs(60)]);
    }

    #[tokio::test]
    async fn fatal_and_unauthorized_end_without_waiting() {
        let policy = RetryPolicy::default();
        let sleeper = RecordingSleeper::default();
        let counters = SyncCounters::default();
        let mut retrier = Retrier::new(&policy, &sleeper, &counters);
        let fatal = retrier.after("u", Failure::Fatal(Broken(1))).await;
        assert!(matches!(fatal, Err(GiveUp::Failed(Broken(1)))));
        let refused = retrier.after("u", Failure::<Broken>::Unauthorized).await;
        assert!(matches!(refused, Err(GiveUp::Unauthorized)));
        assert!(sleeper.waits().is_empty());
        assert_eq!(counters.snapshot(), (0, 0, 0));
    }

    #[tokio::test]
    async fn a_success_after_failures_is_returned() {
        let policy = RetryPolicy::default();
        let sleeper = RecordingSleeper::default();
        let counters = SyncCounters::default();
        let mut retrier = Retrier::new(&policy, &sleeper, &counters);
        let mut attempts = 0;
        let result = retrier
            .run("u", || {
                attempts += 1;
                let attempt = attempts;
                async move {
                    match attempt {
                        1 => Err(Failure::Throttled {
                            retry_after: secs(2),
                        }),
                        2 => Err(Failure::Transient(Broken(2))),
                        _ => Ok(attempt),
                    }
                }
            })
            .await;
        assert_eq!(result.expect("the third attempt succeeds"), 3);
        assert_eq!(sleeper.waits().len(), 2);
        assert_eq!(sleeper.waits()[0], secs(2));
    }
}

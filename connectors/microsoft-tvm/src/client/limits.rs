//! Client-side rate limits, so a sync stays inside Defender's published
//! quotas instead of learning them from 429s. Each endpoint family has a
//! minute and an hour quota, and a request waits for both.
//!
//! The waits go through the client's [`Sleeper`], like every other wait.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};

use super::{Endpoint, Sleeper};

/// Calls per minute and per hour of one endpoint family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyLimits {
    pub per_minute: u32,
    pub per_hour: u32,
}

/// The quotas the client keeps to; Defender's published ones by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// `/api/machines`, also used for the catalog.
    pub machines: FamilyLimits,
    /// The full and delta vulnerability exports.
    pub exports: FamilyLimits,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            machines: FamilyLimits {
                per_minute: 100,
                per_hour: 1_500,
            },
            exports: FamilyLimits {
                per_minute: 30,
                per_hour: 1_000,
            },
        }
    }
}

/// The minute and hour limiters of one family.
#[derive(Debug)]
struct QuotaPair {
    minute: DefaultDirectRateLimiter,
    hour: DefaultDirectRateLimiter,
}

impl QuotaPair {
    fn new(limits: FamilyLimits) -> Self {
        let count = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Self {
            minute: governor::RateLimiter::direct(Quota::per_minute(count(limits.per_minute))),
            hour: governor::RateLimiter::direct(Quota::per_hour(count(limits.per_hour))),
        }
    }
}

/// Every family's limiters.
#[derive(Debug)]
pub(super) struct Limiters {
    machines: QuotaPair,
    exports: QuotaPair,
    clock: DefaultClock,
}

impl Limiters {
    pub(super) fn new(limits: &RateLimits) -> Self {
        Self {
            machines: QuotaPair::new(limits.machines),
            exports: QuotaPair::new(limits.exports),
            clock: DefaultClock::default(),
        }
    }

    /// Waits until a request to `endpoint` fits both of its quotas.
    pub(super) async fn acquire(&self, endpoint: Endpoint, sleeper: &dyn Sleeper) {
        let pair = match endpoint {
            Endpoint::Machines | Endpoint::Catalog => &self.machines,
            Endpoint::Export => &self.exports,
        };
        // One quota after the other: checking both together would use up a
        // cell of the first each time the second makes the request wait.
        for limiter in [&pair.minute, &pair.hour] {
            while let Err(not_until) = limiter.check() {
                let wait = not_until.wait_time_from(self.clock.now());
                tracing::debug!(
                    wait_ms = wait.as_millis() as u64,
                    "waiting for the rate limit"
                );
                sleeper.sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use async_trait::async_trait;

    use super::*;

    /// Records each wait and returns at once.
    #[derive(Debug, Default)]
    struct Recording(Mutex<Vec<Duration>>);

    #[async_trait]
    impl Sleeper for Recording {
        async fn sleep(&self, duration: Duration) {
            self.0.lock().expect("lock").push(duration);
        }
    }

    #[tokio::test]
    async fn a_family_waits_once_its_quota_is_used_and_the_other_does_not() {
        // 60 per hour is one a minute after the burst: too slow to wait
        // for, so the test only asks whether a wait was needed.
        let limits = FamilyLimits {
            per_minute: 1_000,
            per_hour: 2,
        };
        let limiters = Limiters::new(&RateLimits {
            machines: limits,
            exports: limits,
        });
        let sleeper = Recording::default();
        limiters.acquire(Endpoint::Machines, &sleeper).await;
        limiters.acquire(Endpoint::Catalog, &sleeper).await;
        limiters.acquire(Endpoint::Export, &sleeper).await;
        assert!(
            sleeper.0.lock().expect("lock").is_empty(),
            "within the burst"
        );

        let pair = &limiters.machines;
        let wait = pair.hour.check().expect_err("the hour quota is used up");
        let wait = wait.wait_time_from(limiters.clock.now());
        assert!(
            wait > Duration::from_secs(1_700) && wait <= Duration::from_secs(1_800),
            "{wait:?}"
        );
        assert!(
            limiters.exports.hour.check().is_ok(),
            "exports have their own quota"
        );
    }

    #[test]
    fn defaults_are_defenders_published_limits() {
        let limits = RateLimits::default();
        assert_eq!(
            limits.machines,
            FamilyLimits {
                per_minute: 100,
                per_hour: 1_500
            }
        );
        assert_eq!(
            limits.exports,
            FamilyLimits {
                per_minute: 30,
                per_hour: 1_000
            }
        );
    }
}

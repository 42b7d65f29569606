//! Client-side rate limits, so a sync stays inside Defender's published
//! quotas instead of learning them from 429s. Each endpoint family has a
//! minute and an hour quota, and a request waits for both; the limiter is
//! `inlet-http`'s, this module knows Defender's families and quotas.
//!
//! The waits go through the client's [`Sleeper`](super::Sleeper), like every
//! other wait.

use inlet_http::RateLimiter;

use super::Endpoint;

pub use inlet_http::FamilyLimits;

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

/// The groups of endpoints that share a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    Machines,
    Exports,
}

impl Endpoint {
    /// The quota a request to this endpoint counts against.
    pub(super) fn family(self) -> Family {
        match self {
            Self::Machines | Self::Catalog => Family::Machines,
            Self::Export => Family::Exports,
        }
    }
}

/// Every family's limiters.
pub(super) fn limiters(limits: &RateLimits) -> RateLimiter<Family> {
    RateLimiter::new([
        (Family::Machines, limits.machines),
        (Family::Exports, limits.exports),
    ])
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use inlet_http::RecordingSleeper;

    use super::*;

    #[tokio::test]
    async fn a_family_waits_once_its_quota_is_used_and_the_other_does_not() {
        // 60 per hour is one a minute after the burst: too slow to wait
        // for, so the test only asks whether a wait was needed.
        let limits = FamilyLimits {
            per_minute: 1_000,
            per_hour: 2,
        };
        let limiters = limiters(&RateLimits {
            machines: limits,
            exports: limits,
        });
        let sleeper = RecordingSleeper::default();
        for endpoint in [Endpoint::Machines, Endpoint::Catalog, Endpoint::Export] {
            limiters.acquire(endpoint.family(), &sleeper).await;
        }
        assert!(sleeper.waits().is_empty(), "within the burst");

        let wait = limiters
            .try_acquire(Endpoint::Catalog.family())
            .expect_err("the hour quota is used up");
        assert!(
            wait > Duration::from_secs(1_700) && wait <= Duration::from_secs(1_800),
            "{wait:?}"
        );
        assert!(
            limiters.try_acquire(Endpoint::Export.family()).is_ok(),
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
        let limiters = limiters(&limits);
        assert_eq!(limiters.limits(&Family::Exports), Some(limits.exports));
    }
}

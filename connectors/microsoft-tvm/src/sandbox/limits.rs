//! Upstream's rate limits, per endpoint family: a sliding log of the last
//! hour's admitted calls, checked against the per-minute and per-hour
//! quotas. `tokio::time::Instant` lets tests pause and advance time.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Which quota an endpoint draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `/api/machines` (and the catalog): 100/min, 1,500/h.
    Machines,
    /// Full and delta vulnerability export: 30/min, 1,000/h.
    Exports,
}

impl Family {
    pub(crate) fn per_minute(self) -> usize {
        match self {
            Self::Machines => 100,
            Self::Exports => 30,
        }
    }

    pub(crate) fn per_hour(self) -> usize {
        match self {
            Self::Machines => 1_500,
            Self::Exports => 1_000,
        }
    }
}

/// A refused call: how long to wait and upstream's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) retry_after_secs: u64,
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn per_minute(family: Family, retry_after_secs: u64) -> Self {
        let limit = family.per_minute();
        let message = format!("API calls quota exceeded! maximum allowed {limit} per 00:01:00");
        Self {
            retry_after_secs,
            message,
        }
    }

    pub(crate) fn per_hour(family: Family, retry_after_secs: u64) -> Self {
        let limit = family.per_hour();
        let message = format!("API calls quota exceeded! maximum allowed {limit} per 01:00:00");
        Self {
            retry_after_secs,
            message,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct RateLimits {
    machines: Mutex<VecDeque<Instant>>,
    exports: Mutex<VecDeque<Instant>>,
}

/// Whole seconds until `elapsed` reaches `window` (at least 1).
fn wait_secs(window: Duration, elapsed: Duration) -> u64 {
    let left = window.saturating_sub(elapsed);
    (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1)
}

impl RateLimits {
    /// Admits a call of `family` now, or says how long to wait. Refused
    /// calls do not count, so a client that honours `Retry-After` gets in.
    pub(crate) fn admit(&self, family: Family) -> Result<(), Refusal> {
        let lock = match family {
            Family::Machines => &self.machines,
            Family::Exports => &self.exports,
        };
        // A poisoned log only holds instants; keep using it.
        let mut calls = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        while calls
            .front()
            .is_some_and(|first| now.duration_since(*first) >= HOUR)
        {
            calls.pop_front();
        }
        if calls.len() >= family.per_hour() {
            let oldest = calls
                .front()
                .map_or(HOUR, |first| now.duration_since(*first));
            return Err(Refusal::per_hour(family, wait_secs(HOUR, oldest)));
        }
        let in_minute = calls
            .iter()
            .rev()
            .take_while(|at| now.duration_since(**at) < MINUTE)
            .count();
        if in_minute >= family.per_minute() {
            let oldest = calls[calls.len() - in_minute];
            return Err(Refusal::per_minute(
                family,
                wait_secs(MINUTE, now.duration_since(oldest)),
            ));
        }
        calls.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_minute_quota_refuses_then_recovers() {
        let limits = RateLimits::default();
        for _ in 0..30 {
            assert!(limits.admit(Family::Exports).is_ok());
        }
        tokio::time::advance(Duration::from_secs(20)).await;
        let refusal = limits
            .admit(Family::Exports)
            .expect_err("31st call in a minute");
        assert_eq!(refusal.retry_after_secs, 40);
        assert!(refusal.message.ends_with("maximum allowed 30 per 00:01:00"));
        assert!(
            limits.admit(Family::Machines).is_ok(),
            "families are separate"
        );
        tokio::time::advance(Duration::from_secs(40)).await;
        assert!(limits.admit(Family::Exports).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn the_hour_quota_refuses_with_a_long_wait() {
        let limits = RateLimits::default();
        for _ in 0..10 {
            for _ in 0..100 {
                assert!(limits.admit(Family::Exports).is_ok());
                tokio::time::advance(Duration::from_secs(2)).await;
            }
        }
        let refusal = limits
            .admit(Family::Exports)
            .expect_err("1001st call in an hour");
        assert!(refusal
            .message
            .ends_with("maximum allowed 1000 per 01:00:00"));
        assert!(
            refusal.retry_after_secs > 1_500,
            "{}",
            refusal.retry_after_secs
        );
    }
}

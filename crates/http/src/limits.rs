//! Client-side rate limits, so a sync stays inside an API's published quotas
//! instead of learning them from 429s. Each endpoint family has a minute and
//! an hour quota, and a request waits for both.
//!
//! The waits go through a [`Sleeper`], like every other wait. The limiter
//! reads a `governor` clock: the real one, or a fake one in tests.

use std::fmt;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::Quota;

use crate::sleep::Sleeper;

/// Calls per minute and per hour of one endpoint family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyLimits {
    pub per_minute: u32,
    pub per_hour: u32,
}

/// One `governor` limiter on clock `C`.
type Direct<C> =
    governor::RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The minute and hour limiters of one family.
struct QuotaPair<C: Clock> {
    minute: Direct<C>,
    hour: Direct<C>,
}

impl<C: Clock + Clone> QuotaPair<C> {
    fn new(limits: FamilyLimits, clock: &C) -> Self {
        // A quota of 0 would never let a request through; it means 1.
        let count = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        let direct = |quota| governor::RateLimiter::direct_with_clock(quota, clock.clone());
        Self {
            minute: direct(Quota::per_minute(count(limits.per_minute))),
            hour: direct(Quota::per_hour(count(limits.per_hour))),
        }
    }
}

/// The quotas of every family `F` (an enum of the upstream's endpoint
/// groups, say). A family without limits is never held back.
pub struct RateLimiter<F, C: Clock = DefaultClock> {
    families: Vec<(F, FamilyLimits, QuotaPair<C>)>,
    clock: C,
}

impl<F: fmt::Debug, C: Clock> fmt::Debug for RateLimiter<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The limiters' state is not worth showing; the quotas are.
        let quotas: Vec<_> = self
            .families
            .iter()
            .map(|(family, limits, _)| (family, limits))
            .collect();
        f.debug_struct("RateLimiter")
            .field("families", &quotas)
            .finish_non_exhaustive()
    }
}

impl<F: PartialEq> RateLimiter<F> {
    /// Limiters on the real clock for each family and its limits.
    pub fn new(families: impl IntoIterator<Item = (F, FamilyLimits)>) -> Self {
        Self::with_clock(families, DefaultClock::default())
    }
}

impl<F: PartialEq, C: Clock + Clone> RateLimiter<F, C> {
    /// Limiters that read `clock`; tests pass a
    /// `governor::clock::FakeRelativeClock` that their sleeper advances.
    pub fn with_clock(families: impl IntoIterator<Item = (F, FamilyLimits)>, clock: C) -> Self {
        let families = families
            .into_iter()
            .map(|(family, limits)| {
                let pair = QuotaPair::new(limits, &clock);
                (family, limits, pair)
            })
            .collect();
        Self { families, clock }
    }

    /// The limits of `family`, if it has any.
    pub fn limits(&self, family: &F) -> Option<FamilyLimits> {
        self.pair(family).map(|(limits, _)| limits)
    }

    /// Waits until a request of `family` fits both of its quotas, and takes
    /// its place in them.
    pub async fn acquire(&self, family: F, sleeper: &dyn Sleeper) {
        let Some((_, pair)) = self.pair(&family) else {
            return;
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

    /// Takes a place for a request of `family` without waiting, or says how
    /// long the first full quota asks to wait. A place taken in the minute
    /// quota stays taken when the hour quota is full.
    pub fn try_acquire(&self, family: F) -> Result<(), std::time::Duration> {
        let Some((_, pair)) = self.pair(&family) else {
            return Ok(());
        };
        for limiter in [&pair.minute, &pair.hour] {
            if let Err(not_until) = limiter.check() {
                return Err(not_until.wait_time_from(self.clock.now()));
            }
        }
        Ok(())
    }

    fn pair(&self, family: &F) -> Option<(FamilyLimits, &QuotaPair<C>)> {
        self.families
            .iter()
            .find(|(known, _, _)| known == family)
            .map(|(_, limits, pair)| (*limits, pair))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use async_trait::async_trait;
    use governor::clock::FakeRelativeClock;

    use super::*;
    use crate::sleep::RecordingSleeper;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Family {
        Lists,
        Exports,
        Unlimited,
    }

    /// Records each wait and moves the limiter's fake clock on by it, as
    /// if the wait had passed.
    #[derive(Debug, Default)]
    struct ClockSleeper {
        clock: FakeRelativeClock,
        waits: Mutex<Vec<Duration>>,
    }

    #[async_trait]
    impl Sleeper for ClockSleeper {
        async fn sleep(&self, duration: Duration) {
            self.waits.lock().expect("lock").push(duration);
            self.clock.advance(duration);
        }
    }

    fn limiter(clock: &FakeRelativeClock) -> RateLimiter<Family, FakeRelativeClock> {
        let lists = FamilyLimits {
            per_minute: 2,
            per_hour: 3,
        };
        let exports = FamilyLimits {
            per_minute: 1,
            per_hour: 100,
        };
        RateLimiter::with_clock(
            [(Family::Lists, lists), (Family::Exports, exports)],
            clock.clone(),
        )
    }

    #[tokio::test]
    async fn waits_for_the_minute_then_the_hour_quota() {
        let sleeper = ClockSleeper::default();
        let limiter = limiter(&sleeper.clock);
        for _ in 0..4 {
            limiter.acquire(Family::Lists, &sleeper).await;
        }

        // Two at once; the third waits 30 s for a minute cell; the fourth
        // waits 30 s more for the next minute cell, then for the first hour
        // cell, which comes back 20 minutes after the start.
        let waits = sleeper.waits.lock().expect("lock").clone();
        let secs = Duration::from_secs;
        assert_eq!(waits, [secs(30), secs(30), secs(1200 - 60)]);
    }

    #[tokio::test]
    async fn families_have_their_own_quotas_and_unknown_ones_none() {
        let sleeper = ClockSleeper::default();
        let limiter = limiter(&sleeper.clock);
        limiter.acquire(Family::Lists, &sleeper).await;
        limiter.acquire(Family::Lists, &sleeper).await;
        limiter.acquire(Family::Exports, &sleeper).await;
        for _ in 0..1_000 {
            limiter.acquire(Family::Unlimited, &sleeper).await;
        }
        assert!(sleeper.waits.lock().expect("lock").is_empty());
        assert_eq!(limiter.limits(&Family::Unlimited), None);
        assert_eq!(
            limiter.limits(&Family::Exports).map(|l| l.per_minute),
            Some(1)
        );
    }

    #[test]
    fn try_acquire_says_how_long_to_wait() {
        let clock = FakeRelativeClock::default();
        let limiter = limiter(&clock);
        assert_eq!(limiter.try_acquire(Family::Exports), Ok(()));
        assert_eq!(
            limiter.try_acquire(Family::Exports),
            Err(Duration::from_secs(60))
        );
        clock.advance(Duration::from_secs(45));
        assert_eq!(
            limiter.try_acquire(Family::Exports),
            Err(Duration::from_secs(15))
        );
        clock.advance(Duration::from_secs(15));
        assert_eq!(limiter.try_acquire(Family::Exports), Ok(()));
    }

    #[tokio::test]
    async fn the_real_clock_lets_a_burst_through_without_waiting() {
        let limits = FamilyLimits {
            per_minute: 1_000,
            per_hour: 2,
        };
        let limiter = RateLimiter::new([(Family::Lists, limits)]);
        let sleeper = RecordingSleeper::default();
        limiter.acquire(Family::Lists, &sleeper).await;
        limiter.acquire(Family::Lists, &sleeper).await;
        assert!(sleeper.waits().is_empty(), "within the burst");
        let wait = limiter
            .try_acquire(Family::Lists)
            .expect_err("the hour quota is used up");
        assert!(
            wait > Duration::from_secs(1_700) && wait <= Duration::from_secs(1_800),
            "{wait:?}"
        );
    }

    #[test]
    fn debug_shows_the_quotas() {
        let limiter = limiter(&FakeRelativeClock::default());
        let shown = format!("{limiter:?}");
        assert!(
            shown.contains("Lists") && shown.contains("per_hour: 3"),
            "{shown}"
        );
    }
}

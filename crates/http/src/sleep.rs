//! Waiting, behind a trait. Every wait of a client (backoff, `Retry-After`,
//! rate limits) goes through a [`Sleeper`], so tests record the waits instead
//! of sleeping through them.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

/// Waits for a while.
#[async_trait]
pub trait Sleeper: Send + Sync + fmt::Debug {
    async fn sleep(&self, duration: Duration);
}

/// The real sleeper: `tokio::time::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// Records every wait and returns at once; for tests that check what a
/// client waited without waiting.
#[derive(Debug, Default)]
pub struct RecordingSleeper {
    waits: Mutex<Vec<Duration>>,
}

impl RecordingSleeper {
    /// The waits asked for so far, oldest first.
    pub fn waits(&self) -> Vec<Duration> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Duration>> {
        // A panic elsewhere cannot leave a `Vec` of durations inconsistent.
        self.waits.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Sleeper for RecordingSleeper {
    async fn sleep(&self, duration: Duration) {
        self.lock().push(duration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_recording_sleeper_keeps_the_waits_in_order() {
        let sleeper = RecordingSleeper::default();
        sleeper.sleep(Duration::from_secs(2)).await;
        sleeper.sleep(Duration::from_millis(5)).await;
        assert_eq!(
            sleeper.waits(),
            [Duration::from_secs(2), Duration::from_millis(5)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_tokio_sleeper_moves_with_tokios_clock() {
        let started = tokio::time::Instant::now();
        TokioSleeper.sleep(Duration::from_secs(90)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(90));
    }
}

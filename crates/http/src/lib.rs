//! What every connector that pulls from an HTTP API repeats, written once:
//!
//! - [`sleep`]: the [`Sleeper`] every wait goes through, so tests record
//!   waits instead of sleeping through them.
//! - [`retry`]: the [`RetryPolicy`], backoff, `Retry-After`, and the
//!   [`Retrier`] that decides after each failed attempt.
//! - [`limits`]: minute and hour quotas per endpoint family ([`RateLimiter`]).
//! - [`token`]: a bearer token cached until shortly before it expires
//!   ([`TokenCache`]), fetched once when many tasks ask at once.
//! - [`origin`]: the configured base URL ([`ApiBase`]): https (plain http on
//!   loopback only), URLs built from segments, next links pinned to it.
//! - [`client`]: the `reqwest` client every connector should use.
//! - [`exchange`]: one request whose whole answer is read, counted and logged.
//!
//! This crate is apart from `inlet-core` because core does no I/O: it holds
//! the contracts that the store and the engine share, and they must not pull
//! in an HTTP stack. Connectors may depend on this crate; core, store and
//! engine do not.

pub mod client;
pub mod exchange;
pub mod limits;
pub mod origin;
pub mod retry;
pub mod sleep;
pub mod token;

pub use client::{build_client, ClientBuildError, ClientSettings, USER_AGENT};
pub use exchange::{exchange, Answer, TransportError};
pub use limits::{FamilyLimits, RateLimiter};
pub use origin::{display_url, is_loopback, ApiBase, UrlError};
pub use retry::{
    backoff, backoff_ceiling, parse_retry_after, retry_after_from, Failure, GiveUp, Retrier,
    RetryPolicy, DEFAULT_RETRY_AFTER,
};
pub use sleep::{RecordingSleeper, Sleeper, TokioSleeper};
pub use token::{usable_for, FetchedToken, TokenCache, DEFAULT_RENEW_BEFORE};

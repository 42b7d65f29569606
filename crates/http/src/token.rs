//! A bearer token, cached until shortly before it expires and renewed when
//! the API refuses it. How a token is fetched is the caller's: the cache
//! takes a closure, so it serves client credentials, refresh tokens or
//! anything else that yields a token and its lifetime.
//!
//! The cache sits behind a tokio `Mutex` held across the fetch, so callers
//! that find it empty at the same time fetch once, not each.

use std::future::Future;
use std::time::{Duration, Instant};

use inlet_core::Secret;

/// A token is renewed this long before it expires, unless told otherwise.
pub const DEFAULT_RENEW_BEFORE: Duration = Duration::from_secs(60);

/// What a fetch returns: the token and how long it lives from now. Its
/// `Debug` shows no token, as [`Secret`] prints a mark.
#[derive(Debug, Clone)]
pub struct FetchedToken {
    pub value: Secret,
    pub lifetime: Duration,
}

/// The cached token, if any.
#[derive(Debug)]
pub struct TokenCache {
    renew_before: Duration,
    cached: tokio::sync::Mutex<Option<CachedToken>>,
}

#[derive(Debug)]
struct CachedToken {
    value: Secret,
    renew_at: Instant,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(DEFAULT_RENEW_BEFORE)
    }
}

impl TokenCache {
    /// An empty cache that renews tokens `renew_before` they expire.
    pub fn new(renew_before: Duration) -> Self {
        Self {
            renew_before,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// A valid token: the cached one, or one from `fetch` when there is
    /// none, it is about to expire, or it is `stale` (the API just refused
    /// it). A failed fetch leaves the cache as it was.
    pub async fn bearer<E, F, Fut>(&self, stale: Option<&Secret>, fetch: F) -> Result<Secret, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<FetchedToken, E>>,
    {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref() {
            let refused = stale.is_some_and(|stale| *stale == token.value);
            if !refused && Instant::now() < token.renew_at {
                return Ok(token.value.clone());
            }
        }

        let fresh = fetch().await?;
        let renew_at = Instant::now() + usable_for(fresh.lifetime, self.renew_before);
        let value = fresh.value.clone();
        *cached = Some(CachedToken {
            value: fresh.value,
            renew_at,
        });
        Ok(value)
    }
}

/// How long a token of `lifetime` is used: until `renew_before` it
/// expires, or half its life when it lives shorter than twice that.
pub fn usable_for(lifetime: Duration, renew_before: Duration) -> Duration {
    if lifetime > 2 * renew_before {
        lifetime - renew_before
    } else {
        lifetime / 2
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicU32, Ordering};

    use futures_util::future::join_all;

    use super::*;

    /// Hands out `token-1`, `token-2`, ... with one lifetime, counting the
    /// fetches; each fetch yields once, as a real request would.
    #[derive(Debug)]
    struct CountingFetcher {
        fetches: AtomicU32,
        lifetime: Duration,
    }

    impl CountingFetcher {
        fn new(lifetime: Duration) -> Self {
            Self {
                fetches: AtomicU32::new(0),
                lifetime,
            }
        }

        async fn fetch(&self) -> Result<FetchedToken, Infallible> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::task::yield_now().await;
            Ok(FetchedToken {
                value: Secret::new(format!("token-{n}")),
                lifetime: self.lifetime,
            })
        }

        fn fetches(&self) -> u32 {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    async fn bearer(
        cache: &TokenCache,
        fetcher: &CountingFetcher,
        stale: Option<&Secret>,
    ) -> String {
        let token = cache.bearer(stale, || fetcher.fetch()).await;
        let Ok(token) = token;
        token.expose().to_string()
    }

    #[tokio::test]
    async fn a_token_is_reused_until_it_is_refused() {
        let cache = TokenCache::default();
        let fetcher = CountingFetcher::new(Duration::from_secs(3600));
        assert_eq!(bearer(&cache, &fetcher, None).await, "token-1");
        assert_eq!(bearer(&cache, &fetcher, None).await, "token-1");
        assert_eq!(fetcher.fetches(), 1);

        // Refused: renewed once; a refusal of an older token changes nothing.
        let refused = Secret::new("token-1");
        assert_eq!(bearer(&cache, &fetcher, Some(&refused)).await, "token-2");
        assert_eq!(bearer(&cache, &fetcher, Some(&refused)).await, "token-2");
        assert_eq!(fetcher.fetches(), 2);
    }

    #[tokio::test]
    async fn a_token_about_to_expire_is_renewed() {
        // No usable life at all: every call fetches.
        let cache = TokenCache::default();
        let fetcher = CountingFetcher::new(Duration::ZERO);
        assert_eq!(bearer(&cache, &fetcher, None).await, "token-1");
        assert_eq!(bearer(&cache, &fetcher, None).await, "token-2");
        assert_eq!(fetcher.fetches(), 2);
    }

    #[test]
    fn tokens_are_used_until_the_margin_or_half_their_life() {
        let margin = DEFAULT_RENEW_BEFORE;
        let secs = Duration::from_secs;
        let cases = [(3599, 3539), (121, 61), (120, 60), (60, 30), (0, 0)];
        for (lifetime, usable) in cases {
            assert_eq!(
                usable_for(secs(lifetime), margin),
                secs(usable),
                "{lifetime}"
            );
        }
    }

    #[tokio::test]
    async fn many_callers_of_an_empty_cache_fetch_once() {
        let cache = TokenCache::default();
        let fetcher = CountingFetcher::new(Duration::from_secs(3600));
        let callers = (0..16).map(|_| bearer(&cache, &fetcher, None));
        let tokens = join_all(callers).await;
        assert!(tokens.iter().all(|token| token == "token-1"), "{tokens:?}");
        assert_eq!(fetcher.fetches(), 1);
    }

    #[tokio::test]
    async fn a_failed_fetch_caches_nothing() {
        let cache = TokenCache::default();
        let failed: Result<Secret, &str> = cache.bearer(None, || async { Err("refused") }).await;
        assert_eq!(failed.expect_err("the fetch failed"), "refused");
        let fetcher = CountingFetcher::new(Duration::from_secs(3600));
        assert_eq!(bearer(&cache, &fetcher, None).await, "token-1");
    }

    #[tokio::test]
    async fn debug_shows_no_token() {
        let token = FetchedToken {
            value: Secret::new("eyJ-very-secret"),
            lifetime: Duration::from_secs(3600),
        };
        let cache = TokenCache::default();
        let fetched = token.clone();
        let cached: Result<Secret, Infallible> = cache.bearer(None, || async { Ok(fetched) }).await;
        assert!(cached.is_ok());
        let shown = format!("{token:?} {cache:?}");
        assert!(!shown.contains("eyJ"), "{shown}");
    }
}

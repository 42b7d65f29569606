//! One page, read as it streams in: the token, the rate limits and the retry
//! rules around a GET whose body is split into records chunk by chunk.
//!
//! A body that breaks halfway (reset, cut off, invalid) is requested again,
//! and the records of the broken attempt that were already handed on are
//! skipped: a page URL (a `$skiptoken` cursor or `$top`/`$skip`) names the
//! same rows each time it is read.

use inlet_core::{Secret, SyncCounters};
use inlet_http::Answer;
use reqwest::header::ACCEPT;
use reqwest::StatusCode;
use serde_json::value::RawValue;
use url::Url;

use super::http::{api_error, broken, shared_failure, Failure, Retrier};
use super::stream::PageSplitter;
use super::{Endpoint, TvmClient};
use crate::error::{display_url, TvmError};

/// How a page ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PageEnd {
    /// The body was complete; the next link, if any.
    Complete { next_link: Option<String> },
    /// 404 where that means "nothing there" (`/api/machines`).
    NotFound,
}

/// Reads one page in batches.
pub(crate) struct PageReader<'a> {
    client: &'a TvmClient,
    endpoint: Endpoint,
    url: Url,
    shown: String,
    counters: &'a SyncCounters,
    retrier: Retrier<'a>,
    token: Option<Secret>,
    renewed: bool,
    body: Option<reqwest::Response>,
    splitter: PageSplitter,
    /// Records of this page handed on, over all attempts.
    delivered: usize,
    /// Records the current attempt has produced.
    parsed: usize,
    end: Option<PageEnd>,
}

impl std::fmt::Debug for PageReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // By hand: the URL's query (a cursor) and the response stay out.
        f.debug_struct("PageReader")
            .field("url", &self.shown)
            .field("endpoint", &self.endpoint)
            .field("delivered", &self.delivered)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl<'a> PageReader<'a> {
    pub(crate) fn new(
        client: &'a TvmClient,
        endpoint: Endpoint,
        url: Url,
        counters: &'a SyncCounters,
    ) -> Self {
        Self {
            client,
            endpoint,
            shown: display_url(url.as_str()),
            url,
            counters,
            retrier: Retrier::new(client, counters),
            token: None,
            renewed: false,
            body: None,
            splitter: PageSplitter::default(),
            delivered: 0,
            parsed: 0,
            end: None,
        }
    }

    /// How the page ended, once [`next_batch`](Self::next_batch) said `None`.
    pub(crate) fn end(&self) -> Option<&PageEnd> {
        self.end.as_ref()
    }

    /// Up to `max` more records of the page; `None` once it is done.
    pub(crate) async fn next_batch(
        &mut self,
        max: usize,
    ) -> Result<Option<Vec<Box<RawValue>>>, TvmError> {
        let max = max.max(1);
        loop {
            if self.splitter.ready() >= max || (self.end.is_some() && self.splitter.ready() > 0) {
                return Ok(Some(self.take(max)));
            }
            if self.end.is_some() {
                return Ok(None);
            }
            if self.body.is_none() {
                self.open().await?;
                continue;
            }
            if let Err(failure) = self.read_chunk().await {
                self.body = None;
                self.retrier.after(&self.shown, failure).await?;
            }
        }
    }

    fn take(&mut self, max: usize) -> Vec<Box<RawValue>> {
        let records = self.splitter.take(max);
        self.parsed += records.len();
        self.delivered += records.len();
        records
    }

    /// Sends the request until it is answered with a body to read (or a 404
    /// that ends the page).
    async fn open(&mut self) -> Result<(), TvmError> {
        loop {
            let token = match &self.token {
                Some(token) => token.clone(),
                None => self.client.bearer(self.counters, None).await?,
            };
            self.token = Some(token.clone());
            let sleeper = self.client.options.sleeper.as_ref();
            let family = self.endpoint.family();
            self.client.limiters.acquire(family, sleeper).await;

            match self.send(&token).await {
                Ok(Some(response)) => {
                    self.body = Some(response);
                    self.splitter = PageSplitter::default();
                    self.parsed = 0;
                    return Ok(());
                }
                Ok(None) => {
                    self.end = Some(PageEnd::NotFound);
                    return Ok(());
                }

                // An expired or revoked token: renew it and try once more.
                Err(Failure::Unauthorized) if !self.renewed => {
                    self.renewed = true;
                    self.counters.add_retry();
                    tracing::warn!(url = %self.shown, "token refused; renewing it once");
                    self.token = Some(self.client.bearer(self.counters, Some(&token)).await?);
                }
                Err(failure) => self.retrier.after(&self.shown, failure).await?,
            }
        }
    }

    /// One attempt: the response whose body is the page, `None` for a 404
    /// that means "nothing there", or why there is no page.
    async fn send(&self, token: &Secret) -> Result<Option<reqwest::Response>, Failure> {
        let url = &self.url;
        let request = self
            .client
            .http
            .get(url.clone())
            .bearer_auth(token.expose())
            .header(ACCEPT, "application/json");
        self.counters.add_request();
        let started = std::time::Instant::now();
        let response = request.send().await.map_err(|error| {
            tracing::debug!(method = "GET", path = url.path(), "request failed");
            Failure::Transient(TvmError::transport(url.as_str(), error))
        })?;
        let status = response.status();
        let elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::debug!(
            method = "GET",
            path = url.path(),
            status = status.as_u16(),
            elapsed_ms,
            "request"
        );
        if status.is_success() {
            return Ok(Some(response));
        }

        // Error answers are small: read them whole for their details.
        let retry_after = inlet_http::parse_retry_after(response.headers());
        let transport = |error| Failure::Transient(TvmError::transport(url.as_str(), error));
        let body = response.bytes().await.map_err(transport)?;
        let answer = Answer {
            status,
            retry_after,
            body,
        };
        match status {
            StatusCode::UNAUTHORIZED => Err(Failure::Unauthorized),
            StatusCode::FORBIDDEN => Err(Failure::Fatal(TvmError::Forbidden {
                url: self.shown.clone(),
                permission: self.endpoint.permission(),
            })),
            StatusCode::NOT_FOUND if self.endpoint.not_found_is_empty() => Ok(None),
            _ => Err(shared_failure(&answer, url)
                .unwrap_or_else(|| Failure::Fatal(api_error(&answer, url)))),
        }
    }

    /// Feeds the next chunk of the body to the splitter, or finishes the page
    /// at the end of the body.
    async fn read_chunk(&mut self) -> Result<(), Failure> {
        let Some(body) = self.body.as_mut() else {
            return Ok(());
        };
        let url = &self.url;
        let chunk = body
            .chunk()
            .await
            .map_err(|error| Failure::Transient(TvmError::transport(url.as_str(), error)))?;
        match chunk {
            Some(chunk) => {
                self.splitter
                    .feed(&chunk)
                    .map_err(|detail| broken(url, detail))?;
                self.skip_replayed();
            }
            None => {
                let next_link = self
                    .splitter
                    .finish()
                    .map_err(|detail| broken(url, detail))?;
                self.body = None;
                self.end = Some(PageEnd::Complete { next_link });
            }
        }
        Ok(())
    }

    /// Drops the records a new attempt repeats from an earlier, broken one.
    fn skip_replayed(&mut self) {
        let replayed = self
            .delivered
            .saturating_sub(self.parsed)
            .min(self.splitter.ready());
        if replayed > 0 {
            drop(self.splitter.take(replayed));
            self.parsed += replayed;
        }
    }
}

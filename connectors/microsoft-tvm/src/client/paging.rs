//! Paging: a whole page for small requests, and Defender's two ways of
//! paging through a list in batches: next links (exports, catalog) and
//! `$top`/`$skip` (devices).

use std::collections::HashSet;

use inlet_core::SyncCounters;
use serde::Deserialize;
use serde_json::value::RawValue;
use url::Url;

use super::reader::{PageEnd, PageReader};
use super::{Endpoint, TvmClient};
use crate::error::{display_url, TvmError};

/// Most records [`TvmClient::get_page`] keeps: the largest page Defender
/// serves of devices (`$top` 10,000).
pub const MAX_WHOLE_PAGE_RECORDS: usize = 10_000;

/// One page of records, each kept as the raw JSON the upstream sent.
#[derive(Debug, Default)]
pub struct Page {
    pub records: Vec<Box<RawValue>>,
    /// `@odata.nextLink`, when there is a next page.
    pub next_link: Option<String>,
}

impl TvmClient {
    /// GETs one whole page with the token, the rate limits and the retry
    /// rules; for small pages (at most [`MAX_WHOLE_PAGE_RECORDS`], so a
    /// server that ignores `$top` cannot fill memory). `None` when the
    /// endpoint answered 404 and that means "nothing there" (only
    /// `/api/machines` does).
    pub async fn get_page(
        &self,
        endpoint: Endpoint,
        url: &Url,
        counters: &SyncCounters,
    ) -> Result<Option<Page>, TvmError> {
        let mut reader = PageReader::new(self, endpoint, url.clone(), counters);
        let mut records = Vec::new();
        while let Some(batch) = reader.next_batch(MAX_WHOLE_PAGE_RECORDS).await? {
            records.extend(batch);
            if records.len() > MAX_WHOLE_PAGE_RECORDS {
                return Err(TvmError::BrokenPage {
                    url: display_url(url.as_str()),
                    detail: format!(
                        "more than {MAX_WHOLE_PAGE_RECORDS} records in a page read whole"
                    ),
                });
            }
        }
        match reader.end() {
            Some(PageEnd::Complete { next_link }) => Ok(Some(Page {
                records,
                next_link: next_link.clone(),
            })),
            _ => Ok(None),
        }
    }
}

/// Follows `@odata.nextLink` from a first URL until a page has none,
/// handing out the records in batches as they stream in.
#[derive(Debug)]
pub struct LinkPager<'a> {
    client: &'a TvmClient,
    endpoint: Endpoint,
    counters: &'a SyncCounters,
    reader: Option<PageReader<'a>>,
    visited: HashSet<String>,
}

impl<'a> LinkPager<'a> {
    pub fn new(
        client: &'a TvmClient,
        endpoint: Endpoint,
        first: Url,
        counters: &'a SyncCounters,
    ) -> Self {
        let visited = HashSet::from([first.to_string()]);
        let reader = Some(PageReader::new(client, endpoint, first, counters));
        Self {
            client,
            endpoint,
            counters,
            reader,
            visited,
        }
    }

    /// Up to `max` more records; `None` after the last page.
    pub async fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Box<RawValue>>>, TvmError> {
        loop {
            let Some(reader) = self.reader.as_mut() else {
                return Ok(None);
            };
            if let Some(records) = reader.next_batch(max).await? {
                return Ok(Some(records));
            }
            let next_link = match reader.end() {
                Some(PageEnd::Complete { next_link }) => next_link.clone(),
                _ => None,
            };
            self.reader = None;

            // The link is checked before it is called, so a foreign or
            // looping link fails the sync without a request.
            if let Some(link) = next_link.filter(|link| !link.trim().is_empty()) {
                let next = self.client.check_next_link(&link)?;
                if !self.visited.insert(next.to_string()) {
                    return Err(TvmError::RepeatedPage {
                        url: display_url(next.as_str()),
                    });
                }
                self.reader = Some(PageReader::new(
                    self.client,
                    self.endpoint,
                    next,
                    self.counters,
                ));
            }
        }
    }
}

/// Pages `/api/machines` with `$top` and `$skip` until a page is short or
/// the API answers 404; Defender documents no next link for devices.
#[derive(Debug)]
pub struct SkipPager<'a> {
    client: &'a TvmClient,
    counters: &'a SyncCounters,
    page_size: u32,
    /// Devices before the current page.
    skip: u64,
    reader: Option<PageReader<'a>>,
    /// Devices of the current page so far.
    n_on_page: u64,
    previous_first_id: Option<String>,
    done: bool,
}

impl<'a> SkipPager<'a> {
    pub fn new(client: &'a TvmClient, counters: &'a SyncCounters) -> Self {
        let page_size = client.options.machines_page_size.max(1);
        Self {
            client,
            counters,
            page_size,
            skip: 0,
            reader: None,
            n_on_page: 0,
            previous_first_id: None,
            done: false,
        }
    }

    /// Up to `max` more devices; `None` when there are no more.
    pub async fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Box<RawValue>>>, TvmError> {
        while !self.done {
            if self.reader.is_none() {
                self.reader = Some(self.open_page());
            }
            let Some(reader) = self.reader.as_mut() else {
                continue;
            };
            if let Some(records) = reader.next_batch(max).await? {
                self.check_first(&records)?;
                self.n_on_page += records.len() as u64;
                return Ok(Some(records));
            }

            // The page ended: a 404 or a short page is the last one.
            let not_found = matches!(reader.end(), Some(PageEnd::NotFound));
            self.done = not_found || self.n_on_page < u64::from(self.page_size);
            self.skip += self.n_on_page;
            self.reader = None;
        }
        Ok(None)
    }

    fn open_page(&mut self) -> PageReader<'a> {
        self.n_on_page = 0;
        let query = format!("$top={}&$skip={}", self.page_size, self.skip);
        let url = self.client.api_url("/api/machines", Some(&query));
        PageReader::new(self.client, Endpoint::Machines, url, self.counters)
    }

    /// An API that ignores `$skip` would serve the first page forever.
    fn check_first(&mut self, records: &[Box<RawValue>]) -> Result<(), TvmError> {
        if self.n_on_page > 0 {
            return Ok(());
        }
        let first_id = records.first().and_then(|record| record_id(record));
        if first_id.is_some() && first_id == self.previous_first_id {
            let url = self.client.api_url("/api/machines", None);
            return Err(TvmError::RepeatedPage {
                url: display_url(url.as_str()),
            });
        }
        self.previous_first_id = first_id;
        Ok(())
    }
}

/// A record's `id` as raw JSON text, when it has one.
fn record_id(record: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly<'a> {
        #[serde(borrow, default)]
        id: Option<&'a RawValue>,
    }
    let parsed: IdOnly<'_> = serde_json::from_str(record.get()).ok()?;
    parsed.id.map(|id| id.get().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_read_without_the_rest() {
        let record = RawValue::from_string(r#"{"id":"abc","x":{"y":1}}"#.into()).expect("json");
        assert_eq!(record_id(&record).as_deref(), Some(r#""abc""#));
        let record = RawValue::from_string(r#"{"name":"x"}"#.into()).expect("json");
        assert_eq!(record_id(&record), None);
    }
}

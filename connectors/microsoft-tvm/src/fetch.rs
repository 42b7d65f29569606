//! One sync's requests, in order: the vulnerability catalog (when the cached
//! one is stale), every device, then the full or the delta export. Pages are
//! split into records as they stream in and go to the sink in batches of at
//! most [`BATCH_SIZE`], so memory is bounded by a batch, not by a page.

use inlet_core::{ConnectorError, RecordBatch, RecordSink, SyncMode, SyncRequest};
use jiff::{SignedDuration, Timestamp};
use serde_json::value::RawValue;

use crate::client::{Endpoint, LinkPager, SkipPager, TvmClient};
use crate::config::TvmConfig;
use crate::error::TvmError;
use crate::{mapping, MAX_DELTA_DAYS};

/// Most records in one batch handed to the sink.
pub const BATCH_SIZE: usize = 5_000;

/// How old the cached catalog may be before a sync fetches it again.
pub const CATALOG_MAX_AGE: SignedDuration = SignedDuration::from_hours(24);

/// Path of the device list.
pub const MACHINES_PATH: &str = "/api/machines";
/// Path of the full vulnerability export.
pub const FULL_EXPORT_PATH: &str = "/api/machines/SoftwareVulnerabilitiesByMachine";
/// Path of the delta vulnerability export.
pub const DELTA_EXPORT_PATH: &str = "/api/machines/SoftwareVulnerabilityChangesByMachine";
/// Path of the vulnerability catalog.
pub const CATALOG_PATH: &str = "/api/vulnerabilities";

/// Fetches everything `request` asks for and hands it to `sink`.
pub async fn sync(
    client: &TvmClient,
    config: &TvmConfig,
    request: &SyncRequest,
    sink: &mut dyn RecordSink,
) -> Result<(), ConnectorError> {
    let now = Timestamp::now();

    // The export URL first: a delta reaching too far back fails before any
    // request is sent.
    let export = export_query(request.mode, config.page_size, now)?;

    if config.enrich_from_catalog && catalog_is_stale(request.reference_refreshed_at, now) {
        let n_entries = fetch_catalog(client, request, sink).await?;
        tracing::debug!(n_entries, "catalog fetched");
    }

    let n_devices = fetch_machines(client, request, sink).await?;
    tracing::debug!(n_devices, "devices fetched");

    let (path, query, batch) = export;
    let url = client.api_url(path, Some(&query));
    let mut pager = LinkPager::new(client, Endpoint::Export, url, &request.counters);
    let mut n_rows = 0;
    while let Some(records) = next(pager.next_batch(BATCH_SIZE).await)? {
        n_rows += records.len();
        sink.accept(batch(records)).await?;
    }
    tracing::debug!(n_rows, "vulnerability rows fetched");
    Ok(())
}

/// Builds a batch of one kind from raw records.
type BatchKind = fn(Vec<Box<RawValue>>) -> RecordBatch;

/// The export to call for `mode`: its path, query and batch kind.
fn export_query(
    mode: SyncMode,
    page_size: u32,
    now: Timestamp,
) -> Result<(&'static str, String, BatchKind), ConnectorError> {
    match mode {
        SyncMode::Full => Ok((
            FULL_EXPORT_PATH,
            format!("pageSize={page_size}"),
            RecordBatch::Findings,
        )),
        SyncMode::Delta { since } => {
            let oldest = now - SignedDuration::from_hours(24 * i64::from(MAX_DELTA_DAYS));
            if since < oldest {
                return Err(ConnectorError::upstream(TvmError::DeltaTooOld { since }));
            }
            let query = format!("sinceTime={}&pageSize={page_size}", since_time(since));
            Ok((DELTA_EXPORT_PATH, query, RecordBatch::FindingChanges))
        }
    }
}

/// `sinceTime` as Defender's samples write it: UTC with milliseconds and `Z`.
fn since_time(since: Timestamp) -> String {
    since.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn catalog_is_stale(refreshed_at: Option<Timestamp>, now: Timestamp) -> bool {
    refreshed_at.is_none_or(|at| now.duration_since(at) >= CATALOG_MAX_AGE)
}

/// Every device page by page; returns how many there were.
async fn fetch_machines(
    client: &TvmClient,
    request: &SyncRequest,
    sink: &mut dyn RecordSink,
) -> Result<usize, ConnectorError> {
    let mut pager = SkipPager::new(client, &request.counters);
    let mut n_devices = 0;
    while let Some(records) = next(pager.next_batch(BATCH_SIZE).await)? {
        n_devices += records.len();
        sink.accept(RecordBatch::Assets(records)).await?;
    }
    Ok(n_devices)
}

/// The catalog as reference entries; records the mapper cannot read are
/// skipped (the catalog only enriches) and counted in one warning.
async fn fetch_catalog(
    client: &TvmClient,
    request: &SyncRequest,
    sink: &mut dyn RecordSink,
) -> Result<usize, ConnectorError> {
    // The first page is sized; the next links carry the size on.
    let query = format!("$top={}", client.options().catalog_page_size.max(1));
    let url = client.api_url(CATALOG_PATH, Some(&query));
    let mut pager = LinkPager::new(client, Endpoint::Catalog, url, &request.counters);
    let (mut n_entries, mut n_unreadable) = (0, 0);
    while let Some(records) = next(pager.next_batch(BATCH_SIZE).await)? {
        let mut entries = Vec::with_capacity(records.len());
        for record in records {
            match mapping::catalog_entry(&record) {
                Ok(Some(entry)) => entries.push(entry),
                Ok(None) => {}
                Err(_) => n_unreadable += 1,
            }
        }
        n_entries += entries.len();
        if !entries.is_empty() {
            sink.accept(RecordBatch::Reference(entries)).await?;
        }
    }
    if n_unreadable > 0 {
        tracing::warn!(n_unreadable, "skipped unreadable catalog records");
    }
    Ok(n_entries)
}

/// A pager's answer, its error made the sync's.
fn next<T>(batch: Result<T, TvmError>) -> Result<T, ConnectorError> {
    batch.map_err(ConnectorError::upstream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn since_time_is_utc_with_millis() {
        assert_eq!(
            since_time(at("2021-05-19T18:35:49.924817Z")),
            "2021-05-19T18:35:49.924Z"
        );
        assert_eq!(
            since_time(at("2021-05-19T20:35:49+02:00")),
            "2021-05-19T18:35:49.000Z"
        );
    }

    #[test]
    fn a_delta_older_than_fourteen_days_is_refused() {
        let now = at("2025-03-15T12:00:00Z");
        let (path, query, _) = export_query(
            SyncMode::Delta {
                since: at("2025-03-01T12:00:00Z"),
            },
            7,
            now,
        )
        .expect("exactly fourteen days");
        assert_eq!(path, DELTA_EXPORT_PATH);
        assert_eq!(query, "sinceTime=2025-03-01T12:00:00.000Z&pageSize=7");

        let since = at("2025-03-01T11:59:59Z");
        let error = export_query(SyncMode::Delta { since }, 7, now).expect_err("too old");
        assert!(
            error
                .to_string()
                .starts_with("a delta since `2025-03-01T11:59:59Z`"),
            "{error}"
        );
    }

    #[test]
    fn the_catalog_is_fetched_when_missing_or_a_day_old() {
        let now = at("2025-03-15T12:00:00Z");
        assert!(catalog_is_stale(None, now));
        assert!(catalog_is_stale(Some(at("2025-03-14T12:00:00Z")), now));
        assert!(!catalog_is_stale(Some(at("2025-03-14T12:00:01Z")), now));
    }
}

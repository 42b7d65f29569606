//! The contract between a connector and the runner.
//!
//! A connector fetches; it does not decide. It hands the runner batches of raw
//! upstream records as they arrive, and its mappers turn one raw record into an
//! observation. Everything stateful (stamping, reconciliation, quarantine, run
//! history) happens in the runner and store, the same for every connector.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::{ConnectorError, MappingError, SinkError};
use crate::model::{AssetObservation, FindingObservation, FindingStatus};

/// Which kind of sync the runner asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum SyncMode {
    /// Every asset and every current finding.
    Full,
    /// Changes since `since` (the start of the last successful sync).
    Delta { since: Timestamp },
}

/// What a connector can do beyond a full sync.
#[derive(Debug, Clone, Copy, Default)]
pub struct Capabilities {
    /// How far back a delta sync may reach, in days; `None` when the connector
    /// has no delta.
    pub max_delta_days: Option<u32>,
}

/// One sync's request, with the counters the connector keeps up to date.
#[derive(Debug)]
pub struct SyncRequest {
    pub mode: SyncMode,
    /// When the stored reference data (e.g. a vulnerability catalog) was last
    /// refreshed, so a connector can skip fetching it again.
    pub reference_refreshed_at: Option<Timestamp>,
    pub counters: SyncCounters,
}

/// Request counts a connector reports while it works, readable even when the
/// sync fails halfway.
#[derive(Debug, Default)]
pub struct SyncCounters {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
}

impl SyncCounters {
    pub fn add_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.retries.load(Ordering::Relaxed),
            self.throttled.load(Ordering::Relaxed),
        )
    }
}

/// A keyed piece of reference data, such as one CVE of a vulnerability catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceEntry {
    pub key: String,
    pub value: serde_json::Value,
}

/// A batch of records handed from a connector to the runner. A batch is
/// stored as one atomic write, so connectors keep batches to a few thousand
/// records even when an upstream page is larger.
#[derive(Debug)]
pub enum RecordBatch {
    /// Raw devices; a full list in every sync.
    Assets(Vec<Box<RawValue>>),
    /// Raw rows of the full finding export.
    Findings(Vec<Box<RawValue>>),
    /// Raw rows of a delta export (each maps to a [`FindingChange`]).
    FindingChanges(Vec<Box<RawValue>>),
    /// Reference data to cache for the mappers.
    Reference(Vec<ReferenceEntry>),
}

impl RecordBatch {
    pub fn len(&self) -> usize {
        match self {
            Self::Assets(records) | Self::Findings(records) | Self::FindingChanges(records) => {
                records.len()
            }
            Self::Reference(entries) => entries.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a connector delivers its batches. The runner's sink writes each one
/// to the store before it returns, so a connector never holds more than the
/// batch it is building.
#[async_trait]
pub trait RecordSink: Send {
    async fn accept(&mut self, batch: RecordBatch) -> Result<(), SinkError>;
}

/// A named connectivity test's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckOutcome {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Passed,
    Failed,
    Skipped,
}

/// A connector instance, built from a validated config.
#[async_trait]
pub trait Connector: Send + Sync + std::fmt::Debug {
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// Runs the connector's named connectivity tests, in order.
    async fn check(&self) -> Vec<CheckOutcome>;

    /// Fetches everything the request asks for and hands it to `sink` batch by
    /// batch. Returning `Ok` means every page of every stream was delivered.
    async fn sync(
        &self,
        request: &SyncRequest,
        sink: &mut dyn RecordSink,
    ) -> Result<(), ConnectorError>;

    fn asset_mapper(&self) -> &dyn AssetMapper;

    fn finding_mapper(&self) -> &dyn FindingMapper;
}

/// A recoverable oddity in a record that was still mapped, counted per code
/// in the run (e.g. `unparsable_ip`, `cvss_out_of_range`).
pub type MappingWarning = &'static str;

/// Why a record was deliberately not turned into an Inlet record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// A vulnerability row without a CVE: software inventory, not a finding.
    NoCve,
    /// A finding on a device this sync did not store.
    Orphaned,
    /// A device the instance's filters exclude (e.g. not onboarded).
    Filtered,
    /// A record the mapper rejected; it is kept in the quarantine.
    Quarantined,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoCve => "no_cve",
            Self::Orphaned => "orphaned",
            Self::Filtered => "filtered",
            Self::Quarantined => "quarantined",
        }
    }
}

/// A mapper's answer for one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped<T> {
    Record {
        record: T,
        warnings: Vec<MappingWarning>,
    },
    Skipped(SkipReason),
}

impl<T> Mapped<T> {
    pub fn record(record: T) -> Self {
        Self::Record {
            record,
            warnings: Vec::new(),
        }
    }
}

/// A finding reported by a delta, with the event that reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingChange {
    pub finding: FindingObservation,
    pub status: FindingStatus,
    /// When the upstream recorded the change; events of one finding apply in
    /// this order, and at equal times an `active` event wins over `fixed`.
    pub event_at: Option<Timestamp>,
}

/// Looks up cached reference data by key (e.g. a CVE id in a catalog).
pub trait ReferenceLookup {
    fn reference(&self, key: &str) -> Option<serde_json::Value>;
}

/// A lookup with nothing in it, for mapping without reference data.
pub struct NoReference;

impl ReferenceLookup for NoReference {
    fn reference(&self, _key: &str) -> Option<serde_json::Value> {
        None
    }
}

/// Maps one raw upstream device. Pure: no I/O, no clock, no state.
pub trait AssetMapper: Send + Sync {
    fn map_asset(&self, record: &RawValue) -> Result<Mapped<AssetObservation>, MappingError>;
}

/// Maps one raw upstream vulnerability row. Pure, like [`AssetMapper`]; the
/// reference lookup is an input.
pub trait FindingMapper: Send + Sync {
    fn map_finding(
        &self,
        record: &RawValue,
        reference: &dyn ReferenceLookup,
    ) -> Result<Mapped<FindingObservation>, MappingError>;

    fn map_change(
        &self,
        record: &RawValue,
        reference: &dyn ReferenceLookup,
    ) -> Result<Mapped<FindingChange>, MappingError>;
}

//! The mapping and storing half of a sync: each batch a connector handed over
//! is mapped with the connector's pure mappers, checked, and written to the
//! store, each device's records in one transaction. It runs on the writer
//! thread ([`crate::queue`]), one batch at a time and in the order the
//! connector handed them over, so devices are stored (and their ids known)
//! before any finding is mapped.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use inlet_core::config::Instance;
use inlet_core::{
    Connector, Mapped, MappingError, RecordBatch, ReferenceLookup, SinkError, SkipReason,
};
use inlet_store::{
    FindingUpsert, IngestContext, QuarantinedRecord, RunCounts, Store, StoreReference,
};
use jiff::Timestamp;
use serde_json::value::RawValue;

use crate::observer::{Stream, SyncObserver};
use crate::test_points;

/// Maps and stores a sync's batches and counts what happened.
pub struct BatchWriter {
    pub store: Store,
    pub context: IngestContext,
    pub connector: Arc<dyn Connector>,
    pub counts: RunCounts,
    /// Ids of the assets this sync stored: findings on other devices are orphans.
    pub seen_assets: HashSet<String>,
    /// Whether the connector refreshed its reference data in this sync.
    pub reference_refreshed: bool,
    /// Batches written so far.
    pub n_batches: u64,
    pub observer: Arc<dyn SyncObserver>,
}

/// The store's reference data, with each key read and decoded at most once
/// per batch: a batch's rows share few CVEs, and the lookup is a sled read
/// plus a JSON decode. Bounded by one batch, so it cannot grow with the sync.
struct BatchReference {
    store: StoreReference,
    seen: RefCell<HashMap<String, Option<serde_json::Value>>>,
}

impl BatchReference {
    fn new(store: StoreReference) -> Self {
        Self {
            store,
            seen: RefCell::new(HashMap::new()),
        }
    }
}

impl ReferenceLookup for BatchReference {
    fn reference(&self, key: &str) -> Option<serde_json::Value> {
        if let Some(value) = self.seen.borrow().get(key) {
            return value.clone();
        }
        let value = self.store.reference(key);
        self.seen.borrow_mut().insert(key.to_owned(), value.clone());
        value
    }
}

/// Which stream a quarantined record came from.
const STREAM_ASSETS: &str = "assets";
const STREAM_FINDINGS: &str = "findings";
const STREAM_FINDING_CHANGES: &str = "finding_changes";

impl BatchWriter {
    pub fn new(
        store: &Store,
        context: &IngestContext,
        instance: &Instance,
        observer: Arc<dyn SyncObserver>,
    ) -> Self {
        Self {
            store: store.clone(),
            context: context.clone(),
            connector: Arc::clone(&instance.connector),
            counts: RunCounts::default(),
            seen_assets: HashSet::new(),
            reference_refreshed: false,
            n_batches: 0,
            observer,
        }
    }

    fn store_error(error: inlet_store::StoreError) -> SinkError {
        SinkError::Store(Box::new(error))
    }

    fn skip(&mut self, reason: SkipReason) {
        self.add_skipped(reason.as_str(), 1);
    }

    fn warn(&mut self, warnings: &[&'static str]) {
        for warning in warnings {
            *self.counts.warnings.entry(warning.to_string()).or_default() += 1;
        }
    }

    fn quarantined(
        &mut self,
        stream: &str,
        raw: &RawValue,
        error: MappingError,
    ) -> QuarantinedRecord {
        self.skip(SkipReason::Quarantined);
        QuarantinedRecord {
            run_id: self.context.run_id,
            stream: stream.to_string(),
            record_id: error.record_id,
            reason: error.reason,
            raw: raw.get().to_string(),
            quarantined_at: Timestamp::now(),
        }
    }

    /// Sorts one mapper answer: a record to store, a counted skip, or a
    /// record for the quarantine.
    fn triage<T>(
        &mut self,
        stream: &str,
        raw: &RawValue,
        answer: Result<Mapped<T>, MappingError>,
        rejected: &mut Vec<QuarantinedRecord>,
    ) -> Option<T> {
        match answer {
            Ok(Mapped::Record { record, warnings }) => {
                self.warn(&warnings);
                Some(record)
            }
            Ok(Mapped::Skipped(reason)) => {
                self.skip(reason);
                None
            }
            Err(error) => {
                rejected.push(self.quarantined(stream, raw, error));
                None
            }
        }
    }

    /// Whether a finding's device was stored by this sync; counts it orphaned if not.
    fn on_seen_asset(&mut self, asset_id: &str) -> bool {
        let seen = self.seen_assets.contains(asset_id);
        if !seen {
            self.skip(SkipReason::Orphaned);
        }
        seen
    }

    fn accept_assets(&mut self, records: Vec<Box<RawValue>>) -> Result<(), SinkError> {
        let connector = Arc::clone(&self.connector);
        let mapper = connector.asset_mapper();
        let mut observations = Vec::with_capacity(records.len());
        let mut rejected = Vec::new();
        for raw in &records {
            let answer = mapper.map_asset(raw);
            if let Some(asset) = self.triage(STREAM_ASSETS, raw, answer, &mut rejected) {
                self.seen_assets.insert(asset.id.clone());
                observations.push(asset);
            }
        }

        self.counts.assets.seen += observations.len() as u64;
        let upsert = self
            .store
            .upsert_assets(&self.context, observations)
            .map_err(Self::store_error)?;
        let assets = &mut self.counts.assets;
        assets.new += upsert.new;
        assets.updated += upsert.updated;
        assets.unchanged += upsert.unchanged;
        assets.reactivated += upsert.reactivated;
        self.add_skipped("duplicate", upsert.duplicate);
        self.store_quarantine(rejected)
    }

    fn accept_findings(&mut self, records: Vec<Box<RawValue>>) -> Result<(), SinkError> {
        let connector = Arc::clone(&self.connector);
        let mapper = connector.finding_mapper();
        let reference = BatchReference::new(self.store.reference(&self.context.instance));
        let mut findings = Vec::with_capacity(records.len());
        let mut rejected = Vec::new();
        for raw in &records {
            let answer = mapper.map_finding(raw, &reference);
            if let Some(finding) = self.triage(STREAM_FINDINGS, raw, answer, &mut rejected) {
                if self.on_seen_asset(&finding.asset_id) {
                    findings.push(finding);
                }
            }
        }

        self.counts.findings.seen += findings.len() as u64;
        let upsert = self
            .store
            .upsert_findings(&self.context, findings)
            .map_err(Self::store_error)?;
        self.add_finding_upsert(&upsert);
        self.store_quarantine(rejected)
    }

    fn accept_changes(&mut self, records: Vec<Box<RawValue>>) -> Result<(), SinkError> {
        let connector = Arc::clone(&self.connector);
        let mapper = connector.finding_mapper();
        let reference = BatchReference::new(self.store.reference(&self.context.instance));
        let mut changes = Vec::with_capacity(records.len());
        let mut rejected = Vec::new();
        for raw in &records {
            let answer = mapper.map_change(raw, &reference);
            if let Some(change) = self.triage(STREAM_FINDING_CHANGES, raw, answer, &mut rejected) {
                if self.on_seen_asset(&change.finding.asset_id) {
                    changes.push(change);
                }
            }
        }

        self.counts.findings.seen += changes.len() as u64;
        let upsert = self
            .store
            .apply_finding_changes(&self.context, changes)
            .map_err(Self::store_error)?;
        self.add_finding_upsert(&upsert);
        self.store_quarantine(rejected)
    }

    fn add_finding_upsert(&mut self, upsert: &FindingUpsert) {
        let counts = &mut self.counts.findings;
        counts.new += upsert.new;
        counts.updated += upsert.updated;
        counts.unchanged += upsert.unchanged;
        counts.reopened += upsert.reopened;
        counts.fixed += upsert.fixed;
        self.add_skipped("duplicate", upsert.duplicate);
        self.add_skipped("stale_change", upsert.ignored);
    }

    fn add_skipped(&mut self, reason: &str, count: u64) {
        if count > 0 {
            *self.counts.skipped.entry(reason.to_string()).or_default() += count;
        }
    }

    fn store_quarantine(&mut self, rejected: Vec<QuarantinedRecord>) -> Result<(), SinkError> {
        if rejected.is_empty() {
            return Ok(());
        }
        tracing::warn!(n_records = rejected.len(), "records quarantined");
        self.store
            .quarantine(&self.context, rejected)
            .map_err(Self::store_error)
    }

    /// Maps and stores one batch.
    pub fn write(&mut self, batch: RecordBatch) -> Result<(), SinkError> {
        self.n_batches += 1;
        let n_records = batch.len();
        tracing::debug!(n_records, batch = self.n_batches, "batch received");
        let stream = match &batch {
            RecordBatch::Assets(_) => Stream::Assets,
            RecordBatch::Findings(_) => Stream::Findings,
            RecordBatch::FindingChanges(_) => Stream::FindingChanges,
            RecordBatch::Reference(_) => Stream::Reference,
        };
        match batch {
            RecordBatch::Assets(records) => self.accept_assets(records),
            RecordBatch::Findings(records) => self.accept_findings(records),
            RecordBatch::FindingChanges(records) => self.accept_changes(records),
            RecordBatch::Reference(entries) => {
                self.reference_refreshed = true;
                self.store
                    .put_reference(&self.context.instance, entries)
                    .map_err(Self::store_error)
            }
        }?;
        self.observer.batch_stored(stream, n_records);
        test_points::reached("batch");
        Ok(())
    }
}

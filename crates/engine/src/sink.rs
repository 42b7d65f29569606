//! The runner's side of a sync: every batch a connector hands over is mapped,
//! checked and written to the store before `accept` returns, so the connector
//! never holds more than one batch and a crash loses at most that batch.

use std::collections::HashSet;

use async_trait::async_trait;
use inlet_core::{Connector, Mapped, MappingError, RecordBatch, RecordSink, SinkError, SkipReason};
use inlet_store::{FindingUpsert, IngestContext, QuarantinedRecord, RunCounts, Store};
use jiff::Timestamp;
use serde_json::value::RawValue;

use crate::observer::{Stream, SyncObserver};
use crate::test_points;

/// Writes a sync's batches into the store and counts what happened.
pub struct StoreSink<'a> {
    pub store: &'a Store,
    pub context: &'a IngestContext,
    pub connector: &'a dyn Connector,
    pub counts: RunCounts,
    /// Ids of the assets this sync stored: findings on other devices are orphans.
    pub seen_assets: HashSet<String>,
    /// Whether the connector refreshed its reference data in this sync.
    pub reference_refreshed: bool,
    /// Batches handed over so far.
    pub n_batches: u64,
    pub observer: &'a dyn SyncObserver,
}

/// Which stream a quarantined record came from.
const STREAM_ASSETS: &str = "assets";
const STREAM_FINDINGS: &str = "findings";
const STREAM_FINDING_CHANGES: &str = "finding_changes";

impl StoreSink<'_> {
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
        let mapper = self.connector.asset_mapper();
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
            .upsert_assets(self.context, observations)
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
        let mapper = self.connector.finding_mapper();
        let reference = self.store.reference(&self.context.instance);
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
            .upsert_findings(self.context, findings)
            .map_err(Self::store_error)?;
        self.add_finding_upsert(&upsert);
        self.store_quarantine(rejected)
    }

    fn accept_changes(&mut self, records: Vec<Box<RawValue>>) -> Result<(), SinkError> {
        let mapper = self.connector.finding_mapper();
        let reference = self.store.reference(&self.context.instance);
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
            .apply_finding_changes(self.context, changes)
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
            .quarantine(self.context, rejected)
            .map_err(Self::store_error)
    }
}

#[async_trait]
impl RecordSink for StoreSink<'_> {
    async fn accept(&mut self, batch: RecordBatch) -> Result<(), SinkError> {
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

//! Storing what a sync returns: assets and findings page by page, with
//! counts of what changed.
//!
//! A call merges its records in memory first (the "pending" map, which also
//! makes a record repeated within one call behave like one repeated across
//! calls), then writes every changed value and every marker. An asset call
//! is one transaction, and a call that fails writes nothing. A finding call
//! is one transaction unless its device groups grow past a MiB (a
//! delta's batch can touch thousands of devices); it then writes whole
//! devices in several transactions, so a failure part-way can leave earlier
//! devices written. That is safe: a full sync's reconciliation runs only
//! after every batch succeeded, and a delta event applied twice is ignored
//! the second time.

use std::collections::BTreeMap;

use inlet_core::{ArchiveReason, AssetObservation, AssetStatus, FindingObservation, FindingStatus};
use jiff::Timestamp;
use serde::Serialize;
use sled::Batch;

use crate::codec::{Entry, FindingEntry, FindingSeen, Seen, StoredAsset, StoredFinding};
use crate::db::{self, Store};
use crate::error::StoreError;
use crate::groups::PendingFindings;
use crate::keys;

/// Who is writing and under which rules: one sync of one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestContext {
    pub instance: String,
    pub connector: String,
    pub run_id: u64,
    pub started_at: Timestamp,
    /// The instance's `remove_assets_with_status`, compared exactly.
    pub remove_statuses: Vec<String>,
    /// `started_at` minus the instance's `asset_retention_days`.
    pub retention_cutoff: Option<Timestamp>,
}

impl IngestContext {
    /// Why `observation` must be archived whatever the sync returned, if it
    /// must: its status first, then retention. An asset without
    /// `last_observed` is never archived for retention.
    pub(crate) fn archive_reason_for(
        &self,
        observation: &AssetObservation,
    ) -> Option<ArchiveReason> {
        let source_status = observation.source_status.as_deref();
        if source_status.is_some_and(|status| self.remove_statuses.iter().any(|s| s == status)) {
            return Some(ArchiveReason::Status);
        }
        match (observation.last_observed, self.retention_cutoff) {
            (Some(observed), Some(cutoff)) if observed < cutoff => Some(ArchiveReason::Retention),
            _ => None,
        }
    }

    pub(crate) fn seen(&self, activated_run: u64) -> Seen {
        Seen {
            run: self.run_id,
            at: self.started_at,
            activated_run,
        }
    }
}

/// What one [`Store::upsert_assets`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AssetUpsert {
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub reactivated: u64,
    /// Assets this run had already returned; the later copy was kept.
    pub duplicate: u64,
}

/// What one [`Store::upsert_findings`] or [`Store::apply_finding_changes`]
/// call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FindingUpsert {
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub reopened: u64,
    /// Findings a delta's fixed event closed.
    pub fixed: u64,
    /// Findings this run had already returned; the later copy was kept.
    pub duplicate: u64,
    /// Delta events older than what the finding already reflects, and fixed
    /// events for findings the store does not hold.
    pub ignored: u64,
}

/// How a merge moved a record through its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    New,
    /// An archived asset reactivated, or a fixed finding reopened.
    Revived,
    Kept,
}

type AssetEntry = Entry<StoredAsset, Seen>;

/// Assets written per transaction, in key order. A transaction holds every
/// leaf it reads until it commits; once the asset tree outgrows sled's
/// cache, a batch of 5,000 devices with ids spread over the whole tree read
/// most of it back in one transaction. A fresh full sync of 40,000 devices
/// (2M rows) stood at 216 MiB RSS after its asset phase with one transaction
/// per batch, at 164 MiB with 1,000 assets per transaction, in the same time
/// (22.4-22.9 s against 23.1-23.5 s).
pub(crate) const ASSET_COMMIT_KEYS: usize = 1_000;

impl Store {
    /// Upserts one batch of assets, in transactions of at most 1,000 assets
    /// taken in key order; an asset's value and marker are always written
    /// together.
    pub fn upsert_assets(
        &self,
        ctx: &IngestContext,
        assets: Vec<AssetObservation>,
    ) -> Result<AssetUpsert, StoreError> {
        let mut counts = AssetUpsert::default();
        let mut pending: BTreeMap<Vec<u8>, AssetEntry> = BTreeMap::new();
        for observation in assets {
            let key = keys::asset_key(&ctx.instance, &observation.id)?;
            let current = match pending.remove(&key) {
                Some(entry) => Some(entry),
                None => self.load_asset(&key)?,
            };
            let entry = upsert_asset(ctx, &key, current, observation, &mut counts)?;
            pending.insert(key, entry);
        }

        let mut pending = pending.into_iter().peekable();
        while pending.peek().is_some() {
            let chunk = pending.by_ref().take(ASSET_COMMIT_KEYS);
            let (values, markers) = batches(chunk, |marker| marker.encode().to_vec());
            db::commit(
                &[&self.trees.assets, &self.trees.asset_seen],
                &[values, markers],
            )?;
        }
        let instance = &ctx.instance;
        tracing::trace!(instance, run_id = ctx.run_id, ?counts, "asset batch stored");
        Ok(counts)
    }

    /// Upserts one batch of findings of a full sync: one transaction per
    /// MiB of device groups, each device's findings all in one.
    pub fn upsert_findings(
        &self,
        ctx: &IngestContext,
        findings: Vec<FindingObservation>,
    ) -> Result<FindingUpsert, StoreError> {
        let mut counts = FindingUpsert::default();
        // One device's findings after another (stable, so a repeated finding
        // keeps its order and the later copy still wins).
        let mut keyed = findings
            .into_iter()
            .map(|observation| {
                Ok((
                    keys::asset_key(&ctx.instance, &observation.asset_id)?,
                    observation,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        keyed.sort_by(|(a, _), (b, _)| a.cmp(b));

        let mut pending = PendingFindings::default();
        for (asset_key, observation) in keyed {
            let finding_id = observation.id.clone();
            let key = keys::finding_key_of(&asset_key, &finding_id);
            pending.next_device(self, &asset_key)?;
            let current = pending.take(self, &asset_key, &finding_id)?;
            let duplicate = current
                .as_ref()
                .is_some_and(|entry| entry.marker.seen.run == ctx.run_id);
            let last_event = current.as_ref().and_then(|entry| entry.marker.last_event);
            let (entry, transition, changed) =
                upsert_finding(ctx, &key, current, observation, last_event)?;
            if duplicate {
                counts.duplicate += 1;
            } else {
                count_finding(&mut counts, transition, changed);
            }
            pending.put(self, &asset_key, &finding_id, entry)?;
        }
        self.commit_findings(pending)?;
        let instance = &ctx.instance;
        tracing::trace!(
            instance,
            run_id = ctx.run_id,
            ?counts,
            "finding batch stored"
        );
        Ok(counts)
    }
}

/// Merges one returned asset into what the store (or this batch) holds.
fn upsert_asset(
    ctx: &IngestContext,
    key: &[u8],
    current: Option<AssetEntry>,
    observation: AssetObservation,
    counts: &mut AssetUpsert,
) -> Result<AssetEntry, StoreError> {
    let duplicate = current
        .as_ref()
        .is_some_and(|entry| entry.marker.run == ctx.run_id);
    let (next, transition) = merge_asset(
        ctx,
        current.as_ref().map(|entry| &entry.stored),
        observation,
    );
    let activated_run = match (&current, transition) {
        (Some(entry), Transition::Kept) => entry.marker.activated_run,
        _ => ctx.run_id,
    };
    let (entry, changed) =
        Entry::settle(keys::ASSETS, key, current, next, ctx.seen(activated_run))?;
    match transition {
        _ if duplicate => counts.duplicate += 1,
        Transition::New => counts.new += 1,
        Transition::Revived => counts.reactivated += 1,
        Transition::Kept if changed => counts.updated += 1,
        Transition::Kept => counts.unchanged += 1,
    }
    Ok(entry)
}

/// The asset after a sync returned it: new ones are active; archived ones
/// return to active unless archived for a status or retention they still
/// qualify for.
fn merge_asset(
    ctx: &IngestContext,
    current: Option<&StoredAsset>,
    observation: AssetObservation,
) -> (StoredAsset, Transition) {
    let Some(current) = current else {
        let asset = StoredAsset {
            connector: ctx.connector.clone(),
            observation,
            status: AssetStatus::Active,
            archived_reason: None,
            archived_at: None,
            first_ingested_at: ctx.started_at,
        };
        return (asset, Transition::New);
    };

    let still_qualifies = ctx.archive_reason_for(&observation);
    let mut next = StoredAsset {
        connector: ctx.connector.clone(),
        observation,
        status: current.status,
        archived_reason: current.archived_reason,
        archived_at: current.archived_at,
        first_ingested_at: current.first_ingested_at,
    };
    let archived_by_rule = matches!(
        current.archived_reason,
        Some(ArchiveReason::Status | ArchiveReason::Retention)
    );
    match (current.status, still_qualifies) {
        (AssetStatus::Active, _) => (next, Transition::Kept),
        (AssetStatus::Archived, Some(reason)) if archived_by_rule => {
            // Still archived; the reason follows whichever rule holds now.
            next.archived_reason = Some(reason);
            (next, Transition::Kept)
        }
        (AssetStatus::Archived, _) => {
            next.activate();
            (next, Transition::Revived)
        }
    }
}

/// Merges one returned finding: new ones are active, fixed ones reopen.
/// Returns the entry, the transition and whether the value changed.
pub(crate) fn upsert_finding(
    ctx: &IngestContext,
    key: &[u8],
    current: Option<FindingEntry>,
    observation: FindingObservation,
    last_event: Option<crate::codec::Event>,
) -> Result<(FindingEntry, Transition, bool), StoreError> {
    let (next, transition) = match current.as_ref().map(|entry| entry.head) {
        None => {
            let finding = StoredFinding {
                connector: ctx.connector.clone(),
                observation,
                status: FindingStatus::Active,
                fixed_at: None,
                first_ingested_at: ctx.started_at,
            };
            (finding, Transition::New)
        }
        Some(stored) => {
            let transition = match stored.status {
                FindingStatus::Active => Transition::Kept,
                FindingStatus::Fixed => Transition::Revived,
            };
            let finding = StoredFinding {
                connector: ctx.connector.clone(),
                observation,
                status: FindingStatus::Active,
                fixed_at: None,
                first_ingested_at: stored.first_ingested_at,
            };
            (finding, transition)
        }
    };
    let activated_run = match (&current, transition) {
        (Some(entry), Transition::Kept) => entry.marker.seen.activated_run,
        _ => ctx.run_id,
    };
    let marker = FindingSeen {
        seen: ctx.seen(activated_run),
        last_event,
    };
    let (entry, changed) = FindingEntry::settle(key, current, next, marker)?;
    Ok((entry, transition, changed))
}

pub(crate) fn count_finding(counts: &mut FindingUpsert, transition: Transition, changed: bool) {
    match transition {
        Transition::New => counts.new += 1,
        Transition::Revived => counts.reopened += 1,
        Transition::Kept if changed => counts.updated += 1,
        Transition::Kept => counts.unchanged += 1,
    }
}

/// The value batch (changed values only) and the marker batch (every entry).
fn batches<T, M>(
    pending: impl IntoIterator<Item = (Vec<u8>, Entry<T, M>)>,
    encode_marker: impl Fn(&M) -> Vec<u8>,
) -> (Batch, Batch) {
    let mut values = Batch::default();
    let mut markers = Batch::default();
    for (key, entry) in pending {
        markers.insert(key.as_slice(), encode_marker(&entry.marker));
        if entry.dirty {
            values.insert(key, entry.bytes);
        }
    }
    (values, markers)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use inlet_core::{Asset, ExternalTag, Finding, FindingChange};

    use super::*;
    use crate::testutil::{asset, day, finding, run, temp_store, CONNECTOR, INSTANCE};
    use crate::{AssetFilter, FindingFilter};

    fn all_assets(store: &Store) -> Vec<Asset> {
        store
            .assets(INSTANCE, AssetFilter::default())
            .map(Result::unwrap)
            .collect()
    }

    fn all_findings(store: &Store) -> Vec<Finding> {
        let filter = FindingFilter {
            include_archived: true,
            ..FindingFilter::default()
        };
        store
            .findings(INSTANCE, filter)
            .map(Result::unwrap)
            .collect()
    }

    fn with_rules(mut ctx: IngestContext) -> IngestContext {
        ctx.remove_statuses = vec!["Inactive".to_owned()];
        ctx
    }

    #[test]
    fn an_asset_round_trips_with_its_lifecycle_fields() {
        let (_dir, store) = temp_store();
        let ctx = run(&store, 0);
        let mut observation = asset("a");
        observation.external_tags = vec![ExternalTag::new("machineTags", "prod")];
        observation
            .custom_attributes
            .insert("exposure".to_owned(), "High".into());

        store
            .upsert_assets(&ctx, vec![observation.clone()])
            .unwrap();

        let expected = Asset {
            instance: INSTANCE.to_owned(),
            connector: CONNECTOR.to_owned(),
            id: observation.id,
            external_identifier: observation.external_identifier,
            name: observation.name,
            operating_systems: observation.operating_systems,
            ipv4: observation.ipv4,
            ipv6: observation.ipv6,
            first_observed: observation.first_observed,
            last_observed: observation.last_observed,
            external_tags: observation.external_tags,
            custom_attributes: observation.custom_attributes,
            source_status: observation.source_status,
            status: AssetStatus::Active,
            archived_reason: None,
            archived_at: None,
            first_ingested_at: day(0),
            last_synced_at: day(0),
        };
        assert_eq!(all_assets(&store), vec![expected]);
    }

    #[test]
    fn a_finding_round_trips_with_its_lifecycle_fields() {
        let (_dir, store) = temp_store();
        let ctx = run(&store, 0);
        let observation = finding("a", "CVE-2024-1");

        store
            .upsert_findings(&ctx, vec![observation.clone()])
            .unwrap();

        let stored = all_findings(&store);
        assert_eq!(stored.len(), 1);
        let stored = &stored[0];
        assert_eq!(
            (stored.id.as_str(), stored.asset_id.as_str()),
            ("a_CVE-2024-1", "a")
        );
        assert_eq!(stored.cvss_score, observation.cvss_score);
        assert_eq!(stored.cves, observation.cves);
        assert_eq!(
            (stored.status, stored.fixed_at),
            (FindingStatus::Active, None)
        );
        assert_eq!(
            (stored.first_ingested_at, stored.last_synced_at),
            (day(0), day(0))
        );
        assert_eq!(
            (stored.instance.as_str(), stored.connector.as_str()),
            (INSTANCE, CONNECTOR)
        );
    }

    #[test]
    fn asset_upserts_count_new_updated_unchanged_and_duplicates() {
        let (_dir, store) = temp_store();
        let first = run(&store, 0);
        let mut later = asset("a");
        later.name = "later".to_owned();

        let counts = store
            .upsert_assets(&first, vec![asset("a"), asset("b"), later])
            .unwrap();
        assert_eq!(
            counts,
            AssetUpsert {
                new: 2,
                duplicate: 1,
                ..AssetUpsert::default()
            }
        );
        let counts = store.upsert_assets(&first, vec![asset("b")]).unwrap();
        assert_eq!(
            counts,
            AssetUpsert {
                duplicate: 1,
                ..AssetUpsert::default()
            }
        );
        assert_eq!(all_assets(&store)[0].name, "later", "the later copy wins");

        let second = run(&store, 1);
        let counts = store
            .upsert_assets(&second, vec![asset("a"), asset("b"), asset("c")])
            .unwrap();
        assert_eq!(
            counts,
            AssetUpsert {
                new: 1,
                updated: 1,
                unchanged: 1,
                ..AssetUpsert::default()
            }
        );

        let assets = all_assets(&store);
        assert_eq!(assets[0].name, "host-a");
        assert_eq!(
            (assets[0].first_ingested_at, assets[0].last_synced_at),
            (day(0), day(1))
        );
        assert_eq!(
            (assets[2].first_ingested_at, assets[2].last_synced_at),
            (day(1), day(1))
        );
    }

    #[test]
    fn an_asset_missing_from_a_sync_is_reactivated_when_it_returns() {
        let (_dir, store) = temp_store();
        let first = run(&store, 0);
        store
            .upsert_assets(&first, vec![asset("a"), asset("b")])
            .unwrap();
        store.apply_reconciliation(&first).unwrap();
        let second = run(&store, 1);
        store.upsert_assets(&second, vec![asset("a")]).unwrap();
        store.apply_reconciliation(&second).unwrap();
        assert_eq!(
            all_assets(&store)[1].archived_reason,
            Some(ArchiveReason::MissingFromSync)
        );

        let third = run(&store, 2);
        let counts = store
            .upsert_assets(&third, vec![asset("a"), asset("b")])
            .unwrap();

        assert_eq!(
            counts,
            AssetUpsert {
                unchanged: 1,
                reactivated: 1,
                ..AssetUpsert::default()
            }
        );
        let b = &all_assets(&store)[1];
        assert_eq!(
            (b.status, b.archived_reason, b.archived_at),
            (AssetStatus::Active, None, None)
        );
        assert_eq!(b.first_ingested_at, day(0));
    }

    #[test]
    fn an_asset_archived_for_status_stays_archived_while_it_qualifies() {
        let (_dir, store) = temp_store();
        let mut inactive = asset("a");
        inactive.source_status = Some("Inactive".to_owned());
        let first = with_rules(run(&store, 0));
        store.upsert_assets(&first, vec![inactive.clone()]).unwrap();
        store.apply_reconciliation(&first).unwrap();

        let second = with_rules(run(&store, 1));
        let counts = store.upsert_assets(&second, vec![inactive]).unwrap();
        assert_eq!(
            counts,
            AssetUpsert {
                unchanged: 1,
                ..AssetUpsert::default()
            }
        );
        let a = &all_assets(&store)[0];
        assert_eq!(
            (a.status, a.archived_reason),
            (AssetStatus::Archived, Some(ArchiveReason::Status))
        );
        assert_eq!(a.archived_at, Some(day(0)));

        let third = with_rules(run(&store, 2));
        let counts = store.upsert_assets(&third, vec![asset("a")]).unwrap();
        assert_eq!(
            counts,
            AssetUpsert {
                reactivated: 1,
                ..AssetUpsert::default()
            }
        );
        assert_eq!(all_assets(&store)[0].status, AssetStatus::Active);
    }

    #[test]
    fn an_asset_archived_for_retention_returns_once_observed_again() {
        let (_dir, store) = temp_store();
        let mut stale = asset("a");
        stale.last_observed = Some(day(-40));
        let mut first = run(&store, 0);
        first.retention_cutoff = Some(day(-30));
        store.upsert_assets(&first, vec![stale.clone()]).unwrap();
        store.apply_reconciliation(&first).unwrap();

        let mut second = run(&store, 1);
        second.retention_cutoff = Some(day(-29));
        assert_eq!(
            store.upsert_assets(&second, vec![stale]).unwrap().unchanged,
            1
        );
        assert_eq!(
            all_assets(&store)[0].archived_reason,
            Some(ArchiveReason::Retention)
        );

        let mut third = run(&store, 2);
        third.retention_cutoff = Some(day(-28));
        assert_eq!(
            store
                .upsert_assets(&third, vec![asset("a")])
                .unwrap()
                .reactivated,
            1
        );
        assert_eq!(all_assets(&store)[0].status, AssetStatus::Active);
    }

    #[test]
    fn finding_upserts_count_new_updated_unchanged_reopened_and_duplicates() {
        let (_dir, store) = temp_store();
        let first = run(&store, 0);
        let (f1, f2, f3) = (
            finding("a", "CVE-1"),
            finding("a", "CVE-2"),
            finding("b", "CVE-1"),
        );
        let counts = store
            .upsert_findings(&first, vec![f1.clone(), f2.clone(), f1.clone()])
            .unwrap();
        assert_eq!(
            counts,
            FindingUpsert {
                new: 2,
                duplicate: 1,
                ..FindingUpsert::default()
            }
        );

        // A delta closes f2, then the next full sync returns it again.
        let fixed = FindingChange {
            finding: f2.clone(),
            status: FindingStatus::Fixed,
            event_at: None,
        };
        store
            .apply_finding_changes(&run(&store, 1), vec![fixed])
            .unwrap();
        let third = run(&store, 2);
        let mut changed = f1.clone();
        changed.severity = inlet_core::Severity::Critical;
        let counts = store
            .upsert_findings(&third, vec![changed, f2, f3])
            .unwrap();
        assert_eq!(
            counts,
            FindingUpsert {
                new: 1,
                updated: 1,
                reopened: 1,
                ..FindingUpsert::default()
            }
        );
        let reopened = &all_findings(&store)[1];
        assert_eq!(
            (reopened.status, reopened.fixed_at),
            (FindingStatus::Active, None)
        );

        let counts = store.upsert_findings(&run(&store, 3), vec![f1]).unwrap();
        assert_eq!(
            counts,
            FindingUpsert {
                updated: 1,
                ..FindingUpsert::default()
            }
        );
    }

    #[test]
    fn an_asset_batch_larger_than_one_transaction_is_stored_whole() {
        let (_dir, store) = temp_store();
        let n_assets = 2 * ASSET_COMMIT_KEYS + ASSET_COMMIT_KEYS / 2;
        let mut batch: Vec<AssetObservation> = (0..n_assets)
            .map(|n| asset(&format!("dev-{n:05}")))
            .collect();
        // The first asset again, last: the later copy wins.
        let mut again = asset("dev-00000");
        again.name = "renamed".to_owned();
        batch.push(again);

        let first = store.upsert_assets(&run(&store, 0), batch.clone()).unwrap();
        assert_eq!(
            first,
            AssetUpsert {
                new: n_assets as u64,
                duplicate: 1,
                ..AssetUpsert::default()
            }
        );
        let stored = all_assets(&store);
        assert_eq!(stored.len(), n_assets);
        assert_eq!(store.trees.asset_seen.len(), n_assets);
        let renamed = stored.iter().find(|a| a.id == "dev-00000");
        assert_eq!(renamed.unwrap().name, "renamed");

        // Again: unchanged, but for the first copy of the repeated asset,
        // which differs from the stored (renamed) one.
        let second = store.upsert_assets(&run(&store, 1), batch).unwrap();
        assert_eq!(
            second,
            AssetUpsert {
                unchanged: n_assets as u64 - 1,
                updated: 1,
                duplicate: 1,
                ..AssetUpsert::default()
            }
        );
    }

    #[test]
    fn a_failing_asset_batch_writes_nothing() {
        let (_dir, store) = temp_store();
        let ctx = run(&store, 0);

        let batch = vec![asset("a"), asset("bad\0id"), asset("c")];
        let error = store.upsert_assets(&ctx, batch).unwrap_err();

        assert!(
            matches!(
                error,
                StoreError::InvalidKey {
                    what: "asset id",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(store.trees.assets.is_empty());
        assert!(store.trees.asset_seen.is_empty());
    }

    #[test]
    fn a_batch_meeting_a_corrupt_record_writes_nothing() {
        let (_dir, store) = temp_store();
        let ctx = run(&store, 0);
        let damaged = keys::asset_key(INSTANCE, "x").unwrap();
        store
            .trees
            .assets
            .insert(&damaged, "{\"connector\":")
            .unwrap();
        store.trees.findings.insert(&damaged, "[]").unwrap();

        let error = store
            .upsert_assets(&ctx, vec![asset("a"), asset("x"), asset("b")])
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "corrupt record in tree `assets` at key `contoso/x`"
        );
        let findings = vec![finding("a", "CVE-1"), finding("x", "CVE-1")];
        let error = store.upsert_findings(&ctx, findings).unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::Corrupt {
                    tree: "findings",
                    ..
                }
            ),
            "{error:?}"
        );

        assert_eq!(
            store.trees.assets.len(),
            1,
            "only the damaged record is there"
        );
        assert_eq!(store.trees.findings.len(), 1);
        assert!(store.trees.asset_seen.is_empty() && store.trees.finding_seen.is_empty());
    }

    fn value_checksums(store: &Store) -> (u32, u32) {
        let assets = store.trees.assets.checksum().unwrap();
        (assets, store.trees.findings.checksum().unwrap())
    }

    /// Whether a write reached the watched prefix. sled hands a watcher its
    /// event before the write returns, so an empty channel means no write.
    fn written(watch: &mut sled::Subscriber) -> bool {
        watch.next_timeout(Duration::ZERO).is_ok()
    }

    #[test]
    fn an_unchanged_resync_rewrites_markers_only() {
        let (_dir, store) = temp_store();
        let assets = vec![asset("a"), asset("b")];
        let findings = vec![finding("a", "CVE-1"), finding("b", "CVE-2")];
        let first = run(&store, 0);
        store.upsert_assets(&first, assets.clone()).unwrap();
        store.upsert_findings(&first, findings.clone()).unwrap();
        let checksums = value_checksums(&store);
        let prefix = keys::instance_prefix(INSTANCE).unwrap();
        let mut asset_writes = store.trees.assets.watch_prefix(&prefix);
        let mut finding_writes = store.trees.findings.watch_prefix(&prefix);
        let mut marker_writes = store.trees.asset_seen.watch_prefix(&prefix);

        let second = run(&store, 1);
        let asset_counts = store.upsert_assets(&second, assets).unwrap();
        let finding_counts = store.upsert_findings(&second, findings).unwrap();

        assert_eq!((asset_counts.unchanged, finding_counts.unchanged), (2, 2));
        assert!(!written(&mut asset_writes), "an asset value was rewritten");
        assert!(
            !written(&mut finding_writes),
            "a finding value was rewritten"
        );
        assert!(written(&mut marker_writes) && written(&mut marker_writes));
        assert_eq!(value_checksums(&store), checksums);
        let synced = all_assets(&store)
            .iter()
            .map(|asset| asset.last_synced_at)
            .collect::<Vec<_>>();
        assert_eq!(synced, vec![day(1), day(1)]);
        assert!(all_findings(&store)
            .iter()
            .all(|finding| finding.last_synced_at == day(1)));

        // A real change does reach the value tree.
        let mut renamed = asset("a");
        renamed.name = "renamed".to_owned();
        store.upsert_assets(&run(&store, 2), vec![renamed]).unwrap();
        assert!(written(&mut asset_writes));
    }

    #[test]
    fn equal_observations_whose_maps_are_reordered_are_unchanged() {
        let (_dir, store) = temp_store();
        let mut first_order = asset("a");
        first_order
            .custom_attributes
            .insert("z".to_owned(), 1.into());
        first_order
            .custom_attributes
            .insert("a".to_owned(), 0.1.into());
        let mut second_order = asset("a");
        second_order
            .custom_attributes
            .insert("a".to_owned(), 0.1.into());
        second_order
            .custom_attributes
            .insert("z".to_owned(), 1.into());

        store
            .upsert_assets(&run(&store, 0), vec![first_order])
            .unwrap();
        let counts = store
            .upsert_assets(&run(&store, 1), vec![second_order])
            .unwrap();

        assert_eq!(counts.unchanged, 1);
    }

    #[test]
    fn a_status_is_compared_exactly() {
        let ctx = with_rules(crate::testutil::ctx(1, 0));
        let mut lower = asset("a");
        lower.source_status = Some("inactive".to_owned());
        let mut exact = asset("a");
        exact.source_status = Some("Inactive".to_owned());
        assert_eq!(ctx.archive_reason_for(&lower), None);
        assert_eq!(ctx.archive_reason_for(&exact), Some(ArchiveReason::Status));
    }
}

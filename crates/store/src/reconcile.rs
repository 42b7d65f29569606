//! Reconciliation of a full sync (product spec section 6, steps 2-6), run
//! only after every page was stored.
//!
//! "Returned by this run" is the marker's run id. Findings are reconciled
//! before assets, because the finding rules read each asset's state from
//! before this reconciliation. Changes are written in transactions of at most
//! [`RECONCILE_BATCH_KEYS`] keys or [`COMMIT_FROM_BYTES`] of values while the
//! scan goes on, so memory stays bounded for any tenant. A crash between two
//! transactions leaves a valid store holding part of the changes; re-running
//! the whole sync converges, because every rule depends only on what that
//! sync returns.

use std::collections::BTreeMap;

use inlet_core::{ArchiveReason, AssetStatus, FindingStatus};
use serde::Serialize;
use sled::{Batch, Tree};

use crate::codec::{self, Seen, StoredAsset, StoredFinding};
use crate::db::{self, Store};
use crate::error::StoreError;
use crate::groups::{self, COMMIT_FROM_BYTES};
use crate::ingest::IngestContext;
use crate::keys;

/// Keys written per transaction while applying a reconciliation (a finding
/// group counts as many keys as it has findings fixed). What a transaction
/// costs in memory is mostly the leaves it reads: the keys a reconciliation
/// changes are scattered over the tree, so each one pulls in a leaf of its
/// own, and sled holds them until the commit. A full sync of 160,000 devices
/// with a row each, archiving 11,246 of them: with 10,000 keys per
/// transaction it peaked at 334 MiB RSS in reconciliation (255 MiB before
/// it); with 1,000 at 255 MiB, in the same 22 s.
pub const RECONCILE_BATCH_KEYS: usize = 1_000;
/// Ids kept in a plan's samples.
pub const SAMPLE_LIMIT: usize = 1000;

/// What a reconciliation would do or did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcilePlan {
    /// Assets active before this run (active, and made active by an earlier run).
    pub active_assets_before: u64,
    /// Active findings (made active by an earlier run) on assets active before this run.
    pub active_findings_before: u64,
    /// Assets archived, by reason.
    pub archive: BTreeMap<ArchiveReason, u64>,
    /// Of the archived assets, those active before this run: what the brake weighs.
    pub archive_from_before: u64,
    /// Findings marked fixed.
    pub fix: u64,
    /// Of the fixed findings, those counted in `active_findings_before`.
    pub fix_from_before: u64,
    /// Assets archived for a status or retention that this run returned and
    /// that no longer qualify. The upsert already reactivates those, so this
    /// is normally 0.
    pub reactivate: u64,
    /// The first [`SAMPLE_LIMIT`] archived asset ids.
    pub sample_archived: Vec<String>,
    /// The first [`SAMPLE_LIMIT`] fixed finding ids.
    pub sample_fixed: Vec<String>,
}

impl ReconcilePlan {
    /// Assets archived, all reasons together.
    pub fn archive_total(&self) -> u64 {
        self.archive.values().sum()
    }
}

impl Store {
    /// What [`Store::apply_reconciliation`] would do now; writes nothing.
    pub fn plan_reconciliation(&self, ctx: &IngestContext) -> Result<ReconcilePlan, StoreError> {
        self.reconcile(ctx, None, RECONCILE_BATCH_KEYS)
    }

    /// Archives and fixes what the run's data says to; returns what it did.
    pub fn apply_reconciliation(&self, ctx: &IngestContext) -> Result<ReconcilePlan, StoreError> {
        self.apply_reconciliation_with(ctx, &mut |_| {})
    }

    /// [`Store::apply_reconciliation`], calling `on_commit` with the number of
    /// keys after each transaction it commits (for progress, and for tests that
    /// stop the process between two of them).
    pub fn apply_reconciliation_with(
        &self,
        ctx: &IngestContext,
        on_commit: &mut dyn FnMut(u64),
    ) -> Result<ReconcilePlan, StoreError> {
        let plan = self.reconcile(ctx, Some(on_commit), RECONCILE_BATCH_KEYS)?;
        tracing::debug!(
            instance = %ctx.instance,
            run_id = ctx.run_id,
            n_archived = plan.archive_total(),
            n_fixed = plan.fix,
            n_reactivated = plan.reactivate,
            "reconciliation applied"
        );
        Ok(plan)
    }

    /// Plans (`apply` is `None`) or applies; applying commits every
    /// `batch_keys` keys and reports each commit to the callback.
    fn reconcile(
        &self,
        ctx: &IngestContext,
        mut apply: Option<&mut dyn FnMut(u64)>,
        batch_keys: usize,
    ) -> Result<ReconcilePlan, StoreError> {
        let prefix = keys::instance_prefix(&ctx.instance)?;
        let mut plan = ReconcilePlan::default();

        let findings = vec![self.trees.findings.clone(), self.trees.finding_seen.clone()];
        let mut writer = Writer::new(apply.as_deref_mut(), batch_keys, findings);
        self.reconcile_findings(ctx, &prefix, &mut plan, &mut writer)?;
        writer.flush()?;

        let trees = vec![self.trees.assets.clone(), self.trees.asset_seen.clone()];
        let mut writer = Writer::new(apply, batch_keys, trees);
        self.reconcile_assets(ctx, &prefix, &mut plan, &mut writer)?;
        writer.flush()?;
        Ok(plan)
    }

    /// Step 6: active findings this run did not return, on assets it did,
    /// become fixed. Reads each device's marker group (statuses and run
    /// ids); the values are decoded only on a device where a finding is
    /// fixed, and then its value and marker groups are rewritten.
    fn reconcile_findings(
        &self,
        ctx: &IngestContext,
        prefix: &[u8],
        plan: &mut ReconcilePlan,
        writer: &mut Writer,
    ) -> Result<(), StoreError> {
        for entry in self.trees.finding_seen.scan_prefix(prefix) {
            let (asset_key, markers) = entry?;
            let device = DeviceState::of(self, ctx, &asset_key)?;
            let statuses = groups::decode_markers(&asset_key, &markers)?;
            let mut to_fix = Vec::new();
            for (index, (status, marker)) in statuses.iter().enumerate() {
                if *status != FindingStatus::Active {
                    continue;
                }
                let before = device.active_before && marker.seen.activated_run < ctx.run_id;
                plan.active_findings_before += u64::from(before);
                if device.returned && marker.seen.run != ctx.run_id {
                    plan.fix += 1;
                    plan.fix_from_before += u64::from(before);
                    to_fix.push(index);
                }
            }
            if !to_fix.is_empty() {
                self.fix_findings(ctx, &asset_key, &to_fix, plan, writer)?;
            }
        }
        Ok(())
    }

    /// Marks the findings at `indexes` of a device's group fixed: samples
    /// their ids, and when applying, queues the rewritten group.
    fn fix_findings(
        &self,
        ctx: &IngestContext,
        asset_key: &[u8],
        indexes: &[usize],
        plan: &mut ReconcilePlan,
        writer: &mut Writer,
    ) -> Result<(), StoreError> {
        if !writer.apply && plan.sample_fixed.len() >= SAMPLE_LIMIT {
            return Ok(());
        }
        let mut entries = self.load_group(asset_key)?;
        for &index in indexes {
            let Some(entry) = entries.get_mut(index) else {
                continue;
            };
            sample(&mut plan.sample_fixed, &entry.id);
            if writer.apply {
                let key = keys::finding_key_of(asset_key, &entry.id);
                let mut stored: StoredFinding =
                    codec::decode_json(keys::FINDINGS, &key, &entry.value)?;
                stored.fix(ctx.started_at);
                entry.value = codec::encode_json(keys::FINDINGS, &key, &stored)?;
                entry.status = stored.status;
            }
        }
        if writer.apply {
            let values = entries.iter().map(|e| (e.id.as_str(), e.value.as_slice()));
            let markers = entries.iter().map(|e| (e.status, &e.marker));
            writer.put(0, asset_key, groups::encode_values(values), indexes.len());
            writer.put(1, asset_key, groups::encode_markers(markers), 0);
            writer.flush_if_full()?;
        }
        Ok(())
    }

    /// Steps 2-4: returned active assets archived for status or retention,
    /// active assets not returned archived as missing from the sync.
    fn reconcile_assets(
        &self,
        ctx: &IngestContext,
        prefix: &[u8],
        plan: &mut ReconcilePlan,
        writer: &mut Writer,
    ) -> Result<(), StoreError> {
        for entry in self.trees.assets.scan_prefix(prefix) {
            let (key, value) = entry?;
            let mut stored: StoredAsset = codec::decode_json(keys::ASSETS, &key, &value)?;
            let seen = self.asset_marker(&key, stored.first_ingested_at)?;
            // A reactivated asset also gets a new marker; an archived one keeps its own.
            let new_marker = match stored.status {
                AssetStatus::Active => {
                    if !archive_asset(ctx, &mut stored, seen, plan) {
                        continue;
                    }
                    None
                }
                AssetStatus::Archived => match reactivate_asset(ctx, &mut stored, seen, plan) {
                    Some(seen) => Some(seen),
                    None => continue,
                },
            };
            if writer.apply {
                writer.put(0, &key, codec::encode_json(keys::ASSETS, &key, &stored)?, 1);
                if let Some(seen) = new_marker {
                    writer.put(1, &key, seen.encode().to_vec(), 1);
                }
                writer.flush_if_full()?;
            }
        }
        Ok(())
    }
}

/// Archives an active asset if a rule says so; returns whether it did.
fn archive_asset(
    ctx: &IngestContext,
    stored: &mut StoredAsset,
    seen: Seen,
    plan: &mut ReconcilePlan,
) -> bool {
    let before = seen.activated_run < ctx.run_id;
    plan.active_assets_before += u64::from(before);
    let reason = if seen.run == ctx.run_id {
        match ctx.archive_reason_for(&stored.observation) {
            Some(reason) => reason,
            None => return false,
        }
    } else {
        ArchiveReason::MissingFromSync
    };

    *plan.archive.entry(reason).or_default() += 1;
    plan.archive_from_before += u64::from(before);
    sample(&mut plan.sample_archived, &stored.observation.id);
    stored.archive(reason, ctx.started_at);
    true
}

/// Reactivates a returned asset archived by a rule it no longer meets;
/// returns its new marker when it did.
fn reactivate_asset(
    ctx: &IngestContext,
    stored: &mut StoredAsset,
    seen: Seen,
    plan: &mut ReconcilePlan,
) -> Option<Seen> {
    let returned = seen.run == ctx.run_id;
    let by_rule = matches!(
        stored.archived_reason,
        Some(ArchiveReason::Status | ArchiveReason::Retention)
    );
    if !returned || !by_rule || ctx.archive_reason_for(&stored.observation).is_some() {
        return None;
    }
    plan.reactivate += 1;
    stored.activate();
    Some(Seen {
        activated_run: ctx.run_id,
        ..seen
    })
}

fn sample(ids: &mut Vec<String>, id: &str) {
    if ids.len() < SAMPLE_LIMIT {
        ids.push(id.to_owned());
    }
}

/// What the finding rules need to know about a finding's asset.
#[derive(Debug, Clone, Copy, Default)]
struct DeviceState {
    /// This run returned the asset.
    returned: bool,
    /// The asset is active and was made active by an earlier run.
    active_before: bool,
}

impl DeviceState {
    fn of(store: &Store, ctx: &IngestContext, asset_key: &[u8]) -> Result<Self, StoreError> {
        Ok(match store.load_asset(asset_key)? {
            Some(asset) => DeviceState {
                returned: asset.marker.run == ctx.run_id,
                active_before: asset.stored.status == AssetStatus::Active
                    && asset.marker.activated_run < ctx.run_id,
            },
            None => DeviceState::default(),
        })
    }
}

/// Collects a reconciliation's writes into transactions of bounded size; in
/// a plan (`apply` false) it writes nothing.
struct Writer<'a, 'b> {
    /// Present when applying: called after each commit with its key count.
    on_commit: Option<&'a mut (dyn FnMut(u64) + 'b)>,
    apply: bool,
    limit: usize,
    trees: Vec<Tree>,
    batches: Vec<Batch>,
    n_keys: usize,
    n_bytes: usize,
}

impl<'a, 'b> Writer<'a, 'b> {
    fn new(
        on_commit: Option<&'a mut (dyn FnMut(u64) + 'b)>,
        limit: usize,
        trees: Vec<Tree>,
    ) -> Self {
        let batches = trees.iter().map(|_| Batch::default()).collect();
        Writer {
            apply: on_commit.is_some(),
            on_commit,
            limit,
            trees,
            batches,
            n_keys: 0,
            n_bytes: 0,
        }
    }

    /// Queues a write; `weight` is how many records it carries (a finding
    /// group carries several), which is what the batch limit counts, beside
    /// the value's bytes.
    fn put(&mut self, tree: usize, key: &[u8], value: Vec<u8>, weight: usize) {
        if let Some(batch) = self.batches.get_mut(tree) {
            self.n_bytes += value.len();
            batch.insert(key, value);
            self.n_keys += weight;
        }
    }

    /// Commits once a record's writes brought the batch to its limit of
    /// records or bytes; called between records, so a record's writes never
    /// straddle two transactions.
    fn flush_if_full(&mut self) -> Result<(), StoreError> {
        if self.n_keys >= self.limit || self.n_bytes >= COMMIT_FROM_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if self.n_keys == 0 && self.n_bytes == 0 {
            return Ok(());
        }
        let trees: Vec<&Tree> = self.trees.iter().collect();
        db::commit(&trees, &self.batches)?;
        self.batches
            .iter_mut()
            .for_each(|batch| *batch = Batch::default());
        if let Some(on_commit) = self.on_commit.as_mut() {
            on_commit(self.n_keys as u64);
        }
        self.n_keys = 0;
        self.n_bytes = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use inlet_core::{Asset, AssetObservation, Finding, FindingObservation};

    use super::*;
    use crate::testutil::{asset, day, finding, run, temp_store, INSTANCE};
    use crate::{AssetFilter, FindingFilter};

    /// A full sync of `assets` and `findings` starting on `day(started)`,
    /// with `rules` applied to its context. Checks on the way that the plan
    /// writes nothing and that applying does exactly what was planned.
    fn sync_with(
        store: &Store,
        started: i64,
        assets: &[AssetObservation],
        findings: &[FindingObservation],
        rules: impl Fn(&mut IngestContext),
    ) -> ReconcilePlan {
        let mut ctx = run(store, started);
        rules(&mut ctx);
        store.upsert_assets(&ctx, assets.to_vec()).unwrap();
        store.upsert_findings(&ctx, findings.to_vec()).unwrap();

        let checksum = store.db.checksum().unwrap();
        let plan = store.plan_reconciliation(&ctx).unwrap();
        assert_eq!(
            store.db.checksum().unwrap(),
            checksum,
            "a plan writes nothing"
        );
        let applied = store.apply_reconciliation(&ctx).unwrap();
        assert_eq!(applied, plan, "applying does what the plan said");
        applied
    }

    fn sync(
        store: &Store,
        started: i64,
        assets: &[AssetObservation],
        findings: &[FindingObservation],
    ) -> ReconcilePlan {
        sync_with(store, started, assets, findings, |_| {})
    }

    fn asset_state(store: &Store) -> Vec<(String, AssetStatus, Option<ArchiveReason>)> {
        let assets = store
            .assets(INSTANCE, AssetFilter::default())
            .map(Result::unwrap);
        assets
            .map(|asset: Asset| (asset.id, asset.status, asset.archived_reason))
            .collect()
    }

    fn finding_state(store: &Store, include_archived: bool) -> Vec<(String, FindingStatus)> {
        let filter = FindingFilter {
            include_archived,
            ..FindingFilter::default()
        };
        let findings = store.findings(INSTANCE, filter).map(Result::unwrap);
        findings
            .map(|finding: Finding| (finding.id, finding.status))
            .collect()
    }

    fn state(
        id: &str,
        status: AssetStatus,
        reason: Option<ArchiveReason>,
    ) -> (String, AssetStatus, Option<ArchiveReason>) {
        (id.to_owned(), status, reason)
    }

    const ACTIVE: AssetStatus = AssetStatus::Active;
    const ARCHIVED: AssetStatus = AssetStatus::Archived;

    #[test]
    fn a_returned_asset_with_a_removed_status_is_archived() {
        let (_dir, store) = temp_store();
        let mut inactive = asset("b");
        inactive.source_status = Some("Inactive".to_owned());

        let plan = sync_with(&store, 0, &[asset("a"), inactive], &[], |ctx| {
            ctx.remove_statuses = vec!["Inactive".to_owned()];
        });

        assert_eq!(plan.archive, BTreeMap::from([(ArchiveReason::Status, 1)]));
        assert_eq!(plan.sample_archived, vec!["b"]);
        assert_eq!(
            asset_state(&store),
            vec![
                state("a", ACTIVE, None),
                state("b", ARCHIVED, Some(ArchiveReason::Status))
            ]
        );
        let b = store
            .assets(INSTANCE, AssetFilter::default())
            .nth(1)
            .unwrap()
            .unwrap();
        assert_eq!(b.archived_at, Some(day(0)));
    }

    #[test]
    fn a_returned_asset_not_observed_within_retention_is_archived() {
        let (_dir, store) = temp_store();
        let mut stale = asset("b");
        stale.last_observed = Some(day(-31));
        let mut never_observed = asset("c");
        never_observed.last_observed = None;

        let plan = sync_with(
            &store,
            0,
            &[asset("a"), stale, never_observed],
            &[],
            |ctx| {
                ctx.retention_cutoff = Some(day(-30));
            },
        );

        assert_eq!(
            plan.archive,
            BTreeMap::from([(ArchiveReason::Retention, 1)])
        );
        assert_eq!(
            asset_state(&store),
            vec![
                state("a", ACTIVE, None),
                state("b", ARCHIVED, Some(ArchiveReason::Retention)),
                state("c", ACTIVE, None),
            ]
        );
    }

    #[test]
    fn a_first_sync_is_never_counted_as_before() {
        let (_dir, store) = temp_store();
        let mut inactive = asset("b");
        inactive.source_status = Some("Inactive".to_owned());

        let plan = sync_with(
            &store,
            0,
            &[asset("a"), inactive],
            &[finding("a", "CVE-1")],
            |ctx| {
                ctx.remove_statuses = vec!["Inactive".to_owned()];
            },
        );

        assert_eq!(plan.archive_total(), 1);
        assert_eq!(
            (plan.active_assets_before, plan.archive_from_before),
            (0, 0)
        );
        assert_eq!((plan.active_findings_before, plan.fix_from_before), (0, 0));
    }

    #[test]
    fn an_asset_a_sync_did_not_return_is_archived_as_missing() {
        let (_dir, store) = temp_store();
        sync(&store, 0, &[asset("a"), asset("b"), asset("c")], &[]);

        let plan = sync(&store, 1, &[asset("a"), asset("d")], &[]);

        assert_eq!(
            plan.archive,
            BTreeMap::from([(ArchiveReason::MissingFromSync, 2)])
        );
        assert_eq!(
            (plan.active_assets_before, plan.archive_from_before),
            (3, 2)
        );
        assert_eq!(plan.sample_archived, vec!["b", "c"]);
        let missing = Some(ArchiveReason::MissingFromSync);
        assert_eq!(
            asset_state(&store),
            vec![
                state("a", ACTIVE, None),
                state("b", ARCHIVED, missing),
                state("c", ARCHIVED, missing),
                state("d", ACTIVE, None),
            ]
        );
    }

    #[test]
    fn a_finding_that_disappears_is_fixed_and_reopens_when_it_returns() {
        let (_dir, store) = temp_store();
        let (f1, f2) = (finding("a", "CVE-1"), finding("a", "CVE-2"));
        sync(&store, 0, &[asset("a")], &[f1.clone(), f2.clone()]);

        let plan = sync(&store, 1, &[asset("a")], std::slice::from_ref(&f1));
        assert_eq!(
            (plan.fix, plan.fix_from_before, plan.active_findings_before),
            (1, 1, 2)
        );
        assert_eq!(plan.sample_fixed, vec!["a_CVE-2"]);
        let fixed = store
            .findings(INSTANCE, FindingFilter::default())
            .nth(1)
            .unwrap()
            .unwrap();
        assert_eq!(
            (fixed.status, fixed.fixed_at),
            (FindingStatus::Fixed, Some(day(1)))
        );

        let ctx = run(&store, 2);
        store.upsert_assets(&ctx, vec![asset("a")]).unwrap();
        let counts = store.upsert_findings(&ctx, vec![f1, f2]).unwrap();
        assert_eq!((counts.reopened, counts.unchanged), (1, 1));
        let plan = store.apply_reconciliation(&ctx).unwrap();
        assert_eq!(plan.fix, 0);
        assert_eq!(
            plan.active_findings_before, 1,
            "a reopened finding was not active before"
        );
        let reopened = store
            .findings(INSTANCE, FindingFilter::default())
            .nth(1)
            .unwrap()
            .unwrap();
        assert_eq!(
            (reopened.status, reopened.fixed_at),
            (FindingStatus::Active, None)
        );
    }

    #[test]
    fn findings_of_an_archived_asset_keep_their_status_and_hide_until_it_returns() {
        let (_dir, store) = temp_store();
        let (on_a, on_b) = (finding("a", "CVE-1"), finding("b", "CVE-2"));
        sync(
            &store,
            0,
            &[asset("a"), asset("b")],
            &[on_a.clone(), on_b.clone()],
        );

        // b vanishes with its findings: they are not fixed, only hidden.
        let plan = sync(&store, 1, &[asset("a")], std::slice::from_ref(&on_a));
        assert_eq!(plan.fix, 0);
        let active = |id: &str| (id.to_owned(), FindingStatus::Active);
        assert_eq!(finding_state(&store, false), vec![active("a_CVE-1")]);
        assert_eq!(
            finding_state(&store, true),
            vec![active("a_CVE-1"), active("b_CVE-2")]
        );
        assert_eq!(store.stats(INSTANCE).unwrap().findings.active, 1);

        // b returns, without its finding this time: now the finding is fixed.
        let plan = sync(&store, 2, &[asset("a"), asset("b")], &[on_a]);
        assert_eq!(
            (plan.fix, plan.fix_from_before),
            (1, 0),
            "b was not active before"
        );
        let fixed = ("b_CVE-2".to_owned(), FindingStatus::Fixed);
        assert_eq!(finding_state(&store, false), vec![active("a_CVE-1"), fixed]);
    }

    #[test]
    fn findings_of_an_archived_asset_show_again_when_it_returns_with_them() {
        let (_dir, store) = temp_store();
        let on_b = finding("b", "CVE-2");
        sync(
            &store,
            0,
            &[asset("a"), asset("b")],
            std::slice::from_ref(&on_b),
        );
        sync(&store, 1, &[asset("a")], &[]);
        assert!(finding_state(&store, false).is_empty());

        sync(&store, 2, &[asset("a"), asset("b")], &[on_b]);

        assert_eq!(
            finding_state(&store, false),
            vec![("b_CVE-2".to_owned(), FindingStatus::Active)]
        );
    }

    #[test]
    fn a_returned_asset_archived_by_a_rule_it_no_longer_meets_is_reactivated() {
        let (_dir, store) = temp_store();
        let mut inactive = asset("a");
        inactive.source_status = Some("Inactive".to_owned());
        sync_with(&store, 0, &[inactive.clone()], &[], |ctx| {
            ctx.remove_statuses = vec!["Inactive".to_owned()];
        });

        // The upsert still ran under the old rule; the reconciliation's rule
        // no longer archives the status.
        let mut ctx = run(&store, 1);
        ctx.remove_statuses = vec!["Inactive".to_owned()];
        store.upsert_assets(&ctx, vec![inactive]).unwrap();
        ctx.remove_statuses.clear();
        let plan = store.plan_reconciliation(&ctx).unwrap();
        let applied = store.apply_reconciliation(&ctx).unwrap();

        assert_eq!((plan.reactivate, plan.archive_total()), (1, 0));
        assert_eq!(applied, plan);
        assert_eq!(asset_state(&store), vec![state("a", ACTIVE, None)]);
        assert_eq!(
            store
                .plan_reconciliation(&run(&store, 2))
                .unwrap()
                .active_assets_before,
            1
        );
    }

    #[test]
    fn applying_in_many_small_transactions_gives_the_same_result() {
        let (_dir, store) = temp_store();
        let assets: Vec<_> = (0..25).map(|n| asset(&format!("d{n:02}"))).collect();
        let findings: Vec<_> = assets
            .iter()
            .flat_map(|asset| ["CVE-1", "CVE-2"].map(|cve| finding(&asset.id, cve)))
            .collect();
        sync(&store, 0, &assets, &findings);

        // Keep the first 10 assets, each with only its first finding.
        let ctx = run(&store, 1);
        store.upsert_assets(&ctx, assets[..10].to_vec()).unwrap();
        store
            .upsert_findings(&ctx, findings[..20].iter().step_by(2).cloned().collect())
            .unwrap();
        let plan = store.plan_reconciliation(&ctx).unwrap();
        let applied = store.reconcile(&ctx, Some(&mut |_| {}), 7).unwrap();

        assert_eq!(applied, plan);
        assert_eq!((plan.archive_total(), plan.fix), (15, 10));
        let stats = store.stats(INSTANCE).unwrap();
        assert_eq!((stats.assets.active, stats.assets.archived), (10, 15));
        assert_eq!((stats.findings.active, stats.findings.fixed), (10, 10));
    }

    #[test]
    fn reconciling_again_or_rerunning_the_sync_converges() {
        let (_dir, store) = temp_store();
        let (f1, f2) = (finding("a", "CVE-1"), finding("a", "CVE-2"));
        sync(&store, 0, &[asset("a"), asset("b")], &[f1.clone(), f2]);
        let ctx = run(&store, 1);
        store.upsert_assets(&ctx, vec![asset("a")]).unwrap();
        store.upsert_findings(&ctx, vec![f1.clone()]).unwrap();
        store.apply_reconciliation(&ctx).unwrap();
        let settled = (asset_state(&store), finding_state(&store, true));

        let again = store.apply_reconciliation(&ctx).unwrap();
        let rerun = sync(&store, 2, &[asset("a")], &[f1]);

        assert_eq!((again.archive_total(), again.fix), (0, 0));
        assert_eq!((rerun.archive_total(), rerun.fix), (0, 0));
        assert_eq!((asset_state(&store), finding_state(&store, true)), settled);
    }

    #[test]
    fn other_instances_are_left_alone() {
        let (_dir, store) = temp_store();
        let mut other = run(&store, 0);
        other.instance = "contoso-2".to_owned();
        store.upsert_assets(&other, vec![asset("x")]).unwrap();

        let plan = sync(&store, 1, &[asset("a")], &[]);

        assert_eq!(plan.archive_total(), 0);
        let other_assets: Vec<_> = store.assets("contoso-2", AssetFilter::default()).collect();
        assert_eq!(other_assets[0].as_ref().unwrap().status, ACTIVE);
    }
}

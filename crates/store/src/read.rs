//! Reading an instance's records back, streaming: the iterators walk sled and
//! hold one record at a time, so exporting millions of findings needs no
//! more memory than one.
//!
//! A finding is visible by default only while its asset is active (spec
//! section 6, step 7); one asset lookup per device serves all its findings,
//! which are contiguous in the findings tree.

use std::collections::BTreeMap;

use inlet_core::{ArchiveReason, Asset, AssetStatus, Finding, FindingStatus, Severity};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sled::IVec;

use crate::codec::{self, StoredAsset, StoredFinding};
use crate::db::Store;
use crate::error::StoreError;
use crate::keys;
use crate::runs::RunRecord;

/// Which assets to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetFilter {
    /// `None` lists every asset.
    pub status: Option<AssetStatus>,
}

/// Which findings to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingFilter {
    /// `None` lists every status.
    pub status: Option<FindingStatus>,
    /// Empty lists every severity.
    pub severities: Vec<Severity>,
    /// Also list findings of assets that are not active.
    pub include_archived: bool,
    /// Only findings with `last_seen >= since`; one without `last_seen` is left out.
    pub since: Option<Timestamp>,
}

impl FindingFilter {
    fn admits(&self, finding: &StoredFinding) -> bool {
        let observation = &finding.observation;
        self.status.is_none_or(|status| finding.status == status)
            && (self.severities.is_empty() || self.severities.contains(&observation.severity))
            && self
                .since
                .is_none_or(|since| observation.last_seen.is_some_and(|seen| seen >= since))
    }
}

/// Counts an operator compares with the upstream console (spec section 7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub assets: AssetStats,
    pub findings: FindingStats,
    /// The newest run, whatever its outcome.
    pub last_sync: Option<RunRecord>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetStats {
    pub active: u64,
    pub archived: u64,
    /// Every reason, zeros included.
    pub archived_by_reason: BTreeMap<ArchiveReason, u64>,
}

/// Findings of active assets only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingStats {
    pub active: u64,
    pub fixed: u64,
    /// Active findings by severity.
    pub by_severity: SeverityCounts,
}

/// One count per severity, most severe first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityCounts {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    pub none: u64,
}

impl SeverityCounts {
    pub fn get(&self, severity: Severity) -> u64 {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::None => self.none,
        }
    }

    fn add(&mut self, severity: Severity) {
        let count = match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::None => &mut self.none,
        };
        *count += 1;
    }
}

impl Store {
    /// An instance's assets in id order.
    pub fn assets<'a>(
        &'a self,
        instance: &str,
        filter: AssetFilter,
    ) -> impl Iterator<Item = Result<Asset, StoreError>> + 'a {
        let instance = instance.to_owned();
        let (scan, error) = match keys::instance_prefix(&instance) {
            Ok(prefix) => (Some(self.trees.assets.scan_prefix(prefix)), None),
            Err(error) => (None, Some(error)),
        };
        let assets = scan
            .into_iter()
            .flatten()
            .filter_map(move |entry| self.read_asset(&instance, entry, &filter).transpose());
        error.map(Err).into_iter().chain(assets)
    }

    /// An instance's findings in (asset id, finding id) order.
    pub fn findings<'a>(
        &'a self,
        instance: &str,
        filter: FindingFilter,
    ) -> impl Iterator<Item = Result<Finding, StoreError>> + 'a {
        let instance = instance.to_owned();
        let (scan, error) = match keys::instance_prefix(&instance) {
            Ok(prefix) => (Some(self.scan_findings(&prefix)), None),
            Err(error) => (None, Some(error)),
        };
        let prefix_len = instance.len() + 1;
        let mut visibility = Visibility::default();
        let findings = scan.into_iter().flatten().filter_map(move |scanned| {
            let read = || {
                let scanned = scanned?;
                let stored: StoredFinding = scanned.decode()?;
                if !filter.admits(&stored) {
                    return Ok(None);
                }
                let asset_key = keys::asset_key_of_finding(&scanned.key, prefix_len);
                if !filter.include_archived && !visibility.asset_active(self, asset_key)? {
                    return Ok(None);
                }
                Ok(Some(stored.into_finding(&instance, &scanned.marker.seen)))
            };
            read().transpose()
        });
        error.map(Err).into_iter().chain(findings)
    }

    /// The counts of spec section 7 for `instance`.
    pub fn stats(&self, instance: &str) -> Result<Stats, StoreError> {
        let prefix = keys::instance_prefix(instance)?;
        let mut assets = AssetStats {
            archived_by_reason: ArchiveReason::ALL
                .into_iter()
                .map(|reason| (reason, 0))
                .collect(),
            ..AssetStats::default()
        };
        for entry in self.trees.assets.scan_prefix(&prefix) {
            let (key, value) = entry?;
            let stored: StoredAsset = codec::decode_json(keys::ASSETS, &key, &value)?;
            match (stored.status, stored.archived_reason) {
                (AssetStatus::Active, _) => assets.active += 1,
                (AssetStatus::Archived, reason) => {
                    assets.archived += 1;
                    if let Some(reason) = reason {
                        *assets.archived_by_reason.entry(reason).or_default() += 1;
                    }
                }
            }
        }
        let findings = self.finding_stats(&prefix)?;
        Ok(Stats {
            assets,
            findings,
            last_sync: self.newest_run(instance)?,
        })
    }

    fn finding_stats(&self, prefix: &[u8]) -> Result<FindingStats, StoreError> {
        let mut stats = FindingStats::default();
        let mut visibility = Visibility::default();
        for scanned in self.scan_findings(prefix) {
            let scanned = scanned?;
            let stored: StoredFinding = scanned.decode()?;
            if !visibility
                .asset_active(self, keys::asset_key_of_finding(&scanned.key, prefix.len()))?
            {
                continue;
            }
            match stored.status {
                FindingStatus::Active => {
                    stats.active += 1;
                    stats.by_severity.add(stored.observation.severity);
                }
                FindingStatus::Fixed => stats.fixed += 1,
            }
        }
        Ok(stats)
    }

    fn read_asset(
        &self,
        instance: &str,
        entry: Result<(IVec, IVec), sled::Error>,
        filter: &AssetFilter,
    ) -> Result<Option<Asset>, StoreError> {
        let (key, value) = entry?;
        let stored: StoredAsset = codec::decode_json(keys::ASSETS, &key, &value)?;
        if filter.status.is_some_and(|status| stored.status != status) {
            return Ok(None);
        }
        let marker = self.asset_marker(&key, stored.first_ingested_at)?;
        Ok(Some(stored.into_asset(instance, &marker)))
    }
}

/// Whether the asset of the findings being scanned is active, looked up once
/// per device. A finding whose asset is missing counts as hidden, like one of
/// an archived asset.
#[derive(Default)]
struct Visibility {
    current: Option<(Vec<u8>, bool)>,
}

impl Visibility {
    fn asset_active(&mut self, store: &Store, asset_key: &[u8]) -> Result<bool, StoreError> {
        if let Some((key, active)) = &self.current {
            if key == asset_key {
                return Ok(*active);
            }
        }
        let active = match store.trees.assets.get(asset_key)? {
            Some(value) => {
                let stored: StoredAsset = codec::decode_json(keys::ASSETS, asset_key, &value)?;
                stored.status == AssetStatus::Active
            }
            None => false,
        };
        self.current = Some((asset_key.to_vec(), active));
        Ok(active)
    }
}

#[cfg(test)]
mod tests {
    use inlet_core::{FindingChange, FindingObservation};
    use serde_json::json;

    use super::*;
    use crate::testutil::{asset, day, finding, run, temp_store, INSTANCE};

    fn observed(
        asset_id: &str,
        cve: &str,
        severity: Severity,
        last_seen: i64,
    ) -> FindingObservation {
        let mut observation = finding(asset_id, cve);
        observation.severity = severity;
        observation.last_seen = Some(day(last_seen));
        observation
    }

    /// Assets a (active), b (archived as missing) and c (active); findings of
    /// several severities, statuses and ages on each.
    fn seeded() -> (tempfile::TempDir, Store, u64) {
        let (dir, store) = temp_store();
        let findings = vec![
            observed("a", "CVE-1", Severity::Critical, -1),
            observed("a", "CVE-2", Severity::High, -5),
            observed("a", "CVE-3", Severity::Low, -9),
            observed("b", "CVE-1", Severity::Critical, -1),
            observed("c", "CVE-4", Severity::Medium, -2),
        ];
        let first = run(&store, 0);
        store
            .upsert_assets(&first, vec![asset("a"), asset("b"), asset("c")])
            .unwrap();
        store.upsert_findings(&first, findings.clone()).unwrap();
        store.apply_reconciliation(&first).unwrap();

        let second = run(&store, 1);
        store
            .upsert_assets(&second, vec![asset("a"), asset("c")])
            .unwrap();
        let returned = [0, 1, 4].map(|index| findings[index].clone()).to_vec();
        store.upsert_findings(&second, returned).unwrap();
        store.apply_reconciliation(&second).unwrap();
        (dir, store, second.run_id)
    }

    fn ids(store: &Store, filter: FindingFilter) -> Vec<String> {
        store
            .findings(INSTANCE, filter)
            .map(|finding| finding.unwrap().id)
            .collect()
    }

    #[test]
    fn assets_filter_by_status() {
        let (_dir, store, _) = seeded();
        let ids = |status| -> Vec<String> {
            let filter = AssetFilter { status };
            store
                .assets(INSTANCE, filter)
                .map(|asset| asset.unwrap().id)
                .collect()
        };
        assert_eq!(ids(None), vec!["a", "b", "c"]);
        assert_eq!(ids(Some(AssetStatus::Active)), vec!["a", "c"]);
        assert_eq!(ids(Some(AssetStatus::Archived)), vec!["b"]);
    }

    #[test]
    fn findings_filter_by_status_severity_archived_and_since() {
        let (_dir, store, _) = seeded();
        let all = FindingFilter::default();

        assert_eq!(
            ids(&store, all.clone()),
            vec!["a_CVE-1", "a_CVE-2", "a_CVE-3", "c_CVE-4"]
        );
        let with_archived = FindingFilter {
            include_archived: true,
            ..all.clone()
        };
        assert_eq!(ids(&store, with_archived).len(), 5);
        let fixed = FindingFilter {
            status: Some(FindingStatus::Fixed),
            ..all.clone()
        };
        assert_eq!(ids(&store, fixed), vec!["a_CVE-3"]);
        let active = FindingFilter {
            status: Some(FindingStatus::Active),
            ..all.clone()
        };
        assert_eq!(ids(&store, active), vec!["a_CVE-1", "a_CVE-2", "c_CVE-4"]);
        let severe = FindingFilter {
            severities: vec![Severity::Critical, Severity::Medium],
            include_archived: true,
            ..all.clone()
        };
        assert_eq!(ids(&store, severe), vec!["a_CVE-1", "b_CVE-1", "c_CVE-4"]);
        let recent = FindingFilter {
            since: Some(day(-2)),
            ..all.clone()
        };
        assert_eq!(ids(&store, recent), vec!["a_CVE-1", "c_CVE-4"]);
    }

    #[test]
    fn a_since_filter_leaves_out_findings_never_seen() {
        let (_dir, store) = temp_store();
        let ctx = run(&store, 0);
        let mut unseen = finding("a", "CVE-1");
        unseen.last_seen = None;
        store.upsert_assets(&ctx, vec![asset("a")]).unwrap();
        store.upsert_findings(&ctx, vec![unseen]).unwrap();

        let filter = FindingFilter {
            since: Some(day(-100)),
            ..FindingFilter::default()
        };
        assert!(ids(&store, filter).is_empty());
        assert_eq!(ids(&store, FindingFilter::default()).len(), 1);
    }

    #[test]
    fn stats_agree_with_the_listings() {
        let (_dir, store, last_run) = seeded();
        let stats = store.stats(INSTANCE).unwrap();
        let count_assets = |status| {
            store
                .assets(
                    INSTANCE,
                    AssetFilter {
                        status: Some(status),
                    },
                )
                .count()
        };
        let count_findings = |status| {
            let filter = FindingFilter {
                status: Some(status),
                ..FindingFilter::default()
            };
            store.findings(INSTANCE, filter).count() as u64
        };

        assert_eq!(
            stats.assets.active,
            count_assets(AssetStatus::Active) as u64
        );
        assert_eq!(
            stats.assets.archived,
            count_assets(AssetStatus::Archived) as u64
        );
        assert_eq!(stats.findings.active, count_findings(FindingStatus::Active));
        assert_eq!(stats.findings.fixed, count_findings(FindingStatus::Fixed));
        for severity in Severity::DESCENDING {
            let filter = FindingFilter {
                status: Some(FindingStatus::Active),
                severities: vec![severity],
                ..FindingFilter::default()
            };
            let listed = store.findings(INSTANCE, filter).count() as u64;
            assert_eq!(
                stats.findings.by_severity.get(severity),
                listed,
                "{severity:?}"
            );
        }
        assert_eq!(
            (
                stats.assets.active,
                stats.findings.active,
                stats.findings.fixed
            ),
            (2, 3, 1)
        );
        assert_eq!(stats.last_sync.map(|run| run.id), Some(last_run));
    }

    #[test]
    fn stats_serialize_as_the_spec_says() {
        let (_dir, store, _) = seeded();
        let mut stats = serde_json::to_value(store.stats(INSTANCE).unwrap()).unwrap();
        stats["last_sync"] = json!("elided");

        let expected = json!({
            "assets": {
                "active": 2,
                "archived": 1,
                "archived_by_reason": { "missing_from_sync": 1, "status": 0, "retention": 0 },
            },
            "findings": {
                "active": 3,
                "fixed": 1,
                "by_severity": { "critical": 1, "high": 1, "medium": 1, "low": 0, "none": 0 },
            },
            "last_sync": "elided",
        });
        assert_eq!(stats, expected);
    }

    #[test]
    fn stats_of_an_empty_instance_are_zero() {
        let (_dir, store) = temp_store();
        let stats = store.stats(INSTANCE).unwrap();
        assert_eq!((stats.assets.active, stats.findings.active), (0, 0));
        assert_eq!(stats.last_sync, None);
    }

    #[test]
    fn the_newest_run_is_the_last_sync_whatever_its_outcome() {
        let (_dir, store, _) = seeded();
        let delta = run(&store, 2);
        let change = FindingChange {
            finding: finding("a", "CVE-1"),
            status: FindingStatus::Fixed,
            event_at: None,
        };
        store.apply_finding_changes(&delta, vec![change]).unwrap();

        let stats = store.stats(INSTANCE).unwrap();

        let last = stats.last_sync.unwrap();
        assert_eq!(
            (last.id, last.outcome),
            (delta.run_id, crate::RunOutcome::Running)
        );
        assert_eq!(stats.findings.by_severity.critical, 0);
    }

    #[test]
    fn a_corrupt_record_is_an_error_item_not_a_stop() {
        let (_dir, store, _) = seeded();
        let damaged = keys::asset_key(INSTANCE, "b").unwrap();
        store.trees.assets.insert(damaged, "not json").unwrap();

        let items: Vec<_> = store.assets(INSTANCE, AssetFilter::default()).collect();

        assert_eq!(items.len(), 3);
        assert!(matches!(
            &items[1],
            Err(StoreError::Corrupt { tree: "assets", .. })
        ));
        assert!(items[2].is_ok());
    }
}

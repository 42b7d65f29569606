//! Checks several scenarios share: the first day's baseline, a run's
//! outcome, an archived asset and its hidden findings, a held run.

use std::collections::BTreeMap;

use inlet_core::{ArchiveReason, AssetStatus, Finding, FindingStatus};
use inlet_engine::SyncReport;
use inlet_store::RunOutcome;
use jiff::Timestamp;

use crate::error::{ensure, ensure_eq, ConformanceError};
use crate::harness::{Harness, Snapshot};
use crate::upstream::{self, ConformanceUpstream, UpstreamDay};

pub(crate) type Result<T> = std::result::Result<T, ConformanceError>;

/// The scenarios' first day, its times in whole seconds so any upstream's
/// timestamp format can carry them exactly.
pub(crate) fn first_day(upstream: &dyn ConformanceUpstream) -> UpstreamDay {
    let now = Timestamp::now();
    let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
    upstream::first_day(upstream.active_status(), now)
}

/// Fails unless `report`'s run succeeded.
pub(crate) fn succeeded(report: &SyncReport, what: &str) -> Result<()> {
    let run = &report.run;
    ensure!(
        run.outcome == RunOutcome::Succeeded,
        "{what} ended `{}` instead of `succeeded` (error: {:?}, held: {:?})",
        run.outcome.as_str(),
        run.error,
        run.held
    );
    Ok(())
}

/// A run's archive counts as the run record keeps them.
pub(crate) fn archived(pairs: &[(ArchiveReason, u64)]) -> BTreeMap<String, u64> {
    let pairs = pairs
        .iter()
        .map(|(reason, n)| (reason.as_str().to_owned(), *n));
    pairs.collect()
}

/// Syncs the first day and checks that every device became an active asset
/// with its status and last-seen time, with one active finding per
/// vulnerability.
pub(crate) async fn sync_first_day(harness: &Harness, day: &UpstreamDay) -> Result<Snapshot> {
    let report = harness.sync().await?;
    succeeded(&report, "the first sync")?;
    let (n_assets, n_findings) = (day.devices.len() as u64, day.n_findings());
    let counts = &report.run.counts;
    ensure_eq!(
        counts.assets.new,
        n_assets,
        "assets the first sync counted new"
    );
    ensure_eq!(
        counts.findings.new,
        n_findings,
        "findings the first sync counted new"
    );

    let snapshot = harness.snapshot()?;
    let stats = &snapshot.stats;
    ensure_eq!(
        stats.assets.active,
        n_assets,
        "active assets after the first sync"
    );
    ensure_eq!(
        stats.findings.active,
        n_findings,
        "active findings after the first sync"
    );
    for device in &day.devices {
        let asset = snapshot.asset(&device.id)?;
        let status = Some(device.status.as_str());
        ensure_eq!(
            asset.source_status.as_deref(),
            status,
            "source_status of `{}`",
            device.id
        );
        let seen = Some(device.last_seen);
        ensure_eq!(
            asset.last_observed,
            seen,
            "last_observed of `{}`",
            device.id
        );
        for cve in &device.vulnerabilities {
            snapshot.finding(&device.id, cve)?;
        }
    }
    Ok(snapshot)
}

/// Fails unless asset `id` is archived for `reason` at `at`, and counted so.
pub(crate) fn expect_archived(
    snapshot: &Snapshot,
    id: &str,
    reason: ArchiveReason,
    at: Timestamp,
) -> Result<()> {
    let asset = snapshot.asset(id)?;
    ensure_eq!(
        (asset.status, asset.archived_reason, asset.archived_at),
        (AssetStatus::Archived, Some(reason), Some(at)),
        "asset `{id}` (status, archived_reason, archived_at = the run's start)"
    );
    let counted = snapshot.stats.assets.archived_by_reason.get(&reason);
    ensure_eq!(
        counted.copied(),
        Some(1),
        "assets the stats count archived for `{}`",
        reason.as_str()
    );
    Ok(())
}

/// Fails unless the findings of archived asset `id` (as on `day`, where every
/// finding is active) are kept active but hidden from listings and counts.
pub(crate) fn expect_hidden(snapshot: &Snapshot, day: &UpstreamDay, id: &str) -> Result<()> {
    let device = day.device(id).ok_or_else(|| {
        ConformanceError::Rule(format!("device `{id}` is not on the scenario's day"))
    })?;
    ensure_eq!(
        snapshot.visible_on(id),
        0,
        "findings of archived asset `{id}` listed by default"
    );
    for cve in &device.vulnerabilities {
        let finding = snapshot.finding(id, cve)?;
        ensure_eq!(
            finding.status,
            FindingStatus::Active,
            "status of `{cve}` on archived asset `{id}` (kept, not fixed)"
        );
    }
    let n_hidden = device.vulnerabilities.len() as u64;
    let stats = &snapshot.stats.findings;
    ensure_eq!(
        (stats.active, stats.fixed),
        (day.n_findings() - n_hidden, 0),
        "(active, fixed) findings in the stats, those of archived asset `{id}` left out"
    );
    Ok(())
}

/// Fails unless `report` was held before reconciling, leaving the store as
/// `before` showed it; returns the reason the run gives.
pub(crate) fn expect_held(
    report: &SyncReport,
    harness: &Harness,
    before: &Snapshot,
) -> Result<String> {
    let run = &report.run;
    ensure_eq!(
        run.outcome,
        RunOutcome::Held,
        "outcome of the sync the brake should hold"
    );
    let reason = run.held.clone().unwrap_or_default();
    ensure!(
        !reason.trim().is_empty(),
        "the held run does not say why it was held"
    );
    ensure!(
        run.counts.assets.archived.is_empty() && run.counts.findings.fixed == 0,
        "the held run counts archived {:?} and fixed {}",
        run.counts.assets.archived,
        run.counts.findings.fixed
    );
    expect_unchanged(harness, before, "the held sync")?;
    Ok(reason)
}

/// Fails unless every status and count is as `before` showed it.
pub(crate) fn expect_unchanged(harness: &Harness, before: &Snapshot, what: &str) -> Result<()> {
    let after = harness.snapshot()?;
    ensure_eq!(
        after.stats.assets,
        before.stats.assets,
        "asset stats after {what}"
    );
    ensure_eq!(
        after.stats.findings,
        before.stats.findings,
        "finding stats after {what}"
    );
    let statuses = |snapshot: &Snapshot| {
        let assets = snapshot.assets.iter().map(|a| (a.id.clone(), a.status));
        let findings = snapshot
            .findings
            .iter()
            .map(|f: &Finding| (f.id.clone(), f.status));
        (assets.collect::<Vec<_>>(), findings.collect::<Vec<_>>())
    };
    ensure_eq!(
        statuses(&after),
        statuses(before),
        "record statuses after {what}"
    );
    Ok(())
}

//! Scenarios 1-7: how a full sync moves assets and findings through their
//! lifecycle (product spec section 6) as the upstream changes day by day.

use inlet_core::{ArchiveReason, Asset, AssetStatus, Finding, FindingStatus};
use inlet_engine::SyncReport;
use jiff::{SignedDuration, Timestamp};

use super::expect::{
    archived, expect_archived, expect_hidden, first_day, succeeded, sync_first_day, Result,
};
use crate::error::{ensure, ensure_eq};
use crate::harness::{write_days, Snapshot, RETENTION_DAYS};
use crate::upstream::{cve, device_id, ConformanceUpstream, UpstreamDay};

/// 1. The same upstream twice: the second sync counts nothing new, updated,
///    archived, fixed or reopened, and the store reads the same.
pub async fn same_input_twice(upstream: &dyn ConformanceUpstream) -> Result<()> {
    let day = first_day(upstream);
    let fixtures = write_days(upstream, std::slice::from_ref(&day))?;
    let harness = fixtures.start().await?;
    let before = sync_first_day(&harness, &day).await?;

    let second = harness.sync().await?;
    succeeded(&second, "the second sync")?;
    expect_counted_nothing(&second, &day)?;

    let after = harness.snapshot()?;
    let stats = (&after.stats.assets, &after.stats.findings);
    let stats_before = (&before.stats.assets, &before.stats.findings);
    ensure_eq!(
        stats,
        stats_before,
        "(asset, finding) stats after the second sync"
    );
    ensure_eq!(
        without_sync_times(&after),
        without_sync_times(&before),
        "every record after the second sync, `last_synced_at` aside"
    );
    let started = second.run.started_at;
    let assets_synced = after.assets.iter().all(|a| a.last_synced_at == started);
    let findings_synced = after.findings.iter().all(|f| f.last_synced_at == started);
    ensure!(
        assets_synced && findings_synced,
        "every record's `last_synced_at` must be the second sync's start, {started}"
    );
    harness.shutdown().await;
    Ok(())
}

/// Fails unless a sync of an unchanged `day` counted every record unchanged.
fn expect_counted_nothing(report: &SyncReport, day: &UpstreamDay) -> Result<()> {
    let (assets, findings) = (&report.run.counts.assets, &report.run.counts.findings);
    let counted = [
        assets.new,
        assets.updated,
        assets.reactivated,
        assets.unchanged,
    ];
    let n_devices = day.devices.len() as u64;
    ensure_eq!(
        counted,
        [0, 0, 0, n_devices],
        "assets the second sync counted [new, updated, reactivated, unchanged]"
    );
    ensure!(
        assets.archived.is_empty(),
        "the second sync archived {:?}",
        assets.archived
    );
    let counted = [
        findings.new,
        findings.updated,
        findings.fixed,
        findings.reopened,
    ];
    ensure_eq!(
        counted,
        [0, 0, 0, 0],
        "findings the second sync counted [new, updated, fixed, reopened]"
    );
    ensure_eq!(
        findings.unchanged,
        day.n_findings(),
        "findings counted unchanged"
    );
    Ok(())
}

/// A snapshot's records with `last_synced_at` blanked, to compare two syncs.
fn without_sync_times(snapshot: &Snapshot) -> (Vec<Asset>, Vec<Finding>) {
    let assets = snapshot.assets.iter().cloned().map(|mut asset| {
        asset.last_synced_at = Timestamp::UNIX_EPOCH;
        asset
    });
    let findings = snapshot.findings.iter().cloned().map(|mut finding| {
        finding.last_synced_at = Timestamp::UNIX_EPOCH;
        finding
    });
    (assets.collect(), findings.collect())
}

/// 2. A device removed upstream is archived `missing_from_sync`; its findings
///    are kept but hidden from listings and active counts.
pub async fn device_removed(upstream: &dyn ConformanceUpstream) -> Result<()> {
    let (day, gone) = (first_day(upstream), device_id(3));
    let days = [day.clone(), day.without_device(&gone)];
    let harness = write_days(upstream, &days)?.start().await?;
    sync_first_day(&harness, &day).await?;

    harness.advance().await?;
    let report = harness.sync().await?;
    succeeded(&report, "the sync without the device")?;
    ensure_eq!(
        report.run.counts.assets.archived,
        archived(&[(ArchiveReason::MissingFromSync, 1)]),
        "assets archived by the sync that did not return `{gone}`"
    );
    let after = harness.snapshot()?;
    let started = report.run.started_at;
    expect_archived(&after, &gone, ArchiveReason::MissingFromSync, started)?;
    expect_hidden(&after, &day, &gone)?;
    harness.shutdown().await;
    Ok(())
}

/// 3. A device that returns is active again (counted reactivated) and its
///    findings show again.
pub async fn device_returns(upstream: &dyn ConformanceUpstream) -> Result<()> {
    let (day, gone) = (first_day(upstream), device_id(3));
    let days = [day.clone(), day.without_device(&gone), day.clone()];
    let harness = write_days(upstream, &days)?.start().await?;
    sync_first_day(&harness, &day).await?;
    harness.advance().await?;
    succeeded(&harness.sync().await?, "the sync without the device")?;

    harness.advance().await?;
    let report = harness.sync().await?;
    succeeded(&report, "the sync the device returned in")?;
    let counts = &report.run.counts.assets;
    ensure_eq!(counts.reactivated, 1, "assets counted reactivated");
    ensure!(
        counts.archived.is_empty(),
        "the sync archived {:?}",
        counts.archived
    );
    let after = harness.snapshot()?;
    let asset = after.asset(&gone)?;
    ensure_eq!(
        (asset.status, asset.archived_reason, asset.archived_at),
        (AssetStatus::Active, None, None),
        "returned asset `{gone}` (status, archived_reason, archived_at)"
    );
    let n_on_device = day.device(&gone).map_or(0, |d| d.vulnerabilities.len());
    ensure_eq!(
        after.visible_on(&gone),
        n_on_device,
        "findings of `{gone}` listed again"
    );
    let stats = &after.stats;
    ensure_eq!(
        (stats.assets.active, stats.findings.active),
        (day.devices.len() as u64, day.n_findings()),
        "(active assets, active findings) in the stats"
    );
    harness.shutdown().await;
    Ok(())
}

/// 4. A vulnerability removed upstream is `fixed`, `fixed_at` being the
///    start of the sync that no longer returned it.
pub async fn vulnerability_removed(upstream: &dyn ConformanceUpstream) -> Result<()> {
    let (day, device, vulnerability) = (first_day(upstream), device_id(1), cve(2));
    let days = [
        day.clone(),
        day.without_vulnerability(&device, &vulnerability),
    ];
    let harness = write_days(upstream, &days)?.start().await?;
    sync_first_day(&harness, &day).await?;

    harness.advance().await?;
    let report = harness.sync().await?;
    succeeded(&report, "the sync without the vulnerability")?;
    ensure_eq!(
        report.run.counts.findings.fixed,
        1,
        "findings counted fixed"
    );
    let after = harness.snapshot()?;
    let finding = after.finding(&device, &vulnerability)?;
    ensure_eq!(
        (finding.status, finding.fixed_at),
        (FindingStatus::Fixed, Some(report.run.started_at)),
        "`{vulnerability}` on `{device}` (status, fixed_at = the run's start)"
    );
    let stats = &after.stats.findings;
    ensure_eq!(
        (stats.active, stats.fixed),
        (day.n_findings() - 1, 1),
        "(active, fixed) findings in the stats"
    );
    harness.shutdown().await;
    Ok(())
}

/// 5. A fixed vulnerability that returns is reopened: active, `fixed_at`
///    null, counted reopened.
pub async fn vulnerability_returns(upstream: &dyn ConformanceUpstream) -> Result<()> {
    let (day, device, vulnerability) = (first_day(upstream), device_id(1), cve(2));
    let fixed = day.without_vulnerability(&device, &vulnerability);
    let harness = write_days(upstream, &[day.clone(), fixed, day.clone()])?
        .start()
        .await?;
    sync_first_day(&harness, &day).await?;
    harness.advance().await?;
    succeeded(&harness.sync().await?, "the sync without the vulnerability")?;

    harness.advance().await?;
    let report = harness.sync().await?;
    succeeded(&report, "the sync the vulnerability returned in")?;
    let counts = &report.run.counts.findings;
    ensure_eq!(
        (counts.reopened, counts.fixed),
        (1, 0),
        "findings counted (reopened, fixed)"
    );
    let after = harness.snapshot()?;
    let finding = after.finding(&device, &vulnerability)?;
    ensure_eq!(
        (finding.status, finding.fixed_at),
        (FindingStatus::Active, None),
        "reopened `{vulnerability}` on `{device}` (status, fixed_at)"
    );
    let stats = &after.stats.findings;
    ensure_eq!(
        (stats.active, stats.fixed),
        (day.n_findings(), 0),
        "(active, fixed) in the stats"
    );
    harness.shutdown().await;
    Ok(())
}

/// 6. A device whose upstream status is in `remove_assets_with_status` is
///    archived `status`; its findings are hidden.
pub async fn status_removal(upstream: &dyn ConformanceUpstream) -> Result<()> {
    let (day, device) = (first_day(upstream), device_id(3));
    let removable = upstream.removable_status();
    let changed = day.changing(&device, |spec| spec.status = removable.to_owned());
    let what = format!("`{device}` reported status `{removable}`");
    let reason = ArchiveReason::Status;
    let asset = archived_by_rule(upstream, &day, changed, &device, reason, &what).await?;
    ensure_eq!(
        asset.source_status.as_deref(),
        Some(removable),
        "source_status of `{device}`"
    );
    Ok(())
}

/// 7. A device last seen longer ago than `asset_retention_days` is archived
///    `retention`; its findings are hidden.
pub async fn retention_removal(upstream: &dyn ConformanceUpstream) -> Result<()> {
    let (day, device) = (first_day(upstream), device_id(3));
    let stale_days = i64::from(RETENTION_DAYS) + 30;
    let stale = day.devices[0].last_seen - SignedDuration::from_hours(24 * stale_days);
    let changed = day.changing(&device, |spec| spec.last_seen = stale);
    let what = format!("`{device}` was last seen {stale_days} days ago");
    let reason = ArchiveReason::Retention;
    let asset = archived_by_rule(upstream, &day, changed, &device, reason, &what).await?;
    ensure_eq!(
        asset.last_observed,
        Some(stale),
        "last_observed of `{device}`"
    );
    Ok(())
}

/// Scenarios 6 and 7: syncs `day`, then `changed`, where `device` meets an
/// archive rule (`what` says how), and checks that exactly that device was
/// archived for `reason` and its findings are hidden. Returns the archived
/// asset for the scenario's own check.
async fn archived_by_rule(
    upstream: &dyn ConformanceUpstream,
    day: &UpstreamDay,
    changed: UpstreamDay,
    device: &str,
    reason: ArchiveReason,
    what: &str,
) -> Result<Asset> {
    let harness = write_days(upstream, &[day.clone(), changed])?
        .start()
        .await?;
    sync_first_day(&harness, day).await?;

    harness.advance().await?;
    let report = harness.sync().await?;
    succeeded(&report, &format!("the sync after {what}"))?;
    ensure_eq!(
        report.run.counts.assets.archived,
        archived(&[(reason, 1)]),
        "assets archived once {what}"
    );
    let after = harness.snapshot()?;
    expect_archived(&after, device, reason, report.run.started_at)?;
    expect_hidden(&after, day, device)?;
    let asset = after.asset(device)?.clone();
    harness.shutdown().await;
    Ok(asset)
}

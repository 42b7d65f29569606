//! Scenarios 8, 9 and 11: the two gates before reconciliation. A sync that
//! did not fetch every page changes no status; a sync that would remove too
//! much is held until the operator confirms it.

use std::sync::atomic::Ordering;

use inlet_core::{ArchiveReason, AssetStatus};
use inlet_store::RunOutcome;

use super::expect::{
    archived, expect_held, expect_unchanged, first_day, succeeded, sync_first_day, Result,
};
use crate::error::{ensure, ensure_eq};
use crate::harness::write_days;
use crate::holdback::{failing_on_last_page, LastPageDropped};
use crate::upstream::{cve, device_id, ConformanceUpstream, UpstreamDay};

/// 8. A sync that fails on its last page archives and fixes nothing and is
///    recorded `failed`; the next complete sync applies what it could not.
pub async fn failed_last_page(upstream: &dyn ConformanceUpstream) -> Result<()> {
    let (day, gone, device, vulnerability) =
        (first_day(upstream), device_id(3), device_id(1), cve(2));
    let changed = day
        .without_device(&gone)
        .without_vulnerability(&device, &vulnerability);
    let harness = write_days(upstream, &[day.clone(), changed])?
        .start()
        .await?;
    let before = sync_first_day(&harness, &day).await?;

    harness.advance().await?;
    let (failing, forwarded) = failing_on_last_page(&harness.instance);
    let report = harness.sync_instance(&failing, false).await?;
    let run = &report.run;
    ensure_eq!(
        run.outcome,
        RunOutcome::Failed,
        "outcome of the sync that lost its last page"
    );
    let error = run.error.clone().unwrap_or_default();
    ensure!(
        error.contains(&LastPageDropped.to_string()),
        "the failed run's error does not give the cause: {error:?}"
    );
    ensure!(
        forwarded.load(Ordering::SeqCst) >= 1,
        "the connector handed the whole sync over in one batch, so no page was stored \
         before the failure; it must hand over each page (or stream) as it arrives"
    );
    ensure!(
        run.counts.assets.archived.is_empty() && run.counts.findings.fixed == 0,
        "the failed run counts archived {:?} and fixed {}",
        run.counts.assets.archived,
        run.counts.findings.fixed
    );
    expect_unchanged(&harness, &before, "the failed sync")?;

    // The next sync starts clean and applies both changes.
    let next = harness.sync().await?;
    succeeded(&next, "the sync after the failed one")?;
    let counts = &next.run.counts;
    ensure_eq!(
        (counts.assets.archived.clone(), counts.findings.fixed),
        (archived(&[(ArchiveReason::MissingFromSync, 1)]), 1),
        "(archived, fixed) counted by the sync after the failed one"
    );
    harness.shutdown().await;
    Ok(())
}

/// 9. An upstream that returns no device holds the sync, with the reason;
///    confirming the removal applies it.
pub async fn empty_upstream(upstream: &dyn ConformanceUpstream) -> Result<()> {
    let day = first_day(upstream);
    let n_devices = day.devices.len() as u64;
    removal_is_held(upstream, &day, UpstreamDay::default(), n_devices, None).await
}

/// 11. A sync that would archive more than `max_archive_percent` of the
///     active assets is held; confirming the removal applies it.
pub async fn mass_removal(upstream: &dyn ConformanceUpstream) -> Result<()> {
    let day = first_day(upstream);
    let kept = day.only_device(&device_id(1));
    let n_gone = (day.devices.len() - kept.devices.len()) as u64;
    removal_is_held(upstream, &day, kept, n_gone, Some("max_archive_percent")).await
}

/// Day 1, then `second` which drops `n_gone` devices: the sync is held
/// (giving a reason that names `mentions`, when given), then applied with
/// `confirm_removal`.
async fn removal_is_held(
    upstream: &dyn ConformanceUpstream,
    day: &UpstreamDay,
    second: UpstreamDay,
    n_gone: u64,
    mentions: Option<&str>,
) -> Result<()> {
    let harness = write_days(upstream, &[day.clone(), second])?
        .start()
        .await?;
    let before = sync_first_day(&harness, day).await?;

    harness.advance().await?;
    let held = harness.sync().await?;
    let reason = expect_held(&held, &harness, &before)?;
    if let Some(setting) = mentions {
        ensure!(
            reason.contains(setting),
            "the held run's reason does not name `{setting}`: {reason:?}"
        );
    }
    let planned = held.plan.as_ref().map(|plan| plan.archive_total());
    ensure_eq!(
        planned,
        Some(n_gone),
        "assets the held sync planned to archive"
    );

    let confirmed = harness.sync_confirmed().await?;
    succeeded(&confirmed, "the sync with `confirm_removal`")?;
    ensure_eq!(
        confirmed.run.counts.assets.archived,
        archived(&[(ArchiveReason::MissingFromSync, n_gone)]),
        "assets archived by the confirmed sync"
    );
    let after = harness.snapshot()?;
    let n_devices = day.devices.len() as u64;
    let stats = &after.stats.assets;
    ensure_eq!(
        (stats.active, stats.archived),
        (n_devices - n_gone, n_gone),
        "(active, archived) assets after the confirmed sync"
    );
    let archived_ids = after
        .assets
        .iter()
        .filter(|a| a.status == AssetStatus::Archived);
    let hidden: usize = archived_ids.map(|asset| after.visible_on(&asset.id)).sum();
    ensure_eq!(hidden, 0, "findings of archived assets listed by default");
    ensure_eq!(
        after.stats.findings.fixed,
        0,
        "findings fixed (devices that vanished fix nothing)"
    );
    harness.shutdown().await;
    Ok(())
}

//! Inlet's sync engine: one sync of one instance. It chooses full or delta,
//! hands the connector a sink that stores every batch, and reconciles only
//! when every page arrived. The runner, the conformance kit and the demo all
//! sync through [`run_sync`].
//!
//! The order matters. Reconciliation (archive, fix) reads which records this
//! run stamped, so it may only start after the connector returned `Ok`: a
//! failure or a signal before that point leaves every record's status as it
//! was, and the run is recorded as failed. The mass-removal brake sits between
//! the plan and its application, so a held sync changes no status either.

mod observer;
mod queue;
mod sink;
pub mod test_points;

use std::sync::Arc;
use std::time::Instant;

use inlet_core::config::Instance;
use inlet_core::{SyncCounters, SyncMode, SyncRequest};
use inlet_store::{IngestContext, ReconcilePlan, RunMode, RunOutcome, RunRecord, Store};
use jiff::{SignedDuration, Timestamp};
use tracing::Instrument;

pub use self::observer::{Stream, SyncObserver, Unobserved};
pub use self::queue::QUEUE_BATCHES;
use self::queue::{StoreSink, Written};
use self::sink::BatchWriter;
pub use inlet_core::error::error_chain;

/// Name of the cursor holding when the connector's reference data was refreshed.
pub const REFERENCE_CURSOR: &str = "reference_refreshed_at";

/// Which mode the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModeRequest {
    #[default]
    Auto,
    Full,
    Delta,
}

/// How to run one sync.
#[derive(Clone, Default)]
pub struct SyncOptions {
    pub mode: ModeRequest,
    /// Apply reconciliation even when the mass-removal brake would hold it.
    pub confirm_removal: bool,
    /// Told about progress; `None` watches nothing.
    pub observer: Option<std::sync::Arc<dyn SyncObserver>>,
    /// Plan the reconciliation but apply nothing (used by [`dry_run`] on a
    /// scratch copy of the store).
    pub plan_only: bool,
}

impl std::fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncOptions")
            .field("mode", &self.mode)
            .field("confirm_removal", &self.confirm_removal)
            .field("observer", &self.observer.is_some())
            .field("plan_only", &self.plan_only)
            .finish()
    }
}

/// What a finished sync reports: its run record and, for a full sync that got
/// that far, the reconciliation it planned (and applied, unless held).
#[derive(Debug)]
pub struct SyncReport {
    pub run: RunRecord,
    pub plan: Option<ReconcilePlan>,
    pub elapsed: std::time::Duration,
    /// The process's peak resident memory so far (Linux `VmHWM`), read when
    /// the sync ended; `None` where the OS does not tell.
    pub peak_rss_bytes: Option<u64>,
}

/// Why a sync could not even start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("a delta sync is not possible now: {0}")]
    DeltaImpossible(String),
    #[error(transparent)]
    Store(#[from] inlet_store::StoreError),
}

/// Runs one sync of `instance` and records it. Returns the report whatever the
/// outcome; only a failure to start (or to write the run) is an error.
pub async fn run_sync(
    store: &Store,
    instance: &Instance,
    options: &SyncOptions,
    stop: impl std::future::Future<Output = &'static str>,
) -> Result<SyncReport, StartError> {
    let clock = Instant::now();
    let started_at = Timestamp::now();
    let settings = &instance.settings;
    store.fail_interrupted_runs(&settings.name, started_at)?;
    let mode = choose_mode(store, instance, options.mode, started_at)?;
    let run_mode = match mode {
        SyncMode::Full => RunMode::Full,
        SyncMode::Delta { .. } => RunMode::Delta,
    };
    let run = store.begin_run(&settings.name, &settings.connector, run_mode, started_at)?;
    let span = tracing::info_span!(
        "sync",
        instance = %settings.name,
        connector = %settings.connector,
        run_id = run.id
    );
    let report = execute(store, instance, options, stop, run, mode)
        .instrument(span)
        .await?;
    Ok(SyncReport {
        elapsed: clock.elapsed(),
        peak_rss_bytes: peak_rss_bytes(),
        ..report
    })
}

/// The body of a sync, inside its span: fetch, then reconcile, then record.
async fn execute(
    store: &Store,
    instance: &Instance,
    options: &SyncOptions,
    stop: impl std::future::Future<Output = &'static str>,
    mut run: RunRecord,
    mode: SyncMode,
) -> Result<SyncReport, StartError> {
    let clock = Instant::now();
    let name = &instance.settings.name;
    let observer: Arc<dyn SyncObserver> = options
        .observer
        .clone()
        .unwrap_or_else(|| Arc::new(Unobserved));
    tracing::info!(mode = ?run.mode, "sync started");
    let context = ingest_context(instance, run.id, run.started_at);
    let request = SyncRequest {
        mode,
        reference_refreshed_at: reference_refreshed_at(store, name)?,
        counters: SyncCounters::default(),
    };
    let writer = BatchWriter::new(store, &context, instance, observer.clone());
    let (fetched, written) = fetch_and_store(instance, &request, writer, stop).await;
    let reference_refreshed = written.reference_refreshed;
    run.counts = written.counts;
    (run.requests, run.retries, run.throttled) = request.counters.snapshot();

    // Only a complete fetch may reconcile.
    let mut plan = None;
    run.outcome = match fetched {
        Err(error) => {
            tracing::error!(error = %error, "sync failed");
            run.error = Some(error);
            RunOutcome::Failed
        }
        Ok(()) => {
            if reference_refreshed {
                store.set_cursor(name, REFERENCE_CURSOR, &run.started_at.to_string())?;
            }
            let (outcome, applied) = finish(store, instance, &context, &mut run, options)?;
            plan = applied;
            outcome
        }
    };
    observer.finished();
    run.finished_at = Some(Timestamp::now());
    store.save_run(&run)?;
    store.flush()?;
    tracing::info!(
        outcome = ?run.outcome,
        elapsed_ms = clock.elapsed().as_millis() as u64,
        n_assets = run.counts.assets.seen,
        n_findings = run.counts.findings.seen,
        n_requests = run.requests,
        "sync finished"
    );
    Ok(SyncReport {
        run,
        plan,
        elapsed: clock.elapsed(),
        peak_rss_bytes: None,
    })
}

/// Runs the connector while the writer thread maps and stores its batches.
/// Returns `Ok` only when the connector delivered every page and every batch
/// was stored; either way the writer has stopped when this returns, so
/// nothing of this sync is written after it.
async fn fetch_and_store(
    instance: &Instance,
    request: &SyncRequest,
    writer: BatchWriter,
    stop: impl std::future::Future<Output = &'static str>,
) -> (Result<(), String>, Written) {
    let mut sink = StoreSink::start(writer);

    // A signal ends the fetch at its next await.
    let fetched = tokio::select! {
        result = instance.connector.sync(request, &mut sink) => {
            result.map_err(|error| error_chain(&error))
        }
        signal = stop => Err(format!("interrupted by {signal} before every page was stored")),
    };

    // Every queued batch is stored (or failed) before anything else happens.
    let mut written = sink.finish().await;
    let fetched = match (fetched, written.error.take()) {
        (Err(error), _) | (Ok(()), Some(error)) => Err(error),
        (Ok(()), None) => Ok(()),
    };
    (fetched, written)
}

/// After every page arrived: reconcile a full sync unless the brake holds it.
fn finish(
    store: &Store,
    instance: &Instance,
    context: &IngestContext,
    run: &mut RunRecord,
    options: &SyncOptions,
) -> Result<(RunOutcome, Option<ReconcilePlan>), StartError> {
    if run.mode == RunMode::Delta {
        return Ok((RunOutcome::Succeeded, None));
    }
    test_points::reached("fetched");
    if let Some(observer) = &options.observer {
        observer.reconciling();
    }
    let plan = store.plan_reconciliation(context)?;
    if options.plan_only {
        run.held = brake(instance, run, &plan);
        record_reconciliation(run, &plan);
        return Ok((RunOutcome::Succeeded, Some(plan)));
    }
    if let Some(reason) = brake(instance, run, &plan) {
        if !options.confirm_removal {
            tracing::warn!(reason = %reason, "sync held before reconciling");
            run.held = Some(reason);
            return Ok((RunOutcome::Held, Some(plan)));
        }
        tracing::warn!(reason = %reason, "mass removal confirmed by the operator");
    }
    let applied = store.apply_reconciliation_with(context, &mut |n_keys| {
        if let Some(observer) = &options.observer {
            observer.reconcile_committed(n_keys);
        }
        test_points::reached("reconcile");
    })?;
    test_points::reached("reconciled");
    record_reconciliation(run, &applied);
    Ok((RunOutcome::Succeeded, Some(applied)))
}

/// Adds what reconciliation did (or would do) to the run's counts.
fn record_reconciliation(run: &mut RunRecord, plan: &ReconcilePlan) {
    for (reason, count) in &plan.archive {
        run.counts
            .assets
            .archived
            .insert(reason.as_str().to_string(), *count);
    }
    run.counts.findings.fixed += plan.fix;
    run.counts.assets.reactivated += plan.reactivate;
}

/// Runs a sync against a scratch copy of `instance`'s data, opened in
/// `scratch_dir`, planning the reconciliation without applying it. The real
/// store is only read; the report says what a real sync would change
/// (`run.held` carries the reason a real sync would be held).
pub async fn dry_run(
    store: &Store,
    instance: &Instance,
    options: &SyncOptions,
    stop: impl std::future::Future<Output = &'static str>,
    scratch_dir: &std::path::Path,
) -> Result<SyncReport, StartError> {
    let scratch = Store::open(scratch_dir)?;
    let n_copied = store.copy_instance_to(&instance.settings.name, &scratch)?;
    tracing::debug!(n_copied, "dry run works on a scratch copy");
    let options = SyncOptions {
        plan_only: true,
        ..options.clone()
    };
    run_sync(&scratch, instance, &options, stop).await
}

/// Why the mass-removal brake holds this sync, if it does. Only records that
/// were active before this sync count, so a first sync is never held.
pub fn brake(instance: &Instance, run: &RunRecord, plan: &ReconcilePlan) -> Option<String> {
    let settings = &instance.settings;
    if run.counts.assets.seen == 0 && plan.active_assets_before > 0 {
        return Some(format!(
            "the upstream returned no assets while {} are active",
            plan.active_assets_before
        ));
    }
    let share = |part: u64, whole: u64| {
        if whole == 0 {
            0.0
        } else {
            part as f64 * 100.0 / whole as f64
        }
    };
    let archive_share = share(plan.archive_from_before, plan.active_assets_before);
    if archive_share > settings.max_archive_percent {
        return Some(format!(
            "would archive {} of {} active assets ({archive_share:.1}%), more than max_archive_percent ({}%)",
            plan.archive_from_before, plan.active_assets_before, settings.max_archive_percent
        ));
    }
    let fix_share = share(plan.fix_from_before, plan.active_findings_before);
    if fix_share > settings.max_fix_percent {
        return Some(format!(
            "would fix {} of {} active findings ({fix_share:.1}%), more than max_fix_percent ({}%)",
            plan.fix_from_before, plan.active_findings_before, settings.max_fix_percent
        ));
    }
    None
}

/// Full or delta: full when asked, when there was no full sync yet, when the
/// last full sync is older than `full_sync_every_days`, or when the delta
/// window would exceed what the connector can reach.
fn choose_mode(
    store: &Store,
    instance: &Instance,
    request: ModeRequest,
    now: Timestamp,
) -> Result<SyncMode, StartError> {
    let name = &instance.settings.name;
    let impossible = |why: &str| Err(StartError::DeltaImpossible(why.to_string()));
    if request == ModeRequest::Full {
        return Ok(SyncMode::Full);
    }
    let Some(max_days) = instance.connector.capabilities().max_delta_days else {
        return if request == ModeRequest::Delta {
            impossible("the connector has no delta sync")
        } else {
            Ok(SyncMode::Full)
        };
    };
    let last_full = store.last_run(name, RunOutcome::Succeeded, Some(RunMode::Full))?;
    let last_success = store.last_run(name, RunOutcome::Succeeded, None)?;
    let (Some(last_full), Some(last_success)) = (last_full, last_success) else {
        return if request == ModeRequest::Delta {
            impossible("no full sync has succeeded yet")
        } else {
            Ok(SyncMode::Full)
        };
    };
    let since = last_success.started_at;
    if now.duration_since(since) > days(max_days) {
        return if request == ModeRequest::Delta {
            impossible(&format!(
                "the last successful sync is more than {max_days} days old"
            ))
        } else {
            Ok(SyncMode::Full)
        };
    }
    let full_due =
        now.duration_since(last_full.started_at) >= days(instance.settings.full_sync_every_days);
    if full_due && request == ModeRequest::Auto {
        return Ok(SyncMode::Full);
    }
    Ok(SyncMode::Delta { since })
}

fn days(count: u32) -> SignedDuration {
    SignedDuration::from_hours(i64::from(count) * 24)
}

fn ingest_context(instance: &Instance, run_id: u64, started_at: Timestamp) -> IngestContext {
    let settings = &instance.settings;
    IngestContext {
        instance: settings.name.clone(),
        connector: settings.connector.clone(),
        run_id,
        started_at,
        remove_statuses: settings.remove_assets_with_status.clone(),
        retention_cutoff: started_at
            .checked_sub(days(settings.asset_retention_days))
            .ok(),
    }
}

fn reference_refreshed_at(store: &Store, instance: &str) -> Result<Option<Timestamp>, StartError> {
    let cursor = store.cursor(instance, REFERENCE_CURSOR)?;
    Ok(cursor.and_then(|text| text.parse().ok()))
}

/// This process's peak resident set size in bytes, from `VmHWM` in
/// `/proc/self/status`; `None` off Linux or when the line is missing.
pub fn peak_rss_bytes() -> Option<u64> {
    peak_rss_bytes_in(std::path::Path::new("/proc/self/status"))
}

/// The peak resident set size a `/proc/PID/status` file reports, in bytes.
pub fn peak_rss_bytes_in(status_file: &std::path::Path) -> Option<u64> {
    let status = std::fs::read_to_string(status_file).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

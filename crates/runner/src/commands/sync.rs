//! `inlet sync NAME`: one sync now, then a summary.

use std::io::Write;
use std::process::ExitCode;

use inlet_store::{RunOutcome, Store};
use serde_json::json;

use crate::cli::{GlobalArgs, ReportFormat, SyncArgs};
use crate::config_file;
use crate::failure::{CommandResult, Failure};
use crate::output::join_counts;
use crate::signals::shutdown_signal;
use inlet_engine::{dry_run, run_sync, ModeRequest, StartError, SyncOptions, SyncReport};

pub async fn run(global: &GlobalArgs, args: &SyncArgs) -> CommandResult {
    let (config, instance) = config_file::load_instance(global, &args.name)?;
    let data_dir = config_file::data_dir(global, &config);
    let store = Store::open(&data_dir).map_err(Failure::failed)?;
    let mode = match (args.full, args.delta) {
        (true, _) => ModeRequest::Full,
        (_, true) => ModeRequest::Delta,
        _ => ModeRequest::Auto,
    };
    let options = SyncOptions {
        mode,
        confirm_removal: args.confirm_removal,
        observer: Some(crate::progress::observer(global, &args.name)),
        plan_only: false,
    };
    let report = if args.dry_run {
        // A scratch copy beside the data folder takes the sync; it is removed after.
        let parent = data_dir.parent().filter(|p| !p.as_os_str().is_empty());
        let scratch = tempfile::Builder::new()
            .prefix(".inlet-dry-run-")
            .tempdir_in(parent.unwrap_or(std::path::Path::new(".")))
            .map_err(Failure::failed)?;
        dry_run(
            &store,
            &instance,
            &options,
            shutdown_signal(),
            scratch.path(),
        )
        .await
    } else {
        run_sync(&store, &instance, &options, shutdown_signal()).await
    };
    let report = report.map_err(|error| match error {
        StartError::DeltaImpossible(_) => Failure::usage(error),
        StartError::Store(_) => Failure::failed(error),
    })?;

    match args.format {
        ReportFormat::Json => print_json(&report, args.dry_run),
        ReportFormat::Table if args.dry_run => print_dry_run(&report, global.verbose > 0),
        ReportFormat::Table => print_summary(&report),
    }
    .map_err(Failure::failed)?;
    Ok(match report.run.outcome {
        RunOutcome::Succeeded => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

fn print_json(report: &SyncReport, dry_run: bool) -> std::io::Result<()> {
    let value = json!({
        "dry_run": dry_run,
        "run": report.run,
        "elapsed_secs": report.elapsed.as_secs_f64(),
        "peak_rss_bytes": report.peak_rss_bytes,
        "reconciliation": report.plan,
    });
    crate::output::print_json(&value)
}

/// A few lines a person reads at a glance after a sync.
fn print_summary(report: &SyncReport) -> std::io::Result<()> {
    let run = &report.run;
    let mut out = std::io::stdout().lock();
    let outcome = match run.outcome {
        RunOutcome::Succeeded => "succeeded",
        RunOutcome::Failed => "FAILED",
        RunOutcome::Held => "HELD",
        RunOutcome::Running => "running",
    };
    writeln!(
        out,
        "{} sync of `{}` {outcome} (run {}) in {:.1} s: {} requests, {} retries, {} throttled",
        match run.mode {
            inlet_store::RunMode::Full => "full",
            inlet_store::RunMode::Delta => "delta",
        },
        run.instance,
        run.id,
        report.elapsed.as_secs_f64(),
        run.requests,
        run.retries,
        run.throttled,
    )?;
    let assets = &run.counts.assets;
    writeln!(
        out,
        "  assets:   {} seen, {} new, {} updated, {} unchanged, {} reactivated, archived: {}",
        assets.seen,
        assets.new,
        assets.updated,
        assets.unchanged,
        assets.reactivated,
        join_counts(&assets.archived)
    )?;
    let findings = &run.counts.findings;
    writeln!(
        out,
        "  findings: {} seen, {} new, {} updated, {} unchanged, {} reopened, {} fixed",
        findings.seen,
        findings.new,
        findings.updated,
        findings.unchanged,
        findings.reopened,
        findings.fixed
    )?;
    writeln!(out, "  skipped:  {}", join_counts(&run.counts.skipped))?;
    if !run.counts.warnings.is_empty() {
        writeln!(out, "  warnings: {}", join_counts(&run.counts.warnings))?;
    }
    if let Some(held) = &run.held {
        writeln!(out, "  held:     {held}; nothing was archived or fixed")?;
        writeln!(
            out,
            "            run `inlet sync {} --confirm-removal` to apply it",
            run.instance
        )?;
    }
    if let Some(error) = &run.error {
        writeln!(out, "  error:    {error}")?;
        writeln!(
            out,
            "            nothing was archived or fixed; the next sync starts clean"
        )?;
    }
    Ok(())
}

/// What a real sync would change; with `-v` the ids of what it would archive
/// and fix (at most the store's sample limit of each).
fn print_dry_run(report: &SyncReport, verbose: bool) -> std::io::Result<()> {
    let run = &report.run;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "dry run of `{}`: nothing was written. A {} sync now would:",
        run.instance,
        run.mode.as_str()
    )?;
    let assets = &run.counts.assets;
    writeln!(
        out,
        "  assets:   add {}, update {}, reactivate {}, archive {}",
        assets.new,
        assets.updated,
        assets.reactivated,
        join_counts(&assets.archived)
    )?;
    let findings = &run.counts.findings;
    writeln!(
        out,
        "  findings: add {}, update {}, reopen {}, fix {}",
        findings.new, findings.updated, findings.reopened, findings.fixed
    )?;
    writeln!(out, "  skip:     {}", join_counts(&run.counts.skipped))?;
    if let Some(held) = &run.held {
        writeln!(out, "  and be HELD: {held}")?;
    }
    if let Some(error) = &run.error {
        writeln!(out, "  but it failed: {error}")?;
    }
    if let (true, Some(plan)) = (verbose, &report.plan) {
        for id in &plan.sample_archived {
            writeln!(out, "  would archive asset {id}")?;
        }
        for id in &plan.sample_fixed {
            writeln!(out, "  would fix finding {id}")?;
        }
    }
    Ok(())
}

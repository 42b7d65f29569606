//! `inlet stats`, `inlet runs` and `inlet quarantine`: what the syncs did.

use std::process::ExitCode;

use inlet_store::{QuarantinedRecord, RunRecord};

use crate::cli::{GlobalArgs, OutputFormat, ReportFormat};
use crate::commands::listing::open_store;
use crate::failure::{CommandResult, Failure};
use crate::output::{self, time_cell, write_listing, Columns};

pub fn stats(global: &GlobalArgs, name: &str, format: ReportFormat) -> CommandResult {
    let store = open_store(global, name)?;
    let stats = store.stats(name).map_err(Failure::failed)?;
    let value = serde_json::to_value(&stats).map_err(Failure::failed)?;
    match format {
        ReportFormat::Json => output::print_json(&value),
        ReportFormat::Table => {
            let number = |pointer: &str| {
                value
                    .pointer(pointer)
                    .cloned()
                    .unwrap_or_default()
                    .to_string()
            };
            let rows = vec![
                vec!["assets active".into(), number("/assets/active")],
                vec!["assets archived".into(), number("/assets/archived")],
                vec!["  by reason".into(), number("/assets/archived_by_reason")],
                vec!["findings active".into(), number("/findings/active")],
                vec!["findings fixed".into(), number("/findings/fixed")],
                vec![
                    "  active by severity".into(),
                    number("/findings/by_severity"),
                ],
                vec!["last sync".into(), last_sync_line(stats.last_sync.as_ref())],
            ];
            output::print_table(&["WHAT", "COUNT"], rows)
        }
    }
    .map_err(Failure::failed)?;
    Ok(ExitCode::SUCCESS)
}

fn last_sync_line(run: Option<&RunRecord>) -> String {
    match run {
        None => "never".into(),
        Some(run) => format!(
            "run {} ({}, {}) started {}",
            run.id,
            run.mode.as_str(),
            run.outcome.as_str(),
            run.started_at
        ),
    }
}

const RUN_COLUMNS: Columns<RunRecord> = Columns {
    names: &[
        "id",
        "started_at",
        "finished_at",
        "mode",
        "outcome",
        "assets_seen",
        "assets_new",
        "assets_archived",
        "findings_seen",
        "findings_new",
        "findings_fixed",
        "findings_reopened",
        "requests",
        "retries",
        "error",
        "held",
    ],
    cells: |run| {
        vec![
            run.id.to_string(),
            run.started_at.to_string(),
            time_cell(run.finished_at),
            run.mode.as_str().into(),
            run.outcome.as_str().into(),
            run.counts.assets.seen.to_string(),
            run.counts.assets.new.to_string(),
            run.counts.assets.archived.values().sum::<u64>().to_string(),
            run.counts.findings.seen.to_string(),
            run.counts.findings.new.to_string(),
            run.counts.findings.fixed.to_string(),
            run.counts.findings.reopened.to_string(),
            run.requests.to_string(),
            run.retries.to_string(),
            run.error.clone().unwrap_or_default(),
            run.held.clone().unwrap_or_default(),
        ]
    },
};

const RUN_TABLE: Columns<RunRecord> = Columns {
    names: &[
        "RUN", "STARTED", "MODE", "OUTCOME", "SECS", "ASSETS", "FINDINGS", "REQUESTS", "NOTE",
    ],
    cells: |run| {
        let seconds = run
            .finished_at
            .map(|end| format!("{:.1}", end.duration_since(run.started_at).as_secs_f64()))
            .unwrap_or_default();
        let archived: u64 = run.counts.assets.archived.values().sum();
        let assets = &run.counts.assets;
        let findings = &run.counts.findings;
        vec![
            run.id.to_string(),
            run.started_at
                .round(jiff::Unit::Second)
                .unwrap_or(run.started_at)
                .to_string(),
            run.mode.as_str().into(),
            run.outcome.as_str().into(),
            seconds,
            format!(
                "{} seen, {} new, {archived} archived",
                assets.seen, assets.new
            ),
            format!(
                "{} seen, {} new, {} fixed",
                findings.seen, findings.new, findings.fixed
            ),
            run.requests.to_string(),
            run.error
                .clone()
                .or_else(|| run.held.clone())
                .unwrap_or_default(),
        ]
    },
};

pub fn runs(global: &GlobalArgs, name: &str, format: OutputFormat) -> CommandResult {
    let store = open_store(global, name)?;
    let runs = store.runs(name).map_err(Failure::failed)?;
    write_listing(format, runs.into_iter().map(Ok), &RUN_TABLE, &RUN_COLUMNS)
        .map_err(Failure::failed)?;
    Ok(ExitCode::SUCCESS)
}

const QUARANTINE_COLUMNS: Columns<QuarantinedRecord> = Columns {
    names: &[
        "run_id",
        "stream",
        "record_id",
        "reason",
        "quarantined_at",
        "raw",
    ],
    cells: |record| {
        vec![
            record.run_id.to_string(),
            record.stream.clone(),
            record.record_id.clone().unwrap_or_default(),
            record.reason.clone(),
            record.quarantined_at.to_string(),
            record.raw.clone(),
        ]
    },
};

const QUARANTINE_TABLE: Columns<QuarantinedRecord> = Columns {
    names: &["RUN", "STREAM", "RECORD", "REASON"],
    cells: |record| {
        vec![
            record.run_id.to_string(),
            record.stream.clone(),
            record.record_id.clone().unwrap_or_else(|| "-".into()),
            record.reason.clone(),
        ]
    },
};

pub fn quarantine(global: &GlobalArgs, name: &str, format: OutputFormat) -> CommandResult {
    let store = open_store(global, name)?;
    let records = store
        .quarantined(name)
        .map(|record| record.map_err(anyhow::Error::from));
    write_listing(format, records, &QUARANTINE_TABLE, &QUARANTINE_COLUMNS)
        .map_err(Failure::failed)?;
    Ok(ExitCode::SUCCESS)
}

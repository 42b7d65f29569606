//! `inlet check NAME`: the connector's named connectivity tests.

use std::process::ExitCode;

use inlet_core::CheckStatus;

use crate::cli::{GlobalArgs, ReportFormat};
use crate::config_file;
use crate::failure::{CommandResult, Failure};
use crate::output;

pub async fn run(global: &GlobalArgs, name: &str, format: ReportFormat) -> CommandResult {
    let (_, instance) = config_file::load_instance(global, name)?;
    let outcomes = instance.connector.check().await;
    let failed = outcomes
        .iter()
        .any(|outcome| outcome.status == CheckStatus::Failed);

    match format {
        ReportFormat::Json => output::print_json(&outcomes),
        ReportFormat::Table => {
            let rows = outcomes
                .iter()
                .map(|outcome| {
                    let status = match outcome.status {
                        CheckStatus::Passed => "passed",
                        CheckStatus::Failed => "FAILED",
                        CheckStatus::Skipped => "skipped",
                    };
                    let mut detail = outcome.detail.clone();
                    if let Some(hint) = &outcome.hint {
                        detail.push_str(&format!(" (hint: {hint})"));
                    }
                    vec![outcome.name.clone(), status.to_string(), detail]
                })
                .collect();
            output::print_table(&["TEST", "RESULT", "DETAIL"], rows)
        }
    }
    .map_err(Failure::failed)?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

//! `inlet connectors`: the registered connectors.

use std::process::ExitCode;

use inlet_core::registry;
use serde_json::json;

use crate::cli::ReportFormat;
use crate::failure::{CommandResult, Failure};
use crate::output;

pub fn run(format: ReportFormat) -> CommandResult {
    let registrations = registry::registrations();
    match format {
        ReportFormat::Json => {
            let list: Vec<_> = registrations
                .iter()
                .map(|r| {
                    json!({ "kind": r.kind, "title": r.title, "version": r.version,
                            "description": r.description, "sandbox": r.sandbox.is_some() })
                })
                .collect();
            output::print_json(&list).map_err(Failure::failed)?;
        }
        ReportFormat::Table => {
            let rows = registrations
                .iter()
                .map(|r| {
                    vec![
                        r.kind.to_string(),
                        r.version.to_string(),
                        r.description.to_string(),
                    ]
                })
                .collect();
            output::print_table(&["KIND", "VERSION", "DESCRIPTION"], rows)
                .map_err(Failure::failed)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! One module per command; `run` dispatches.

mod connectors;
mod schema;
mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::failure::{CommandResult, Failure};

pub async fn run(cli: Cli) -> CommandResult {
    let global = &cli.global;
    match cli.command {
        Command::Connectors { format } => connectors::run(format),
        Command::Schema { kind } => schema::run(&kind),
        Command::Validate => validate::run(global),
        Command::Check { .. } => not_yet("check"),
        Command::Sync(_) => not_yet("sync"),
        Command::Run { .. } => not_yet("run"),
        Command::Assets(_) => not_yet("assets"),
        Command::Findings(_) => not_yet("findings"),
        Command::Stats { .. } => not_yet("stats"),
        Command::Runs { .. } => not_yet("runs"),
        Command::Quarantine { .. } => not_yet("quarantine"),
        Command::Sandbox { .. } => not_yet("sandbox"),
        Command::Demo => not_yet("demo"),
    }
}

/// A command of the contract that this build does not provide yet.
fn not_yet(command: &str) -> CommandResult {
    Err(Failure::usage(anyhow::anyhow!(
        "`inlet {command}` is not yet available in this version"
    )))
}

#[allow(dead_code)]
fn success() -> CommandResult {
    Ok(ExitCode::SUCCESS)
}

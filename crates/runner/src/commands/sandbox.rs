//! `inlet sandbox KIND`: serves a connector's fake upstream on loopback.

use std::io::Write;
use std::process::ExitCode;

use inlet_core::{registry, SandboxError};

use crate::failure::{CommandResult, Failure};
use crate::signals::shutdown_signal;

/// `inlet sandbox` without a kind, or with `--help` in its place.
pub fn print_help() -> CommandResult {
    use clap::CommandFactory;
    let mut command = crate::cli::Cli::command();
    let sandbox = command
        .find_subcommand_mut("sandbox")
        .map(|sandbox| sandbox.render_long_help());
    println!(
        "{}",
        sandbox.map(|help| help.to_string()).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn run(kind: &str, args: Vec<String>) -> CommandResult {
    let registration = registry::lookup(kind).map_err(Failure::usage)?;
    let start = registration
        .sandbox
        .ok_or_else(|| Failure::usage(anyhow::anyhow!("connector `{kind}` has no sandbox")))?;

    let handle = match start(args).await {
        Ok(handle) => handle,
        Err(SandboxError::Help(text)) => {
            println!("{text}");
            return Ok(ExitCode::SUCCESS);
        }
        Err(SandboxError::Usage(text)) => {
            eprintln!("{text}");
            return Ok(ExitCode::from(2));
        }
        Err(error) => return Err(Failure::failed(error)),
    };

    // The first stdout line is the address, for scripts and tests to read.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", handle.base_url()).map_err(Failure::failed)?;
    stdout.flush().map_err(Failure::failed)?;
    drop(stdout);
    eprintln!(
        "Point an instance at it with this [instance.config] table:\n{}",
        config_table(&handle.instance_config())
    );
    eprintln!(
        "Stop with Ctrl-C. Advance the simulated day with: curl -X POST {}/_sandbox/advance-day",
        handle.base_url()
    );

    let signal = shutdown_signal().await;
    tracing::info!(signal, "sandbox stopping");
    handle.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// A connector config as TOML lines, for pasting into `inlet.toml`.
fn config_table(config: &serde_json::Value) -> String {
    let Some(object) = config.as_object() else {
        return String::new();
    };
    object
        .iter()
        .map(|(key, value)| format!("{key} = {value}\n"))
        .collect()
}

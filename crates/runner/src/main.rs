//! `inlet`: the command-line runner. It loads and validates the config, opens
//! the store, and runs one command; see `cli.rs` for every command.
//!
//! - `commands/`: one file per command.
//! - `config_file.rs`: reading `inlet.toml` and finding the data folder.
//! - `output.rs`: table, JSON, NDJSON and CSV writers.
//! - `logging.rs`: stderr logging in text or JSON.
//! - `progress.rs`: a sync's progress on stderr (bars or log lines).
//! - `daemon.rs` and `schedule.rs`: `inlet run` and the slots it syncs at.

mod cli;
mod commands;
mod config_file;
mod daemon;
mod failure;
mod logging;
mod output;
mod progress;
mod schedule;
mod signals;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;

/// Measured on a 1M-row full sync: about 15% less CPU than glibc's malloc,
/// which a sync's many small, short-lived values keep busy (BENCHMARKS.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The connector crates linked into this binary (the one list lives in
/// `inlet-connectors`), referenced here so the linker keeps their
/// registrations.
pub fn linked_connectors() -> Vec<&'static str> {
    inlet_connectors::linked()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    linked_connectors();
    logging::init(&cli.global);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}

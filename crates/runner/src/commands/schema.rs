//! `inlet schema KIND`: the instance config schema of a connector.

use std::process::ExitCode;

use inlet_core::{config, registry};

use crate::failure::{CommandResult, Failure};
use crate::output;

pub fn run(kind: &str) -> CommandResult {
    let registration = registry::lookup(kind).map_err(Failure::usage)?;
    output::print_json(&config::instance_schema(registration)).map_err(Failure::failed)?;
    Ok(ExitCode::SUCCESS)
}

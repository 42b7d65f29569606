//! `inlet schema KIND`: the instance config schema of a connector.

use std::process::ExitCode;

use inlet_core::{config, registry};

use crate::failure::{CommandResult, Failure};
use crate::output;

pub fn run(kind: &str) -> CommandResult {
    let registration = registry::find(kind).ok_or_else(|| {
        let known: Vec<_> = registry::registrations().iter().map(|r| r.kind).collect();
        Failure::usage(anyhow::anyhow!(
            "unknown connector kind `{kind}`; known kinds: {}",
            known.join(", ")
        ))
    })?;
    output::print_json(&config::instance_schema(registration)).map_err(Failure::failed)?;
    Ok(ExitCode::SUCCESS)
}

//! `inlet validate`: checks the config file without touching the store.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::GlobalArgs;
use crate::config_file;
use crate::failure::{CommandResult, Failure};

pub fn run(global: &GlobalArgs) -> CommandResult {
    let config = config_file::load(&global.config)?;
    let names: Vec<String> = config
        .instances
        .iter()
        .map(|i| format!("{} ({})", i.settings.name, i.settings.connector))
        .collect();
    let count = names.len();
    let noun = if count == 1 { "instance" } else { "instances" };
    let list = if names.is_empty() {
        String::new()
    } else {
        format!(": {}", names.join(", "))
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "{} is valid: {count} {noun}{list}",
        global.config.display()
    )
    .map_err(Failure::failed)?;
    Ok(ExitCode::SUCCESS)
}

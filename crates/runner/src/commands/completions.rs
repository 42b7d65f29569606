//! `inlet completions SHELL`: the shell completion script, on stdout.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionShell};
use crate::failure::{CommandResult, Failure};

pub fn run(shell: CompletionShell) -> CommandResult {
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    // clap_complete panics when its writer fails, so the script is built in
    // memory and a closed stdout stays an ordinary (quiet) error.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "inlet", &mut script);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&script)
        .and_then(|()| stdout.flush())
        .map_err(Failure::failed)?;
    Ok(ExitCode::SUCCESS)
}

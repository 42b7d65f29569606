//! One module per command; `run` dispatches.

mod check;
mod completions;
mod connectors;
mod demo;
mod history;
mod listing;
mod sandbox;
mod schema;
mod sync;
mod validate;

use crate::cli::{Cli, Command};
use crate::failure::CommandResult;

pub async fn run(cli: Cli) -> CommandResult {
    let global = &cli.global;
    match cli.command {
        Command::Connectors { format } => connectors::run(format),
        Command::Schema { kind } => schema::run(&kind),
        Command::Validate => validate::run(global),
        Command::Check { name, format } => check::run(global, &name, format).await,
        Command::Sync(args) => sync::run(global, &args).await,
        Command::Run { once } => crate::daemon::run(global, once).await,
        Command::Assets(args) => listing::assets(global, &args),
        Command::Findings(args) => listing::findings(global, &args),
        Command::Stats { name, format } => history::stats(global, &name, format),
        Command::Runs { name, format } => history::runs(global, &name, format),
        Command::Quarantine { name, format } => history::quarantine(global, &name, format),
        Command::Sandbox {
            kind: Some(kind),
            args,
        } if kind != "--help" && kind != "-h" => sandbox::run(&kind, args).await,
        Command::Sandbox { .. } => sandbox::print_help(),
        Command::Demo => demo::run(global).await,
        Command::Completions { shell } => completions::run(shell),
    }
}

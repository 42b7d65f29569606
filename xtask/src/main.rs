//! Developer tasks, run as `cargo xtask <task>`.
//!
//! - `schemas`: writes the JSON Schemas under `schemas/` from the Rust types.
//! - `schemas --check`: fails when `schemas/` differs from what would be written.
//! - `bench`: measures syncs end to end on the release build (BENCHMARKS.md).
//! - `new-connector NAME`: writes and registers a new connector crate.

mod bench;
mod new_connector;
mod schemas;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;

const USAGE: &str = "usage: cargo xtask schemas [--check]
       cargo xtask bench [--devices N] [--vulns-per-device M] [--page-size P]
       cargo xtask new-connector NAME

tasks:
  schemas           write schemas/ from the Rust types (connector instance configs, asset, finding)
  schemas --check   fail when schemas/ is out of date
  bench             build release, sync a sandbox tenant, print timings and peak memory
                    (default 20000 devices x 50 vulnerabilities, page size 200000)
  new-connector     write connectors/NAME (NAME in kebab-case, e.g. acme-hosts), register it,
                    regenerate schemas/; refuses (exit 2) a bad or taken name, writing nothing";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            match error.downcast_ref::<new_connector::Refusal>() {
                Some(_) => ExitCode::from(2),
                None => ExitCode::FAILURE,
            }
        }
    }
}

fn run(args: Vec<String>) -> anyhow::Result<()> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["schemas"] => schemas::write(&workspace_root()),
        ["schemas", "--check"] => schemas::check(&workspace_root()),
        ["bench", options @ ..] => {
            bench::run(&workspace_root(), bench::BenchOptions::parse(options)?)
        }
        // Run by `bench` from the release build: fetch and parse only.
        ["bench-floor", config] => bench::floor(config),
        ["new-connector", name] => new_connector::run(&workspace_root(), name),
        ["new-connector", ..] => Err(new_connector::Refusal::usage().into()),
        ["help" | "--help" | "-h"] | [] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown task `{}`\n\n{USAGE}", args.join(" ")),
    }
}

/// The workspace root: xtask's manifest sits one folder below it. Read
/// when the task runs (`cargo run` sets `CARGO_MANIFEST_DIR`), not only when
/// it was compiled: cargo reuses a build in a workspace that was moved or
/// copied elsewhere, and that build would otherwise write into the old
/// place.
fn workspace_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

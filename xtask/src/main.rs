//! Developer tasks, run as `cargo xtask <task>`.
//!
//! - `schemas`: writes the JSON Schemas under `schemas/` from the Rust types.
//! - `schemas --check`: fails when `schemas/` differs from what would be written.
//! - `bench`: measures syncs end to end on the release build (BENCHMARKS.md).

mod bench;
mod schemas;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;

const USAGE: &str = "usage: cargo xtask schemas [--check]
       cargo xtask bench [--devices N] [--vulns-per-device M] [--page-size P]

tasks:
  schemas           write schemas/ from the Rust types (connector instance configs, asset, finding)
  schemas --check   fail when schemas/ is out of date
  bench             build release, sync a sandbox tenant, print timings and peak memory
                    (default 20000 devices x 50 vulnerabilities, page size 200000)";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
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
        ["help" | "--help" | "-h"] | [] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown task `{}`\n\n{USAGE}", args.join(" ")),
    }
}

/// The workspace root: xtask's manifest sits one folder below it.
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

//! Logging to stderr: text for people, JSON for log shippers. `RUST_LOG`
//! overrides the level chosen with `-v`/`-q`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::{GlobalArgs, LogFormat};

pub fn init(global: &GlobalArgs) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    // A directive's target matches by prefix: `inlet` covers every crate of
    // ours (inlet_core, inlet_engine, inlet_store, inlet_microsoft_tvm, ...).
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,inlet={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::progress::LogWriter)
        .with_ansi(std::io::stderr().is_terminal());
    match global.log_format {
        LogFormat::Text => builder.with_target(false).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

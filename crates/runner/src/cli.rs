//! The command line: every command, option and help text of `inlet`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Exit codes: 0 success, 1 the operation failed (a sync or a check failed), 2 bad usage or bad config.
Logs go to stderr, data to stdout.

Examples:
  inlet validate                         check inlet.toml and print every problem
  inlet check contoso                    test the connection of instance `contoso`
  inlet sync contoso                     sync `contoso` now
  inlet findings contoso --severity critical high --format csv > findings.csv
  inlet sandbox microsoft-tvm --devices 500   serve a fake Defender tenant on loopback";

/// Inlet pulls assets and vulnerability findings from security tools, normalizes them into one
/// model and keeps that inventory true from sync to sync.
#[derive(Debug, Parser)]
#[command(name = "inlet", version, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file to read.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "INLET_CONFIG",
        default_value = "inlet.toml"
    )]
    pub config: PathBuf,

    /// Database folder; overrides `data_dir` of the config file.
    #[arg(long, global = true, env = "INLET_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// More log detail: -v for each request, -vv for each record.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Output format of listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for a terminal.
    Table,
    /// One JSON array.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Comma-separated values with a header row.
    Csv,
}

/// Output format of reports (check, stats, sync summaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the registered connectors: kind, version, description.
    Connectors {
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        format: ReportFormat,
    },

    /// Print the JSON Schema of an instance of a connector (the form a UI shows).
    #[command(after_help = "Example:\n  inlet schema microsoft-tvm > microsoft-tvm.schema.json")]
    Schema {
        /// Connector kind, as listed by `inlet connectors`.
        kind: String,
    },

    /// Validate the config file: every problem with its JSON pointer; exit 2 when there is one.
    #[command(after_help = "Example:\n  inlet validate --config /etc/inlet/inlet.toml")]
    Validate,

    /// Run the connectivity tests of an instance; exit 1 when one fails.
    #[command(after_help = "Example:\n  inlet check contoso --format json")]
    Check {
        /// Instance name from the config file.
        name: String,
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        format: ReportFormat,
    },

    /// Sync an instance now: fetch everything, store it, reconcile.
    #[command(
        after_help = "Examples:\n  inlet sync contoso\n  inlet sync contoso --full\n  inlet sync contoso --format json"
    )]
    Sync(SyncArgs),

    /// Run every instance on its schedule until stopped (SIGINT/SIGTERM).
    Run {
        /// Run what is due now, then exit (for cron).
        #[arg(long)]
        once: bool,
    },

    /// List the stored assets of an instance.
    #[command(
        after_help = "Examples:\n  inlet assets contoso\n  inlet assets contoso --status archived --format csv"
    )]
    Assets(AssetsArgs),

    /// List the stored findings of an instance.
    #[command(
        after_help = "Examples:\n  inlet findings contoso --severity critical high\n  inlet findings contoso --status all --format ndjson | jq .id"
    )]
    Findings(FindingsArgs),

    /// Counts to compare with the upstream console.
    Stats {
        name: String,
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        format: ReportFormat,
    },

    /// Sync history of an instance: start, end, mode, outcome, counts, error.
    Runs {
        name: String,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },

    /// Records a mapper rejected, with the reason.
    Quarantine {
        name: String,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },

    /// Serve a connector's sandbox (a fake upstream) on loopback until stopped.
    #[command(
        after_help = "Arguments after KIND go to the sandbox; see `inlet sandbox KIND --help`.\n\nExample:\n  inlet sandbox microsoft-tvm --devices 500 --vulns-per-device 30",
        disable_help_flag = false
    )]
    Sandbox {
        /// Connector kind.
        kind: String,
        /// The sandbox's own options.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },

    /// Show Inlet working end to end on a synthetic Defender tenant.
    Demo,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Instance name from the config file.
    pub name: String,
    /// Force a full sync.
    #[arg(long, conflicts_with = "delta")]
    pub full: bool,
    /// Force a delta sync (fails when the connector cannot do one now).
    #[arg(long)]
    pub delta: bool,
    /// Fetch and report what would change, writing nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply a sync that the mass-removal brake would hold.
    #[arg(long)]
    pub confirm_removal: bool,
    /// Summary format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AssetStatusArg {
    Active,
    Archived,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FindingStatusArg {
    Active,
    Fixed,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    Critical,
    High,
    Medium,
    Low,
    None,
}

#[derive(Debug, Args)]
pub struct AssetsArgs {
    pub name: String,
    #[arg(long, value_enum, default_value_t = AssetStatusArg::Active)]
    pub status: AssetStatusArg,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct FindingsArgs {
    pub name: String,
    #[arg(long, value_enum, default_value_t = FindingStatusArg::Active)]
    pub status: FindingStatusArg,
    /// Only these severities.
    #[arg(long, value_enum, num_args = 1..)]
    pub severity: Vec<SeverityArg>,
    /// Also show findings of archived assets.
    #[arg(long)]
    pub include_archived: bool,
    /// Only findings last seen at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
    #[arg(long)]
    pub since: Option<jiff::Timestamp>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

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
    /// Lines for people; progress bars during a sync on a terminal.
    Text,
    /// One JSON object per line, for log shippers; never progress bars.
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
    /// Aligned text for a terminal.
    Table,
    /// Pretty-printed JSON.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the registered connectors: kind, version, description.
    #[command(
        after_help = "Examples:\n  inlet connectors\n  inlet connectors --format json | jq -r '.[].kind'"
    )]
    Connectors {
        /// `table` for people, `json` for scripts (adds title and whether a sandbox exists).
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
        /// `table` for people, `json` for scripts.
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        format: ReportFormat,
    },

    /// Sync an instance now: fetch everything, store it, reconcile.
    #[command(
        after_help = "Examples:\n  inlet sync contoso\n  inlet sync contoso --full\n  inlet sync contoso --format json"
    )]
    Sync(SyncArgs),

    /// Run every instance on its schedule until stopped (SIGINT/SIGTERM).
    ///
    /// Each instance with a `schedule` syncs at its `at` time on its `days`, in its `timezone`;
    /// an instance without one syncs only when asked (`inlet sync`). A slot missed while the
    /// daemon was down runs once at start, however many were missed. Instances run
    /// independently, one sync of an instance at a time. The data folder is opened only during a
    /// sync, so `inlet sync` and the listings work while the daemon waits. On SIGINT or SIGTERM a
    /// running sync stops as failed (nothing archived or fixed) and the daemon exits 0.
    #[command(
        after_help = "Examples:\n  inlet run                       run as a service (e.g. under systemd)\n  inlet run --once                from cron: run the syncs that are due, then exit\n  inlet run --log-format json     logs for a log shipper"
    )]
    Run {
        /// Run the syncs that are due now (a slot since the last one handled), then exit; exit 1
        /// when one of them fails or the data folder is in use. For cron.
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

    /// Counts to compare with the upstream console: assets by status and archive reason,
    /// findings by status and severity (of active assets only), and the last sync.
    #[command(
        after_help = "Examples:\n  inlet stats contoso\n  inlet stats contoso --format json | jq .findings.by_severity"
    )]
    Stats {
        /// Instance name from the config file.
        name: String,
        /// `table` for people, `json` for scripts.
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        format: ReportFormat,
    },

    /// Sync history of an instance, newest first: start, end, mode, outcome, counts, error.
    #[command(
        after_help = "Examples:\n  inlet runs contoso\n  inlet runs contoso --format ndjson | head -1 | jq .counts\n  inlet runs contoso --format csv > runs.csv"
    )]
    Runs {
        /// Instance name from the config file.
        name: String,
        /// Listing format; `json` and `ndjson` hold every count, `csv` a fixed set of columns.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },

    /// Records a mapper rejected, with the reason, oldest run first.
    #[command(
        after_help = "Examples:\n  inlet quarantine contoso\n  inlet quarantine contoso --format ndjson | jq -r .raw"
    )]
    Quarantine {
        /// Instance name from the config file.
        name: String,
        /// Listing format; all but `table` include the raw upstream record.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },

    /// Serve a connector's sandbox (a fake upstream) on loopback until stopped.
    ///
    /// `--help` after KIND shows the sandbox's own options (the help flag is
    /// passed on to the sandbox, not taken by `inlet`).
    #[command(
        after_help = "Arguments after KIND go to the sandbox; `inlet sandbox KIND --help` lists them.\n\nExample:\n  inlet sandbox microsoft-tvm --devices 500 --vulns-per-device 30",
        disable_help_flag = true
    )]
    Sandbox {
        /// Connector kind (`inlet connectors` lists them); `--help` alone shows this help.
        #[arg(allow_hyphen_values = true)]
        kind: Option<String>,
        /// The sandbox's own options.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },

    /// Show Inlet working end to end on a synthetic Defender tenant.
    ///
    /// Starts the microsoft-tvm sandbox in this process, writes a config and a store into a
    /// fresh folder (`--data-dir`, default `inlet-demo`; a folder a previous demo made is
    /// cleared), runs the connectivity check and a first sync, shows what was stored, then
    /// advances the simulated tenant a day and syncs again. Needs no account and no network.
    #[command(after_help = "Examples:\n  inlet demo\n  inlet demo --data-dir /tmp/inlet-demo")]
    Demo,

    /// Print a shell completion script on stdout.
    #[command(
        after_help = "Examples:\n  inlet completions bash > ~/.local/share/bash-completion/completions/inlet\n  inlet completions zsh > \"${fpath[1]}/_inlet\"\n  inlet completions fish > ~/.config/fish/completions/inlet.fish"
    )]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
}

/// Shells `inlet completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
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
    /// Summary format: `table` for people, `json` (the whole run record) for scripts.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AssetStatusArg {
    /// Assets the last syncs returned.
    Active,
    /// Assets archived (missing from a sync, an excluded status, or past retention).
    Archived,
    /// Both.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FindingStatusArg {
    /// Findings the upstream still reports.
    Active,
    /// Findings the upstream stopped reporting.
    Fixed,
    /// Both.
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
    /// Instance name from the config file.
    pub name: String,
    /// Which assets: the current inventory, the archived ones, or both.
    #[arg(long, value_enum, default_value_t = AssetStatusArg::Active)]
    pub status: AssetStatusArg,
    /// Listing format; `json`, `ndjson` and `csv` hold every field.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct FindingsArgs {
    /// Instance name from the config file.
    pub name: String,
    /// Which findings: open ones, fixed ones, or both.
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
    /// Listing format; `json`, `ndjson` and `csv` hold every field.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_examples_and_every_option_says_what_it_does() {
        let cli = Cli::command();
        for command in cli.get_subcommands() {
            let name = command.get_name();
            let after = command
                .get_after_help()
                .map(|text| text.to_string())
                .unwrap_or_default();
            assert!(
                after.contains("Example"),
                "`inlet {name} --help` has no example"
            );
            assert!(
                command.get_about().is_some(),
                "`inlet {name}` has no description"
            );
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if ["help", "version"].contains(&id) {
                    continue;
                }
                assert!(
                    arg.get_help().is_some() || arg.get_long_help().is_some(),
                    "`inlet {name}`: option `{id}` has no help"
                );
            }
        }
    }
}

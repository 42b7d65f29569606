//! `cargo xtask bench`: how fast and how lean a sync is, measured end to end
//! on the release build against `inlet sandbox microsoft-tvm` in its own
//! process. BENCHMARKS.md explains the steps and records a run.
//!
//! One run measures, on a synthetic tenant: the floor (the same pages fetched
//! and split into records by the connector, nothing mapped or stored; see
//! `floor`), a full sync into a fresh store, a second full sync with no
//! upstream change, a delta sync after the sandbox advanced a day, and an
//! NDJSON export of every finding; then a full sync of a tenant twice the
//! size, to show memory does not grow with it. It prints a table and writes
//! `target/bench/report.json`.

mod floor;
mod measure;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use self::measure::{Measured, Output};

pub use self::floor::run as floor;

const USAGE: &str =
    "usage: cargo xtask bench [--devices N] [--vulns-per-device M] [--page-size P] \
     [--daily-change-percent PERCENT]";

/// Sandbox credentials; the sandbox's own defaults, nothing secret.
const TENANT_ID: &str = "00000000-0000-0000-0000-00000000b3c4";
const CLIENT_ID: &str = "11111111-1111-1111-1111-11111111b3c4";
const CLIENT_SECRET: &str = "bench-secret";

/// The tenant and paging a run uses.
#[derive(Debug, Clone, Copy)]
pub struct BenchOptions {
    pub devices: u32,
    pub vulns_per_device: u32,
    pub page_size: u32,
    /// Rows the sandbox changes per simulated day, in percent (its
    /// `--daily-change-percent`): what the delta sync has to fetch.
    pub daily_change_percent: f64,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            devices: 20_000,
            vulns_per_device: 50,
            page_size: 200_000,
            // The delta target of issue #6 is about 1% changed rows.
            daily_change_percent: 1.0,
        }
    }
}

impl BenchOptions {
    pub fn parse(args: &[&str]) -> anyhow::Result<Self> {
        let mut options = Self::default();
        let mut args = args.iter();
        while let Some(&flag) = args.next() {
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
            let number = || {
                value
                    .parse::<u32>()
                    .with_context(|| format!("{flag} expects a number, got `{value}`"))
            };
            match flag {
                "--devices" => options.devices = number()?,
                "--vulns-per-device" => options.vulns_per_device = number()?,
                "--page-size" => options.page_size = number()?,
                "--daily-change-percent" => options.daily_change_percent = percent(value)?,
                _ => bail!("unknown option `{flag}`\n{USAGE}"),
            }
        }
        Ok(options)
    }
}

/// A `--daily-change-percent` value: a finite number from 0 to 100, checked
/// here so a bad one fails before the release build, not in the sandbox.
fn percent(value: &str) -> anyhow::Result<f64> {
    match value.parse::<f64>() {
        Ok(percent) if percent.is_finite() && (0.0..=100.0).contains(&percent) => Ok(percent),
        _ => bail!("--daily-change-percent expects a percentage from 0 to 100, got `{value}`"),
    }
}

/// One measured step, as a table row.
#[derive(Debug)]
struct Step {
    name: String,
    wall_secs: f64,
    n_rows: u64,
    peak_rss_bytes: u64,
    requests: Option<u64>,
    throttled: Option<u64>,
}

impl Step {
    fn rows_per_sec(&self) -> f64 {
        self.n_rows as f64 / self.wall_secs.max(f64::EPSILON)
    }

    fn to_json(&self) -> Value {
        json!({
            "step": self.name,
            "wall_secs": self.wall_secs,
            "rows": self.n_rows,
            "rows_per_sec": self.rows_per_sec(),
            "peak_rss_bytes": self.peak_rss_bytes,
            "requests": self.requests,
            "throttled": self.throttled,
        })
    }
}

/// Builds the release binaries, runs every step, prints and writes the report.
pub fn run(root: &Path, options: BenchOptions) -> anyhow::Result<()> {
    build_release(root)?;
    let bins = Binaries {
        inlet: root.join("target/release/inlet"),
        xtask: root.join("target/release/xtask"),
    };
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;

    let mut steps = Vec::new();
    {
        let tenant = Tenant::start(&bins, &out_dir, options)?;
        steps.push(tenant.floor()?);
        steps.push(tenant.sync("full sync (fresh store)", &["--full"])?);
        steps.push(tenant.sync("full sync (no change)", &["--full"])?);
        tenant.advance_day()?;
        steps.push(tenant.sync("delta sync (one day later)", &["--delta"])?);
        steps.push(tenant.export()?);
    }
    let double = BenchOptions {
        devices: options.devices * 2,
        ..options
    };
    let tenant = Tenant::start(&bins, &out_dir, double)?;
    steps.push(tenant.sync("full sync, 2x tenant (fresh store)", &["--full"])?);
    drop(tenant);

    print_table(&steps, options);
    let report = json!({
        "devices": options.devices,
        "vulns_per_device": options.vulns_per_device,
        "page_size": options.page_size,
        "daily_change_percent": options.daily_change_percent,
        "cpus": std::thread::available_parallelism().map(usize::from).unwrap_or(1),
        "steps": steps.iter().map(Step::to_json).collect::<Vec<_>>(),
    });
    let path = out_dir.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")?;
    println!("\nwrote {}", path.display());
    Ok(())
}

fn build_release(root: &Path) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("building the release binaries (inlet, xtask)...");
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--release", "-p", "inlet", "-p", "xtask"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    Ok(())
}

struct Binaries {
    inlet: PathBuf,
    xtask: PathBuf,
}

/// A sandbox serving one synthetic tenant, and a folder whose `inlet.toml`
/// points at it. The sandbox stops when this is dropped.
struct Tenant<'a> {
    bins: &'a Binaries,
    sandbox: Child,
    base_url: String,
    dir: PathBuf,
    options: BenchOptions,
}

impl Drop for Tenant<'_> {
    fn drop(&mut self) {
        let _ = self.sandbox.kill();
        let _ = self.sandbox.wait();
    }
}

impl<'a> Tenant<'a> {
    fn start(bins: &'a Binaries, out_dir: &Path, options: BenchOptions) -> anyhow::Result<Self> {
        let mut sandbox = Command::new(&bins.inlet)
            .args(["sandbox", "microsoft-tvm", "--listen", "127.0.0.1:0"])
            .args(["--tenant-id", TENANT_ID, "--client-id", CLIENT_ID])
            .args(["--client-secret", CLIENT_SECRET])
            .args(["--devices", &options.devices.to_string()])
            .args(["--vulns-per-device", &options.vulns_per_device.to_string()])
            .args([
                "--daily-change-percent",
                &options.daily_change_percent.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the sandbox")?;
        let mut line = String::new();
        let stdout = sandbox.stdout.take().context("sandbox stdout")?;
        BufReader::new(stdout).read_line(&mut line)?;
        let base_url = match line.trim().strip_prefix("listening on ") {
            Some(url) => url.to_owned(),
            None => {
                let _ = sandbox.kill();
                bail!("unexpected first line from the sandbox: {line:?}");
            }
        };

        let dir = out_dir.join(format!(
            "tenant-{}x{}",
            options.devices, options.vulns_per_device
        ));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let config = format!(
            "data_dir = \"data\"\n\n[[instance]]\nname = \"bench\"\nconnector = \"microsoft-tvm\"\n\n[instance.config]\n{}",
            connector_config(&base_url, options)
                .as_object()
                .into_iter()
                .flatten()
                .map(|(key, value)| format!("{key} = {value}\n"))
                .collect::<String>()
        );
        std::fs::write(dir.join("inlet.toml"), config)?;
        Ok(Self {
            bins,
            sandbox,
            base_url,
            dir,
            options,
        })
    }

    fn inlet(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bins.inlet);
        command
            .current_dir(&self.dir)
            .env_remove("RUST_LOG")
            .env_remove("INLET_TEST_STOP_AT")
            .args(args);
        command
    }

    /// (a) The same pages fetched and split, nothing mapped or stored.
    fn floor(&self) -> anyhow::Result<Step> {
        let config = connector_config(&self.base_url, self.options).to_string();
        let mut command = Command::new(&self.bins.xtask);
        command.args(["bench-floor", &config]);
        let measured = measure::run(command, Output::Keep)?;
        let line: Value = serde_json::from_str(measured.stdout.trim())
            .context("reading the floor's JSON line")?;
        Ok(Step {
            name: "floor: fetch + parse only".to_owned(),
            wall_secs: measured.wall_secs,
            n_rows: line["n_rows"].as_u64().unwrap_or_default(),
            peak_rss_bytes: measured.peak_rss_bytes,
            requests: line["requests"].as_u64(),
            throttled: line["throttled"].as_u64(),
        })
    }

    /// (b), (c), (d): `inlet sync bench ARGS --format json`.
    fn sync(&self, name: &str, args: &[&str]) -> anyhow::Result<Step> {
        let mut full_args = vec!["sync", "bench", "--format", "json"];
        full_args.extend_from_slice(args);
        eprintln!("{name}...");
        let measured = measure::run(self.inlet(&full_args), Output::Keep)?;
        let summary: Value = serde_json::from_str(&measured.stdout)
            .with_context(|| format!("reading the sync's JSON: {}", measured.stdout))?;
        let run = &summary["run"];
        if run["outcome"] != "succeeded" {
            bail!("{name} did not succeed: {run}");
        }
        Ok(Step {
            name: name.to_owned(),
            wall_secs: measured.wall_secs,
            n_rows: rows_handed_over(&run["counts"]),
            peak_rss_bytes: peak(&measured, &summary),
            requests: run["requests"].as_u64(),
            throttled: run["throttled"].as_u64(),
        })
    }

    /// (e) Every finding as NDJSON, counted and dropped.
    fn export(&self) -> anyhow::Result<Step> {
        let args = [
            "findings",
            "bench",
            "--status",
            "all",
            "--include-archived",
            "--format",
            "ndjson",
        ];
        eprintln!("export...");
        let measured = measure::run(self.inlet(&args), Output::CountLines)?;
        Ok(Step {
            name: "export findings (NDJSON)".to_owned(),
            wall_secs: measured.wall_secs,
            n_rows: measured.n_lines,
            peak_rss_bytes: measured.peak_rss_bytes,
            requests: None,
            throttled: None,
        })
    }

    /// `POST /_sandbox/advance-day`.
    fn advance_day(&self) -> anyhow::Result<()> {
        let address = self.base_url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address)?;
        write!(
            stream,
            "POST /_sandbox/advance-day HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        if !response.starts_with("HTTP/1.1 200") {
            bail!("advance-day failed: {response}");
        }
        Ok(())
    }
}

/// The instance's `[instance.config]`, pointing at the sandbox.
fn connector_config(base_url: &str, options: BenchOptions) -> Value {
    json!({
        "tenant_id": TENANT_ID,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "api_url": base_url,
        "login_url": base_url,
        "page_size": options.page_size,
    })
}

/// Devices and vulnerability rows the connector handed over: stored ones
/// plus those deliberately skipped (duplicates are already among the seen).
fn rows_handed_over(counts: &Value) -> u64 {
    let seen = |stream: &str| counts[stream]["seen"].as_u64().unwrap_or_default();
    let skipped: u64 = counts["skipped"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(reason, _)| reason.as_str() != "duplicate")
        .filter_map(|(_, count)| count.as_u64())
        .sum();
    seen("assets") + seen("findings") + skipped
}

/// The larger of the polled peak and the one the process reported itself.
fn peak(measured: &Measured, summary: &Value) -> u64 {
    let reported = summary["peak_rss_bytes"].as_u64().unwrap_or_default();
    measured.peak_rss_bytes.max(reported)
}

fn print_table(steps: &[Step], options: BenchOptions) {
    let rows = u64::from(options.devices) * u64::from(options.vulns_per_device);
    println!(
        "\ntenant: {} devices x {} vulnerabilities (~{rows} rows), {}% of rows changed per \
         simulated day, page size {}\n",
        options.devices, options.vulns_per_device, options.daily_change_percent, options.page_size
    );
    println!(
        "| {:<36} | {:>8} | {:>9} | {:>9} | {:>8} | {:>8} | {:>4} |",
        "step", "wall s", "rows", "rows/s", "peak MiB", "requests", "429s"
    );
    println!(
        "|{:-<38}|{:->10}|{:->11}|{:->11}|{:->10}|{:->10}|{:->6}|",
        "", "", "", "", "", "", ""
    );
    let or_dash = |value: Option<u64>| value.map_or("-".to_owned(), |n| n.to_string());
    for step in steps {
        println!(
            "| {:<36} | {:>8.1} | {:>9} | {:>9.0} | {:>8.1} | {:>8} | {:>4} |",
            step.name,
            step.wall_secs,
            step.n_rows,
            step.rows_per_sec(),
            step.peak_rss_bytes as f64 / (1024.0 * 1024.0),
            or_dash(step.requests),
            or_dash(step.throttled),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daily_change_percent_defaults_to_one_and_is_read() {
        let defaults = BenchOptions::parse(&[]).expect("defaults");
        assert_eq!(defaults.daily_change_percent, 1.0);
        let options = BenchOptions::parse(&["--daily-change-percent", "2.5", "--devices", "300"])
            .expect("valid options");
        assert_eq!(options.daily_change_percent, 2.5);
        assert_eq!(options.devices, 300);
    }

    #[test]
    fn a_daily_change_percent_outside_0_to_100_is_refused() {
        for value in ["150", "-1", "nan", "inf", "a lot"] {
            let error = BenchOptions::parse(&["--daily-change-percent", value]).expect_err(value);
            let message = error.to_string();
            assert!(
                message.contains("--daily-change-percent") && message.contains(value),
                "{value}: {message}"
            );
        }
    }
}

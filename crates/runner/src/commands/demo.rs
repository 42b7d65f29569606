//! `inlet demo`: the whole product on a synthetic Defender tenant, in under a
//! minute and without an account. It starts the microsoft-tvm sandbox in this
//! process, writes a config for it into a fresh folder, and walks through
//! check, a full sync, the stored inventory, a simulated day and a second sync.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use inlet_core::config::{parse_config, Instance};
use inlet_core::{registry, AssetStatus, CheckStatus, FindingStatus, SandboxHandle};
use inlet_store::{AssetFilter, FindingFilter, RunOutcome, Store};

use crate::cli::GlobalArgs;
use crate::failure::{CommandResult, Failure};
use crate::output::join_counts;
use inlet_engine::{run_sync, ModeRequest, SyncOptions, SyncReport};

/// Where the demo writes when `--data-dir` is not given.
const DEFAULT_DEMO_DIR: &str = "inlet-demo";
/// A file that marks a folder as the demo's own, so re-running may clear it.
const MARKER: &str = ".inlet-demo";
/// The synthetic tenant: a few hundred devices.
const SANDBOX_ARGS: [&str; 6] = [
    "--devices",
    "300",
    "--vulns-per-device",
    "25",
    "--seed",
    "2026",
];

pub async fn run(global: &GlobalArgs) -> CommandResult {
    let folder = global
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DEMO_DIR));
    prepare_folder(&folder).map_err(Failure::usage)?;

    let kind = inlet_microsoft_tvm::KIND;
    let start = registry::find(kind)
        .and_then(|registration| registration.sandbox)
        .context("the microsoft-tvm connector and its sandbox are not linked")
        .map_err(Failure::failed)?;
    let args = SANDBOX_ARGS.iter().map(|arg| arg.to_string()).collect();
    let sandbox = start(args).await.map_err(Failure::failed)?;

    let result = walk_through(&folder, sandbox.as_ref()).await;
    sandbox.shutdown().await;
    result.map_err(Failure::failed)?;
    Ok(ExitCode::SUCCESS)
}

/// Clears a previous demo folder; refuses to touch a folder that is not one.
fn prepare_folder(folder: &Path) -> anyhow::Result<()> {
    if folder.exists() {
        let is_empty = folder
            .read_dir()
            .map(|mut entries| entries.next().is_none())
            .unwrap_or(false);
        if !is_empty && !folder.join(MARKER).exists() {
            bail!(
                "`{}` exists and was not made by `inlet demo`; choose another folder with --data-dir",
                folder.display()
            );
        }
        std::fs::remove_dir_all(folder)
            .with_context(|| format!("cannot clear the demo folder `{}`", folder.display()))?;
    }
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create the demo folder `{}`", folder.display()))?;
    std::fs::write(
        folder.join(MARKER),
        "made by `inlet demo`; safe to delete\n",
    )?;
    Ok(())
}

/// Writes the demo's config (the secret in its own file, both readable only
/// by their owner) and loads it the way `inlet` loads any config.
fn write_config(folder: &Path, sandbox: &dyn SandboxHandle) -> anyhow::Result<Instance> {
    let config = sandbox.instance_config();
    let text_of = |key: &str| {
        config
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    write_private(&folder.join("client-secret.txt"), &text_of("client_secret"))?;
    let text = format!(
        "# Written by `inlet demo`: one instance pointed at the in-process sandbox.\n\
         data_dir = \"data\"\n\n[[instance]]\nname = \"demo\"\nconnector = \"microsoft-tvm\"\n\
         asset_retention_days = 30\nremove_assets_with_status = [\"Inactive\"]\n\n\
         [instance.config]\ntenant_id = \"{}\"\nclient_id = \"{}\"\n\
         client_secret = {{ file = \"client-secret.txt\" }}\napi_url = \"{}\"\nlogin_url = \"{}\"\n",
        text_of("tenant_id"), text_of("client_id"), text_of("api_url"), text_of("login_url"),
    );
    let path = folder.join("inlet.toml");
    write_private(&path, &text)?;
    let loaded = parse_config(&text, &path.display().to_string(), folder)?;
    loaded
        .instances
        .into_iter()
        .next()
        .context("the demo config has no instance")
}

/// Writes a file only its owner may read (the config warns otherwise).
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

async fn walk_through(folder: &Path, sandbox: &dyn SandboxHandle) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Inlet demo: a synthetic Microsoft Defender tenant served at {}",
        sandbox.base_url()
    )?;
    let instance = write_config(folder, sandbox)?;
    writeln!(
        out,
        "Config written to {}",
        folder.join("inlet.toml").display()
    )?;

    step(&mut out, "1. Connectivity check (inlet check demo)")?;
    for outcome in instance.connector.check().await {
        let mark = match outcome.status {
            CheckStatus::Passed => "ok  ",
            CheckStatus::Failed => "FAIL",
            CheckStatus::Skipped => "skip",
        };
        writeln!(out, "  {mark} {:<16} {}", outcome.name, outcome.detail)?;
    }

    let store = Store::open(&folder.join("data"))?;
    step(&mut out, "2. First sync (inlet sync demo)")?;
    let first = sync(&store, &instance).await?;
    print_report(&mut out, &first)?;

    step(
        &mut out,
        "3. What is stored (inlet stats demo, inlet findings demo)",
    )?;
    print_stats(&mut out, &store, "demo")?;
    print_top_findings(&mut out, &store, "demo")?;

    let day = sandbox
        .advance_day()
        .await
        .map_err(|error| anyhow::anyhow!(error))?;
    step(
        &mut out,
        &format!("4. A day later in the tenant (simulated day {day}): second full sync"),
    )?;
    let second = sync(&store, &instance).await?;
    print_report(&mut out, &second)?;
    print_changes(&mut out, &store, "demo", &second)?;

    let config = folder.join("inlet.toml");
    writeln!(
        out,
        "\nExplore it yourself (the binary is target/release/inlet after `cargo run --release`):\n  \
         inlet --config {config} findings demo --severity critical\n  \
         inlet --config {config} assets demo --status archived --format csv\n  \
         inlet --config {config} runs demo",
        config = config.display()
    )?;
    Ok(())
}

fn step(out: &mut impl Write, title: &str) -> std::io::Result<()> {
    writeln!(out, "\n== {title}")
}

async fn sync(store: &Store, instance: &Instance) -> anyhow::Result<SyncReport> {
    let options = SyncOptions {
        mode: ModeRequest::Full,
        ..Default::default()
    };
    let report = run_sync(store, instance, &options, std::future::pending()).await?;
    if report.run.outcome != RunOutcome::Succeeded {
        bail!(
            "the demo sync did not succeed: {} {}",
            report.run.outcome.as_str(),
            report.run.error.clone().unwrap_or_default()
        );
    }
    Ok(report)
}

fn print_report(out: &mut impl Write, report: &SyncReport) -> std::io::Result<()> {
    let run = &report.run;
    let assets = &run.counts.assets;
    let findings = &run.counts.findings;
    writeln!(
        out,
        "  took {:.1} s, requests: {}",
        report.elapsed.as_secs_f64(),
        run.requests
    )?;
    writeln!(
        out,
        "  assets:   {} seen, {} new, {} updated, {} reactivated, archived: {}",
        assets.seen,
        assets.new,
        assets.updated,
        assets.reactivated,
        join_counts(&assets.archived)
    )?;
    writeln!(
        out,
        "  findings: {} seen, {} new, {} updated, {} reopened, {} fixed",
        findings.seen, findings.new, findings.updated, findings.reopened, findings.fixed
    )?;
    writeln!(out, "  skipped:  {}", join_counts(&run.counts.skipped))?;
    writeln!(
        out,
        "  (no_cve: rows about software without a CVE; orphaned: rows of devices not in the device list)"
    )
}

fn print_stats(out: &mut impl Write, store: &Store, instance: &str) -> anyhow::Result<()> {
    let stats = store.stats(instance)?;
    let archived: BTreeMap<String, u64> =
        serde_json::from_value(serde_json::to_value(&stats.assets.archived_by_reason)?)?;
    writeln!(
        out,
        "  assets:   {} active, {} archived ({})",
        stats.assets.active,
        stats.assets.archived,
        join_counts(&archived)
    )?;
    let severities: BTreeMap<String, u64> =
        serde_json::from_value(serde_json::to_value(&stats.findings.by_severity)?)?;
    writeln!(
        out,
        "  findings: {} active ({}), {} fixed",
        stats.findings.active,
        join_counts(&severities),
        stats.findings.fixed
    )?;
    writeln!(
        out,
        "  (findings of archived devices are kept but not counted or listed as active)"
    )?;
    Ok(())
}

fn print_top_findings(out: &mut impl Write, store: &Store, instance: &str) -> anyhow::Result<()> {
    let filter = FindingFilter {
        status: Some(FindingStatus::Active),
        ..Default::default()
    };
    let mut top: Vec<_> = store.findings(instance, filter).collect::<Result<_, _>>()?;
    top.sort_by(|a, b| {
        (b.severity, b.cvss_score.unwrap_or(0.0))
            .partial_cmp(&(a.severity, a.cvss_score.unwrap_or(0.0)))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let names: BTreeMap<String, String> = store
        .assets(instance, AssetFilter::default())
        .filter_map(Result::ok)
        .map(|asset| (asset.id, asset.name))
        .collect();
    writeln!(out, "  the five most severe active findings:")?;
    for finding in top.iter().take(5) {
        let score = finding
            .cvss_score
            .map(|s| format!("{s:.1}"))
            .unwrap_or_else(|| "-".into());
        let device = names.get(&finding.asset_id).unwrap_or(&finding.asset_id);
        writeln!(
            out,
            "    {:<9} {:>4}  {:<18} on {device}",
            finding.severity.as_str(),
            score,
            finding.name
        )?;
    }
    Ok(())
}

/// What the second sync changed, a few of each kind, by the run's time.
fn print_changes(
    out: &mut impl Write,
    store: &Store,
    instance: &str,
    report: &SyncReport,
) -> anyhow::Result<()> {
    let at = report.run.started_at;
    let archived: Vec<_> = store
        .assets(
            instance,
            AssetFilter {
                status: Some(AssetStatus::Archived),
            },
        )
        .filter_map(Result::ok)
        .filter(|asset| asset.archived_at == Some(at))
        .collect();
    writeln!(out, "  archived in this sync: {}", archived.len())?;
    for asset in archived.iter().take(3) {
        let reason = asset.archived_reason.map(|r| r.as_str()).unwrap_or("?");
        writeln!(out, "    {} ({}) because {reason}", asset.name, asset.id)?;
    }
    more(out, archived.len())?;
    let fixed_filter = FindingFilter {
        status: Some(FindingStatus::Fixed),
        ..Default::default()
    };
    let fixed: Vec<_> = store
        .findings(instance, fixed_filter)
        .filter_map(Result::ok)
        .filter(|finding| finding.fixed_at == Some(at))
        .collect();
    writeln!(out, "  fixed in this sync: {}", fixed.len())?;
    for finding in fixed.iter().take(3) {
        writeln!(out, "    {} on {}", finding.name, finding.asset_id)?;
    }
    more(out, fixed.len())?;
    writeln!(
        out,
        "  (this list shows active devices only; the sync's count also includes findings fixed\n   on devices archived for their status)"
    )?;
    writeln!(
        out,
        "  reopened in this sync: {}",
        report.run.counts.findings.reopened
    )?;
    Ok(())
}

fn more(out: &mut impl Write, total: usize) -> std::io::Result<()> {
    if total > 3 {
        writeln!(out, "    ... and {} more", total - 3)?;
    }
    Ok(())
}

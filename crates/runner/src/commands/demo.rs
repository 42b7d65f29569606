//! `inlet demo`: the whole product on a synthetic Defender tenant, in under a
//! minute and without an account. It starts the microsoft-tvm sandbox in this
//! process, writes a config for it into a fresh folder, and walks through
//! check, a full sync, the stored inventory, a simulated day and a second sync.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use inlet_core::config::{parse_config, Instance};
use inlet_core::{registry, AssetStatus, CheckStatus, FindingStatus, SandboxHandle};
use inlet_store::{AssetFilter, FindingFilter, RunOutcome, Store};

use crate::cli::GlobalArgs;
use crate::failure::{CommandResult, Failure};
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

/// Writes the demo's config (the secret in its own file) and loads it the way
/// `inlet` loads any config.
fn write_config(folder: &Path, sandbox: &dyn SandboxHandle) -> anyhow::Result<Instance> {
    let config = sandbox.instance_config();
    let text_of = |key: &str| {
        config
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    std::fs::write(folder.join("client-secret.txt"), text_of("client_secret"))?;
    let text = format!(
        "# Written by `inlet demo`: one instance pointed at the in-process sandbox.\n\
         data_dir = \"data\"\n\n[[instance]]\nname = \"demo\"\nconnector = \"microsoft-tvm\"\n\
         asset_retention_days = 30\nremove_assets_with_status = [\"Inactive\"]\n\n\
         [instance.config]\ntenant_id = \"{}\"\nclient_id = \"{}\"\n\
         client_secret = {{ file = \"client-secret.txt\" }}\napi_url = \"{}\"\nlogin_url = \"{}\"\n",
        text_of("tenant_id"), text_of("client_id"), text_of("api_url"), text_of("login_url"),
    );
    let path = folder.join("inlet.toml");
    std::fs::write(&path, &text)?;
    let loaded = parse_config(&text, &path.display().to_string(), folder)?;
    loaded
        .instances
        .into_iter()
        .next()
        .context("the demo config has no instance")
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
        "Config written to {}\n",
        folder.join("inlet.toml").display()
    )?;
    drop(out);

    step("1. Connectivity check (inlet check demo)");
    for outcome in instance.connector.check().await {
        let mark = match outcome.status {
            CheckStatus::Passed => "ok  ",
            CheckStatus::Failed => "FAIL",
            CheckStatus::Skipped => "skip",
        };
        println!("  {mark} {:<16} {}", outcome.name, outcome.detail);
    }

    let store = Store::open(&folder.join("data"))?;
    step("2. First sync (inlet sync demo)");
    let first = sync(&store, &instance).await?;
    print_report(&first);

    step("3. What is stored (inlet stats demo, inlet findings demo)");
    print_stats(&store, "demo")?;
    print_top_findings(&store, "demo")?;

    let day = sandbox
        .advance_day()
        .await
        .map_err(|error| anyhow::anyhow!(error))?;
    step(&format!(
        "4. A day later in the tenant (simulated day {day}): second sync"
    ));
    let second = sync(&store, &instance).await?;
    print_report(&second);
    print_changes(&store, "demo", &second)?;

    println!(
        "\nExplore it yourself:\n  cd {} && inlet findings demo --severity critical\n  inlet assets demo --status archived --format csv",
        folder.display()
    );
    Ok(())
}

fn step(title: &str) {
    println!("\n== {title}");
}

async fn sync(store: &Store, instance: &Instance) -> anyhow::Result<SyncReport> {
    let options = SyncOptions {
        mode: ModeRequest::Full,
        ..Default::default()
    };
    let report = run_sync(store, instance, &options, std::future::pending()).await?;
    if report.run.outcome != RunOutcome::Succeeded {
        bail!(
            "the demo sync did not succeed: {:?} {}",
            report.run.outcome,
            report.run.error.clone().unwrap_or_default()
        );
    }
    Ok(report)
}

fn print_report(report: &SyncReport) {
    let run = &report.run;
    let assets = &run.counts.assets;
    let findings = &run.counts.findings;
    println!(
        "  {} requests in {:.1} s",
        run.requests,
        report.elapsed.as_secs_f64()
    );
    println!(
        "  assets:   {} seen, {} new, {} updated, {} reactivated, archived {:?}",
        assets.seen, assets.new, assets.updated, assets.reactivated, assets.archived
    );
    println!(
        "  findings: {} seen, {} new, {} updated, {} reopened, {} fixed",
        findings.seen, findings.new, findings.updated, findings.reopened, findings.fixed
    );
    println!("  skipped:  {:?}", run.counts.skipped);
}

fn print_stats(store: &Store, instance: &str) -> anyhow::Result<()> {
    let stats = serde_json::to_value(store.stats(instance)?)?;
    println!("  assets:   {}", stats["assets"]);
    println!("  findings: {}", stats["findings"]);
    Ok(())
}

fn print_top_findings(store: &Store, instance: &str) -> anyhow::Result<()> {
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
    println!("  the five most severe active findings:");
    for finding in top.iter().take(5) {
        let score = finding
            .cvss_score
            .map(|s| format!("{s:.1}"))
            .unwrap_or_else(|| "-".into());
        println!(
            "    {:<9} {:>4}  {:<18} on {}",
            finding.severity.as_str(),
            score,
            finding.name,
            finding.asset_id
        );
    }
    Ok(())
}

/// What the second sync changed: a few of each kind, by the run's time.
fn print_changes(store: &Store, instance: &str, report: &SyncReport) -> anyhow::Result<()> {
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
    println!("  archived in this sync: {}", archived.len());
    for asset in archived.iter().take(3) {
        let reason = asset.archived_reason.map(|r| r.as_str()).unwrap_or("?");
        println!("    {} ({}) because {reason}", asset.name, asset.id);
    }
    let fixed_filter = FindingFilter {
        status: Some(FindingStatus::Fixed),
        ..Default::default()
    };
    let fixed: Vec<_> = store
        .findings(instance, fixed_filter)
        .filter_map(Result::ok)
        .filter(|finding| finding.fixed_at == Some(at))
        .collect();
    println!("  fixed in this sync: {}", fixed.len());
    for finding in fixed.iter().take(3) {
        println!("    {} on {}", finding.name, finding.asset_id);
    }
    println!(
        "  reopened in this sync: {}",
        report.run.counts.findings.reopened
    );
    Ok(())
}

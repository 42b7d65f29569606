//! One scenario's world: a temp folder holding the fixtures the adapter
//! wrote and a real sled store, the connector's sandbox serving those
//! fixtures, and the instance built from a config written the way an
//! operator would write it.
//!
//! Every day is written before the sandbox starts, because a sandbox reads
//! its fixtures folder once; each `advance` then moves it to the next day.

use std::path::{Path, PathBuf};

use inlet_core::config::{parse_config, Instance};
use inlet_core::registry;
use inlet_core::{Asset, Finding, SandboxHandle};
use inlet_engine::{run_sync, ModeRequest, SyncOptions, SyncReport};
use inlet_store::{AssetFilter, FindingFilter, RunRecord, Stats, Store};
use serde_json::json;
use tempfile::TempDir;

use crate::error::ConformanceError;
use crate::upstream::{ConformanceUpstream, UpstreamDay};

/// Name of the instance every scenario syncs.
pub(crate) const INSTANCE: &str = "conformance";
/// The instance's `asset_retention_days`.
pub(crate) const RETENTION_DAYS: u32 = 30;

const FIXTURES_DIR: &str = "upstream";
const STORE_DIR: &str = "store";

type Result<T> = std::result::Result<T, ConformanceError>;

/// A temp folder with every day of a scenario's upstream written.
pub(crate) struct Fixtures {
    dir: TempDir,
    kind: &'static str,
    removable_status: &'static str,
}

/// Writes `days` through the adapter: day 1 into the fixtures root, day N
/// into `dayN/`.
pub(crate) fn write_days(
    upstream: &dyn ConformanceUpstream,
    days: &[UpstreamDay],
) -> Result<Fixtures> {
    let setup = |what| move |source| ConformanceError::Setup { what, source };
    let dir = tempfile::tempdir().map_err(setup("creating the temp folder"))?;
    let root = dir.path().join(FIXTURES_DIR);
    for (index, day) in days.iter().enumerate() {
        let number = index + 1;
        let folder = match number {
            1 => root.clone(),
            _ => root.join(format!("day{number}")),
        };
        let failed = |source| ConformanceError::WriteDay {
            day: number,
            dir: folder.clone(),
            source,
        };
        std::fs::create_dir_all(&folder).map_err(failed)?;
        upstream.write_day(&folder, day).map_err(failed)?;
    }
    Ok(Fixtures {
        dir,
        kind: upstream.kind(),
        removable_status: upstream.removable_status(),
    })
}

impl Fixtures {
    /// Starts the sandbox on the fixtures, builds the instance and opens the store.
    pub(crate) async fn start(self) -> Result<Harness> {
        let kind = self.kind;
        let registration = registry::lookup(kind).map_err(ConformanceError::UnknownKind)?;
        let start = registration
            .sandbox
            .ok_or_else(|| ConformanceError::NoSandbox {
                kind: kind.to_owned(),
            })?;
        let fixtures = self.dir.path().join(FIXTURES_DIR);
        let arguments = vec!["--fixtures".to_owned(), fixtures.display().to_string()];
        let sandbox = start(arguments)
            .await
            .map_err(ConformanceError::SandboxStart)?;

        let config = sandbox.instance_config();
        let instance = build_instance(kind, self.removable_status, &config, self.dir.path())?;
        let store = Store::open(&self.dir.path().join(STORE_DIR))?;
        Ok(Harness {
            sandbox: Some(sandbox),
            store,
            instance,
            config,
            dir: self.dir,
        })
    }
}

/// The instance's config file as an operator would write it, parsed and
/// built the way the runner loads one.
fn build_instance(
    kind: &str,
    removable_status: &str,
    config: &serde_json::Value,
    base_dir: &Path,
) -> Result<Instance> {
    let document = json!({
        "instance": [{
            "name": INSTANCE,
            "connector": kind,
            "asset_retention_days": RETENTION_DAYS,
            "remove_assets_with_status": [removable_status],
            "config": config,
        }]
    });
    let text = toml::to_string(&document).map_err(ConformanceError::ConfigText)?;
    let loaded =
        parse_config(&text, "conformance.toml", base_dir).map_err(ConformanceError::Config)?;
    loaded
        .instances
        .into_iter()
        .next()
        .ok_or_else(|| ConformanceError::Rule("the loaded config holds no instance".into()))
}

/// What the store holds for the instance at one moment.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub stats: Stats,
    /// Every asset, whatever its status.
    pub assets: Vec<Asset>,
    /// Findings as listed by default: those of active assets.
    pub visible: Vec<Finding>,
    /// Every finding, those of archived assets included.
    pub findings: Vec<Finding>,
}

impl Snapshot {
    pub(crate) fn asset(&self, id: &str) -> Result<&Asset> {
        let found = self.assets.iter().find(|asset| asset.id == id);
        found.ok_or_else(|| ConformanceError::Rule(format!("asset `{id}` is not in the store")))
    }

    /// The finding of vulnerability `cve` on asset `asset_id`, archived ones included.
    pub(crate) fn finding(&self, asset_id: &str, cve: &str) -> Result<&Finding> {
        let found = self
            .findings
            .iter()
            .find(|f| is_finding_of(f, asset_id, cve));
        found.ok_or_else(|| {
            ConformanceError::Rule(format!(
                "no finding of `{cve}` on asset `{asset_id}` is in the store"
            ))
        })
    }

    /// Findings on `asset_id` among those listed by default.
    pub(crate) fn visible_on(&self, asset_id: &str) -> usize {
        let on = |finding: &&Finding| finding.asset_id == asset_id;
        self.visible.iter().filter(on).count()
    }
}

/// Whether `finding` is the one of vulnerability `cve` on asset `asset_id`.
pub(crate) fn is_finding_of(finding: &Finding, asset_id: &str, cve: &str) -> bool {
    finding.asset_id == asset_id && (finding.cves.iter().any(|c| c == cve) || finding.name == cve)
}

/// A running scenario: sandbox, store and instance.
pub(crate) struct Harness {
    sandbox: Option<Box<dyn SandboxHandle>>,
    pub store: Store,
    pub instance: Instance,
    /// The connector config the sandbox handed out.
    pub config: serde_json::Value,
    // Last, so the store closes before its folder is deleted.
    dir: TempDir,
}

impl Harness {
    /// A full sync of the instance.
    pub(crate) async fn sync(&self) -> Result<SyncReport> {
        self.sync_instance(&self.instance, false).await
    }

    /// A full sync that applies a reconciliation the brake would hold.
    pub(crate) async fn sync_confirmed(&self) -> Result<SyncReport> {
        self.sync_instance(&self.instance, true).await
    }

    /// A full sync of `instance` (the scenario's, or a wrapper of it).
    pub(crate) async fn sync_instance(
        &self,
        instance: &Instance,
        confirm_removal: bool,
    ) -> Result<SyncReport> {
        let options = SyncOptions {
            mode: ModeRequest::Full,
            confirm_removal,
            ..SyncOptions::default()
        };
        let stop = std::future::pending::<&'static str>();
        Ok(run_sync(&self.store, instance, &options, stop).await?)
    }

    /// Moves the sandbox to the next fixtures day.
    pub(crate) async fn advance(&self) -> Result<()> {
        if let Some(sandbox) = &self.sandbox {
            sandbox
                .advance_day()
                .await
                .map_err(ConformanceError::Advance)?;
        }
        Ok(())
    }

    /// The bearer tokens the sandbox handed out so far.
    pub(crate) fn issued_credentials(&self) -> Vec<String> {
        let sandbox = self.sandbox.as_ref();
        sandbox.map_or_else(Vec::new, |sandbox| sandbox.issued_credentials())
    }

    pub(crate) fn store_dir(&self) -> PathBuf {
        self.dir.path().join(STORE_DIR)
    }

    pub(crate) fn snapshot(&self) -> Result<Snapshot> {
        let all_findings = FindingFilter {
            include_archived: true,
            ..FindingFilter::default()
        };
        Ok(Snapshot {
            stats: self.store.stats(INSTANCE)?,
            assets: self
                .store
                .assets(INSTANCE, AssetFilter::default())
                .collect::<std::result::Result<_, _>>()?,
            visible: self
                .store
                .findings(INSTANCE, FindingFilter::default())
                .collect::<std::result::Result<_, _>>()?,
            findings: self
                .store
                .findings(INSTANCE, all_findings)
                .collect::<std::result::Result<_, _>>()?,
        })
    }

    pub(crate) fn runs(&self) -> Result<Vec<RunRecord>> {
        Ok(self.store.runs(INSTANCE)?)
    }

    /// Stops the sandbox and waits for it.
    pub(crate) async fn shutdown(mut self) {
        if let Some(sandbox) = self.sandbox.take() {
            sandbox.shutdown().await;
        }
    }
}

//! `inlet assets` and `inlet findings`: stored records, streamed in the
//! chosen format with a stable column order.

use std::process::ExitCode;

use inlet_core::{Asset, AssetStatus, Finding, FindingStatus, Severity};
use inlet_store::{AssetFilter, FindingFilter, Store};

use crate::cli::{
    AssetStatusArg, AssetsArgs, FindingStatusArg, FindingsArgs, GlobalArgs, SeverityArg,
};
use crate::config_file;
use crate::failure::{CommandResult, Failure};
use crate::output::{json_cell, time_cell, write_listing, Columns};

/// Every asset field, in the export order of the data model.
const ASSET_CSV: Columns<Asset> = Columns {
    names: &[
        "instance",
        "connector",
        "id",
        "external_identifier",
        "name",
        "operating_systems",
        "ipv4",
        "ipv6",
        "first_observed",
        "last_observed",
        "external_tags",
        "custom_attributes",
        "source_status",
        "status",
        "archived_reason",
        "archived_at",
        "first_ingested_at",
        "last_synced_at",
    ],
    cells: |a| {
        vec![
            a.instance.clone(),
            a.connector.clone(),
            a.id.clone(),
            a.external_identifier.clone(),
            a.name.clone(),
            a.operating_systems.join(";"),
            a.ipv4.join(";"),
            a.ipv6.join(";"),
            time_cell(a.first_observed),
            time_cell(a.last_observed),
            json_cell(&a.external_tags),
            json_cell(&a.custom_attributes),
            a.source_status.clone().unwrap_or_default(),
            json_cell(&a.status).trim_matches('"').to_string(),
            a.archived_reason
                .map(|r| r.as_str().to_string())
                .unwrap_or_default(),
            time_cell(a.archived_at),
            a.first_ingested_at.to_string(),
            a.last_synced_at.to_string(),
        ]
    },
};

const ASSET_TABLE: Columns<Asset> = Columns {
    names: &["ID", "NAME", "STATUS", "OS", "IPV4", "LAST OBSERVED"],
    cells: |a| {
        let status = match (a.status, a.archived_reason) {
            (AssetStatus::Active, _) => "active".to_string(),
            (AssetStatus::Archived, Some(reason)) => format!("archived ({})", reason.as_str()),
            (AssetStatus::Archived, None) => "archived".to_string(),
        };
        vec![
            a.id.clone(),
            a.name.clone(),
            status,
            a.operating_systems.join(","),
            a.ipv4.join(","),
            time_cell(a.last_observed),
        ]
    },
};

/// Every finding field, in the export order of the data model.
const FINDING_CSV: Columns<Finding> = Columns {
    names: &[
        "instance",
        "connector",
        "id",
        "asset_id",
        "name",
        "cves",
        "severity",
        "severity_source",
        "cvss_score",
        "description",
        "custom_attributes",
        "first_seen",
        "last_seen",
        "status",
        "fixed_at",
        "first_ingested_at",
        "last_synced_at",
    ],
    cells: |f| {
        vec![
            f.instance.clone(),
            f.connector.clone(),
            f.id.clone(),
            f.asset_id.clone(),
            f.name.clone(),
            f.cves.join(";"),
            f.severity.as_str().to_string(),
            json_cell(&f.severity_source)
                .trim_matches('"')
                .replace("null", ""),
            f.cvss_score.map(|s| s.to_string()).unwrap_or_default(),
            f.description.clone().unwrap_or_default(),
            json_cell(&f.custom_attributes),
            time_cell(f.first_seen),
            time_cell(f.last_seen),
            finding_status(f.status).to_string(),
            time_cell(f.fixed_at),
            f.first_ingested_at.to_string(),
            f.last_synced_at.to_string(),
        ]
    },
};

const FINDING_TABLE: Columns<Finding> = Columns {
    names: &["ASSET", "NAME", "SEVERITY", "CVSS", "STATUS", "LAST SEEN"],
    cells: |f| {
        vec![
            f.asset_id.clone(),
            f.name.clone(),
            f.severity.as_str().to_string(),
            f.cvss_score.map(|s| format!("{s:.1}")).unwrap_or_default(),
            finding_status(f.status).to_string(),
            time_cell(f.last_seen),
        ]
    },
};

fn finding_status(status: FindingStatus) -> &'static str {
    match status {
        FindingStatus::Active => "active",
        FindingStatus::Fixed => "fixed",
    }
}

pub fn assets(global: &GlobalArgs, args: &AssetsArgs) -> CommandResult {
    let store = open_store(global, &args.name)?;
    let status = match args.status {
        AssetStatusArg::Active => Some(AssetStatus::Active),
        AssetStatusArg::Archived => Some(AssetStatus::Archived),
        AssetStatusArg::All => None,
    };
    let rows = store
        .assets(&args.name, AssetFilter { status })
        .map(|row| row.map_err(anyhow::Error::from));
    write_listing(args.format, rows, &ASSET_TABLE, &ASSET_CSV).map_err(Failure::failed)?;
    Ok(ExitCode::SUCCESS)
}

pub fn findings(global: &GlobalArgs, args: &FindingsArgs) -> CommandResult {
    let store = open_store(global, &args.name)?;
    let status = match args.status {
        FindingStatusArg::Active => Some(FindingStatus::Active),
        FindingStatusArg::Fixed => Some(FindingStatus::Fixed),
        FindingStatusArg::All => None,
    };
    let severities = args.severity.iter().map(|s| severity(*s)).collect();
    let filter = FindingFilter {
        status,
        severities,
        include_archived: args.include_archived,
        since: args.since,
    };
    let rows = store
        .findings(&args.name, filter)
        .map(|row| row.map_err(anyhow::Error::from));
    write_listing(args.format, rows, &FINDING_TABLE, &FINDING_CSV).map_err(Failure::failed)?;
    Ok(ExitCode::SUCCESS)
}

fn severity(arg: SeverityArg) -> Severity {
    match arg {
        SeverityArg::Critical => Severity::Critical,
        SeverityArg::High => Severity::High,
        SeverityArg::Medium => Severity::Medium,
        SeverityArg::Low => Severity::Low,
        SeverityArg::None => Severity::None,
    }
}

/// Opens the store of a configured instance (the name must be in the config).
/// Holding the store's lock proves no sync of it runs, so a run still marked
/// running was cut short: it is recorded as failed before anything is shown.
pub fn open_store(global: &GlobalArgs, name: &str) -> Result<Store, Failure> {
    let (config, _) = config_file::load_instance(global, name)?;
    let store = Store::open(&config_file::data_dir(global, &config)).map_err(Failure::failed)?;
    store
        .fail_interrupted_runs(name, jiff::Timestamp::now())
        .map_err(Failure::failed)?;
    Ok(store)
}

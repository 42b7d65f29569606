//! Fixtures shared by the unit tests: a store in a temp dir, contexts and
//! observations with plausible fields.

use inlet_core::{AssetObservation, FindingObservation, Severity};
use jiff::Timestamp;
use tempfile::TempDir;

use crate::{IngestContext, Store};

pub const INSTANCE: &str = "contoso";
pub const CONNECTOR: &str = "microsoft-tvm";

/// A fresh store; keep the `TempDir` alive as long as the store.
pub fn temp_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

/// Day `day` of a fixed calendar, as a timestamp.
pub fn day(day: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + day * 86_400).unwrap()
}

/// A context for run `run_id` starting on `day(started)`, with no rules.
pub fn ctx(run_id: u64, started: i64) -> IngestContext {
    IngestContext {
        instance: INSTANCE.to_owned(),
        connector: CONNECTOR.to_owned(),
        run_id,
        started_at: day(started),
        remove_statuses: Vec::new(),
        retention_cutoff: None,
    }
}

/// Begins a full run in `store` and returns its context (starting on `day(started)`).
pub fn run(store: &Store, started: i64) -> IngestContext {
    let record = store
        .begin_run(INSTANCE, CONNECTOR, crate::RunMode::Full, day(started))
        .unwrap();
    ctx(record.id, started)
}

pub fn asset(id: &str) -> AssetObservation {
    AssetObservation {
        id: id.to_owned(),
        external_identifier: format!("vm-{id}"),
        name: format!("host-{id}"),
        operating_systems: vec!["Windows11".to_owned()],
        ipv4: vec!["10.0.0.1".to_owned()],
        ipv6: Vec::new(),
        first_observed: Some(day(-100)),
        last_observed: Some(day(0)),
        external_tags: Vec::new(),
        custom_attributes: serde_json::Map::new(),
        source_status: Some("Active".to_owned()),
    }
}

pub fn finding(asset_id: &str, cve: &str) -> FindingObservation {
    FindingObservation {
        id: format!("{asset_id}_{cve}"),
        asset_id: asset_id.to_owned(),
        name: cve.to_owned(),
        cves: vec![cve.to_owned()],
        severity: Severity::High,
        severity_source: None,
        cvss_score: Some(7.5),
        description: None,
        custom_attributes: serde_json::Map::new(),
        first_seen: Some(day(-10)),
        last_seen: Some(day(0)),
    }
}

/// Two synced runs: three assets with findings, then one asset gone and one
/// finding fixed, so every kind of state is present.
pub fn fill_example(store: &Store) {
    let first = run(store, 0);
    store
        .upsert_assets(&first, vec![asset("a"), asset("b"), asset("c")])
        .unwrap();
    let findings = vec![
        finding("a", "CVE-2024-0001"),
        finding("a", "CVE-2024-0002"),
        finding("c", "CVE-2024-0003"),
    ];
    store.upsert_findings(&first, findings).unwrap();
    store.apply_reconciliation(&first).unwrap();

    let second = run(store, 1);
    store
        .upsert_assets(&second, vec![asset("a"), asset("b")])
        .unwrap();
    store
        .upsert_findings(&second, vec![finding("a", "CVE-2024-0001")])
        .unwrap();
    store.apply_reconciliation(&second).unwrap();
    store.set_cursor(INSTANCE, "example", "value").unwrap();
}

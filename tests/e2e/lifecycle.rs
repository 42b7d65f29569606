//! A hand-written fixtures folder through the whole product: `inlet sandbox
//! --fixtures`, `inlet sync` on three simulated days, and the listings, stats
//! and run history after each day, with exact records and counts.

use serde_json::{json, Value};

use crate::harness::{SandboxProcess, Workspace};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/tvm-lifecycle"
);
const A: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const B: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
const C: &str = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3";

/// Retention long enough that the fixtures' fixed dates never expire.
const SETTINGS: &str = "asset_retention_days = 3650\nremove_assets_with_status = [\"Inactive\"]";

fn start() -> (SandboxProcess, Workspace) {
    let sandbox = SandboxProcess::start(&["--fixtures", FIXTURES]);
    let workspace = Workspace::new(&sandbox, SETTINGS, "");
    (sandbox, workspace)
}

/// Removes the two fields that carry the sync's own time, after checking them.
fn without_ingest_times(mut record: Value, synced_at: &str) -> Value {
    let object = record.as_object_mut().expect("record object");
    assert_eq!(
        object.remove("last_synced_at"),
        Some(json!(synced_at)),
        "{object:?}"
    );
    assert!(object
        .remove("first_ingested_at")
        .is_some_and(|v| v.is_string()));
    record
}

fn sorted_by_id(mut records: Vec<Value>) -> Vec<Value> {
    records.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    records
}

fn sync(workspace: &Workspace) -> Value {
    workspace.json(&["sync", "lab", "--full", "--format", "json"])
}

fn expected_findings() -> Vec<Value> {
    let common = |id: &str, asset: &str, name: &str| {
        json!({ "instance": "lab", "connector": "microsoft-tvm", "id": format!("{name}/{id}/{asset}"),
                "asset_id": asset, "name": name, "status": "active", "fixed_at": null })
    };
    let merge = |mut base: Value, extra: Value| {
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        base
    };
    vec![
        merge(
            common(
                &format!("{A}_edge_120.0.1_CVE-2024-1111_"),
                A,
                "CVE-2024-1111",
            ),
            json!({
                "cves": ["CVE-2024-1111"], "severity": "critical", "severity_source": "cvss", "cvss_score": 9.8,
                "description": "Remote code execution in the browser engine.",
                "custom_attributes": {
                    "cvssVector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    "software_vendor": "microsoft", "software_name": "edge", "software_version": "120.0.1",
                    "disk_paths": ["C:\\Program Files\\Edge\\msedge.exe"], "registry_paths": [],
                    "recommended_security_update": "March 2024 Security Updates https://example.com/kb1",
                    "severity": "Critical"
                },
                "first_seen": "2026-10-01T10:00:00Z", "last_seen": "2026-11-30T08:00:00.1234567Z"
            }),
        ),
        merge(
            common(
                &format!("{A}_openssl_3.0.1_CVE-2023-2222_"),
                A,
                "CVE-2023-2222",
            ),
            json!({
                "cves": ["CVE-2023-2222"], "severity": "medium", "severity_source": "cvss", "cvss_score": 5.5,
                "description": null,
                "custom_attributes": {
                    "software_vendor": "openssl", "software_name": "openssl", "software_version": "3.0.1",
                    "disk_paths": [], "registry_paths": [], "severity": "Medium"
                },
                "first_seen": "2026-09-01T00:00:00Z", "last_seen": "2026-11-30T08:00:00Z"
            }),
        ),
        merge(
            common(
                &format!("{B}_kernel_5.15_TVM-2023-0001_"),
                B,
                "TVM-2023-0001",
            ),
            json!({
                "cves": [], "severity": "high", "severity_source": "vendor", "cvss_score": null, "description": null,
                "custom_attributes": {
                    "software_vendor": "linux", "software_name": "kernel", "software_version": "5.15", "severity": "high"
                },
                "first_seen": "2026-11-01T00:00:00Z", "last_seen": "2026-11-29T10:00:00Z"
            }),
        ),
        merge(
            common(
                &format!("{C}_chrome_119_CVE-2023-3333_"),
                C,
                "CVE-2023-3333",
            ),
            json!({
                "cves": ["CVE-2023-3333"], "severity": "low", "severity_source": "cvss", "cvss_score": 3.1,
                "description": null,
                "custom_attributes": {
                    "software_vendor": "google", "software_name": "chrome", "software_version": "119", "severity": "Low"
                },
                "first_seen": "2026-11-01T00:00:00Z", "last_seen": "2026-11-28T00:00:00Z"
            }),
        ),
    ]
}

fn expected_assets() -> Vec<Value> {
    let tag = |key: &str, value: &str| json!({ "key": key, "value": value });
    let base = json!({ "instance": "lab", "connector": "microsoft-tvm", "status": "active",
                       "archived_reason": null, "archived_at": null });
    let with = |extra: Value| {
        let mut record = base.clone();
        record
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        record
    };
    vec![
        with(json!({
            "id": A, "external_identifier": A, "name": "web-01.contoso.local",
            "operating_systems": ["Windows11"], "ipv4": ["10.0.0.5"], "ipv6": [],
            "first_observed": "2024-01-02T03:04:05.1234567Z", "last_observed": "2026-11-30T08:00:00Z",
            "external_tags": [
                tag("machineTags", "prod"), tag("machineTags", "web"),
                tag("computerDnsName", "web-01.contoso.local"), tag("rbacGroupName", "Servers"),
                tag("healthStatus", "Active"), tag("riskScore", "High"), tag("managedBy", "Intune"),
                tag("exposureLevel", "Medium"), tag("lastExternalIpAddress", "203.0.113.9"),
                tag("osPlatform", "Windows11")
            ],
            "custom_attributes": { "device_id": A, "healthStatus": "Active", "exposureLevel": "Medium",
                                   "osBuild": 22631, "osVersion": "23H2" },
            "source_status": "Active"
        })),
        with(json!({
            "id": B, "external_identifier": "vm-0042", "name": "fe80::1",
            "operating_systems": ["Linux"], "ipv4": [], "ipv6": ["fe80::1"],
            "first_observed": "2025-05-06T07:08:09Z", "last_observed": "2026-11-29T10:11:12.5Z",
            "external_tags": [tag("healthStatus", "Active"), tag("osPlatform", "Linux")],
            "custom_attributes": { "device_id": B, "healthStatus": "Active", "osVersion": "Ubuntu 22.04" },
            "source_status": "Active"
        })),
        with(json!({
            "id": C, "external_identifier": C, "name": "not-an-ip",
            "operating_systems": ["Windows10"], "ipv4": [], "ipv6": [],
            "first_observed": "2025-01-01T00:00:00Z", "last_observed": "2026-11-28T00:00:00Z",
            "external_tags": [tag("healthStatus", "Active"), tag("osPlatform", "Windows10")],
            "custom_attributes": { "device_id": C, "healthStatus": "Active" },
            "source_status": "Active"
        })),
    ]
}

#[test]
fn a_fixtures_folder_round_trips_exactly() {
    let (_sandbox, workspace) = start();
    let report = sync(&workspace);
    assert_eq!(report["run"]["outcome"], "succeeded", "{report:#}");
    let synced_at = report["run"]["started_at"].as_str().unwrap().to_string();

    let findings = workspace.ndjson(&["findings", "lab", "--format", "ndjson"]);
    let findings: Vec<Value> = findings
        .into_iter()
        .map(|f| without_ingest_times(f, &synced_at))
        .collect();
    assert_eq!(sorted_by_id(findings), sorted_by_id(expected_findings()));

    let assets = workspace.ndjson(&["assets", "lab", "--format", "ndjson"]);
    let assets: Vec<Value> = assets
        .into_iter()
        .map(|a| without_ingest_times(a, &synced_at))
        .collect();
    assert_eq!(sorted_by_id(assets), sorted_by_id(expected_assets()));

    let counts = &report["run"]["counts"];
    assert_eq!(
        counts["skipped"],
        json!({ "no_cve": 1, "orphaned": 1, "duplicate": 1 }),
        "{counts:#}"
    );
    assert_eq!(
        counts["warnings"],
        json!({ "unparsable_ip": 1 }),
        "{counts:#}"
    );
}

#[test]
fn three_days_of_changes_keep_the_inventory_true() {
    let (sandbox, workspace) = start();

    // Day 1: everything is new.
    let day1 = sync(&workspace);
    assert_eq!(day1["run"]["outcome"], "succeeded", "{day1:#}");
    assert_eq!(day1["run"]["counts"]["assets"]["new"], 3);
    assert_eq!(day1["run"]["counts"]["findings"]["new"], 4);
    let stats = workspace.json(&["stats", "lab", "--format", "json"]);
    assert_eq!(stats["assets"]["active"], 3, "{stats:#}");
    assert_eq!(stats["assets"]["archived"], 0);
    assert_eq!(stats["findings"]["active"], 4);
    assert_eq!(stats["findings"]["fixed"], 0);
    assert_eq!(
        stats["findings"]["by_severity"],
        json!({ "critical": 1, "high": 1, "medium": 1, "low": 1, "none": 0 })
    );

    // Day 2: C vanished (archived, its finding hidden), A's openssl finding fixed, B has a new one.
    sandbox.advance_day();
    let day2 = sync(&workspace);
    assert_eq!(day2["run"]["outcome"], "succeeded", "{day2:#}");
    let counts = &day2["run"]["counts"];
    assert_eq!(
        counts["assets"]["archived"],
        json!({ "missing_from_sync": 1 }),
        "{counts:#}"
    );
    assert_eq!(counts["findings"]["new"], 1);
    assert_eq!(counts["findings"]["fixed"], 1);
    let stats = workspace.json(&["stats", "lab", "--format", "json"]);
    assert_eq!(stats["assets"]["active"], 2, "{stats:#}");
    assert_eq!(
        stats["assets"]["archived_by_reason"]["missing_from_sync"],
        1
    );
    assert_eq!(
        stats["findings"]["active"], 3,
        "C's finding is hidden: {stats:#}"
    );
    assert_eq!(stats["findings"]["fixed"], 1);
    let fixed = workspace.ndjson(&["findings", "lab", "--status", "fixed", "--format", "ndjson"]);
    assert_eq!(fixed.len(), 1);
    assert_eq!(fixed[0]["name"], "CVE-2023-2222");
    assert_eq!(fixed[0]["fixed_at"], day2["run"]["started_at"]);
    let archived = workspace.ndjson(&[
        "assets", "lab", "--status", "archived", "--format", "ndjson",
    ]);
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0]["id"], C);
    assert_eq!(archived[0]["archived_reason"], "missing_from_sync");
    let hidden = workspace.ndjson(&[
        "findings",
        "lab",
        "--include-archived",
        "--format",
        "ndjson",
    ]);
    assert_eq!(hidden.len(), 4, "with --include-archived C's finding shows");

    // Day 3: C returns (its finding shows again), B is Inactive (archived for status), A's fix reopens.
    sandbox.advance_day();
    let day3 = sync(&workspace);
    assert_eq!(day3["run"]["outcome"], "succeeded", "{day3:#}");
    let counts = &day3["run"]["counts"];
    assert_eq!(counts["assets"]["reactivated"], 1, "{counts:#}");
    assert_eq!(
        counts["assets"]["archived"],
        json!({ "status": 1 }),
        "{counts:#}"
    );
    assert_eq!(counts["findings"]["reopened"], 1);
    assert_eq!(counts["findings"]["fixed"], 0);
    let stats = workspace.json(&["stats", "lab", "--format", "json"]);
    assert_eq!(stats["assets"]["active"], 2, "{stats:#}");
    assert_eq!(
        stats["assets"]["archived_by_reason"],
        json!({ "missing_from_sync": 0, "retention": 0, "status": 1 })
    );
    assert_eq!(
        stats["findings"]["active"], 3,
        "A's two and C's one; B's are hidden: {stats:#}"
    );
    assert_eq!(stats["findings"]["fixed"], 0);
    let active: Vec<String> = workspace
        .ndjson(&["findings", "lab", "--format", "ndjson"])
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(active.len(), 3);
    for name in ["CVE-2024-1111", "CVE-2023-2222", "CVE-2023-3333"] {
        assert!(
            active.contains(&name.to_string()),
            "{name} missing from {active:?}"
        );
    }

    // The run history lists the three runs, newest first, and stats' last sync is the newest.
    let runs = workspace.ndjson(&["runs", "lab", "--format", "ndjson"]);
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0]["id"], day3["run"]["id"]);
    assert!(runs.iter().all(|run| run["outcome"] == "succeeded"));
    assert_eq!(stats["last_sync"]["id"], day3["run"]["id"]);
}

#[test]
fn a_dry_run_reports_what_a_sync_would_change_and_writes_nothing() {
    let (sandbox, workspace) = start();
    sync(&workspace);
    sandbox.advance_day();
    let stats_before = workspace.json(&["stats", "lab", "--format", "json"]);
    let runs_before = workspace.ndjson(&["runs", "lab", "--format", "ndjson"]);

    let report = workspace.json(&["sync", "lab", "--full", "--dry-run", "--format", "json"]);
    assert_eq!(report["dry_run"], true);
    let counts = &report["run"]["counts"];
    assert_eq!(
        counts["assets"]["archived"],
        json!({ "missing_from_sync": 1 }),
        "{report:#}"
    );
    assert_eq!(counts["findings"]["new"], 1);
    assert_eq!(counts["findings"]["fixed"], 1);
    assert_eq!(report["reconciliation"]["sample_archived"], json!([C]));

    let text = workspace.ok(&["sync", "lab", "--full", "--dry-run", "-v"]);
    assert!(text.contains("nothing was written"), "{text}");
    assert!(text.contains(&format!("would archive asset {C}")), "{text}");
    assert!(text.contains("would fix finding CVE-2023-2222/"), "{text}");

    // Nothing changed: not the records, not the run history.
    assert_eq!(
        workspace.json(&["stats", "lab", "--format", "json"]),
        stats_before
    );
    assert_eq!(
        workspace.ndjson(&["runs", "lab", "--format", "ndjson"]),
        runs_before
    );

    // The real sync does what the dry run said.
    let real = sync(&workspace);
    assert_eq!(
        real["run"]["counts"]["assets"]["archived"],
        counts["assets"]["archived"]
    );
    assert_eq!(
        real["run"]["counts"]["findings"]["fixed"],
        counts["findings"]["fixed"]
    );
    let leftovers: Vec<_> = std::fs::read_dir(workspace.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with(".inlet-dry-run")
        })
        .collect();
    assert!(leftovers.is_empty(), "the scratch copy is removed");
}

#[test]
fn a_sync_that_would_archive_most_assets_is_held_until_confirmed() {
    let sandbox = SandboxProcess::start(&["--fixtures", FIXTURES]);
    let settings = format!("{SETTINGS}\nmax_archive_percent = 20");
    let workspace = Workspace::new(&sandbox, &settings, "");
    sync(&workspace);
    sandbox.advance_day();

    // Day 2 archives one of three assets (33%), more than the 20% allowed.
    let output = workspace.inlet(&["sync", "lab", "--full", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "a held sync exits 1");
    let held: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(held["run"]["outcome"], "held");
    let reason = held["run"]["held"].as_str().unwrap();
    assert!(
        reason.contains(
            "would archive 1 of 3 active assets (33.3%), more than max_archive_percent (20%)"
        ),
        "{reason}"
    );
    let stats = workspace.json(&["stats", "lab", "--format", "json"]);
    assert_eq!(stats["assets"]["active"], 3, "nothing archived while held");
    assert_eq!(stats["findings"]["fixed"], 0, "nothing fixed while held");

    let confirmed = workspace.json(&[
        "sync",
        "lab",
        "--full",
        "--confirm-removal",
        "--format",
        "json",
    ]);
    assert_eq!(confirmed["run"]["outcome"], "succeeded");
    assert_eq!(
        confirmed["run"]["counts"]["assets"]["archived"],
        json!({ "missing_from_sync": 1 })
    );
}

#[test]
fn records_a_mapper_rejects_are_quarantined_and_the_sync_goes_on() {
    let fixtures = tempfile::tempdir().unwrap();
    let good_device = json!({ "id": A, "computerDnsName": "ok-01", "healthStatus": "Active",
                              "lastSeen": "2026-11-30T08:00:00Z" });
    let nameless = json!({ "computerDnsName": "no-id-here", "healthStatus": "Active" });
    let good_row = json!({ "id": "r1", "deviceId": A, "cveId": "CVE-2024-1111", "cvssScore": 9.8 });
    let deviceless = json!({ "id": "r2", "cveId": "CVE-2024-2222", "cvssScore": 5.0 });
    let write = |name: &str, records: Value| {
        std::fs::write(fixtures.path().join(name), records.to_string()).unwrap();
    };
    write("machines.json", json!([good_device, nameless]));
    write("vulnerabilities.json", json!([good_row, deviceless]));
    let sandbox = SandboxProcess::start(&["--fixtures", fixtures.path().to_str().unwrap()]);
    let workspace = Workspace::new(&sandbox, SETTINGS, "");

    let report = sync(&workspace);
    assert_eq!(
        report["run"]["outcome"], "succeeded",
        "one bad record never fails a sync"
    );
    assert_eq!(
        report["run"]["counts"]["skipped"]["quarantined"], 2,
        "{report:#}"
    );
    assert_eq!(report["run"]["counts"]["assets"]["new"], 1);
    assert_eq!(report["run"]["counts"]["findings"]["new"], 1);

    let mut quarantined = workspace.ndjson(&["quarantine", "lab", "--format", "ndjson"]);
    quarantined.sort_by_key(|record| record["stream"].to_string());
    assert_eq!(quarantined.len(), 2);
    assert_eq!(quarantined[0]["stream"], "assets");
    assert_eq!(quarantined[0]["record_id"], Value::Null);
    let raw: Value = serde_json::from_str(quarantined[0]["raw"].as_str().unwrap()).unwrap();
    assert_eq!(raw, nameless, "the raw record is kept as it came");
    assert_eq!(quarantined[1]["stream"], "findings");
    assert_eq!(quarantined[1]["record_id"], "r2");
    for record in &quarantined {
        assert!(!record["reason"].as_str().unwrap().is_empty());
        assert_eq!(record["run_id"], report["run"]["id"]);
    }
    let table = workspace.ok(&["quarantine", "lab"]);
    assert!(
        table.contains("findings") && table.contains("r2"),
        "{table}"
    );
}

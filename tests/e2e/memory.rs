//! A sync's memory does not grow with the page: one vulnerability page of
//! 100,000 rows (about 100 MB of JSON) goes through a full sync, and the peak
//! resident memory the OS counted for the `inlet` process (its `VmHWM`, which
//! the sync reports as `peak_rss_bytes`) stays under a cap below what holding
//! the page would take. A client that buffered whole pages, or a sink that
//! queued every batch, fails here.
//!
//! The rows are on a device the upstream does not list, so each one is
//! fetched, split, mapped and counted as orphaned, but not stored: the test
//! then weighs the streaming path alone, not the store's page cache, and
//! stays fast in a debug build.

use std::fmt::Write as _;
use std::path::Path;

use crate::harness::{SandboxProcess, Workspace};

const N_ROWS: u64 = 100_000;

/// The cap. Streaming this page peaks far below it; the page alone, held as
/// text (100 MB) and split into records (as much again), would not fit.
const PEAK_RSS_CAP_BYTES: u64 = 128 * 1024 * 1024;

/// Padding that brings a row to about 1 KB, the size of a real export row.
const PADDING: &str =
    "C:\\\\Program Files\\\\Vendor\\\\Product\\\\component-with-a-long-install-path\\\\";

/// A fixtures folder: one listed device, and `N_ROWS` rows on another one.
fn write_fixtures(dir: &Path) {
    let machines = r#"[{"id": "1111111111111111111111111111111111111111", "computerDnsName": "listed.contoso.local", "firstSeen": "2025-01-01T00:00:00Z", "lastSeen": "2026-11-30T08:00:00Z", "osPlatform": "Windows11", "healthStatus": "Active", "onboardingStatus": "Onboarded", "machineTags": []}]"#;
    std::fs::write(dir.join("machines.json"), machines).expect("write machines.json");

    let device = "2222222222222222222222222222222222222222";
    let mut rows = String::with_capacity(110 * 1024 * 1024);
    rows.push('[');
    for index in 0..N_ROWS {
        if index > 0 {
            rows.push(',');
        }
        let cve = format!("CVE-2024-{:05}", index % 90_000 + 10_000);
        let _ = write!(
            rows,
            r#"{{"id": "{device}_app{index}_1.0_{cve}_", "deviceId": "{device}", "deviceName": "unlisted.contoso.local", "softwareVendor": "vendor", "softwareName": "app{index}", "softwareVersion": "1.0", "cveId": "{cve}", "cvssScore": 7.5, "vulnerabilitySeverityLevel": "High", "recommendedSecurityUpdate": "Update", "recommendedSecurityUpdateUrl": null, "diskPaths": ["{PADDING}{PADDING}{PADDING}{PADDING}{PADDING}app.exe", "{PADDING}{PADDING}{PADDING}lib.dll"], "registryPaths": [], "firstSeenTimestamp": "2026-10-01 10:00:00", "lastSeenTimestamp": "2026-11-30 08:00:00"}}"#
        );
    }
    rows.push(']');
    std::fs::write(dir.join("vulnerabilities.json"), rows).expect("write vulnerabilities.json");
}

#[test]
fn a_sync_through_a_100k_row_page_stays_under_the_memory_cap() {
    let fixtures = tempfile::tempdir().expect("temp dir");
    write_fixtures(fixtures.path());
    let fixtures_arg = fixtures.path().to_str().expect("utf-8 path");
    let sandbox = SandboxProcess::start(&["--fixtures", fixtures_arg]);
    let workspace = Workspace::new(
        &sandbox,
        "",
        "page_size = 200000\nenrich_from_catalog = false",
    );

    let summary = workspace.json(&["sync", "lab", "--full", "--format", "json"]);

    // Every row arrived, in one export page, and was mapped.
    let run = &summary["run"];
    assert_eq!(run["outcome"], "succeeded", "{summary}");
    assert_eq!(run["counts"]["skipped"]["orphaned"], N_ROWS, "{summary}");
    assert_eq!(run["counts"]["assets"]["seen"], 1, "{summary}");
    assert_eq!(
        run["requests"], 3,
        "one token, one device page, one export page: {summary}"
    );

    let peak = summary["peak_rss_bytes"]
        .as_u64()
        .expect("the sync reports its peak RSS on Linux");
    assert!(
        peak < PEAK_RSS_CAP_BYTES,
        "peak RSS {} MiB is over the {} MiB cap",
        peak / (1024 * 1024),
        PEAK_RSS_CAP_BYTES / (1024 * 1024)
    );
}

//! Delta syncs through the real binary: changes since the last successful
//! sync applied in event order (an active event beats a fixed one at the same
//! time, an older event never undoes a newer one), and a replayed, overlapping
//! delta changes nothing.

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};

use crate::harness::{SandboxProcess, Workspace};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/tvm-lifecycle"
);
const SETTINGS: &str = "asset_retention_days = 3650";

fn rows(path: &Path) -> Vec<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The row of `cve` in a fixtures file, as a delta event.
fn event(rows: &[Value], cve: &str, status: &str, at: Timestamp) -> Value {
    let mut row = rows.iter().find(|row| row["cveId"] == cve).unwrap().clone();
    row["status"] = json!(status);
    row["eventTimestamp"] = json!(at.strftime("%Y-%m-%d %H:%M:%S").to_string());
    row
}

/// The lifecycle fixtures plus a `day2/changes.json` whose events fall in the
/// current six-hour window, which a delta asked for "since now" still serves.
fn fixtures_with_changes(dir: &Path) {
    for file in ["machines.json", "vulnerabilities.json", "catalog.json"] {
        std::fs::copy(Path::new(FIXTURES).join(file), dir.join(file)).unwrap();
    }
    let day2 = dir.join("day2");
    std::fs::create_dir(&day2).unwrap();
    std::fs::copy(
        Path::new(FIXTURES).join("day2/machines.json"),
        day2.join("machines.json"),
    )
    .unwrap();
    std::fs::copy(
        Path::new(FIXTURES).join("day2/vulnerabilities.json"),
        day2.join("vulnerabilities.json"),
    )
    .unwrap();

    let now = Timestamp::now().as_second();
    let window = Timestamp::from_second(now - now.rem_euclid(6 * 3600)).unwrap();
    let at = |seconds: i64| {
        window
            .checked_add(SignedDuration::from_secs(seconds))
            .unwrap()
    };
    let day1 = rows(&Path::new(FIXTURES).join("vulnerabilities.json"));
    let day2_rows = rows(&Path::new(FIXTURES).join("day2/vulnerabilities.json"));
    let mut orphan = event(&day1, "CVE-2023-3333", "New", at(1));
    orphan["deviceId"] = json!("0000000000000000000000000000000000000000");
    let changes = vec![
        event(&day1, "CVE-2023-2222", "Fixed", at(10)),
        event(&day2_rows, "CVE-2025-4444", "New", at(10)),
        // A device group move: fixed and new at the same time; new wins.
        event(&day1, "CVE-2024-1111", "Fixed", at(20)),
        event(&day1, "CVE-2024-1111", "New", at(20)),
        // Out of order: the newer fix comes first; the older update must not undo it.
        event(&day1, "TVM-2023-0001", "Fixed", at(30)),
        event(&day1, "TVM-2023-0001", "Updated", at(5)),
        orphan,
    ];
    std::fs::write(
        day2.join("changes.json"),
        serde_json::to_string_pretty(&changes).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_delta_applies_changes_in_event_order_and_replays_harmlessly() {
    let fixtures = tempfile::tempdir().unwrap();
    fixtures_with_changes(fixtures.path());
    let sandbox = SandboxProcess::start(&["--fixtures", fixtures.path().to_str().unwrap()]);
    let workspace = Workspace::new(&sandbox, SETTINGS, "");
    let first = workspace.json(&["sync", "lab", "--format", "json"]);
    assert_eq!(first["run"]["mode"], "full", "the first sync is full");
    sandbox.advance_day();

    let delta = workspace.json(&["sync", "lab", "--format", "json"]);
    assert_eq!(delta["run"]["mode"], "delta", "{delta:#}");
    assert_eq!(delta["run"]["outcome"], "succeeded");
    let counts = &delta["run"]["counts"];
    assert_eq!(counts["findings"]["new"], 1, "{counts:#}");
    assert_eq!(counts["findings"]["fixed"], 2, "{counts:#}");
    assert_eq!(counts["skipped"]["orphaned"], 1, "{counts:#}");
    assert_eq!(
        counts["assets"]["archived"],
        json!({}),
        "a delta never archives missing devices"
    );

    let status_of = |workspace: &Workspace| -> Vec<(String, String)> {
        let mut statuses: Vec<(String, String)> = workspace
            .ndjson(&["findings", "lab", "--status", "all", "--format", "ndjson"])
            .iter()
            .map(|f| {
                (
                    f["name"].as_str().unwrap().into(),
                    f["status"].as_str().unwrap().into(),
                )
            })
            .collect();
        statuses.sort();
        statuses
    };
    let expected: Vec<(String, String)> = [
        ("CVE-2023-2222", "fixed"),
        ("CVE-2023-3333", "active"),
        ("CVE-2024-1111", "active"),
        ("CVE-2025-4444", "active"),
        ("TVM-2023-0001", "fixed"),
    ]
    .iter()
    .map(|(name, status)| (name.to_string(), status.to_string()))
    .collect();
    assert_eq!(status_of(&workspace), expected);
    let stats = workspace.json(&["stats", "lab", "--format", "json"]);
    assert_eq!(stats["assets"]["active"], 3, "{stats:#}");
    assert_eq!(stats["findings"]["active"], 3);
    assert_eq!(stats["findings"]["fixed"], 2);

    // The next delta overlaps (same six-hour window): the same events again change nothing.
    let replay = workspace.json(&["sync", "lab", "--format", "json"]);
    assert_eq!(replay["run"]["mode"], "delta");
    let counts = &replay["run"]["counts"]["findings"];
    assert_eq!(
        (
            counts["new"].as_u64(),
            counts["fixed"].as_u64(),
            counts["reopened"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{counts:#}"
    );
    assert_eq!(status_of(&workspace), expected);
    assert_eq!(
        workspace.json(&["stats", "lab", "--format", "json"])["findings"],
        stats["findings"]
    );
}

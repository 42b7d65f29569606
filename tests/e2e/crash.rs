//! `kill -9` of `inlet sync` at chosen points (between pages, after the last
//! page, between reconciliation transactions, before the run is recorded):
//! the store opens afterwards, nothing was archived or fixed unless
//! reconciliation had started, and the next sync reaches exactly the state of
//! an uninterrupted run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::harness::{describe, SandboxProcess, Workspace, CLIENT_SECRET, INLET};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/tvm-lifecycle"
);
const SETTINGS: &str = "asset_retention_days = 3650\nremove_assets_with_status = [\"Inactive\"]";
/// Two rows a page, so the vulnerability export takes several pages.
const CONFIG: &str = "page_size = 2";

/// A workspace whose sandbox already served day 1 (synced cleanly) and now
/// serves day 2.
fn at_day_two() -> (SandboxProcess, Workspace) {
    let sandbox = SandboxProcess::start(&["--fixtures", FIXTURES]);
    let workspace = Workspace::new(&sandbox, SETTINGS, CONFIG);
    workspace.ok(&["sync", "lab", "--full"]);
    sandbox.advance_day();
    (sandbox, workspace)
}

/// Every stored record with its lifecycle state, minus the times that differ
/// between two workspaces (replaced by whether they are set).
fn state(workspace: &Workspace) -> Vec<Value> {
    let mut records = workspace.ndjson(&["assets", "lab", "--status", "all", "--format", "ndjson"]);
    records.extend(workspace.ndjson(&[
        "findings",
        "lab",
        "--status",
        "all",
        "--include-archived",
        "--format",
        "ndjson",
    ]));
    for record in &mut records {
        let object = record.as_object_mut().expect("record");
        for field in [
            "first_ingested_at",
            "last_synced_at",
            "archived_at",
            "fixed_at",
        ] {
            if let Some(value) = object.get_mut(field) {
                *value = Value::Bool(!value.is_null());
            }
        }
    }
    records.sort_by_key(|record| record["id"].to_string());
    records
}

/// Runs `inlet sync lab --full` until it freezes at `point`, then SIGKILLs it.
fn sync_killed_at(workspace: &Workspace, point: &str) {
    let mut child = Command::new(INLET)
        .current_dir(workspace.path())
        .env("E2E_TVM_SECRET", CLIENT_SECRET)
        .env("INLET_TEST_STOP_AT", point)
        .args(["sync", "lab", "--full"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start inlet sync");
    let stderr = child.stderr.take().expect("stderr");
    let marker = format!("inlet: stopped at {point}");
    let reached = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .any(|line| line == marker);
    assert!(reached, "inlet sync ended without reaching {point}");
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

#[test]
fn a_sync_killed_at_any_point_converges_on_the_next_run() {
    // The reference: day 1 and day 2 synced without interruption.
    let (_reference_sandbox, reference) = at_day_two();
    reference.ok(&["sync", "lab", "--full"]);
    let expected = state(&reference);

    // Day 2's first batch holds the devices; later ones the vulnerability pages.
    let before_reconciling = ["batch:1", "batch:2", "batch:3", "fetched:1"];
    let during_reconciling = ["reconcile:1", "reconcile:2", "reconciled:1"];
    for point in before_reconciling.iter().chain(&during_reconciling) {
        let (_sandbox, workspace) = at_day_two();
        let day_one = state(&workspace);
        sync_killed_at(&workspace, point);

        // The store opens and answers; nothing changed status before reconciling.
        let stats = workspace.inlet(&["stats", "lab", "--format", "json"]);
        assert_eq!(
            stats.status.code(),
            Some(0),
            "{point}: {}",
            describe(&stats)
        );
        if before_reconciling.contains(point) {
            let statuses = |records: &[Value]| -> Vec<(Value, Value)> {
                records
                    .iter()
                    .map(|r| (r["id"].clone(), r["status"].clone()))
                    .collect()
            };
            assert_eq!(
                statuses(&state(&workspace)),
                statuses(&day_one),
                "{point}: status changed"
            );
        }

        // The next sync reaches the uninterrupted state and records the kill.
        workspace.ok(&["sync", "lab", "--full"]);
        assert_eq!(
            state(&workspace),
            expected,
            "{point}: state differs from an uninterrupted run"
        );
        let runs = workspace.ndjson(&["runs", "lab", "--format", "ndjson"]);
        let outcomes: Vec<&str> = runs
            .iter()
            .map(|run| run["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(outcomes, ["succeeded", "failed", "succeeded"], "{point}");
        assert!(
            runs[1]["error"]
                .as_str()
                .unwrap()
                .starts_with("interrupted"),
            "{point}: {}",
            runs[1]
        );
    }
}

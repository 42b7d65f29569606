//! `kill -9` of `inlet sync` at chosen points (between pages, after the last
//! page, between reconciliation transactions, before the run is recorded):
//! the store opens afterwards, nothing was archived or fixed unless
//! reconciliation had started, and the next sync reaches exactly the state of
//! an uninterrupted run.

use crate::harness::{state, statuses, sync_killed_at, SandboxProcess, Workspace};

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
        let stats = workspace.stats_after_kill(point);
        assert_eq!(
            stats["last_sync"]["outcome"], "failed",
            "{point}: the killed run shows as failed"
        );
        if before_reconciling.contains(point) {
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

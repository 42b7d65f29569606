//! Two processes on one data folder: while a sync holds it (frozen at a test
//! point), a second `inlet` is refused with a message naming the folder, and
//! `inlet run --once` reports the folder busy without syncing; the store is
//! left as it was and the slot stays due.

use crate::harness::{describe, frozen_at, state, SandboxProcess, Workspace};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/tvm-lifecycle"
);
const SETTINGS: &str = "asset_retention_days = 3650";
const SCHEDULED: &str = "asset_retention_days = 3650\nschedule = { at = \"02:00\" }";
const IN_USE: &str = "is in use by another inlet process";

fn outcomes(workspace: &Workspace) -> Vec<String> {
    let runs = workspace.ndjson(&["runs", "lab", "--format", "ndjson"]);
    let outcomes = runs.iter().filter_map(|run| run["outcome"].as_str());
    outcomes.map(str::to_owned).collect()
}

#[test]
fn a_second_inlet_on_a_busy_data_folder_is_refused() {
    let sandbox = SandboxProcess::start(&["--fixtures", FIXTURES]);
    let workspace = Workspace::new(&sandbox, SETTINGS, "page_size = 2");
    workspace.ok(&["sync", "lab", "--full"]);
    let before = state(&workspace);

    let first = frozen_at(&workspace, "batch:1", &["sync", "lab", "--full"]);
    for args in [
        &["sync", "lab", "--full"][..],
        &["stats", "lab"][..],
        &["findings", "lab", "--format", "json"][..],
    ] {
        let second = workspace.inlet(args);
        assert_eq!(
            second.status.code(),
            Some(1),
            "{args:?}: {}",
            describe(&second)
        );
        let stderr = String::from_utf8_lossy(&second.stderr);
        assert!(
            stderr.contains(IN_USE) && stderr.contains("data`"),
            "{args:?} does not name the busy folder:\n{stderr}"
        );
        assert!(second.stdout.is_empty(), "{args:?} printed data");
    }

    // Once the first is gone the folder opens, as the first left it, and the
    // killed run reads as failed (opening the store proves it is not running).
    first.kill();
    assert_eq!(state(&workspace), before);
    assert_eq!(outcomes(&workspace), ["failed", "succeeded"]);
}

#[test]
fn run_once_does_not_sync_while_a_manual_sync_holds_the_folder() {
    let sandbox = SandboxProcess::start(&["--fixtures", FIXTURES]);
    let workspace = Workspace::new(&sandbox, SCHEDULED, "page_size = 2");
    workspace.ok(&["sync", "lab", "--full"]);
    let before = state(&workspace);

    let manual = frozen_at(&workspace, "batch:1", &["sync", "lab", "--full"]);
    let once = workspace.inlet(&["run", "--once"]);
    assert_eq!(once.status.code(), Some(1), "{}", describe(&once));
    let stderr = String::from_utf8_lossy(&once.stderr);
    assert!(
        stderr.contains(IN_USE),
        "busy folder not reported:\n{stderr}"
    );
    assert!(
        !stderr.contains("scheduled sync starting"),
        "synced concurrently:\n{stderr}"
    );

    // Only the manual sync (killed) ran; the slot is still due afterwards.
    manual.kill();
    assert_eq!(state(&workspace), before);
    assert_eq!(outcomes(&workspace), ["failed", "succeeded"]);
    let once = workspace.inlet(&["run", "--once"]);
    assert_eq!(once.status.code(), Some(0), "{}", describe(&once));
    assert_eq!(outcomes(&workspace), ["succeeded", "failed", "succeeded"]);
}

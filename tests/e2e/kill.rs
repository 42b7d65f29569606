//! `kill -9` of `inlet sync` at 20 points drawn with a seeded RNG from its
//! whole life on a day where reconciliation has work: after each stored
//! batch of a many-page export, after the last page, after each
//! reconciliation transaction, and before the run is recorded. After every
//! kill the store opens, `inlet stats` answers, nothing changed status
//! before reconciliation began, and the next sync reaches the state of an
//! uninterrupted run.
//!
//! The seed is printed; `INLET_KILL_SEED=N` replays a run's points.

use std::collections::HashMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::harness::{
    copy_dir, describe, state, statuses, sync_killed_at, write_tenant_fixtures, SandboxProcess,
    Workspace,
};

const SETTINGS: &str = "asset_retention_days = 3650\nremove_assets_with_status = [\"Inactive\"]";
/// Twelve devices with six rows each in pages of six: a dozen pages a day.
const CONFIG: &str = "page_size = 6";
const DEVICES: u32 = 12;
const VULNS_PER_DEVICE: u32 = 6;
const N_POINTS: usize = 20;
/// Reconciliation commits findings, then assets, each in one transaction
/// while it writes fewer keys than the store's batch (10,000).
const RECONCILE_TRANSACTIONS: u32 = 2;

/// SplitMix64: a small, fixed RNG, so a seed means the same points anywhere.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn seed() -> u64 {
    match std::env::var("INLET_KILL_SEED") {
        Ok(text) => text.parse().expect("INLET_KILL_SEED is a number"),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_nanos() as u64),
    }
}

/// Every point once in a seeded order, then seeded repeats up to `N_POINTS`.
fn choose_points(seed: u64, candidates: &[String]) -> Vec<String> {
    let mut rng = SplitMix(seed);
    let mut shuffled = candidates.to_vec();
    for index in (1..shuffled.len()).rev() {
        shuffled.swap(index, rng.below(index + 1));
    }
    shuffled.truncate(N_POINTS);
    while shuffled.len() < N_POINTS {
        shuffled.push(candidates[rng.below(candidates.len())].clone());
    }
    shuffled
}

/// A workspace with the template's day-1 store, pointed at a fresh sandbox
/// of the same fixtures already moved to day 2 (each sandbox keeps its own
/// rate limits, so the syncs never wait for a quota).
fn at_day_two(fixtures: &str, day_one: &Workspace) -> (SandboxProcess, Workspace) {
    let sandbox = SandboxProcess::start(&["--fixtures", fixtures]);
    sandbox.advance_day();
    let workspace = Workspace::new(&sandbox, SETTINGS, CONFIG);
    copy_dir(&day_one.data_dir(), &workspace.data_dir());
    (sandbox, workspace)
}

/// How many batches a day-2 sync stores, from the engine's debug log.
fn count_batches(workspace: &Workspace) -> u32 {
    let output = workspace
        .command(
            &["sync", "lab", "--full"],
            &[("RUST_LOG", "inlet_engine=debug")],
        )
        .output()
        .expect("run inlet");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr
        .lines()
        .filter(|line| line.contains("batch received"))
        .count() as u32
}

#[test]
fn kill_9_at_seeded_points_converges_on_the_next_run() {
    let fixtures = tempfile::tempdir().expect("temp dir");
    write_tenant_fixtures(fixtures.path(), DEVICES, VULNS_PER_DEVICE);
    let fixtures = fixtures.path().to_str().expect("utf-8 path").to_string();

    // Day 1 synced once; every case starts from a copy of its store.
    let day_one_sandbox = SandboxProcess::start(&["--fixtures", &fixtures]);
    let day_one = Workspace::new(&day_one_sandbox, SETTINGS, CONFIG);
    day_one.ok(&["sync", "lab", "--full"]);
    let day_one_state = state(&day_one);

    // The reference: day 2 synced without interruption.
    let (_reference_sandbox, reference) = at_day_two(&fixtures, &day_one);
    let n_batches = count_batches(&reference);
    let expected = state(&reference);
    assert!(n_batches >= 10, "a many-page export: {n_batches} batches");
    assert_ne!(
        statuses(&expected),
        statuses(&day_one_state),
        "day 2 archives and fixes something"
    );

    let mut candidates: Vec<String> = (1..=n_batches).map(|n| format!("batch:{n}")).collect();
    candidates.push("fetched:1".into());
    candidates.extend((1..=RECONCILE_TRANSACTIONS).map(|n| format!("reconcile:{n}")));
    candidates.push("reconciled:1".into());
    let seed = seed();
    let points = choose_points(seed, &candidates);
    println!("kill seed {seed} (replay with INLET_KILL_SEED={seed}); points: {points:?}");

    for point in &points {
        let (_sandbox, workspace) = at_day_two(&fixtures, &day_one);
        sync_killed_at(&workspace, point);
        check_after_kill(&workspace, point, &day_one_state);

        // The next sync reaches the uninterrupted state and records the kill.
        workspace.ok(&["sync", "lab", "--full"]);
        assert_eq!(state(&workspace), expected, "{point} (seed {seed})");
        let runs = workspace.ndjson(&["runs", "lab", "--format", "ndjson"]);
        let outcomes: Vec<&str> = runs
            .iter()
            .filter_map(|run| run["outcome"].as_str())
            .collect();
        assert_eq!(
            outcomes,
            ["succeeded", "failed", "succeeded"],
            "{point} (seed {seed})"
        );
        let error = runs[1]["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("interrupted"), "{point}: {error}");
    }
}

/// The store opens and answers; before reconciling, nothing changed status.
fn check_after_kill(workspace: &Workspace, point: &str, day_one: &[serde_json::Value]) {
    let stats = workspace.stats_after_kill(point);
    assert!(stats.is_object(), "{point}: {stats}");
    if point.starts_with("batch:") || point.starts_with("fetched:") {
        // New records may be stored already; no known one changed status.
        let now: HashMap<_, _> = statuses(&state(workspace)).into_iter().collect();
        let changed: Vec<_> = statuses(day_one)
            .into_iter()
            .filter(|(id, status)| now.get(id) != Some(status))
            .collect();
        assert!(
            changed.is_empty(),
            "{point}: status changed before reconciling: {changed:?}"
        );
    }
    assert!(Path::new(&workspace.data_dir()).is_dir());
}

//! The fault matrix: each test syncs a generated tenant cleanly from one
//! sandbox, then syncs it again, nothing advanced, from a second sandbox
//! serving the same fixtures with one `--fault` (or a broken config). Either
//! the faulty sync succeeds after retries or it fails with an error naming
//! the condition; in every case nothing is archived or fixed and the store's
//! state equals the clean one.

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{describe, state, write_tenant_fixtures, SandboxProcess, Workspace};

const SETTINGS: &str = "asset_retention_days = 3650\nremove_assets_with_status = [\"Inactive\"]";
/// Six devices with four rows each in pages of four: an export of six
/// pages, each call quick, and a read timeout the slow-page fault exceeds.
const CONFIG: &str = "page_size = 4\nread_timeout_secs = 1\nmax_throttle_wait_secs = 30";
const DEVICES: u32 = 6;
const VULNS_PER_DEVICE: u32 = 4;

/// A faulty sync and what it left behind.
struct FaultyRun {
    output: Output,
    /// The run record of the faulty sync (`sync --format json`).
    run: Value,
    elapsed: Duration,
    clean: Vec<Value>,
    after: Vec<Value>,
    _workspace: Workspace,
}

impl FaultyRun {
    fn error(&self) -> String {
        self.run["error"].as_str().unwrap_or_default().to_string()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

/// Syncs the tenant cleanly, then once more against a sandbox started with
/// `sandbox_args`, after `edit` changed the config (both point at the faulty
/// sandbox first).
fn faulty_sync(sandbox_args: &[&str], edit: impl FnOnce(String) -> String) -> FaultyRun {
    let fixtures = tempfile::tempdir().expect("temp dir");
    write_tenant_fixtures(fixtures.path(), DEVICES, VULNS_PER_DEVICE);
    let fixtures_dir = fixtures.path().to_str().expect("utf-8 path");

    let clean_sandbox = SandboxProcess::start(&["--fixtures", fixtures_dir]);
    let workspace = Workspace::new(&clean_sandbox, SETTINGS, CONFIG);
    workspace.ok(&["sync", "lab", "--full"]);
    let clean = state(&workspace);
    assert_eq!(
        clean.len() as u32,
        DEVICES * (VULNS_PER_DEVICE + 1),
        "the clean sync stored every device and row"
    );

    let mut args = vec!["--fixtures", fixtures_dir, "--seed", "3"];
    args.extend_from_slice(sandbox_args);
    let faulty_sandbox = SandboxProcess::start(&args);
    workspace.retarget(&clean_sandbox, &faulty_sandbox);
    workspace.edit_config(edit);
    let started = Instant::now();
    let output = workspace.inlet(&["sync", "lab", "--full", "--format", "json"]);
    let elapsed = started.elapsed();
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("a JSON report:\n{}", describe(&output)));
    let after = state(&workspace);
    FaultyRun {
        run: report["run"].clone(),
        output,
        elapsed,
        clean,
        after,
        _workspace: workspace,
    }
}

/// What holds after any fault: nothing archived or fixed, the state as clean.
fn assert_nothing_lost(run: &FaultyRun) {
    let counts = &run.run["counts"];
    let archived = counts["assets"]["archived"].as_object().expect("archived");
    assert!(
        archived.values().all(|n| n == 0),
        "archived {archived:?}\n{}",
        describe(&run.output)
    );
    assert_eq!(counts["findings"]["fixed"], 0, "{}", describe(&run.output));
    assert_eq!(run.after, run.clean, "state differs from the clean run");
}

fn assert_succeeded(run: &FaultyRun) {
    assert_eq!(
        run.output.status.code(),
        Some(0),
        "{}",
        describe(&run.output)
    );
    assert_eq!(run.run["outcome"], "succeeded");
    assert_nothing_lost(run);
}

/// Exit 1, a failed run whose error contains every one of `needles`.
fn assert_failed(run: &FaultyRun, needles: &[&str]) {
    assert_eq!(
        run.output.status.code(),
        Some(1),
        "{}",
        describe(&run.output)
    );
    assert_eq!(run.run["outcome"], "failed");
    let error = run.error();
    for needle in needles {
        assert!(error.contains(needle), "{needle:?} not in {error:?}");
    }
    assert_nothing_lost(run);
}

#[test]
fn a_429_storm_is_waited_out() {
    // Every 4th API call is throttled with Retry-After: 1: two or three waits.
    let run = faulty_sync(&["--fault", "throttle=4"], |text| text);
    assert_succeeded(&run);
    assert!(run.run["throttled"].as_u64() >= Some(2), "{}", run.run);
    assert!(run.elapsed >= Duration::from_secs(2), "waited as asked");
}

#[test]
fn an_exhausted_hourly_quota_fails_at_once() {
    let run = faulty_sync(&["--fault", "quota-exhausted"], |text| text);
    assert_failed(&run, &["throttled", "3600 s", "giving up"]);
    assert!(
        run.elapsed < Duration::from_secs(30),
        "gave up within max_throttle_wait_secs: {:?}",
        run.elapsed
    );
}

#[test]
fn server_errors_are_retried() {
    let run = faulty_sync(&["--fault", "error-rate=0.4"], |text| text);
    assert_succeeded(&run);
    assert!(run.run["retries"].as_u64() >= Some(1), "{}", run.run);
}

#[test]
fn a_connection_reset_mid_body_is_retried() {
    let run = faulty_sync(&["--fault", "reset-page=2"], |text| text);
    assert_succeeded(&run);
    assert!(run.run["retries"].as_u64() >= Some(1), "{}", run.run);
}

#[test]
fn a_truncated_page_is_retried() {
    let run = faulty_sync(&["--fault", "truncate-page=3"], |text| text);
    assert_succeeded(&run);
    assert!(run.stderr().contains("before the page is complete"));
}

#[test]
fn an_empty_page_is_retried() {
    let run = faulty_sync(&["--fault", "empty-page=1"], |text| text);
    assert_succeeded(&run);
    assert!(
        run.stderr().contains("the body is empty"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_token_expiring_mid_export_is_renewed() {
    // Tokens last 1 s; the 1 s throttle wait on the 5th call outlives one.
    let run = faulty_sync(&["--fault", "token-ttl=1", "--fault", "throttle=5"], |t| t);
    assert_succeeded(&run);
    assert!(
        run.stderr().contains("token refused; renewing it once"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_token_refused_even_after_renewal_fails() {
    let run = faulty_sync(&["--fault", "token-ttl=0"], |text| text);
    assert_failed(&run, &["401 Unauthorized after the token was renewed"]);
}

#[test]
fn a_foreign_next_link_is_not_followed() {
    let run = faulty_sync(&["--fault", "foreign-next-link"], |text| text);
    assert_failed(
        &run,
        &["next link points at `foreign.invalid:", "not sent there"],
    );
}

#[test]
fn an_unresolvable_sign_in_host_fails_clearly() {
    let run = faulty_sync(&[], |text| {
        let line = text
            .lines()
            .find(|line| line.starts_with("login_url"))
            .expect("login_url line")
            .to_string();
        text.replace(&line, "login_url = \"https://login.invalid\"")
    });
    assert_failed(&run, &["https://login.invalid/", "dns error"]);
}

#[test]
fn a_page_failing_every_retry_names_its_url_without_the_query() {
    // Page 2 (a next link with a `$skiptoken`) is reset on all five attempts.
    let faults = [
        "reset-page=2",
        "reset-page=3",
        "reset-page=4",
        "reset-page=5",
        "reset-page=6",
    ];
    let args: Vec<&str> = faults.iter().flat_map(|fault| ["--fault", fault]).collect();
    let run = faulty_sync(&args, |text| text);
    assert_failed(
        &run,
        &["/api/machines/SoftwareVulnerabilitiesByMachine`", "failed"],
    );
    let stdout = String::from_utf8_lossy(&run.output.stdout);
    for text in [stdout.as_ref(), run.stderr().as_str()] {
        assert!(
            !text.contains("skiptoken") && !text.contains("SoftwareVulnerabilitiesByMachine?"),
            "a query string was shown:\n{text}"
        );
    }
}

#[test]
fn a_page_stalling_past_the_read_timeout_is_retried() {
    // The second page's body stalls 10 s; the read timeout is 1 s.
    let run = faulty_sync(&["--fault", "slow-page=2"], |text| text);
    assert_succeeded(&run);
    assert!(run.run["retries"].as_u64() >= Some(1), "{}", run.run);
    assert!(
        run.elapsed < Duration::from_secs(10),
        "gave up on the stalled body instead of waiting it out: {:?}",
        run.elapsed
    );
}

//! `inlet run`: the scheduler daemon as a real process against the fixtures
//! sandbox, and `inlet run --once`. The tests wait on the daemon's log lines,
//! never on the clock: a schedule never handled has its latest slot due, so a
//! fresh workspace syncs at once whatever the time of day.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{describe, SandboxProcess, Workspace, CLIENT_SECRET, INLET};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/tvm-lifecycle"
);
const SCHEDULED: &str = "asset_retention_days = 3650\n\
    schedule = { days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"], at = \"02:00\", timezone = \"Europe/Berlin\" }";
/// Longest wait for a log line the daemon is expected to write.
const LINE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for the daemon to exit after SIGTERM.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// Appends an instance without a schedule, with the same connector config.
fn add_unscheduled_instance(workspace: &Workspace, name: &str) {
    let path = workspace.path().join("inlet.toml");
    let text = std::fs::read_to_string(&path).expect("read config");
    let (_, config) = text
        .split_once("[instance.config]")
        .expect("an [instance.config] table");
    let extra = format!(
        "\n[[instance]]\nname = \"{name}\"\nconnector = \"microsoft-tvm\"\n\n[instance.config]{config}"
    );
    std::fs::write(&path, text + &extra).expect("write config");
}

/// Points the workspace's instances at another sandbox.
fn repoint(workspace: &Workspace, from: &SandboxProcess, to: &SandboxProcess) {
    let path = workspace.path().join("inlet.toml");
    let text = std::fs::read_to_string(&path).expect("read config");
    std::fs::write(&path, text.replace(&from.base_url, &to.base_url)).expect("write config");
}

fn runs(workspace: &Workspace, instance: &str) -> Vec<Value> {
    let list = workspace.json(&["runs", instance, "--format", "json"]);
    list.as_array().expect("runs array").clone()
}

/// `inlet run` in the background, its stderr lines arriving on a channel.
struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    fn start(workspace: &Workspace) -> Self {
        let mut child = Command::new(INLET)
            .current_dir(workspace.path())
            .env("E2E_TVM_SECRET", CLIENT_SECRET)
            .env_remove("RUST_LOG")
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start inlet run");
        let stderr = child.stderr.take().expect("stderr");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `text` and returns it.
    fn wait_for(&mut self, text: &str) -> String {
        loop {
            match self.lines.recv_timeout(LINE_TIMEOUT) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(error) => panic!(
                    "no line with {text:?} ({error}); the daemon wrote:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Sends SIGTERM and waits for the process to close stderr and exit;
    /// returns the exit code and every line it wrote.
    fn terminate(mut self) -> (Option<i32>, Vec<String>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        loop {
            match self.lines.recv_timeout(EXIT_TIMEOUT) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "the daemon did not exit within {EXIT_TIMEOUT:?} of SIGTERM:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
        let code = self.child.wait().expect("wait for the daemon").code();
        (code, std::mem::take(&mut self.seen))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn run_once_syncs_what_is_due_once_and_never_an_unscheduled_instance() {
    let sandbox = SandboxProcess::start(&["--fixtures", FIXTURES]);
    let workspace = Workspace::new(&sandbox, SCHEDULED, "");
    add_unscheduled_instance(&workspace, "manual");

    // Never handled: the latest slot is due.
    let output = workspace.inlet(&["run", "--once"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("scheduled sync starting"), "{stderr}");
    assert!(stderr.contains("no schedule; syncs only with `inlet sync` instance=manual"));
    let lab = runs(&workspace, "lab");
    assert_eq!(lab.len(), 1);
    assert_eq!(lab[0]["outcome"], "succeeded");
    assert!(
        runs(&workspace, "manual").is_empty(),
        "manual syncs only when asked"
    );

    // The slot is handled now: a second run has nothing due.
    let output = workspace.inlet(&["run", "--once"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nothing due"), "{stderr}");
    assert!(!stderr.contains("scheduled sync starting"), "{stderr}");
    assert_eq!(runs(&workspace, "lab").len(), 1);
}

#[test]
fn run_without_any_schedule_is_a_usage_error() {
    let sandbox = SandboxProcess::start(&["--fixtures", FIXTURES]);
    let workspace = Workspace::new(&sandbox, "", "");
    let output = workspace.inlet(&["run", "--once"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no instance in `inlet.toml` has a schedule"),
        "{stderr}"
    );
    assert!(!workspace.data_dir().exists(), "nothing was opened");
}

#[test]
fn the_daemon_syncs_the_missed_slot_frees_the_store_and_stops_on_sigterm() {
    let sandbox = SandboxProcess::start(&["--fixtures", FIXTURES]);
    let workspace = Workspace::new(&sandbox, SCHEDULED, "");
    let mut daemon = Daemon::start(&workspace);

    let scheduled = daemon.wait_for("instance scheduled");
    assert!(scheduled.contains("next_run=") && scheduled.contains("[Europe/Berlin]"));
    daemon.wait_for("scheduled sync starting");
    daemon.wait_for("scheduled sync finished");
    let next = daemon.wait_for("next scheduled run");
    assert!(
        next.contains("T02:00:00+0") && next.contains("[Europe/Berlin]"),
        "{next}"
    );

    // While the daemon waits for the next slot the data folder is free.
    let manual = workspace.json(&["sync", "lab", "--format", "json"]);
    assert_eq!(manual["run"]["outcome"], "succeeded", "{manual:#}");
    let history = runs(&workspace, "lab");
    assert_eq!(history.len(), 2, "the scheduled sync and the manual one");

    let (code, lines) = daemon.terminate();
    assert_eq!(code, Some(0), "{}", lines.join("\n"));
    assert!(
        lines
            .iter()
            .any(|line| line.contains("scheduler stopping") && line.contains("SIGTERM")),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn sigterm_during_a_scheduled_sync_fails_it_reconciles_nothing_and_keeps_the_slot_due() {
    let sandbox = SandboxProcess::start(&["--fixtures", FIXTURES]);
    // Every API call of this one answers 429 with an hour's Retry-After.
    let stuck = SandboxProcess::start(&["--fixtures", FIXTURES, "--fault", "quota-exhausted"]);
    let workspace = Workspace::new(&sandbox, SCHEDULED, "max_throttle_wait_secs = 7200");
    workspace.ok(&["sync", "lab", "--full"]);
    let before = workspace.json(&["stats", "lab", "--format", "json"]);

    // The scheduled sync waits out the quota when the signal comes.
    repoint(&workspace, &sandbox, &stuck);
    let mut daemon = Daemon::start(&workspace);
    daemon.wait_for("scheduled sync starting");
    daemon.wait_for("throttled; waiting as asked");
    let (code, lines) = daemon.terminate();
    assert_eq!(code, Some(0), "{}", lines.join("\n"));

    let history = runs(&workspace, "lab");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["outcome"], "failed", "{:#}", history[0]);
    let error = history[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("interrupted by SIGTERM"), "{error}");
    let after = workspace.json(&["stats", "lab", "--format", "json"]);
    assert_eq!(after["assets"], before["assets"], "nothing archived");
    assert_eq!(after["findings"], before["findings"], "nothing fixed");

    // The interrupted slot was not recorded as handled: the next start runs it.
    repoint(&workspace, &stuck, &sandbox);
    let output = workspace.inlet(&["run", "--once"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let history = runs(&workspace, "lab");
    assert_eq!(history.len(), 3);
    assert_eq!(history[0]["outcome"], "succeeded");
}

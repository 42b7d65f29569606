//! What every end-to-end test needs: the real `inlet` binary, a sandbox
//! upstream served by `inlet sandbox` in its own process, a fresh folder
//! with a config pointing at it, a generated fixtures tenant of any size, the
//! comparable state of a store, and a sync frozen (then killed) at a test
//! point.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};

use serde_json::{json, Value};

/// The binary under test, built by cargo for this test target.
pub const INLET: &str = env!("CARGO_BIN_EXE_inlet");

pub const TENANT_ID: &str = "00000000-0000-0000-0000-0000000e2e01";
pub const CLIENT_ID: &str = "11111111-1111-1111-1111-1111111e2e01";
pub const CLIENT_SECRET: &str = "e2e-secret-Zq8v-never-logged";

/// `inlet sandbox microsoft-tvm` running in a child process.
pub struct SandboxProcess {
    child: Child,
    pub base_url: String,
}

impl SandboxProcess {
    /// Starts the sandbox with the test credentials plus `args`, and waits for
    /// its `listening on URL` line.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(INLET)
            .args(["sandbox", "microsoft-tvm", "--listen", "127.0.0.1:0"])
            .args([
                "--tenant-id",
                TENANT_ID,
                "--client-id",
                CLIENT_ID,
                "--client-secret",
                CLIENT_SECRET,
            ])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start inlet sandbox");
        let stdout = child.stdout.take().expect("sandbox stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read sandbox address");
        let base_url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the sandbox: {line:?}"))
            .to_string();
        Self { child, base_url }
    }

    /// `POST /_sandbox/advance-day`; returns the response body.
    pub fn advance_day(&self) -> String {
        self.control("POST", "/_sandbox/advance-day")
    }

    /// `GET /_sandbox/tokens`: every bearer token the sandbox issued so far.
    pub fn issued_tokens(&self) -> Vec<String> {
        let body: Value =
            serde_json::from_str(&self.control("GET", "/_sandbox/tokens")).expect("tokens json");
        let tokens = body["tokens"].as_array().expect("a token list");
        tokens
            .iter()
            .filter_map(|token| token.as_str().map(str::to_owned))
            .collect()
    }

    /// One request to a `/_sandbox` control endpoint; returns the body of
    /// its 200 answer.
    pub fn control(&self, method: &str, path: &str) -> String {
        let address = self.base_url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("connect to sandbox");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).expect("send request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read response");
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "{method} {path} failed: {response}"
        );
        response
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string()
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temp folder with an `inlet.toml` whose instance `lab` points at a sandbox.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    /// `settings` are extra instance settings lines (e.g. `max_fix_percent = 100`).
    pub fn new(sandbox: &SandboxProcess, settings: &str, config: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = format!(
            "data_dir = \"data\"\n\n[[instance]]\nname = \"lab\"\nconnector = \"microsoft-tvm\"\n{settings}\n\n[instance.config]\ntenant_id = \"{TENANT_ID}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = {{ env = \"E2E_TVM_SECRET\" }}\napi_url = \"{url}\"\nlogin_url = \"{url}\"\n{config}\n",
            url = sandbox.base_url
        );
        std::fs::write(dir.path().join("inlet.toml"), text).expect("write config");
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("inlet.toml")
    }

    /// Rewrites `inlet.toml` through `edit`, e.g. to point it at another
    /// sandbox serving the same data.
    pub fn edit_config(&self, edit: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(self.config_path()).expect("read config");
        std::fs::write(self.config_path(), edit(text)).expect("write config");
    }

    /// Points the config's API and sign-in URLs from `from` to `to`.
    pub fn retarget(&self, from: &SandboxProcess, to: &SandboxProcess) {
        self.edit_config(|text| text.replace(&from.base_url, &to.base_url));
    }

    /// `inlet` in the folder with extra environment variables, not waited for.
    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(INLET);
        command
            .current_dir(self.dir.path())
            .env("E2E_TVM_SECRET", CLIENT_SECRET)
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .args(args);
        command
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs `inlet` in the folder with the given arguments.
    pub fn inlet(&self, args: &[&str]) -> Output {
        self.command(args, &[]).output().expect("run inlet")
    }

    /// Runs `inlet`, asserts exit code 0, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.inlet(args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "inlet {args:?} failed:\n{}",
            describe(&output)
        );
        String::from_utf8(output.stdout).expect("utf-8 stdout")
    }

    /// Runs `inlet ... --format ndjson` style commands and parses each line.
    pub fn ndjson(&self, args: &[&str]) -> Vec<Value> {
        self.ok(args)
            .lines()
            .map(|line| serde_json::from_str(line).expect("ndjson line"))
            .collect()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("json output")
    }

    /// `inlet stats lab` after a process was killed at `point`: the store
    /// must open and answer, whatever the kill interrupted.
    pub fn stats_after_kill(&self, point: &str) -> Value {
        let stats = self.inlet(&["stats", "lab", "--format", "json"]);
        assert_eq!(
            stats.status.code(),
            Some(0),
            "{point}: {}",
            describe(&stats)
        );
        serde_json::from_slice(&stats.stdout).expect("stats json")
    }
}

/// Exit code, stdout and stderr of a command, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every stored record of instance `lab` with its lifecycle state, minus the
/// times that differ between two workspaces (replaced by whether they are
/// set), sorted by id: two stores that synced the same upstream the same way
/// have equal states.
pub fn state(workspace: &Workspace) -> Vec<Value> {
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

/// Each record's id and status, to compare what changed status.
pub fn statuses(records: &[Value]) -> Vec<(Value, Value)> {
    records
        .iter()
        .map(|record| (record["id"].clone(), record["status"].clone()))
        .collect()
}

/// A process frozen at an `INLET_TEST_STOP_AT` point; killed on drop.
pub struct Frozen {
    pub child: Child,
    /// Kept open so the frozen process never writes into a closed pipe.
    stderr: Option<BufReader<ChildStderr>>,
}

impl Frozen {
    /// SIGKILLs the process and reaps it.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `inlet ARGS` with `INLET_TEST_STOP_AT=point` and waits until it
/// says it froze there.
pub fn frozen_at(workspace: &Workspace, point: &str, args: &[&str]) -> Frozen {
    let mut child = workspace
        .command(args, &[("INLET_TEST_STOP_AT", point)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start inlet");
    // Owned by `Frozen` at once, so any panic below still kills and reaps it.
    let stderr = child.stderr.take().map(BufReader::new);
    let mut frozen = Frozen { child, stderr };
    let stderr = frozen.stderr.as_mut().expect("stderr");
    let marker = format!("inlet: stopped at {point}");
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n_read = stderr.read_line(&mut line).expect("read stderr");
        assert!(
            n_read > 0,
            "inlet {args:?} ended without reaching {point}:\n{seen}"
        );
        if line.trim_end() == marker {
            return frozen;
        }
        seen.push_str(&line);
    }
}

/// Runs `inlet sync lab --full` until it freezes at `point`, then SIGKILLs it.
pub fn sync_killed_at(workspace: &Workspace, point: &str) {
    frozen_at(workspace, point, &["sync", "lab", "--full"]).kill();
}

/// A generated fixtures tenant: `devices` devices with `vulns_per_device`
/// vulnerability rows each on day 1 (the folder itself), and a `day2/`
/// where reconciliation has work: the first device is gone, the second is
/// `Inactive`, every third device lost a vulnerability and every fourth
/// gained one.
pub fn write_tenant_fixtures(dir: &Path, devices: u32, vulns_per_device: u32) {
    let day1: Vec<u32> = (0..devices).collect();
    write_day(dir, &day1, vulns_per_device, false);
    let day2_dir = dir.join("day2");
    std::fs::create_dir_all(&day2_dir).expect("create day2");
    let day2: Vec<u32> = (1..devices).collect();
    write_day(&day2_dir, &day2, vulns_per_device, true);
}

fn device_id(device: u32) -> String {
    format!("{device:040x}")
}

fn write_day(dir: &Path, devices: &[u32], vulns_per_device: u32, day2: bool) {
    let machines: Vec<Value> = devices
        .iter()
        .map(|&device| {
            let status = if day2 && device == 1 {
                "Inactive"
            } else {
                "Active"
            };
            json!({
                "id": device_id(device),
                "computerDnsName": format!("host-{device}.lab.local"),
                "firstSeen": "2025-01-01T00:00:00Z",
                "lastSeen": if day2 { "2026-12-01T08:00:00Z" } else { "2026-11-30T08:00:00Z" },
                "osPlatform": "Windows11",
                "lastIpAddress": format!("10.0.{}.{}", device / 250, device % 250 + 1),
                "healthStatus": status,
                "onboardingStatus": "Onboarded",
                "rbacGroupId": 7,
                "machineTags": ["e2e"]
            })
        })
        .collect();
    let mut rows = Vec::new();
    for &device in devices {
        let lost = u32::from(day2 && device % 3 == 0);
        let gained = u32::from(day2 && device % 4 == 0);
        for vuln in lost..vulns_per_device + gained {
            rows.push(vulnerability_row(device, vuln, day2));
        }
    }
    let write = |name: &str, value: &Vec<Value>| {
        let text = serde_json::to_vec_pretty(value).expect("json");
        std::fs::write(dir.join(name), text).expect("write fixture");
    };
    write("machines.json", &machines);
    write("vulnerabilities.json", &rows);
}

fn vulnerability_row(device: u32, vuln: u32, day2: bool) -> Value {
    let device_id = device_id(device);
    let severity = ["Low", "Medium", "High", "Critical"][vuln as usize % 4];
    let cve = format!("CVE-2026-{:04}", 1000 + vuln);
    let version = format!("{}.0", vuln + 1);
    json!({
        "id": format!("{device_id}_app{vuln}_{version}_{cve}_"),
        "deviceId": device_id,
        "deviceName": format!("host-{device}.lab.local"),
        "softwareVendor": "vendor",
        "softwareName": format!("app{vuln}"),
        "softwareVersion": version,
        "cveId": cve,
        "cvssScore": 4.0 + f64::from(vuln % 6),
        "vulnerabilitySeverityLevel": severity,
        "recommendedSecurityUpdate": null,
        "diskPaths": [],
        "registryPaths": [],
        "firstSeenTimestamp": "2026-10-01 10:00:00",
        "lastSeenTimestamp": if day2 { "2026-12-01 08:00:00" } else { "2026-11-30 08:00:00" }
    })
}

/// Copies the folder `from` (e.g. a closed store) to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read folder") {
        let entry = entry.expect("folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

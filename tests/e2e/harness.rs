//! What every end-to-end test needs: the real `inlet` binary, a sandbox
//! upstream served by `inlet sandbox` in its own process, and a fresh folder
//! with a config pointing at it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

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
        let address = self.base_url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).expect("connect to sandbox");
        let request = format!(
            "POST /_sandbox/advance-day HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .expect("send advance-day");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read advance-day");
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "advance-day failed: {response}"
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

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs `inlet` in the folder with the given arguments.
    pub fn inlet(&self, args: &[&str]) -> Output {
        Command::new(INLET)
            .current_dir(self.dir.path())
            .env("E2E_TVM_SECRET", CLIENT_SECRET)
            .env_remove("RUST_LOG")
            .args(args)
            .output()
            .expect("run inlet")
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

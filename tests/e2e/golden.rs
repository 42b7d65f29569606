//! Every listing command in every format, against a store filled by two real
//! syncs of the fixtures sandbox (day 1, then day 2 with an archived asset and
//! a fixed finding), compared byte for byte with the files in tests/golden/.
//!
//! What changes from run to run is masked first: sync times become
//! `<run-N-start>` / `<run-N-end>` (so `archived_at = <run-2-start>` still
//! says which sync archived), run ids `<run-N>`, durations `<secs>`. Tables
//! are re-aligned after masking. `UPDATE_GOLDEN=1 cargo test -p inlet --test
//! e2e golden` rewrites the files; review the diff before committing it.
//!
//! Also here: `| head` on every format closes the pipe early and `inlet`
//! still exits 0 with nothing on stderr.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::harness::{describe, SandboxProcess, Workspace, CLIENT_SECRET, INLET};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/tvm-lifecycle"
);
const GOLDEN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/golden");
const SETTINGS: &str = "asset_retention_days = 3650\nremove_assets_with_status = [\"Inactive\"]";

/// Each listing: its golden file's stem and the arguments after `inlet`.
const LISTINGS: [(&str, &[&str]); 6] = [
    ("assets-all", &["assets", "lab", "--status", "all"]),
    (
        "assets-archived",
        &["assets", "lab", "--status", "archived"],
    ),
    (
        "findings-all",
        &["findings", "lab", "--status", "all", "--include-archived"],
    ),
    ("findings-fixed", &["findings", "lab", "--status", "fixed"]),
    ("runs", &["runs", "lab"]),
    ("quarantine", &["quarantine", "lab"]),
];

/// Each format with its golden file's extension.
const FORMATS: [(&str, &str); 4] = [
    ("table", "txt"),
    ("json", "json"),
    ("ndjson", "ndjson"),
    ("csv", "csv"),
];

/// Values that differ between two runs of this test, and their masks.
struct Masks {
    /// Exact text and its replacement, longest first.
    texts: Vec<(String, String)>,
    /// Run ids, oldest first: id `runs[i]` is `<run-{i+1}>`.
    runs: Vec<u64>,
}

impl Masks {
    /// Reads the volatile values from the run history.
    fn from_runs(workspace: &Workspace) -> Self {
        let history = workspace.json(&["runs", "lab", "--format", "json"]);
        let mut runs: Vec<&Value> = history.as_array().expect("runs array").iter().collect();
        runs.reverse();
        let mut texts = Vec::new();
        let mut ids = Vec::new();
        for (index, run) in runs.iter().enumerate() {
            let n = index + 1;
            let text = |field: &str| run[field].as_str().expect("a time").to_string();
            texts.push((text("started_at"), format!("<run-{n}-start>")));
            texts.push((text("finished_at"), format!("<run-{n}-end>")));
            ids.push(run["id"].as_u64().expect("run id"));
        }
        texts.sort_by_key(|(text, _)| std::cmp::Reverse(text.len()));
        Self { texts, runs: ids }
    }

    fn run_mask(&self, id: u64) -> Option<String> {
        let index = self.runs.iter().position(|run| *run == id)?;
        Some(format!("<run-{}>", index + 1))
    }

    /// Masks times, then run ids where they stand as ids.
    fn text(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (value, mask) in &self.texts {
            text = text.replace(value, mask);
        }
        for (index, id) in self.runs.iter().enumerate().rev() {
            let mask = format!("<run-{}>", index + 1);
            for (before, after) in [
                (format!("\"id\":{id},"), format!("\"id\":\"{mask}\",")),
                (format!("\"id\": {id},"), format!("\"id\": \"{mask}\",")),
                (
                    format!("\"run_id\":{id},"),
                    format!("\"run_id\":\"{mask}\","),
                ),
                (format!("run {id} ("), format!("run {mask} (")),
            ] {
                text = text.replace(&before, &after);
            }
            // The first CSV column of `runs` and `quarantine` is the run id.
            text = text
                .lines()
                .map(|line| match line.strip_prefix(&format!("{id},")) {
                    Some(rest) => format!("{mask},{rest}\n"),
                    None => format!("{line}\n"),
                })
                .collect();
        }
        text
    }

    /// A table masked cell by cell, then aligned again.
    fn table(&self, text: &str) -> String {
        let mut lines = text.lines();
        let header = lines.next().expect("a header line");
        let starts = column_starts(header);
        let names = cells(header, &starts);
        let mut rows = vec![names.clone()];
        for line in lines {
            let row = cells(line, &starts);
            rows.push(
                row.iter()
                    .zip(&names)
                    .map(|(cell, name)| self.cell(name, cell))
                    .collect(),
            );
        }
        render_table(&rows)
    }

    fn cell(&self, column: &str, cell: &str) -> String {
        match column {
            "RUN" if !cell.is_empty() => {
                let id = cell.parse().expect("a run id");
                self.run_mask(id).expect("a known run")
            }
            "STARTED" => "<started>".into(),
            "SECS" => "<secs>".into(),
            _ => self.text(cell).trim_end_matches('\n').to_string(),
        }
    }
}

/// Where each column of an `inlet` table starts: its header names are
/// separated by two spaces or more.
fn column_starts(header: &str) -> Vec<usize> {
    let chars: Vec<char> = header.chars().collect();
    let mut starts = vec![0];
    let mut index = 0;
    while index + 1 < chars.len() {
        if chars[index] == ' ' && chars[index + 1] == ' ' {
            let mut next = index;
            while next < chars.len() && chars[next] == ' ' {
                next += 1;
            }
            starts.push(next);
            index = next;
        } else {
            index += 1;
        }
    }
    starts
}

/// A table line cut at the header's column starts; asserts the alignment
/// (two spaces before every column).
fn cells(line: &str, starts: &[usize]) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut cells = Vec::new();
    for (index, start) in starts.iter().enumerate() {
        let end = starts.get(index + 1).copied().unwrap_or(chars.len());
        let end = end.min(chars.len());
        if index > 0 && *start <= chars.len() {
            assert_eq!(
                chars.get(start - 2..*start),
                Some(&[' ', ' '][..]),
                "column {index} is not aligned in {line:?}"
            );
        }
        let cell: String = chars
            .get((*start).min(end)..end)
            .unwrap_or_default()
            .iter()
            .collect();
        cells.push(cell.trim_end().to_string());
    }
    cells
}

/// The table layout of `inlet`: columns padded to their widest cell, two
/// spaces apart, no trailing blanks.
fn render_table(rows: &[Vec<String>]) -> String {
    let mut widths = vec![0; rows[0].len()];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(&format!("{cell:<width$}  "));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Compares with a golden file, or rewrites it under `UPDATE_GOLDEN=1`;
/// returns a description of the difference.
fn compare(name: &str, actual: &str) -> Option<String> {
    let path = Path::new(GOLDEN_DIR).join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(GOLDEN_DIR).expect("create tests/golden");
        std::fs::write(&path, actual).expect("write golden file");
        return None;
    }
    let expected = match std::fs::read_to_string(&path) {
        Ok(expected) => expected,
        Err(_) => return Some(format!("{name}: no golden file at {}", path.display())),
    };
    (expected != actual)
        .then(|| format!("{name} differs:\n--- expected\n{expected}\n--- actual\n{actual}"))
}

/// Two days of the fixtures sandbox synced into a fresh store.
fn two_days() -> (SandboxProcess, Workspace) {
    let sandbox = SandboxProcess::start(&["--fixtures", FIXTURES]);
    let workspace = Workspace::new(&sandbox, SETTINGS, "");
    workspace.ok(&["sync", "lab", "--full"]);
    sandbox.advance_day();
    workspace.ok(&["sync", "lab", "--full"]);
    (sandbox, workspace)
}

#[test]
fn every_listing_in_every_format_matches_its_golden_file() {
    let (_sandbox, workspace) = two_days();
    let masks = Masks::from_runs(&workspace);
    assert_eq!(masks.runs.len(), 2);

    let mut differences = Vec::new();
    let mut check = |name: String, args: Vec<&str>, table: bool| {
        let output = workspace.ok(&args);
        let masked = if table {
            masks.table(&output)
        } else {
            masks.text(&output)
        };
        differences.extend(compare(&name, &masked));
    };
    for (stem, args) in LISTINGS {
        for (format, extension) in FORMATS {
            let mut args = args.to_vec();
            args.extend(["--format", format]);
            check(format!("{stem}.{extension}"), args, format == "table");
        }
    }
    // The defaults (active records, table) and the stats report.
    check("assets-active.txt".into(), vec!["assets", "lab"], true);
    check("findings-active.txt".into(), vec!["findings", "lab"], true);
    check("stats.txt".into(), vec!["stats", "lab"], true);
    check(
        "stats.json".into(),
        vec!["stats", "lab", "--format", "json"],
        false,
    );

    assert!(
        differences.is_empty(),
        "{}\n\nIf the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff of tests/golden/.",
        differences.join("\n\n")
    );
}

#[test]
fn golden_masks_keep_structure_and_hide_only_volatile_values() {
    let (_sandbox, workspace) = two_days();
    let masks = Masks::from_runs(&workspace);
    let csv = masks.text(&workspace.ok(&["runs", "lab", "--format", "csv"]));
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("id,started_at,finished_at,mode,outcome,"));
    assert!(lines[1].starts_with("<run-2>,<run-2-start>,<run-2-end>,full,succeeded,"));
    assert!(lines[2].starts_with("<run-1>,<run-1-start>,<run-1-end>,full,succeeded,"));

    // The asset archived on day 2 says so through its masked time.
    let archived = masks.text(&workspace.ok(&[
        "assets", "lab", "--status", "archived", "--format", "ndjson",
    ]));
    let archived: Value = serde_json::from_str(archived.trim()).expect("one asset");
    assert_eq!(archived["archived_at"], "<run-2-start>");
    assert_eq!(archived["first_ingested_at"], "<run-1-start>");
    assert_eq!(archived["last_synced_at"], "<run-1-start>");
}

/// A workspace on a synthetic tenant big enough that every listing format
/// overflows a pipe's buffer.
fn big_workspace() -> (SandboxProcess, Workspace) {
    let sandbox = SandboxProcess::start(&["--devices", "60", "--vulns-per-device", "20"]);
    let workspace = Workspace::new(&sandbox, "", "");
    // Only the owner may read the config, so `inlet` has no warning to give.
    let config = workspace.path().join("inlet.toml");
    set_owner_only(&config);
    workspace.ok(&["sync", "lab"]);
    (sandbox, workspace)
}

#[cfg(unix)]
fn set_owner_only(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

#[cfg(not(unix))]
fn set_owner_only(_path: &Path) {}

/// Runs `inlet ARGS`, reads one line of its stdout, closes the pipe, and
/// returns the line with the exit code and stderr.
fn first_line_then_close(dir: PathBuf, args: &[&str]) -> (String, Option<i32>, String) {
    let mut child = Command::new(INLET)
        .current_dir(dir)
        .env("E2E_TVM_SECRET", CLIENT_SECRET)
        .env_remove("RUST_LOG")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start inlet");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the first line");
    // The reader is dropped here: the pipe is closed, as `head -1` does.
    let output = child.wait_with_output().expect("wait for inlet");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (line, output.status.code(), stderr)
}

#[test]
fn a_closed_pipe_ends_every_listing_quietly_with_exit_0() {
    let (_sandbox, workspace) = big_workspace();
    let n_bytes = workspace
        .ok(&["findings", "lab", "--format", "ndjson"])
        .len();
    assert!(
        n_bytes > 256 * 1024,
        "the listing must overflow a pipe: {n_bytes} bytes"
    );

    for (format, first) in [
        ("table", "ASSET"),
        ("json", "["),
        ("ndjson", "{\"instance\":\"lab\""),
        ("csv", "instance,connector,id,asset_id,"),
    ] {
        let args = ["findings", "lab", "--status", "all", "--format", format];
        let (line, code, stderr) = first_line_then_close(workspace.path().into(), &args);
        assert!(line.starts_with(first), "{format}: {line:?}");
        assert_eq!(code, Some(0), "{format}: exit code; stderr:\n{stderr}");
        assert_eq!(stderr, "", "{format}: nothing on stderr");
    }
    let (line, code, stderr) = first_line_then_close(
        workspace.path().into(),
        &["assets", "lab", "--format", "ndjson"],
    );
    assert!(line.starts_with("{\"instance\":\"lab\""), "{line:?}");
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
}

#[test]
fn progress_off_a_terminal_is_log_lines_never_bars() {
    let sandbox = SandboxProcess::start(&["--fixtures", FIXTURES]);
    let workspace = Workspace::new(&sandbox, SETTINGS, "");
    let output = workspace.inlet(&["sync", "lab", "--log-format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in stderr.lines() {
        let parsed: Result<Value, _> = serde_json::from_str(line);
        assert!(parsed.is_ok(), "a stderr line that is not JSON: {line:?}");
    }
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "{stderr:?}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("sync of `lab` succeeded"), "{stdout}");
}

#[test]
fn completion_scripts_cover_every_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    for shell in ["bash", "zsh", "fish"] {
        let output = Command::new(INLET)
            .current_dir(dir.path())
            .args(["completions", shell])
            .output()
            .expect("run inlet completions");
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        let script = String::from_utf8(output.stdout).expect("utf-8 script");
        for command in ["sync", "run", "findings", "quarantine", "completions"] {
            assert!(script.contains(command), "{shell}: no `{command}`");
        }
        if shell == "bash" {
            let path = dir.path().join("inlet.bash");
            std::fs::write(&path, &script).expect("write script");
            let checked = Command::new("bash")
                .arg("-n")
                .arg(&path)
                .output()
                .expect("run bash -n");
            assert!(checked.status.success(), "{}", describe(&checked));
        }
    }
    let output = Command::new(INLET)
        .args(["completions", "powershell"])
        .output()
        .expect("run inlet completions");
    assert_eq!(
        output.status.code(),
        Some(2),
        "an unsupported shell is bad usage"
    );
}

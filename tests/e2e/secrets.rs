//! Secret hygiene through the real binary: at every log level up to trace,
//! in both log formats, in every output format of every listing and report,
//! and in every byte of the data folder, neither the client secret nor any
//! bearer token the sandbox issued appears. A config file others can read
//! draws a warning; one with mode 0600 does not.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use crate::harness::{describe, SandboxProcess, Workspace, CLIENT_SECRET};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/tvm-lifecycle"
);
const SETTINGS: &str = "asset_retention_days = 3650";
const READABLE_WARNING: &str = "config file is readable by other users";

/// Every file under `dir`, with its bytes.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read folder") {
        let path = entry.expect("folder entry").path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            let bytes = std::fs::read(&path).expect("read file");
            files.push((path.display().to_string(), bytes));
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The syncs at each log level and format, then every listing in every format.
fn every_output(workspace: &Workspace) -> Vec<(String, Output)> {
    let mut outputs = Vec::new();
    type Level<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
    let levels: [Level; 4] = [
        (&[], &[]),
        (&["-v"], &[]),
        (&["-vv"], &[]),
        (&[], &[("RUST_LOG", "trace")]),
    ];
    for (flags, env) in levels {
        for log_format in ["text", "json"] {
            let mut args = vec!["sync", "lab", "--full", "--log-format", log_format];
            args.extend_from_slice(flags);
            let output = workspace.command(&args, env).output().expect("run inlet");
            assert_eq!(
                output.status.code(),
                Some(0),
                "{args:?}: {}",
                describe(&output)
            );
            outputs.push((format!("{args:?} {env:?}"), output));
        }
    }

    let listing_formats = ["table", "json", "ndjson", "csv"];
    let report_formats = ["table", "json"];
    let commands: [(&[&str], &[&str]); 9] = [
        (&["assets", "lab", "--status", "all"], &listing_formats),
        (
            &["findings", "lab", "--status", "all", "--include-archived"],
            &listing_formats,
        ),
        (&["runs", "lab"], &listing_formats),
        (&["quarantine", "lab"], &listing_formats),
        (&["stats", "lab"], &report_formats),
        (&["check", "lab"], &report_formats),
        (&["sync", "lab", "--dry-run"], &report_formats),
        (&["sync", "lab", "-vv"], &report_formats),
        (&["connectors"], &report_formats),
    ];
    for (command, formats) in commands {
        for format in formats {
            let mut args = command.to_vec();
            args.extend(["--format", format]);
            let output = workspace.inlet(&args);
            assert_eq!(
                output.status.code(),
                Some(0),
                "{args:?}: {}",
                describe(&output)
            );
            outputs.push((format!("{args:?}"), output));
        }
    }
    outputs.push(("validate -vv".into(), workspace.inlet(&["validate", "-vv"])));
    outputs
}

#[test]
fn no_secret_or_token_in_logs_outputs_or_the_store() {
    let sandbox = SandboxProcess::start(&["--fixtures", FIXTURES]);
    // One export page a sync: a dozen syncs stay within the sandbox's
    // 30 export calls a minute.
    let workspace = Workspace::new(&sandbox, SETTINGS, "");
    let outputs = every_output(&workspace);

    let tokens = sandbox.issued_tokens();
    assert!(
        tokens.len() >= 8,
        "each sync signed in: {} tokens",
        tokens.len()
    );
    let mut needles = vec![CLIENT_SECRET.to_string()];
    needles.extend(tokens);

    let mut places: Vec<(String, Vec<u8>)> = Vec::new();
    for (label, output) in outputs {
        places.push((format!("stdout of {label}"), output.stdout));
        places.push((format!("stderr of {label}"), output.stderr));
    }
    let files = files_under(&workspace.data_dir());
    assert!(files.len() >= 2, "the store wrote files: {}", files.len());
    places.extend(files);

    // The trace logs are searched too: prove they were captured.
    let trace = places
        .iter()
        .find(|(label, _)| label.starts_with("stderr") && label.contains("RUST_LOG"));
    assert!(
        trace.is_some_and(|(_, bytes)| bytes.len() > 10_000),
        "trace logs captured"
    );

    for (place, bytes) in &places {
        for (index, needle) in needles.iter().enumerate() {
            let what = if index == 0 {
                "the client secret"
            } else {
                "a bearer token"
            };
            assert!(!contains(bytes, needle), "{what} appears in {place}");
        }
    }
}

#[test]
fn a_config_file_readable_by_others_draws_a_warning() {
    let sandbox = SandboxProcess::start(&["--fixtures", FIXTURES]);
    let workspace = Workspace::new(&sandbox, SETTINGS, "");
    let set_mode = |mode: u32| {
        let permissions = std::fs::Permissions::from_mode(mode);
        std::fs::set_permissions(workspace.config_path(), permissions).expect("chmod");
    };

    set_mode(0o644);
    let output = workspace.inlet(&["validate"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(READABLE_WARNING), "no warning:\n{stderr}");
    assert!(
        stderr.contains("inlet.toml"),
        "the warning names the file:\n{stderr}"
    );

    set_mode(0o600);
    let output = workspace.inlet(&["validate"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains(READABLE_WARNING),
        "warned at 0600:\n{stderr}"
    );
}

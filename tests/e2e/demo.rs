//! `inlet demo` from a clean folder: the story it tells (a passing check, a
//! first sync where everything is new, five findings, a second sync that
//! fixes and archives), and a second run that starts clean again.

use std::process::Command;

use crate::harness::{describe, INLET};

/// Runs `inlet demo --data-dir FOLDER` and returns its stdout.
fn demo(folder: &std::path::Path) -> String {
    let output = Command::new(INLET)
        .env_remove("RUST_LOG")
        .env_remove("INLET_CONFIG")
        .arg("demo")
        .arg("--data-dir")
        .arg(folder)
        .output()
        .expect("run inlet demo");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    String::from_utf8(output.stdout).expect("utf-8 stdout")
}

/// The non-empty lines of the section that starts with `== {number}.`.
fn section(stdout: &str, number: u32) -> Vec<&str> {
    let start = format!("== {number}.");
    stdout
        .lines()
        .skip_while(|line| !line.starts_with(&start))
        .skip(1)
        .take_while(|line| !line.starts_with("== "))
        .filter(|line| !line.trim().is_empty())
        .collect()
}

/// The number before `label` in `line`, e.g. `seen` in "300 seen, 300 new".
fn count_before(line: &str, label: &str) -> u64 {
    let words: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || c == ',' || c == ':')
        .filter(|word| !word.is_empty())
        .collect();
    let index = words
        .iter()
        .position(|word| *word == label)
        .unwrap_or_else(|| panic!("no {label:?} in {line:?}"));
    words[index - 1]
        .parse()
        .unwrap_or_else(|_| panic!("no count before {label:?} in {line:?}"))
}

fn line_starting<'a>(lines: &[&'a str], prefix: &str) -> &'a str {
    lines
        .iter()
        .find(|line| line.trim_start().starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in {lines:#?}"))
}

/// The number after `label` on its line, e.g. `archived in this sync: 8`.
fn count_after(lines: &[&str], label: &str) -> u64 {
    let line = line_starting(lines, label);
    line.trim_start()
        .trim_start_matches(label)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no count after {label:?} in {line:?}"))
}

/// Checks the whole story; returns the first sync's asset and finding counts.
fn check_story(stdout: &str) -> (u64, u64) {
    assert!(stdout.starts_with(
        "Inlet demo: a synthetic Microsoft Defender tenant served at http://127.0.0.1:"
    ));

    let check = section(stdout, 1);
    assert!(check.len() >= 3, "{check:#?}");
    assert!(
        check
            .iter()
            .all(|line| line.trim_start().starts_with("ok ")),
        "every connectivity test passes: {check:#?}"
    );

    let first = section(stdout, 2);
    let assets = line_starting(&first, "assets:");
    let findings = line_starting(&first, "findings:");
    let n_assets = count_before(assets, "seen");
    let n_findings = count_before(findings, "seen");
    assert!(n_assets > 0 && n_findings > 0, "{first:#?}");
    assert_eq!(
        count_before(assets, "new"),
        n_assets,
        "a clean store: all new"
    );
    for label in ["updated", "reopened", "fixed"] {
        assert_eq!(
            count_before(findings, label),
            0,
            "a clean store: {findings}"
        );
    }

    let stored = section(stdout, 3);
    let title = stored
        .iter()
        .position(|line| line.contains("the five most severe active findings"))
        .unwrap_or_else(|| panic!("no top five in {stored:#?}"));
    let top: Vec<&&str> = stored[title + 1..]
        .iter()
        .take_while(|line| line.starts_with("    "))
        .collect();
    assert_eq!(top.len(), 5, "{stored:#?}");
    assert!(top.iter().all(|line| line.contains(" on ")), "{top:#?}");

    let second = section(stdout, 4);
    let findings = line_starting(&second, "findings:");
    assert!(count_before(findings, "fixed") > 0, "{findings}");
    assert!(
        count_after(&second, "archived in this sync:") > 0,
        "{second:#?}"
    );
    assert!(
        count_after(&second, "fixed in this sync:") > 0,
        "{second:#?}"
    );
    (n_assets, n_findings)
}

#[test]
fn the_demo_tells_its_story_and_a_rerun_starts_clean() {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("demo");

    let first = demo(&folder);
    let counts = check_story(&first);
    assert!(folder.join("inlet.toml").is_file());

    // The second run clears the folder: its first sync is all new again.
    let second = demo(&folder);
    assert_eq!(
        check_story(&second),
        counts,
        "the same tenant, from scratch"
    );
}

#[test]
fn the_demo_refuses_a_folder_it_did_not_make() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("precious.txt"), "keep me").expect("write");
    let output = Command::new(INLET)
        .env_remove("RUST_LOG")
        .arg("demo")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run inlet demo");
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("was not made by `inlet demo`"));
    assert!(
        dir.path().join("precious.txt").exists(),
        "nothing was deleted"
    );
}

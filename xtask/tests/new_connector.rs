//! `cargo xtask new-connector` end to end (issue #8): the workspace is
//! copied into a temp folder, the scaffold runs there, and the new crate is
//! built and tested; `inlet connectors` and `inlet schema` must see it, the
//! schemas and formatting must be fresh, and refused names must leave the
//! copy untouched.
//!
//! The nested cargo shares the outer build's cache, so the test compiles
//! only what the new crate changes, not the workspace again:
//!
//! - On cargo 1.91 or later the nested cargo uses the outer build directory
//!   (`CARGO_BUILD_BUILD_DIR`) for intermediate files, so the third-party
//!   crates the outer build compiled are reused. It writes its binaries to
//!   `target/tmp/scaffold-check` (`CARGO_TARGET_DIR`), never to
//!   `target/debug`, whose binaries other tests run.
//! - The copy's workspace crates get a version of their own, so they are
//!   other build units than the outer build's: the nested cargo never
//!   overwrites a file the outer build uses (which could leave it a stale
//!   one after an edit made while the test runs). They are compiled once
//!   and then reused: the copy keeps every file's modification time, and
//!   cargo fingerprints workspace crates by paths relative to the
//!   workspace, so an unchanged crate of a new copy is fresh.
//! - Should the outer cargo hold the build directory's lock while tests run
//!   (cargo 1.95 does not), the nested cargo would wait for it forever. The
//!   test watches for cargo's "Blocking waiting for file lock" line and, if
//!   no progress follows, falls back to a build directory of its own under
//!   `scaffold-check`, which later runs reuse.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The connector the test creates, unless the workspace has one so named
/// (then `acme-hosts-2`, ...).
const NAME: &str = "acme-hosts";

/// How long a nested cargo may wait for a lock without any progress before
/// the test takes the lock to be its own parent's.
const LOCK_PATIENCE: Duration = Duration::from_secs(120);

/// What cargo prints when another process holds a lock it needs.
const BLOCKED: &str = "Blocking waiting for file lock";

/// Appended to the copy's workspace version; see [`set_copy_version`].
const COPY_VERSION_SUFFIX: &str = "-scaffold-check";

/// Cargo's first version with a stable `build.build-dir`.
const BUILD_DIR_MINOR: u32 = 91;

#[test]
fn the_scaffold_creates_a_registered_connector_that_passes_its_tests() {
    let started = Instant::now();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let name = free_name(&workspace);
    let name = name.as_str();
    let copy = tempfile::tempdir().expect("a temp folder");
    copy_tree(&workspace, copy.path()).expect("the workspace copies");
    set_copy_version(copy.path());
    let mut cargo = NestedCargo::new(copy.path());
    // Records the new version in the copy's Cargo.lock before any snapshot.
    cargo
        .run(&["update", "--workspace"])
        .assert_success("cargo update --workspace");
    step(started, "copied the workspace");

    refusals_write_nothing(&mut cargo, &["Acme_Hosts", "http", "microsoft-tvm"]);
    step(started, "refused a bad, a reserved and a taken name");

    let created = cargo.run(&["run", "-p", "xtask", "--", "new-connector", name]);
    created.assert_success("cargo xtask new-connector");
    assert!(copy
        .path()
        .join("connectors")
        .join(name)
        .join("README.md")
        .is_file());
    refusals_write_nothing(&mut cargo, &[name]);
    step(started, "created the connector, then refused it again");

    cargo
        .run(&["test", "-p", &format!("inlet-{name}")])
        .assert_success("the new crate's tests");
    step(started, "the new crate's tests passed");

    the_runner_lists_the_connector(&mut cargo, name);
    step(started, "inlet connectors and inlet schema show it");

    cargo
        .run(&["run", "-p", "xtask", "--", "schemas", "--check"])
        .assert_success("cargo xtask schemas --check");
    cargo
        .run(&["fmt", "--all", "--check"])
        .assert_success("cargo fmt --all --check");
    step(started, "schemas/ and formatting are fresh");
}

/// Each name is refused with exit code 2, and the copy is left as it was.
fn refusals_write_nothing(cargo: &mut NestedCargo, names: &[&str]) {
    let before = snapshot(&cargo.root);
    for name in names {
        let refused = cargo.run(&["run", "-p", "xtask", "--", "new-connector", name]);
        assert_eq!(refused.code, Some(2), "`{name}`:\n{}", refused.stderr);
        let said = refused
            .stderr
            .lines()
            .find(|line| line.starts_with("error: "));
        assert!(
            said.is_some_and(|line| line.contains(name)),
            "`{name}`: {}",
            refused.stderr
        );
        let after = snapshot(&cargo.root);
        let changed = changed_files(&before, &after);
        assert!(changed.is_empty(), "`{name}` changed {changed:?}");
    }
}

/// `inlet connectors` lists the kind with its sandbox, and `inlet schema`
/// prints its instance schema with the secret write-only.
fn the_runner_lists_the_connector(cargo: &mut NestedCargo, name: &str) {
    let listed = cargo.run(&["run", "-p", "inlet", "--", "connectors", "--format", "json"]);
    listed.assert_success("inlet connectors");
    let connectors: Value = serde_json::from_str(&listed.stdout).expect("a JSON list");
    let connector = connectors
        .as_array()
        .and_then(|list| list.iter().find(|c| c["kind"] == name));
    let connector = connector.unwrap_or_else(|| panic!("no `{name}` in {connectors}"));
    assert_eq!(connector["sandbox"], true, "{connector}");

    let printed = cargo.run(&["run", "-p", "inlet", "--", "schema", name]);
    printed.assert_success("inlet schema");
    let schema: Value = serde_json::from_str(&printed.stdout).expect("a JSON schema");
    assert_eq!(schema["properties"]["connector"]["const"], name);
    let config = &schema["properties"]["config"]["properties"];
    assert_eq!(config["api_token"]["$ref"], "#/$defs/Secret", "{config}");
    assert_eq!(schema["$defs"]["Secret"]["writeOnly"], true);
}

/// [`NAME`], or the first `NAME-N` the workspace has no connector of: a
/// workspace where someone scaffolded `acme-hosts` still passes.
fn free_name(workspace: &Path) -> String {
    let taken = |name: &String| workspace.join("connectors").join(name).exists();
    let candidates = std::iter::once(NAME.to_owned()).chain((2..).map(|n| format!("{NAME}-{n}")));
    candidates
        .into_iter()
        .find(|name| !taken(name))
        .unwrap_or_else(|| NAME.to_owned())
}

fn step(started: Instant, what: &str) {
    eprintln!("[{:>4} s] {what}", started.elapsed().as_secs());
}

/// What a nested cargo printed and how it ended.
#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn assert_success(&self, what: &str) {
        assert_eq!(self.code, Some(0), "{what} failed:\n{}", self.stderr);
    }

    /// One line on how long the command took and what it compiled, so a
    /// slow run shows where its time went.
    fn report(&self, args: &[&str], took: Duration) {
        let lines = || self.stderr.lines().map(str::trim_start);
        let compiled: Vec<_> = lines()
            .filter_map(|line| line.strip_prefix("Compiling "))
            .filter_map(|crate_and_version| crate_and_version.split(' ').next())
            .collect();
        let waited = match lines().any(|line| line.starts_with(BLOCKED)) {
            true => ", waited for a lock",
            false => "",
        };
        eprintln!(
            "         cargo {}: {} s{waited}, compiled {} crates: {}",
            args.join(" "),
            took.as_secs(),
            compiled.len(),
            compiled.join(" ")
        );
    }
}

/// Where the nested cargo keeps intermediate files.
#[derive(Debug, Clone, PartialEq)]
enum BuildDir {
    /// The outer build's, shared.
    Outer(PathBuf),
    /// Its own, under the nested target folder.
    Own,
}

/// Runs cargo in the copy with the nested build cache.
struct NestedCargo {
    root: PathBuf,
    /// Where binaries go: never the outer `target/debug`.
    target_dir: PathBuf,
    build_dir: BuildDir,
}

impl NestedCargo {
    fn new(root: &Path) -> Self {
        let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffold-check");
        let build_dir = match (outer_build_dir(), cargo_minor_version()) {
            (Some(dir), Some(minor)) if minor >= BUILD_DIR_MINOR => BuildDir::Outer(dir),
            _ => BuildDir::Own,
        };
        eprintln!("nested cargo: binaries in {target_dir:?}, build directory {build_dir:?}");
        Self {
            root: root.to_owned(),
            target_dir,
            build_dir,
        }
    }

    /// Runs `cargo args` to its end; if it waits for the shared build
    /// directory's lock without progress, runs it again on its own.
    fn run(&mut self, args: &[&str]) -> Outcome {
        let started = Instant::now();
        let outcome = match self.run_once(args) {
            Some(outcome) => outcome,
            None => {
                eprintln!("the outer build directory stays locked; using one of our own");
                self.build_dir = BuildDir::Own;
                let again = self.run_once(args);
                again.expect("our own build directory is never locked")
            }
        };
        outcome.report(args, started.elapsed());
        outcome
    }

    /// The outcome, or `None` when cargo waited for a lock too long.
    fn run_once(&self, args: &[&str]) -> Option<Outcome> {
        let mut child = self.command(args).spawn().expect("cargo starts");
        let stdout = child.stdout.take().expect("a piped stdout");
        let reading = std::thread::spawn(move || read_all(stdout));
        let stderr = watch_stderr(&mut child)?;
        let status = child.wait().expect("cargo ends");
        let stdout = reading.join().expect("the stdout reader ends");
        Some(Outcome {
            code: status.code(),
            stdout,
            stderr,
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let build_dir = match &self.build_dir {
            BuildDir::Outer(dir) => dir.clone(),
            BuildDir::Own => self.target_dir.clone(),
        };
        let mut command = Command::new(cargo);
        // What `cargo test` set for this test's package must not reach the
        // nested cargo: a build script tracking one (ring's tracks
        // `CARGO_MANIFEST_DIR`) would rerun in the nested build and again
        // in the next outer one, each time rebuilding what depends on it.
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(is_set_by_cargo_test) {
                command.env_remove(name);
            }
        }
        command
            .args(args)
            .current_dir(&self.root)
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .env("CARGO_BUILD_BUILD_DIR", build_dir)
            .env("CARGO_TERM_COLOR", "never")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

/// Collects the child's stderr until it closes; `None` (the child killed)
/// when cargo reported waiting for a lock and then stayed silent for
/// [`LOCK_PATIENCE`].
fn watch_stderr(child: &mut Child) -> Option<String> {
    let stderr = child.stderr.take().expect("a piped stderr");
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });

    let mut text = String::new();
    let mut blocked = false;
    loop {
        let line = match blocked {
            true => lines.recv_timeout(LOCK_PATIENCE),
            false => lines.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match line {
            Ok(line) => {
                blocked = line.contains(BLOCKED);
                text.push_str(&line);
                text.push('\n');
            }
            Err(RecvTimeoutError::Disconnected) => return Some(text),
            Err(RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Whether `cargo test` sets the variable `name` for the test's package.
fn is_set_by_cargo_test(name: &str) -> bool {
    const SET: [&str; 5] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
    ];
    SET.contains(&name) || name.starts_with("CARGO_PKG_")
}

fn read_all(mut from: impl Read) -> String {
    let mut text = String::new();
    let _ = from.read_to_string(&mut text);
    text
}

/// The build directory of this test binary (`<dir>/<profile>/deps/<exe>`).
fn outer_build_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    if deps.file_name()? != "deps" {
        return None;
    }
    Some(deps.parent()?.parent()?.to_owned())
}

/// The minor version of the cargo that runs the nested builds.
fn cargo_minor_version() -> Option<u32> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo).arg("--version").output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    // "cargo 1.95.0 (f2d3ce0bd 2026-03-21)"
    let version = text.split_whitespace().nth(1)?;
    version.split('.').nth(1)?.parse().ok()
}

/// Folders the copy leaves out: build output, VCS data, fuzzing corpora and
/// data folders of local runs.
fn is_skipped(relative: &Path) -> bool {
    let top_level = ["target", ".git", "inlet-data", "inlet-demo"];
    let in_fuzz = ["target", "corpus", "artifacts", "coverage"];
    let mut parts = relative.iter().filter_map(|part| part.to_str());
    match (parts.next(), parts.next()) {
        (Some(first), None) => top_level.contains(&first),
        (Some("fuzz"), Some(second)) => in_fuzz.contains(&second),
        (_, Some("target")) => true,
        _ => false,
    }
}

/// Copies `from` into `to`, keeping modification times so that cargo finds
/// unchanged crates fresh.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    copy_folder(from, to, Path::new(""))
}

fn copy_folder(root: &Path, to: &Path, relative: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(root.join(relative))? {
        let entry = entry?;
        let path = relative.join(entry.file_name());
        if is_skipped(&path) {
            continue;
        }
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(to.join(&path))?;
            copy_folder(root, to, &path)?;
        } else {
            let target = to.join(&path);
            std::fs::copy(entry.path(), &target)?;
            let modified = entry.metadata()?.modified()?;
            std::fs::File::options()
                .write(true)
                .open(&target)?
                .set_modified(modified)?;
        }
    }
    Ok(())
}

/// Gives the copy's crates a version of their own (`0.1.0-scaffold-check`),
/// so that none of them is the same build unit as the outer build's: the
/// nested cargo then never writes a file the outer build uses.
fn set_copy_version(root: &Path) {
    const KEY: &str = "\nversion = \"";
    let manifest = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("the root manifest");
    let section = text
        .find("[workspace.package]")
        .expect("a workspace package");
    let value = section + text[section..].find(KEY).expect("a workspace version") + KEY.len();
    let end = value + text[value..].find('"').expect("a closing quote");
    let versioned = format!("{}{COPY_VERSION_SUFFIX}{}", &text[..end], &text[end..]);
    std::fs::write(&manifest, versioned).expect("the root manifest is writable");
}

/// Every file under `root` and its contents.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut folders = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("a readable folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let contents = std::fs::read(&path).expect("a readable file");
                let relative = path.strip_prefix(root).expect("under the root");
                files.insert(relative.to_owned(), contents);
            }
        }
    }
    files
}

/// Files added, removed or changed between two snapshots.
fn changed_files(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
) -> Vec<PathBuf> {
    let paths: BTreeSet<_> = before.keys().chain(after.keys()).collect();
    let changed = paths
        .into_iter()
        .filter(|path| before.get(*path) != after.get(*path));
    changed.cloned().collect()
}

#[test]
fn build_output_and_local_data_are_not_copied() {
    let skipped = [
        "target",
        ".git",
        "fuzz/target",
        "fuzz/corpus",
        "tests/target",
    ];
    for path in skipped {
        assert!(is_skipped(Path::new(path)), "{path}");
    }
    let kept = [
        "crates",
        "fuzz",
        "fuzz/fuzz_targets",
        "tests/e2e",
        "crates/target-x",
    ];
    for path in kept {
        assert!(!is_skipped(Path::new(path)), "{path}");
    }
}

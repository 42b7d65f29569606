//! `cargo xtask new-connector NAME`: writes `connectors/NAME` from the
//! templates under `xtask/templates/connector/`, registers the crate in the
//! workspace (root manifest and `inlet-connectors`), formats it and
//! regenerates `schemas/`.
//!
//! Every check runs before anything is written: a refused name or a clash
//! leaves the workspace as it was and exits with code 2. A failure while
//! writing restores the edited files and removes the new folder.
//!
//! - `name`: the name's rules and derived forms.
//! - `render`: `{{placeholder}}` rendering.
//! - `templates`: the template files, compiled into the binary.
//! - `edits`: the marked lists in existing files that gain a line.

mod edits;
mod name;
mod render;
mod templates;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use self::edits::{edits_for, insert_line};
use self::name::ConnectorName;

/// A request the workspace refuses; nothing was written. Exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(String);

impl Refusal {
    /// The command line was not `new-connector NAME`.
    pub fn usage() -> Self {
        Self("usage: cargo xtask new-connector NAME (kebab-case, e.g. acme-hosts)".into())
    }
}

/// A file to write, relative to the workspace root, and its contents.
#[derive(Debug)]
struct PlannedFile {
    path: PathBuf,
    contents: String,
}

/// Creates the connector `name` in the workspace at `root`.
pub fn run(root: &Path, name: &str) -> anyhow::Result<()> {
    let name = ConnectorName::parse(name).map_err(|error| Refusal(error.to_string()))?;
    refuse_clashes(root, &name)?;
    let edited = plan_edits(root, &name)?;
    let created = plan_crate(&name)?;

    write_all(root, &name, &created, &edited)?;
    println!(
        "created connectors/{} ({} files) and registered it",
        name.kind(),
        created.len()
    );
    finish(root, &name)?;
    print_next_steps(&name);
    Ok(())
}

/// Refuses a name whose folder, package or kind already exists.
fn refuse_clashes(root: &Path, name: &ConnectorName) -> anyhow::Result<()> {
    if root.join("connectors").join(name.kind()).exists() {
        let folder = format!("connectors/{}", name.kind());
        return Err(Refusal(format!("`{folder}` already exists; pick another name")).into());
    }
    if let Some(manifest) = manifest_of_package(root, &name.package())? {
        return Err(Refusal(format!(
            "a package `{}` already exists (`{}`)",
            name.package(),
            manifest.display()
        ))
        .into());
    }
    inlet_connectors::linked();
    if inlet_core::registry::find(name.kind()).is_some() {
        return Err(Refusal(format!(
            "a linked connector already registers the kind `{}`",
            name.kind()
        ))
        .into());
    }
    Ok(())
}

/// The manifest under `crates/`, `connectors/` or `xtask/` whose package is
/// `package`, if any.
fn manifest_of_package(root: &Path, package: &str) -> anyhow::Result<Option<PathBuf>> {
    let wanted = format!("name = \"{package}\"");
    let mut manifests = vec![root.join("xtask/Cargo.toml")];
    for parent in ["crates", "connectors"] {
        let Ok(entries) = std::fs::read_dir(root.join(parent)) else {
            continue;
        };
        for entry in entries {
            manifests.push(entry?.path().join("Cargo.toml"));
        }
    }
    for manifest in manifests {
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        if text.lines().any(|line| line.trim() == wanted) {
            return Ok(Some(manifest));
        }
    }
    Ok(None)
}

/// The edited contents of every file that registers the crate, in memory.
fn plan_edits(root: &Path, name: &ConnectorName) -> anyhow::Result<Vec<PlannedFile>> {
    let mut planned: Vec<PlannedFile> = Vec::new();
    for edit in edits_for(name) {
        let path = PathBuf::from(edit.file);
        let text = match planned.iter().position(|file| file.path == path) {
            Some(index) => planned.remove(index).contents,
            None => read(&root.join(&path))?,
        };
        let contents =
            insert_line(&path, &text, &edit.line).map_err(|error| Refusal(error.to_string()))?;
        planned.push(PlannedFile { path, contents });
    }
    Ok(planned)
}

/// Every file of the new crate, rendered.
fn plan_crate(name: &ConnectorName) -> anyhow::Result<Vec<PlannedFile>> {
    let values = render::values(name);
    let folder = Path::new("connectors").join(name.kind());
    templates::TEMPLATES
        .iter()
        .map(|template| {
            let contents = render::render(template.path, template.text, &values)?;
            let path = folder.join(template.output_path());
            Ok(PlannedFile { path, contents })
        })
        .collect()
}

/// Writes the crate and the edits; on failure, undoes what was written.
fn write_all(
    root: &Path,
    name: &ConnectorName,
    created: &[PlannedFile],
    edited: &[PlannedFile],
) -> anyhow::Result<()> {
    let originals: Vec<(PathBuf, String)> = edited
        .iter()
        .map(|file| Ok((file.path.clone(), read(&root.join(&file.path))?)))
        .collect::<anyhow::Result<_>>()?;

    let written = write_files(root, created).and_then(|()| write_files(root, edited));
    if let Err(error) = written {
        let folder = root.join("connectors").join(name.kind());
        let _ = std::fs::remove_dir_all(&folder);
        for (path, text) in &originals {
            let _ = std::fs::write(root.join(path), text);
        }
        return Err(error.context("writing the connector failed; nothing was kept"));
    }
    Ok(())
}

fn write_files(root: &Path, files: &[PlannedFile]) -> anyhow::Result<()> {
    for file in files {
        let path = root.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&path, &file.contents)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))
}

/// Formats the new code and regenerates `schemas/` with a fresh build of
/// xtask (this one was built before the crate existed, so it lacks it).
fn finish(root: &Path, name: &ConnectorName) -> anyhow::Result<()> {
    // The templates are formatted for a typical name; a longer one can move
    // a line past the width. Without rustfmt the crate still builds.
    let package = name.package();
    let format = ["fmt", "-p", package.as_str(), "-p", "inlet-connectors"];
    if let Err(error) = cargo(root, &format) {
        eprintln!("warning: formatting the new crate failed ({error:#}); run `cargo fmt`");
    }

    let schemas = ["run", "--package", "xtask", "--", "schemas"];
    cargo(root, &schemas).with_context(|| {
        format!(
            "regenerating schemas/ failed; connectors/{} was written: fix what cargo reports, \
             then run `cargo xtask schemas`",
            name.kind()
        )
    })
}

/// Runs cargo (the one running this task, if any) in `root`.
fn cargo(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command.args(args).current_dir(root);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_set_by_cargo_run) {
            command.env_remove(name);
        }
    }
    let status = command
        .status()
        .with_context(|| format!("cannot run `cargo {}`", args.join(" ")))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Whether `cargo run` set the variable `name` for this task (its package's
/// manifest and metadata). A cargo started from here must not see them:
/// build scripts that track one (ring's tracks `CARGO_MANIFEST_DIR`) would
/// rerun, and their dependents rebuild, on every switch between this cargo
/// and one started from a shell.
fn is_set_by_cargo_run(name: &str) -> bool {
    const SET: [&str; 5] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
    ];
    SET.contains(&name) || name.starts_with("CARGO_PKG_")
}

fn print_next_steps(name: &ConnectorName) {
    let (kind, package) = (name.kind(), name.package());
    println!("\nNext:");
    println!("  cargo test -p {package}");
    println!("  cargo run -p inlet -- schema {kind}");
    println!("  cargo run -p inlet -- sandbox {kind} --fixtures connectors/{kind}/fixtures");
    println!(
        "Then read connectors/{kind}/README.md: what each file is for and what to change first."
    );
}

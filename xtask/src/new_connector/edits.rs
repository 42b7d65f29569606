//! The text edits that register a new crate in existing files. Each file
//! holds a block between a `BEGIN connectors` and an `END connectors`
//! comment line; the new line goes into that block, which is kept sorted.
//! Nothing else in the file is touched, and a file without both markers, or
//! that already has the line, is refused.

use std::path::{Path, PathBuf};

use super::name::ConnectorName;

/// What the opening marker line contains.
pub const BEGIN: &str = "BEGIN connectors";
/// What the closing marker line contains.
pub const END: &str = "END connectors";

/// Why a file cannot take its new line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error(
        "`{}` has no `{BEGIN}` ... `{END}` comment lines around its connector list; \
         restore them (see git history) so the list can be edited",
        file.display()
    )]
    MissingMarkers { file: PathBuf },
    #[error("`{}` already lists `{line}`", file.display())]
    AlreadyListed { file: PathBuf, line: String },
}

/// One file to edit: its path relative to the workspace root, and the line
/// (without indentation) that registers the connector in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub file: &'static str,
    pub line: String,
}

/// The edits that register `name`: a workspace member and dependency in the
/// root manifest, a dependency of `inlet-connectors`, and its `KIND` in
/// `inlet_connectors::linked()`.
pub fn edits_for(name: &ConnectorName) -> Vec<Edit> {
    let (kind, package) = (name.kind(), name.package());
    vec![
        Edit {
            file: "Cargo.toml",
            line: format!("\"connectors/{kind}\","),
        },
        Edit {
            file: "Cargo.toml",
            line: format!("{package} = {{ path = \"connectors/{kind}\" }}"),
        },
        Edit {
            file: "crates/connectors/Cargo.toml",
            line: format!("{package}.workspace = true"),
        },
        Edit {
            file: "crates/connectors/src/lib.rs",
            line: format!("std::hint::black_box({}::KIND),", name.crate_name()),
        },
    ]
}

/// `text` with `line` added to the marked block that fits it, sorted.
pub fn insert_line(file: &Path, text: &str, line: &str) -> Result<String, EditError> {
    let lines: Vec<&str> = text.lines().collect();

    // Anywhere in the file, not only in the block: a second entry breaks
    // the manifest or the list.
    if lines.iter().any(|existing| existing.trim() == line) {
        let (file, line) = (file.to_owned(), line.to_owned());
        return Err(EditError::AlreadyListed { file, line });
    }
    let (begin, end) = block_for(&lines, line).ok_or_else(|| EditError::MissingMarkers {
        file: file.to_owned(),
    })?;

    let mut block: Vec<String> = lines[begin + 1..end]
        .iter()
        .map(|l| l.to_string())
        .collect();
    block.push(format!("{}{line}", indentation(lines[begin])));
    block.sort();
    let mut edited: Vec<String> = lines[..=begin].iter().map(|l| l.to_string()).collect();
    edited.extend(block);
    edited.extend(lines[end..].iter().map(|l| l.to_string()));
    let mut joined = edited.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    Ok(joined)
}

/// The marked block `line` belongs in. The root manifest has two: the
/// members (quoted lines) and the dependencies (unquoted); a block whose
/// first line is quoted like `line`, or an empty one, fits.
fn block_for(lines: &[&str], line: &str) -> Option<(usize, usize)> {
    let fits = |(begin, end): &(usize, usize)| {
        let first = lines[begin + 1..*end].first().map(|l| l.trim_start());
        first.is_none_or(|first| first.starts_with('"') == line.starts_with('"'))
    };
    marked_blocks(lines).into_iter().find(fits)
}

/// The (begin, end) line indices of every marked block, in order.
fn marked_blocks(lines: &[&str]) -> Vec<(usize, usize)> {
    let is_comment = |line: &str| {
        let line = line.trim_start();
        line.starts_with('#') || line.starts_with("//")
    };
    let mut blocks = Vec::new();
    let mut open = None;
    for (index, line) in lines.iter().enumerate() {
        if is_comment(line) && line.contains(BEGIN) {
            open = Some(index);
        } else if is_comment(line) && line.contains(END) {
            if let Some(begin) = open.take() {
                blocks.push((begin, index));
            }
        }
    }
    blocks
}

fn indentation(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = r#"[workspace]
members = [
    "crates/core",
    # BEGIN connectors: sorted
    "connectors/microsoft-tvm",
    # END connectors
    "xtask",
]

[workspace.dependencies]
inlet-core = { path = "crates/core" }
# BEGIN connectors: sorted
inlet-microsoft-tvm = { path = "connectors/microsoft-tvm" }
# END connectors

anyhow = "1"
"#;

    const LIB: &str = "pub fn linked() -> Vec<&'static str> {
    vec![
        // BEGIN connectors
        std::hint::black_box(inlet_microsoft_tvm::KIND),
        // END connectors
    ]
}
";

    fn apply_all(name: &str, file: &str, text: &str) -> Result<String, EditError> {
        let name = ConnectorName::parse(name).expect("a valid name");
        let mut text = text.to_owned();
        for edit in edits_for(&name).into_iter().filter(|e| e.file == file) {
            text = insert_line(Path::new(file), &text, &edit.line)?;
        }
        Ok(text)
    }

    #[test]
    fn the_root_manifest_gets_a_member_and_a_dependency_in_order() {
        let edited = apply_all("acme-hosts", "Cargo.toml", ROOT).expect("edited");
        let expected = ROOT
            .replace(
                "    \"connectors/microsoft-tvm\",",
                "    \"connectors/acme-hosts\",\n    \"connectors/microsoft-tvm\",",
            )
            .replace(
                "inlet-microsoft-tvm = {",
                "inlet-acme-hosts = { path = \"connectors/acme-hosts\" }\ninlet-microsoft-tvm = {",
            );
        assert_eq!(edited, expected);

        let edited = apply_all("zeta", "Cargo.toml", ROOT).expect("edited");
        assert!(
            edited.contains("\"connectors/microsoft-tvm\",\n    \"connectors/zeta\",\n    # END"),
            "{edited}"
        );
    }

    #[test]
    fn the_linked_list_gets_the_kind_with_its_indentation() {
        let edited = apply_all("acme-hosts", "crates/connectors/src/lib.rs", LIB).expect("edited");
        assert_eq!(
            edited,
            LIB.replace(
                "        std::hint::black_box(inlet_microsoft_tvm",
                "        std::hint::black_box(inlet_acme_hosts::KIND),\n        \
                 std::hint::black_box(inlet_microsoft_tvm"
            )
        );
    }

    #[test]
    fn missing_markers_and_repeated_lines_are_refused() {
        let file = "crates/connectors/src/lib.rs";
        let unmarked = LIB.replace("// END connectors", "// the end");
        let error = apply_all("acme-hosts", file, &unmarked).expect_err("no end marker");
        assert_eq!(
            error,
            EditError::MissingMarkers {
                file: PathBuf::from(file)
            }
        );
        assert!(error.to_string().contains("BEGIN connectors"), "{error}");

        let once = apply_all("acme-hosts", file, LIB).expect("first time");
        let error = apply_all("acme-hosts", file, &once).expect_err("second time");
        assert!(
            matches!(error, EditError::AlreadyListed { .. }),
            "{error:?}"
        );
    }
}

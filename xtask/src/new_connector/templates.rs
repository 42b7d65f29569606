//! The template files of a new connector crate, compiled into the xtask
//! binary so it needs nothing beside itself. Each file under
//! `xtask/templates/connector/` is listed here once; a test fails when a
//! file there is missing from the list. Templates end in `.tmpl` so that
//! cargo and rustfmt leave them alone.

/// One template: its path under `xtask/templates/connector/` and its text.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    pub path: &'static str,
    pub text: &'static str,
}

impl Template {
    /// Where the rendered file goes, relative to the crate's folder.
    pub fn output_path(&self) -> &'static str {
        self.path.strip_suffix(".tmpl").unwrap_or(self.path)
    }
}

macro_rules! template {
    ($path:literal) => {
        Template {
            path: $path,
            text: include_str!(concat!("../../templates/connector/", $path)),
        }
    };
}

/// Every template, in the order the crate's files are written.
pub const TEMPLATES: &[Template] = &[
    template!("Cargo.toml.tmpl"),
    template!("README.md.tmpl"),
    template!("src/lib.rs.tmpl"),
    template!("src/config.rs.tmpl"),
    template!("src/error.rs.tmpl"),
    template!("src/client.rs.tmpl"),
    template!("src/fetch.rs.tmpl"),
    template!("src/check.rs.tmpl"),
    template!("src/mapping/mod.rs.tmpl"),
    template!("src/mapping/records.rs.tmpl"),
    template!("src/mapping/asset.rs.tmpl"),
    template!("src/mapping/finding.rs.tmpl"),
    template!("src/sandbox/mod.rs.tmpl"),
    template!("src/sandbox/fixtures.rs.tmpl"),
    template!("src/sandbox/server.rs.tmpl"),
    template!("fixtures/hosts.json.tmpl"),
    template!("fixtures/findings.json.tmpl"),
    template!("fixtures/day2/hosts.json.tmpl"),
    template!("fixtures/day2/findings.json.tmpl"),
    template!("tests/conformance.rs.tmpl"),
    template!("tests/sync.rs.tmpl"),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// Every file under `dir`, as paths relative to `base` with `/`.
    fn files_under(base: &Path, dir: &Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("a readable folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                files_under(base, &path, found);
            } else {
                let relative = path.strip_prefix(base).expect("under the base");
                found.insert(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn every_template_file_is_listed_once() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/connector");
        let mut on_disk = BTreeSet::new();
        files_under(&base, &base, &mut on_disk);
        let listed: BTreeSet<String> = TEMPLATES.iter().map(|t| t.path.to_owned()).collect();
        assert_eq!(listed.len(), TEMPLATES.len(), "a template is listed twice");
        assert_eq!(listed, on_disk);
        for template in TEMPLATES {
            assert!(template.path.ends_with(".tmpl"), "{}", template.path);
        }
    }
}

//! Reading the config file and choosing the data folder.

use std::path::{Path, PathBuf};

use anyhow::Context;
use inlet_core::config::{parse_config, Instance, LoadedConfig};

use crate::cli::GlobalArgs;
use crate::failure::Failure;

/// The data folder used when neither `--data-dir` nor `data_dir` names one.
pub const DEFAULT_DATA_DIR: &str = "inlet-data";

/// Reads and validates the config file; every problem is a usage failure.
pub fn load(path: &Path) -> Result<LoadedConfig, Failure> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file `{}`", path.display()))
        .map_err(Failure::usage)?;
    warn_if_readable_by_others(path);
    let base_dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parse_config(&text, &path.display().to_string(), base_dir).map_err(Failure::usage)
}

/// Loads the config and finds one instance by name.
pub fn load_instance(global: &GlobalArgs, name: &str) -> Result<(LoadedConfig, Instance), Failure> {
    let config = load(&global.config)?;
    let instance = config.instance(name).cloned().ok_or_else(|| {
        let known: Vec<_> = config
            .instances
            .iter()
            .map(|i| i.settings.name.as_str())
            .collect();
        let known = if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        };
        Failure::usage(anyhow::anyhow!(
            "no instance named `{name}` in `{}` (instances: {known})",
            global.config.display()
        ))
    })?;
    Ok((config, instance))
}

/// `--data-dir`, else the config's `data_dir`, else `inlet-data` beside the config file.
pub fn data_dir(global: &GlobalArgs, config: &LoadedConfig) -> PathBuf {
    if let Some(dir) = &global.data_dir {
        return dir.clone();
    }
    if let Some(dir) = &config.data_dir {
        return dir.clone();
    }
    let base = global
        .config
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty());
    base.unwrap_or(Path::new(".")).join(DEFAULT_DATA_DIR)
}

/// A config file may hold literal secrets: say so when others can read it.
#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path) {
        if metadata.permissions().mode() & 0o004 != 0 {
            tracing::warn!(
                path = %path.display(),
                "config file is readable by other users; if it holds secrets, run chmod o-r on it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

//! A fixtures folder: upstream records as JSON arrays, one folder per day.
//! The folder itself is day 0; `day2/`, `day3/`, ... take over one per
//! advance-day, and a file missing from a day folder keeps the previous
//! day's. Everything is read once at start, so a broken file fails start-up
//! instead of a sync.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::clock;

pub(crate) const MACHINES_FILE: &str = "machines.json";
pub(crate) const VULNERABILITIES_FILE: &str = "vulnerabilities.json";
pub(crate) const CHANGES_FILE: &str = "changes.json";
pub(crate) const CATALOG_FILE: &str = "catalog.json";

/// A fixtures folder that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("fixture file `{}` is missing", path.display())]
    Missing { path: PathBuf },
    #[error("could not read fixture file `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("fixture file `{}` is not a JSON array of records", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

pub(crate) type Records = Arc<Vec<Box<RawValue>>>;

/// One delta row and its parsed `eventTimestamp` (None when unreadable).
#[derive(Debug)]
pub(crate) struct Change {
    pub(crate) raw: Box<RawValue>,
    pub(crate) at: Option<Timestamp>,
}

/// The files in force on one day.
#[derive(Debug, Clone)]
pub(crate) struct FixtureDay {
    pub(crate) machines: Records,
    pub(crate) vulnerabilities: Records,
    pub(crate) changes: Arc<Vec<Change>>,
    pub(crate) catalog: Records,
}

fn read_records(path: &Path) -> Result<Option<Vec<Box<RawValue>>>, FixtureError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(FixtureError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| FixtureError::Parse {
            path: path.to_owned(),
            source,
        })
}

fn required(path: PathBuf) -> Result<Records, FixtureError> {
    match read_records(&path)? {
        Some(records) => Ok(Arc::new(records)),
        None => Err(FixtureError::Missing { path }),
    }
}

fn with_times(records: Vec<Box<RawValue>>) -> Vec<Change> {
    #[derive(Deserialize)]
    struct Stamp {
        #[serde(rename = "eventTimestamp")]
        event_timestamp: Option<serde_json::Value>,
    }
    records
        .into_iter()
        .map(|raw| {
            let stamp: Option<Stamp> = serde_json::from_str(raw.get()).ok();
            let text = stamp.and_then(|stamp| stamp.event_timestamp);
            let at = text
                .as_ref()
                .and_then(|value| value.as_str())
                .and_then(clock::parse_loose);
            Change { raw, at }
        })
        .collect()
}

/// Reads the folder's day 0 and every consecutive `dayN/` folder.
pub(crate) fn load(dir: &Path) -> Result<Vec<FixtureDay>, FixtureError> {
    let changes = read_records(&dir.join(CHANGES_FILE))?.unwrap_or_default();
    let catalog = read_records(&dir.join(CATALOG_FILE))?.unwrap_or_default();
    let mut days = vec![FixtureDay {
        machines: required(dir.join(MACHINES_FILE))?,
        vulnerabilities: required(dir.join(VULNERABILITIES_FILE))?,
        changes: Arc::new(with_times(changes)),
        catalog: Arc::new(catalog),
    }];
    for number in 2.. {
        let folder = dir.join(format!("day{number}"));
        if !folder.is_dir() {
            break;
        }
        let mut day = days[days.len() - 1].clone();
        if let Some(records) = read_records(&folder.join(MACHINES_FILE))? {
            day.machines = Arc::new(records);
        }
        if let Some(records) = read_records(&folder.join(VULNERABILITIES_FILE))? {
            day.vulnerabilities = Arc::new(records);
        }
        if let Some(records) = read_records(&folder.join(CHANGES_FILE))? {
            day.changes = Arc::new(with_times(records));
        }
        if let Some(records) = read_records(&folder.join(CATALOG_FILE))? {
            day.catalog = Arc::new(records);
        }
        days.push(day);
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir).expect("create folder");
        std::fs::write(dir.join(name), text).expect("write fixture");
    }

    #[test]
    fn day_folders_override_file_by_file() {
        let root = tempfile::tempdir().expect("temp dir");
        write(root.path(), MACHINES_FILE, r#"[{"id":"a"},{"id":"b"}]"#);
        write(root.path(), VULNERABILITIES_FILE, r#"[{"id":"v1"}]"#);
        write(&root.path().join("day2"), MACHINES_FILE, r#"[{"id":"a"}]"#);
        write(
            &root.path().join("day3"),
            CHANGES_FILE,
            concat!(
                r#"[{"id":"v1","eventTimestamp":"2024-01-02 03:04:05.1234567"},"#,
                r#"{"id":"v2","eventTimestamp":"soon"}]"#
            ),
        );
        let days = load(root.path()).expect("fixtures load");
        assert_eq!(days.len(), 3);
        assert_eq!(days[0].machines.len(), 2);
        assert_eq!(days[1].machines.len(), 1);
        assert_eq!(days[2].machines.len(), 1, "day3 keeps day2's machines");
        assert_eq!(days[2].vulnerabilities.len(), 1);
        assert!(days[1].changes.is_empty());
        assert!(days[2].changes[0].at.is_some() && days[2].changes[1].at.is_none());
    }

    #[test]
    fn missing_and_broken_files_are_reported_with_their_path() {
        let root = tempfile::tempdir().expect("temp dir");
        write(root.path(), MACHINES_FILE, "[]");
        let error = load(root.path()).expect_err("no vulnerabilities.json");
        assert!(error.to_string().contains(VULNERABILITIES_FILE), "{error}");
        write(root.path(), VULNERABILITIES_FILE, r#"{"value": []}"#);
        let error = load(root.path()).expect_err("not an array");
        assert!(matches!(error, FixtureError::Parse { .. }), "{error}");
    }
}

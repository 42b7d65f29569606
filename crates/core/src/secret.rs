//! The redacting secret type. A secret is written in the config as a literal,
//! `{ env = "VAR" }` or `{ file = "PATH" }` and resolved while the config
//! loads, so a missing variable fails validation rather than a sync at 2 am.
//!
//! Reading the variable or file is the one piece of I/O in this crate; it sits
//! here so that no connector can hold a secret that was never resolved.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

/// What `Debug` and `Display` print instead of a secret's value.
pub const REDACTED: &str = "[redacted]";

/// A credential whose value only leaves through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<str>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into().into_boxed_str())
    }

    /// The secret's value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// How a secret is written in the config file.
#[derive(Deserialize)]
#[serde(untagged)]
enum SecretSource {
    Literal(String),
    Env { env: String },
    File { file: PathBuf },
}

thread_local! {
    /// The folder relative `{ file = ".." }` paths start from: the config file's.
    static BASE_DIR: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// Runs `load` with relative secret files resolved against `dir`.
pub fn with_base_dir<T>(dir: &Path, load: impl FnOnce() -> T) -> T {
    let previous = BASE_DIR.with(|base| base.replace(Some(dir.to_path_buf())));
    let result = load();
    BASE_DIR.with(|base| *base.borrow_mut() = previous);
    result
}

fn resolve(source: SecretSource) -> Result<Secret, String> {
    match source {
        SecretSource::Literal(value) if value.is_empty() => Err("the secret is empty".into()),
        SecretSource::Literal(value) => Ok(Secret::new(value)),
        SecretSource::Env { env } => match std::env::var(&env) {
            Ok(value) if !value.trim().is_empty() => Ok(Secret::new(value.trim())),
            Ok(_) => Err(format!("environment variable `{env}` is empty")),
            Err(_) => Err(format!("environment variable `{env}` is not set")),
        },
        SecretSource::File { file } => {
            let path = BASE_DIR.with(|base| match base.borrow().as_ref() {
                Some(dir) if file.is_relative() => dir.join(&file),
                _ => file.clone(),
            });
            let text = std::fs::read_to_string(&path).map_err(|error| {
                format!("cannot read secret file `{}`: {error}", path.display())
            })?;
            let value = text.trim_end_matches(['\r', '\n']);
            if value.is_empty() {
                return Err(format!("secret file `{}` is empty", path.display()));
            }
            Ok(Secret::new(value))
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = SecretSource::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "expected a secret: a string, { env = \"VAR\" } or { file = \"PATH\" }",
            )
        })?;
        resolve(source).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> Cow<'static, str> {
        "Secret".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A secret value: the value itself, { \"env\": \"VAR\" } to read an environment variable, or { \"file\": \"PATH\" } to read a file (relative to the config file).",
            "writeOnly": true,
            "oneOf": [
                { "type": "string", "minLength": 1, "title": "Value" },
                {
                    "type": "object", "title": "Environment variable",
                    "properties": { "env": { "type": "string", "minLength": 1, "description": "Name of the environment variable that holds the secret." } },
                    "required": ["env"], "additionalProperties": false
                },
                {
                    "type": "object", "title": "File",
                    "properties": { "file": { "type": "string", "minLength": 1, "description": "Path of a file that holds the secret." } },
                    "required": ["file"], "additionalProperties": false
                }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(json: serde_json::Value) -> Result<Secret, String> {
        serde_json::from_value::<Secret>(json).map_err(|error| error.to_string())
    }

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn literal_env_and_file_sources_resolve() {
        assert_eq!(
            load(serde_json::json!("s3cret")).unwrap().expose(),
            "s3cret"
        );

        std::env::set_var("INLET_CORE_TEST_SECRET", "from-env\n");
        let secret = load(serde_json::json!({ "env": "INLET_CORE_TEST_SECRET" })).unwrap();
        assert_eq!(secret.expose(), "from-env");

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.txt"), "from-file\n").unwrap();
        let secret = with_base_dir(dir.path(), || {
            load(serde_json::json!({ "file": "secret.txt" }))
        });
        assert_eq!(secret.unwrap().expose(), "from-file");
    }

    #[test]
    fn unresolvable_sources_say_why() {
        let error = load(serde_json::json!({ "env": "INLET_CORE_TEST_UNSET_VARIABLE" }));
        assert_eq!(
            error.unwrap_err(),
            "environment variable `INLET_CORE_TEST_UNSET_VARIABLE` is not set"
        );

        let error = load(serde_json::json!({ "file": "/nonexistent/inlet/secret" })).unwrap_err();
        assert!(
            error.starts_with("cannot read secret file `/nonexistent/inlet/secret`"),
            "{error}"
        );

        let error = load(serde_json::json!({ "vault": "x" })).unwrap_err();
        assert!(error.starts_with("expected a secret"), "{error}");
    }
}

//! What a scenario returns when it cannot run, or when the connector under
//! test breaks one of the sync rules, and the two macros the scenarios use to
//! state a rule as a check.

use std::path::PathBuf;

use inlet_core::registry::UnknownKind;
use inlet_core::{BoxError, ConfigErrors, SandboxError};
use inlet_engine::StartError;
use inlet_store::StoreError;

/// Why a scenario failed.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// The connector crate is not linked into the test binary.
    #[error(
        "the connector is not linked into this test; reference the connector crate from the \
         test (e.g. return its `KIND` constant from `kind()`)"
    )]
    UnknownKind(#[source] UnknownKind),

    #[error("connector `{kind}` registers no sandbox, so the kit cannot serve it an upstream")]
    NoSandbox { kind: String },

    #[error("writing upstream day {day} into `{}` failed", dir.display())]
    WriteDay {
        day: usize,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the sandbox did not start")]
    SandboxStart(#[source] SandboxError),

    #[error("the sandbox could not move on to the next day")]
    Advance(#[source] BoxError),

    #[error("the instance config could not be written as TOML")]
    ConfigText(#[source] toml::ser::Error),

    /// The config the kit wrote from the sandbox's `instance_config()` was rejected.
    #[error("the instance config built from the sandbox's `instance_config()` was rejected")]
    Config(#[source] ConfigErrors),

    #[error("the store failed")]
    Store(#[from] StoreError),

    #[error("a sync could not start")]
    Start(#[from] StartError),

    #[error("preparing the scenario failed: {what}")]
    Setup {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// The thread that syncs with logs captured ended without an answer.
    #[error("the log-capturing sync thread panicked")]
    ThreadPanicked,

    /// The connector broke a sync rule; the text says which and how.
    #[error("{0}")]
    Rule(String),
}

/// Fails the scenario with [`ConformanceError::Rule`] unless `condition` holds.
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err($crate::error::ConformanceError::Rule(format!($($message)+)));
        }
    };
}

/// Fails the scenario unless `found == expected`, showing both.
macro_rules! ensure_eq {
    ($found:expr, $expected:expr, $($message:tt)+) => {{
        let (found, expected) = (&$found, &$expected);
        if found != expected {
            return Err($crate::error::ConformanceError::Rule(format!(
                "{}: expected {:?}, found {:?}",
                format_args!($($message)+),
                expected,
                found
            )));
        }
    }};
}

pub(crate) use {ensure, ensure_eq};

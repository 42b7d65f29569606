//! Error types shared by connectors, the store and the runner.

use std::fmt;

/// Boxed error from a connector's own error enum.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a sync could not finish. The connector's own error enum (auth,
/// throttling, a broken page, ...) travels boxed in `Upstream`.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error(transparent)]
    Upstream(BoxError),
    #[error("storing a batch failed")]
    Sink(#[from] SinkError),
}

impl ConnectorError {
    pub fn upstream(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Upstream(Box::new(error))
    }
}

/// The runner refused or failed to take a batch.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("the sync was cancelled")]
    Cancelled,
    #[error(transparent)]
    Store(BoxError),
}

/// A record a mapper could not turn into an Inlet record. The record is
/// quarantined with this reason; the sync goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct MappingError {
    /// The record's upstream id, when it had a readable one.
    pub record_id: Option<String>,
    pub reason: String,
}

impl MappingError {
    pub fn new(record_id: Option<String>, reason: impl Into<String>) -> Self {
        Self {
            record_id,
            reason: reason.into(),
        }
    }

    fn describe(&self) -> String {
        match &self.record_id {
            Some(id) => format!("record `{id}`: {}", self.reason),
            None => format!("record without id: {}", self.reason),
        }
    }
}

/// One problem in a config file, at a JSON pointer from the file's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// JSON pointer, e.g. `/instance/0/config/tenant_id`; empty for the root.
    pub pointer: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{pointer}: {}", self.message)
    }
}

/// Every problem found in a config file, all at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    /// The config file's path, as given.
    pub source_name: String,
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.issues.len();
        let noun = if count == 1 { "problem" } else { "problems" };
        write!(f, "{} has {count} {noun}:", self.source_name)?;
        for issue in &self.issues {
            write!(f, "\n  {issue}")?;
        }
        Ok(())
    }
}

/// An error and its causes on one line (`error: cause: cause`), for run
/// records and log fields, where a multi-line chain does not fit.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

//! The connector registry. Each connector crate submits one
//! [`ConnectorRegistration`] with `inventory`; the runner links every
//! connector crate and walks the registry to find them.
//!
//! A registration is plain data: names and function pointers. Nothing runs
//! when it is submitted, so linking a connector cannot slow or break start-up.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;

use crate::connector::Connector;
use crate::error::{BoxError, ConfigIssue};

/// What a connector's constructor receives: the instance's name and its
/// `config` table, already checked against the connector's schema.
#[derive(Debug, Clone, Copy)]
pub struct BuildContext<'a> {
    pub instance: &'a str,
    pub config: &'a serde_json::Value,
}

/// Builds a connector; issues carry pointers relative to the `config` table.
pub type BuildFn = fn(BuildContext<'_>) -> Result<Arc<dyn Connector>, Vec<ConfigIssue>>;

/// A future that starts a sandbox.
pub type SandboxFuture =
    Pin<Box<dyn Future<Output = Result<Box<dyn SandboxHandle>, SandboxError>> + Send>>;

/// A connector's published identity and entry points.
pub struct ConnectorRegistration {
    /// Stable kind used in config files, e.g. `microsoft-tvm`.
    pub kind: &'static str,
    /// Display name for a UI.
    pub title: &'static str,
    pub description: &'static str,
    pub version: &'static str,
    /// JSON Schema of the connector's own `config` table.
    pub config_schema: fn() -> schemars::Schema,
    /// Upstream status values an instance may archive at once
    /// (`remove_assets_with_status`).
    pub source_statuses: &'static [&'static str],
    /// A complete `[instance.config]` table in TOML, for docs and tests.
    pub example_config: &'static str,
    pub build: BuildFn,
    /// Starts the connector's sandbox from command-line style arguments.
    pub sandbox: Option<fn(Vec<String>) -> SandboxFuture>,
}

inventory::collect!(ConnectorRegistration);

/// Every linked connector, sorted by kind.
pub fn registrations() -> Vec<&'static ConnectorRegistration> {
    let mut all: Vec<_> = inventory::iter::<ConnectorRegistration>
        .into_iter()
        .collect();
    all.sort_by_key(|registration| registration.kind);
    all
}

/// The connector of `kind`, if one is linked.
pub fn find(kind: &str) -> Option<&'static ConnectorRegistration> {
    inventory::iter::<ConnectorRegistration>
        .into_iter()
        .find(|registration| registration.kind == kind)
}

/// A kind no linked connector has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown connector kind `{kind}`; known kinds: {}", known.join(", "))]
pub struct UnknownKind {
    pub kind: String,
    pub known: Vec<&'static str>,
}

/// The connector of `kind`, or an error listing the kinds that exist.
pub fn lookup(kind: &str) -> Result<&'static ConnectorRegistration, UnknownKind> {
    find(kind).ok_or_else(|| UnknownKind {
        kind: kind.to_string(),
        known: registrations()
            .iter()
            .map(|registration| registration.kind)
            .collect(),
    })
}

/// Deserializes a connector's config, turning the first serde error into an
/// issue at its path (the schema check has already caught the rest).
pub fn deserialize_config<T: DeserializeOwned>(
    config: &serde_json::Value,
) -> Result<T, Vec<ConfigIssue>> {
    serde_path_to_error::deserialize(config).map_err(|error| {
        let pointer = path_to_pointer(error.path());
        vec![ConfigIssue {
            pointer,
            message: error.into_inner().to_string(),
        }]
    })
}

fn path_to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        pointer.push('/');
        match segment {
            Segment::Seq { index } => pointer.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"))
            }
            Segment::Unknown => pointer.push('?'),
        }
    }
    pointer
}

/// A running sandbox: a local fake of a connector's upstream.
#[async_trait]
pub trait SandboxHandle: Send + Sync {
    /// The base URL it serves, e.g. `http://127.0.0.1:40123`.
    fn base_url(&self) -> String;

    /// A connector `config` table that points an instance at this sandbox.
    fn instance_config(&self) -> serde_json::Value;

    /// Moves the simulated upstream one day on; returns the new day number.
    async fn advance_day(&self) -> Result<u32, BoxError>;

    /// The bearer tokens the sandbox has handed out so far, so the
    /// conformance kit can prove none of them reached a log or the store.
    fn issued_credentials(&self) -> Vec<String> {
        Vec::new()
    }

    /// Stops serving and waits for the server to finish.
    async fn shutdown(self: Box<Self>);
}

/// Why a sandbox did not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// `--help` was asked for: the text to print, then exit 0.
    #[error("{0}")]
    Help(String),
    /// The arguments were wrong: the text to print, then exit 2.
    #[error("{0}")]
    Usage(String),
    #[error("the sandbox could not start")]
    Start(#[source] BoxError),
}

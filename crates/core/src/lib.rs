//! Inlet's core: the contracts every other crate builds on.
//!
//! - [`model`]: the normalized `Asset` and `Finding` records and their enums.
//! - [`connector`]: the `Connector`, `AssetMapper` and `FindingMapper` traits
//!   and what flows through them (record batches, check outcomes).
//! - [`registry`]: the `inventory` registration a connector crate submits.
//! - [`config`]: the config file, the instance schema and its validation.
//! - [`secret`]: the redacting `Secret` type.
//! - [`time`]: strict parsing of the timestamp forms APIs send.
//! - [`error`]: the shared error types.
//!
//! This crate does no I/O of its own, with one exception: resolving a secret
//! from an environment variable or file while the config loads.

pub mod config;
pub mod connector;
pub mod error;
pub mod model;
pub mod registry;
pub mod secret;
pub mod time;

pub use connector::{
    AssetMapper, Capabilities, CheckOutcome, CheckStatus, Connector, FindingChange, FindingMapper,
    Mapped, MappingWarning, NoReference, RecordBatch, RecordSink, ReferenceEntry, ReferenceLookup,
    SkipReason, SyncCounters, SyncMode, SyncRequest,
};
pub use error::{BoxError, ConfigErrors, ConfigIssue, ConnectorError, MappingError, SinkError};
pub use model::{
    ArchiveReason, Asset, AssetObservation, AssetStatus, ExternalTag, Finding, FindingObservation,
    FindingStatus, Severity, SeveritySource,
};
pub use registry::{ConnectorRegistration, SandboxError, SandboxHandle};
pub use secret::Secret;

// Re-exported so connector crates register with the same `inventory` version.
pub use inventory;

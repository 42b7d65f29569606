//! Inlet's normalized records: the asset (a device) and the finding (a
//! vulnerability on a device), with the exact JSON field names operators export.
//!
//! A connector's mapper fills only the upstream-derived part of a record (an
//! observation); the store adds the lifecycle fields (status, archive reason,
//! ingestion times) when it merges the observation into what it already holds.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A key/value label copied from the upstream (`{key, value}` in exports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExternalTag {
    /// Where the label came from upstream, e.g. `machineTags` or `healthStatus`.
    pub key: String,
    /// The label's value as the upstream reported it.
    pub value: String,
}

impl ExternalTag {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// Whether an asset is part of the active inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssetStatus {
    Active,
    Archived,
}

/// Why an asset left the active inventory.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveReason {
    /// A full sync did not return the asset.
    MissingFromSync,
    /// The upstream status is one the instance archives at once.
    Status,
    /// The asset was not observed within the instance's retention period.
    Retention,
}

impl ArchiveReason {
    pub const ALL: [ArchiveReason; 3] = [Self::MissingFromSync, Self::Status, Self::Retention];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingFromSync => "missing_from_sync",
            Self::Status => "status",
            Self::Retention => "retention",
        }
    }
}

/// Whether a finding is still present upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    Active,
    Fixed,
}

/// Severity bands, ordered from least to most severe.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Most severe first, the order listings and stats use.
    pub const DESCENDING: [Severity; 5] = [
        Self::Critical,
        Self::High,
        Self::Medium,
        Self::Low,
        Self::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// The band of a CVSS base score, or `None` when the score is outside 0.0–10.0.
    pub fn from_cvss(score: f64) -> Option<Severity> {
        if !(0.0..=10.0).contains(&score) {
            return None;
        }
        Some(match score {
            s if s >= 9.0 => Self::Critical,
            s if s >= 7.0 => Self::High,
            s if s >= 4.0 => Self::Medium,
            s if s > 0.0 => Self::Low,
            _ => Self::None,
        })
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::DESCENDING
            .into_iter()
            .find(|level| level.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| format!("unknown severity `{text}`"))
    }
}

/// What decided a finding's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeveritySource {
    /// The CVSS base score.
    Cvss,
    /// The vendor's own severity label.
    Vendor,
}

/// The upstream-derived part of an asset, as a mapper produces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetObservation {
    pub id: String,
    pub external_identifier: String,
    pub name: String,
    pub operating_systems: Vec<String>,
    pub ipv4: Vec<String>,
    pub ipv6: Vec<String>,
    pub first_observed: Option<Timestamp>,
    pub last_observed: Option<Timestamp>,
    pub external_tags: Vec<ExternalTag>,
    pub custom_attributes: Map<String, Value>,
    pub source_status: Option<String>,
}

/// The upstream-derived part of a finding, as a mapper produces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingObservation {
    pub id: String,
    pub asset_id: String,
    pub name: String,
    pub cves: Vec<String>,
    pub severity: Severity,
    pub severity_source: Option<SeveritySource>,
    pub cvss_score: Option<f64>,
    pub description: Option<String>,
    pub custom_attributes: Map<String, Value>,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
}

/// A normalized device, as stored and exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "Asset",
    description = "A device in Inlet's exposure inventory."
)]
pub struct Asset {
    /// Name of the instance that ingested the asset.
    pub instance: String,
    /// Kind of the connector that ingested the asset, e.g. `microsoft-tvm`.
    pub connector: String,
    /// The upstream's unique id of the device.
    pub id: String,
    /// A stable identifier outside the upstream (e.g. the cloud VM id), else the id.
    pub external_identifier: String,
    /// Display name of the device.
    pub name: String,
    /// Operating systems reported for the device.
    pub operating_systems: Vec<String>,
    /// IPv4 addresses of the device.
    pub ipv4: Vec<String>,
    /// IPv6 addresses of the device.
    pub ipv6: Vec<String>,
    /// When the upstream first observed the device (RFC 3339, UTC).
    #[schemars(schema_with = "timestamp_schema")]
    pub first_observed: Option<Timestamp>,
    /// When the upstream last observed the device (RFC 3339, UTC).
    #[schemars(schema_with = "timestamp_schema")]
    pub last_observed: Option<Timestamp>,
    /// Labels copied from the upstream.
    pub external_tags: Vec<ExternalTag>,
    /// Connector-specific attributes.
    pub custom_attributes: Map<String, Value>,
    /// The upstream status the instance's `remove_assets_with_status` looks at.
    pub source_status: Option<String>,
    /// `active` while the asset is part of the inventory, else `archived`.
    pub status: AssetStatus,
    /// Why the asset was archived; null while it is active.
    pub archived_reason: Option<ArchiveReason>,
    /// When the asset was archived (RFC 3339, UTC); null while it is active.
    #[schemars(schema_with = "timestamp_schema")]
    pub archived_at: Option<Timestamp>,
    /// When Inlet first stored the asset (RFC 3339, UTC).
    #[schemars(schema_with = "required_timestamp_schema")]
    pub first_ingested_at: Timestamp,
    /// Start of the last sync that returned the asset (RFC 3339, UTC).
    #[schemars(schema_with = "required_timestamp_schema")]
    pub last_synced_at: Timestamp,
}

/// A normalized vulnerability on a device, as stored and exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "Finding", description = "A vulnerability found on an asset.")]
pub struct Finding {
    /// Name of the instance that ingested the finding.
    pub instance: String,
    /// Kind of the connector that ingested the finding.
    pub connector: String,
    /// The finding's uniqueness key, stable across syncs.
    pub id: String,
    /// Id of the asset the finding is on.
    pub asset_id: String,
    /// Display name, usually the CVE id.
    pub name: String,
    /// CVE ids the finding refers to; empty for vendor-specific ids.
    pub cves: Vec<String>,
    /// Severity band.
    pub severity: Severity,
    /// What decided the severity; null when nothing did.
    pub severity_source: Option<SeveritySource>,
    /// CVSS base score, when the upstream gave a valid one.
    pub cvss_score: Option<f64>,
    /// Description of the vulnerability, when known.
    pub description: Option<String>,
    /// Connector-specific attributes.
    pub custom_attributes: Map<String, Value>,
    /// When the upstream first saw the vulnerability on the device (RFC 3339, UTC).
    #[schemars(schema_with = "timestamp_schema")]
    pub first_seen: Option<Timestamp>,
    /// When the upstream last saw the vulnerability on the device (RFC 3339, UTC).
    #[schemars(schema_with = "timestamp_schema")]
    pub last_seen: Option<Timestamp>,
    /// `active` while the upstream reports it, `fixed` once it no longer does.
    pub status: FindingStatus,
    /// When the finding was found fixed (RFC 3339, UTC); null while active.
    #[schemars(schema_with = "timestamp_schema")]
    pub fixed_at: Option<Timestamp>,
    /// When Inlet first stored the finding (RFC 3339, UTC).
    #[schemars(schema_with = "required_timestamp_schema")]
    pub first_ingested_at: Timestamp,
    /// Start of the last sync that returned the finding (RFC 3339, UTC).
    #[schemars(schema_with = "required_timestamp_schema")]
    pub last_synced_at: Timestamp,
}

fn timestamp_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": ["string", "null"], "format": "date-time" })
}

fn required_timestamp_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "format": "date-time" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss_bands_follow_the_boundaries() {
        let cases = [
            (10.0, Some(Severity::Critical)),
            (9.0, Some(Severity::Critical)),
            (8.9, Some(Severity::High)),
            (7.0, Some(Severity::High)),
            (6.9, Some(Severity::Medium)),
            (4.0, Some(Severity::Medium)),
            (3.9, Some(Severity::Low)),
            (0.1, Some(Severity::Low)),
            (0.0, Some(Severity::None)),
            (-0.1, None),
            (10.1, None),
            (f64::NAN, None),
        ];
        for (score, expected) in cases {
            assert_eq!(Severity::from_cvss(score), expected, "score {score}");
        }
    }

    #[test]
    fn severity_parses_any_case() {
        assert_eq!("CRITICAL".parse::<Severity>(), Ok(Severity::Critical));
        assert!("urgent".parse::<Severity>().is_err());
    }
}

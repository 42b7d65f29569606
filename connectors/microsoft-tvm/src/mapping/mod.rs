//! Pure mapping of Defender records into Inlet observations: devices into
//! assets ([`TvmAssetMapper`]), vulnerability rows into findings and delta
//! changes ([`TvmFindingMapper`]), catalog records into reference entries
//! ([`catalog_entry`]). Nothing here does I/O or keeps state; odd fields
//! become counted warnings, and only a record without its keys is rejected.

mod asset;
mod finding;
mod records;
mod severity;

use inlet_core::MappingWarning;
use serde_json::{Map, Value};

pub use asset::TvmAssetMapper;
pub use finding::{catalog_entry, TvmFindingMapper};

/// An IP address field that does not parse; the address is dropped.
pub const UNPARSABLE_IP: MappingWarning = "unparsable_ip";
/// A timestamp field that does not parse; it maps to null.
pub const UNPARSABLE_TIMESTAMP: MappingWarning = "unparsable_timestamp";
/// A `cvssScore` outside 0.0-10.0; the row is rated as if it had none.
pub const CVSS_OUT_OF_RANGE: MappingWarning = "cvss_out_of_range";
/// A `cvssScore` that is not a number; the row is rated as if it had none.
pub const CVSS_UNPARSABLE: MappingWarning = "cvss_unparsable";
/// A field of an unexpected JSON type (e.g. a number where text belongs);
/// the field is ignored.
pub const WRONG_FIELD_TYPE: MappingWarning = "wrong_field_type";

/// Inserts `value` as a JSON string unless it is null.
fn insert_text(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        map.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

/// An instance config with the mapping options given, for tests.
#[cfg(test)]
fn test_config(map_external_ip: bool, fetch_only_onboarded: bool) -> crate::config::TvmConfig {
    let config = serde_json::json!({
        "tenant_id": "00000000-0000-0000-0000-000000000001",
        "client_id": "11111111-1111-1111-1111-111111111111",
        "client_secret": "unused",
        "map_external_ip": map_external_ip,
        "fetch_only_onboarded": fetch_only_onboarded,
    });
    serde_json::from_value(config).expect("test config is valid")
}

#[cfg(test)]
mod tests {
    //! Robustness: no JSON value, however odd, makes a mapper panic.

    use inlet_core::{AssetMapper, FindingMapper, FindingStatus, Mapped, NoReference, SkipReason};
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseResult;
    use serde_json::value::RawValue;

    use super::*;

    /// Every field name the mappers read, so generated objects hit them.
    const FIELD_NAMES: &[&str] = &[
        "id",
        "computerDnsName",
        "lastIpAddress",
        "lastExternalIpAddress",
        "vmMetadata",
        "vmId",
        "osPlatform",
        "firstSeen",
        "lastSeen",
        "machineTags",
        "rbacGroupName",
        "rbacGroupId",
        "healthStatus",
        "riskScore",
        "managedBy",
        "exposureLevel",
        "osBuild",
        "osVersion",
        "version",
        "onboardingStatus",
        "deviceId",
        "cveId",
        "cvssScore",
        "vulnerabilitySeverityLevel",
        "softwareVendor",
        "softwareName",
        "softwareVersion",
        "diskPaths",
        "registryPaths",
        "recommendedSecurityUpdate",
        "recommendedSecurityUpdateUrl",
        "firstSeenTimestamp",
        "lastSeenTimestamp",
        "status",
        "eventTimestamp",
        "description",
        "cvssVector",
    ];

    /// Strings near the values the mappers parse, plus arbitrary ones.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            Just(String::new()),
            "(CVE|cve|TVM)-[0-9]{2,4}-[0-9]{1,6}",
            "[0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9a-f:]{2,12}",
            "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,10})?[Zz]?",
            "-?[0-9]{1,2}(\\.[0-9]{1,3})?",
            "(New|Updated|Fixed|fixed|Onboarded|onboarded|High|low)",
        ]
    }

    /// Any JSON value, up to a few levels deep.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(field_name(), inner, 0..8)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    fn field_name() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(FIELD_NAMES).prop_map(str::to_owned),
            any::<String>()
        ]
    }

    /// Objects whose keys are mostly the real field names; half of them get
    /// string keys (`id`, `deviceId`, `cveId`, `status`) so mapping goes past
    /// the checks.
    fn record() -> impl Strategy<Value = Value> {
        let fields = prop::collection::btree_map(field_name(), json_value(), 0..24);
        let status = prop::sample::select(&["New", "updated", "FIXED", "Removed", ""][..]);
        let keys = prop::option::of((text(), text(), text(), status));
        (fields, keys).prop_map(|(fields, keys)| {
            let mut record: Map<String, Value> = fields.into_iter().collect();
            if let Some((id, device_id, cve_id, status)) = keys {
                record.insert("id".into(), Value::String(id));
                record.insert("deviceId".into(), Value::String(device_id));
                record.insert("cveId".into(), Value::String(cve_id));
                record.insert("status".into(), Value::String(status.into()));
            }
            Value::Object(record)
        })
    }

    fn raw(value: &Value) -> Box<RawValue> {
        RawValue::from_string(value.to_string()).expect("serialized JSON is valid")
    }

    /// Maps `value` with every mapper and checks what any result must hold.
    fn check_all(value: &Value, external_ip: bool, only_onboarded: bool) -> TestCaseResult {
        let raw = raw(value);
        check_asset(value, &raw, external_ip, only_onboarded)?;
        check_findings(value, &raw)?;
        if let Ok(Some(entry)) = catalog_entry(&raw) {
            prop_assert_eq!(Some(entry.key.as_str()), text_member(value, "id"));
            let members = entry.value.as_object().map_or(0, |members| members.len());
            prop_assert!(members > 0);
        }
        Ok(())
    }

    fn text_member<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
        value.get(key).and_then(Value::as_str)
    }

    fn check_asset(
        value: &Value,
        raw: &RawValue,
        external_ip: bool,
        only_onboarded: bool,
    ) -> TestCaseResult {
        let assets = TvmAssetMapper::new(&test_config(external_ip, only_onboarded));
        match assets.map_asset(raw) {
            Ok(Mapped::Record { record, .. }) => {
                prop_assert_eq!(Some(record.id.as_str()), text_member(value, "id"));
                prop_assert!(!record.name.trim().is_empty());
            }
            Ok(Mapped::Skipped(reason)) => {
                prop_assert_eq!(reason, SkipReason::Filtered);
                prop_assert!(only_onboarded);
            }
            Err(error) => prop_assert!(!error.reason.is_empty()),
        }
        Ok(())
    }

    fn check_findings(value: &Value, raw: &RawValue) -> TestCaseResult {
        let findings = TvmFindingMapper::new();
        let has_cve = text_member(value, "cveId").is_some_and(|cve| !cve.trim().is_empty());
        match findings.map_finding(raw, &NoReference) {
            Ok(Mapped::Record { record, .. }) => {
                prop_assert!(has_cve);
                prop_assert!(record
                    .cvss_score
                    .is_none_or(|score| (0.0..=10.0).contains(&score)));
                prop_assert_eq!(
                    Some(record.asset_id.as_str()),
                    text_member(value, "deviceId")
                );
            }
            Ok(Mapped::Skipped(reason)) => {
                prop_assert_eq!(reason, SkipReason::NoCve);
                prop_assert!(!has_cve);
            }
            Err(error) => prop_assert!(!error.reason.is_empty()),
        }

        if let Ok(Mapped::Record { record, .. }) = findings.map_change(raw, &NoReference) {
            let status = text_member(value, "status")
                .unwrap_or_default()
                .to_ascii_lowercase();
            prop_assert!(["new", "updated", "fixed"].contains(&status.as_str()));
            prop_assert_eq!(record.status == FindingStatus::Fixed, status == "fixed");
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_json_value_maps_without_panicking(
            value in json_value(),
            external: bool,
            onboarded: bool,
        ) {
            check_all(&value, external, onboarded)?;
        }

        #[test]
        fn any_record_shaped_object_maps_without_panicking(
            value in record(),
            external: bool,
            onboarded: bool,
        ) {
            check_all(&value, external, onboarded)?;
        }
    }
}

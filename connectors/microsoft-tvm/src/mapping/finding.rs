//! Vulnerability rows (full and delta export) into findings, following the
//! "Finding mapping" and "Severity" sections of the connector spec, and
//! catalog records into the reference entries that enrich them.

use inlet_core::{
    FindingChange, FindingMapper, FindingObservation, FindingStatus, Mapped, MappingError,
    MappingWarning, ReferenceEntry, ReferenceLookup, SkipReason,
};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::records::{self, non_blank, CatalogRecord, Scalar, VulnerabilityRecord};
use super::{insert_text, severity};

/// The catalog members a finding reads, as `catalog_entry` stores them.
const DESCRIPTION: &str = "description";
const CVSS_VECTOR: &str = "cvssVector";

/// Maps Defender vulnerability rows; pure and without options.
#[derive(Debug, Clone, Default)]
pub struct TvmFindingMapper;

impl TvmFindingMapper {
    pub fn new() -> Self {
        Self
    }
}

impl FindingMapper for TvmFindingMapper {
    fn map_finding(
        &self,
        record: &RawValue,
        reference: &dyn ReferenceLookup,
    ) -> Result<Mapped<FindingObservation>, MappingError> {
        let row: VulnerabilityRecord<'_> = records::parse(record)?;
        let mut warnings = Vec::new();
        Ok(match observe(&row, reference, &mut warnings)? {
            Some(finding) => Mapped::Record {
                record: finding,
                warnings,
            },
            None => Mapped::Skipped(SkipReason::NoCve),
        })
    }

    fn map_change(
        &self,
        record: &RawValue,
        reference: &dyn ReferenceLookup,
    ) -> Result<Mapped<FindingChange>, MappingError> {
        let row: VulnerabilityRecord<'_> = records::parse(record)?;
        let mut warnings = Vec::new();
        let Some(finding) = observe(&row, reference, &mut warnings)? else {
            return Ok(Mapped::Skipped(SkipReason::NoCve));
        };
        let change = FindingChange {
            status: change_status(&row)?,
            event_at: row.event_timestamp.timestamp(&mut warnings),
            finding,
        };
        Ok(Mapped::Record {
            record: change,
            warnings,
        })
    }
}

/// The finding of one row, or `None` for a row without a CVE (software
/// inventory, not a vulnerability).
fn observe(
    row: &VulnerabilityRecord<'_>,
    reference: &dyn ReferenceLookup,
    warnings: &mut Vec<MappingWarning>,
) -> Result<Option<FindingObservation>, MappingError> {
    let cve_id = match &row.cve_id {
        Scalar::Missing => return Ok(None),
        Scalar::Text(text) if text.trim().is_empty() => return Ok(None),
        Scalar::Text(text) => &**text,
        other => {
            let reason = format!("`cveId` is {}, not a string", other.kind());
            return Err(MappingError::new(row_id(row), reason));
        }
    };
    let id = records::required_text(&row.id, "id", None)?;
    let device_id = records::required_text(&row.device_id, "deviceId", Some(id))?;

    let level = row.vulnerability_severity_level.text(warnings);
    let rating = severity::rate(&row.cvss_score, level, warnings);
    let catalog = reference.reference(cve_id);
    let catalog_text = |member: &str| catalog.as_ref()?.get(member)?.as_str();

    Ok(Some(FindingObservation {
        id: format!("{cve_id}/{id}/{device_id}"),
        asset_id: device_id.to_owned(),
        name: cve_id.to_owned(),
        cves: if looks_like_cve(cve_id) {
            vec![cve_id.to_owned()]
        } else {
            Vec::new()
        },
        severity: rating.severity,
        severity_source: rating.source,
        cvss_score: rating.cvss_score,
        description: catalog_text(DESCRIPTION).map(str::to_owned),
        custom_attributes: attributes(row, level, catalog_text(CVSS_VECTOR), warnings),
        first_seen: row.first_seen_timestamp.timestamp(warnings),
        last_seen: row.last_seen_timestamp.timestamp(warnings),
    }))
}

/// The row's own id, when it has a readable one.
fn row_id(row: &VulnerabilityRecord<'_>) -> Option<String> {
    match &row.id {
        Scalar::Text(id) => Some(id.to_string()),
        _ => None,
    }
}

/// The finding's `custom_attributes`; null values are omitted, empty path
/// lists kept.
fn attributes(
    row: &VulnerabilityRecord<'_>,
    level: Option<&str>,
    cvss_vector: Option<&str>,
    warnings: &mut Vec<MappingWarning>,
) -> Map<String, Value> {
    let mut attributes = Map::new();
    insert_text(&mut attributes, CVSS_VECTOR, cvss_vector);
    insert_text(
        &mut attributes,
        "software_vendor",
        row.software_vendor.text(warnings),
    );
    insert_text(
        &mut attributes,
        "software_name",
        row.software_name.text(warnings),
    );
    insert_text(
        &mut attributes,
        "software_version",
        row.software_version.text(warnings),
    );
    for (key, list) in [
        ("disk_paths", &row.disk_paths),
        ("registry_paths", &row.registry_paths),
    ] {
        if let Some(paths) = list.texts(warnings) {
            let paths = paths
                .into_iter()
                .map(|path| Value::String(path.to_owned()))
                .collect();
            attributes.insert(key.into(), Value::Array(paths));
        }
    }

    // The update's name and its URL, whichever are present, one space apart.
    let update = [
        &row.recommended_security_update,
        &row.recommended_security_update_url,
    ]
    .into_iter()
    .filter_map(|field| non_blank(field.text(warnings)))
    .collect::<Vec<_>>()
    .join(" ");
    if !update.is_empty() {
        attributes.insert("recommended_security_update".into(), Value::String(update));
    }

    insert_text(&mut attributes, "severity", level);
    attributes
}

/// Whether `text` has the shape `CVE-YYYY-NNNN...` (any case); vendor ids
/// such as `TVM-2020-0002` do not.
fn looks_like_cve(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 13
        && bytes[..4].eq_ignore_ascii_case(b"CVE-")
        && bytes[4..8].iter().all(u8::is_ascii_digit)
        && bytes[8] == b'-'
        && bytes[9..].iter().all(u8::is_ascii_digit)
}

/// A delta row's `status`: `New` and `Updated` mean the vulnerability is
/// present, `Fixed` that it is gone.
fn change_status(row: &VulnerabilityRecord<'_>) -> Result<FindingStatus, MappingError> {
    let record_id = row_id(row);
    let status = records::required_text(&row.status, "status", record_id.as_deref())?;
    if status.eq_ignore_ascii_case("new") || status.eq_ignore_ascii_case("updated") {
        Ok(FindingStatus::Active)
    } else if status.eq_ignore_ascii_case("fixed") {
        Ok(FindingStatus::Fixed)
    } else {
        let reason = format!("`status` `{status}` is not New, Updated or Fixed");
        Err(MappingError::new(record_id, reason))
    }
}

/// Turns one record of `GET /api/vulnerabilities` into the catalog entry of
/// its CVE: `{"description": .., "cvssVector": ..}`, empty members omitted;
/// `None` when it has neither.
pub fn catalog_entry(record: &RawValue) -> Result<Option<ReferenceEntry>, MappingError> {
    let record: CatalogRecord<'_> = records::parse(record)?;
    let key = records::required_text(&record.id, "id", None)?;

    // A catalog entry has no warning counter, so odd members are just left out.
    let mut ignored = Vec::new();
    let mut value = Map::new();
    insert_text(
        &mut value,
        DESCRIPTION,
        non_blank(record.description.text(&mut ignored)),
    );
    insert_text(
        &mut value,
        CVSS_VECTOR,
        non_blank(record.cvss_vector.text(&mut ignored)),
    );
    if value.is_empty() {
        return Ok(None);
    }
    Ok(Some(ReferenceEntry {
        key: key.to_owned(),
        value: Value::Object(value),
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use inlet_core::{NoReference, Severity, SeveritySource};
    use jiff::Timestamp;
    use serde_json::json;

    use super::*;
    use crate::mapping::{
        CVSS_OUT_OF_RANGE, CVSS_UNPARSABLE, UNPARSABLE_TIMESTAMP, WRONG_FIELD_TYPE,
    };

    const DEVICE: &str = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07";
    const ROW: &str = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07_firefox_83.0.0.0_CVE-2020-26971_";

    /// A catalog held in memory, as the store would serve it.
    struct Catalog(HashMap<String, Value>);

    impl ReferenceLookup for Catalog {
        fn reference(&self, key: &str) -> Option<Value> {
            self.0.get(key).cloned()
        }
    }

    fn catalog() -> Catalog {
        let entries = [
            r#"{"id": "CVE-2020-26971", "name": "CVE-2020-26971",
                "description": "Heap buffer overflow in Firefox.",
                "cvssVector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",
                "severity": "High", "cvssV3": 8.8}"#,
            r#"{"id": "CVE-2021-0001", "description": "Only a description.", "cvssVector": null}"#,
        ];
        let entries = entries.into_iter().filter_map(|json| {
            let raw = RawValue::from_string(json.to_owned()).expect("test JSON is valid");
            catalog_entry(&raw).expect("valid catalog record")
        });
        Catalog(entries.map(|entry| (entry.key, entry.value)).collect())
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("expected an object, got {other}"),
        }
    }

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().expect("test timestamp is RFC 3339"))
    }

    /// A row of the full export with every column the mapping reads.
    fn full_row() -> Map<String, Value> {
        object(json!({
            "id": ROW,
            "deviceId": DEVICE,
            "deviceName": "mymachine1.contoso.com",
            "osPlatform": "Windows10",
            "osVersion": "10.0.17763.1637",
            "rbacGroupName": "Unassigned",
            "cveId": "CVE-2020-26971",
            "cvssScore": 8.8,
            "vulnerabilitySeverityLevel": "High",
            "softwareVendor": "mozilla",
            "softwareName": "firefox",
            "softwareVersion": "83.0.0.0",
            "diskPaths": ["C:\\Program Files\\Mozilla Firefox\\firefox.exe"],
            "registryPaths": [],
            "recommendedSecurityUpdate": "193220",
            "recommendedSecurityUpdateId": null,
            "recommendedSecurityUpdateUrl": null,
            "exploitabilityLevel": "NoExploit",
            "securityUpdateAvailable": true,
            "firstSeenTimestamp": "2020-11-03 10:13:34.8476880",
            "lastSeenTimestamp": "2020-12-30 14:17:26"
        }))
    }

    /// What `full_row` maps to with the catalog.
    fn full_finding() -> FindingObservation {
        FindingObservation {
            id: format!("CVE-2020-26971/{ROW}/{DEVICE}"),
            asset_id: DEVICE.into(),
            name: "CVE-2020-26971".into(),
            cves: vec!["CVE-2020-26971".into()],
            severity: Severity::High,
            severity_source: Some(SeveritySource::Cvss),
            cvss_score: Some(8.8),
            description: Some("Heap buffer overflow in Firefox.".into()),
            custom_attributes: object(json!({
                "cvssVector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",
                "software_vendor": "mozilla",
                "software_name": "firefox",
                "software_version": "83.0.0.0",
                "disk_paths": ["C:\\Program Files\\Mozilla Firefox\\firefox.exe"],
                "registry_paths": [],
                "recommended_security_update": "193220",
                "severity": "High",
            })),
            first_seen: at("2020-11-03T10:13:34.847688Z"),
            last_seen: at("2020-12-30T14:17:26Z"),
        }
    }

    /// `full_row` with `changes` applied (a null value removes the column).
    fn row(changes: Value) -> String {
        let mut row = full_row();
        for (key, value) in object(changes) {
            if value.is_null() {
                row.remove(&key);
            } else {
                row.insert(key, value);
            }
        }
        Value::Object(row).to_string()
    }

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).expect("test JSON is valid")
    }

    fn map(
        json: &str,
        reference: &dyn ReferenceLookup,
    ) -> Result<Mapped<FindingObservation>, MappingError> {
        TvmFindingMapper::new().map_finding(&raw(json), reference)
    }

    fn mapped(
        record: FindingObservation,
        warnings: Vec<MappingWarning>,
    ) -> Result<Mapped<FindingObservation>, MappingError> {
        Ok(Mapped::Record { record, warnings })
    }

    #[test]
    fn a_full_row_maps_every_column() {
        assert_eq!(
            map(&row(json!({})), &catalog()),
            mapped(full_finding(), vec![])
        );
    }

    #[test]
    fn the_catalog_fills_description_and_vector() {
        let without = FindingObservation {
            description: None,
            custom_attributes: {
                let mut attributes = full_finding().custom_attributes;
                attributes.remove("cvssVector");
                attributes
            },
            ..full_finding()
        };
        assert_eq!(
            map(&row(json!({})), &NoReference),
            mapped(without.clone(), vec![])
        );

        // A catalog entry with only a description.
        let json = row(json!({ "cveId": "CVE-2021-0001" }));
        let expected = FindingObservation {
            id: format!("CVE-2021-0001/{ROW}/{DEVICE}"),
            name: "CVE-2021-0001".into(),
            cves: vec!["CVE-2021-0001".into()],
            description: Some("Only a description.".into()),
            ..without.clone()
        };
        assert_eq!(map(&json, &catalog()), mapped(expected, vec![]));

        // A CVE the catalog does not hold.
        let json = row(json!({ "cveId": "CVE-2022-99999" }));
        let expected = FindingObservation {
            id: format!("CVE-2022-99999/{ROW}/{DEVICE}"),
            name: "CVE-2022-99999".into(),
            cves: vec!["CVE-2022-99999".into()],
            ..without
        };
        assert_eq!(map(&json, &catalog()), mapped(expected, vec![]));
    }

    #[test]
    fn only_cve_shaped_ids_fill_cves() {
        let cases = [
            ("CVE-2020-26971", true),
            ("cve-2020-1234", true),
            ("CVE-2020-1234567", true),
            ("TVM-2020-0002", false),
            ("CVE-2020-123", false),
            ("CVE-20-1234", false),
            ("CVE-2020-1234a", false),
            ("CVE-2020-1234 ", false),
            ("CVE-２０２０-1234", false),
        ];
        for (cve_id, is_cve) in cases {
            let Ok(Mapped::Record { record, .. }) =
                map(&row(json!({ "cveId": cve_id })), &NoReference)
            else {
                panic!("{cve_id} did not map");
            };
            let expected = if is_cve {
                vec![cve_id.to_owned()]
            } else {
                vec![]
            };
            assert_eq!((record.name.as_str(), record.cves), (cve_id, expected));
            assert_eq!(record.id, format!("{cve_id}/{ROW}/{DEVICE}"));
        }
    }

    #[test]
    fn rows_without_a_cve_are_skipped_before_any_check() {
        for cve_id in [json!(null), json!(""), json!("   ")] {
            // Even without `id` and `deviceId`: the row is software, not a finding.
            let json = row(json!({ "id": null, "deviceId": null })).replace(
                r#""cveId":"CVE-2020-26971""#,
                &format!(r#""cveId":{cve_id}"#),
            );
            assert_eq!(
                map(&json, &catalog()),
                Ok(Mapped::Skipped(SkipReason::NoCve)),
                "{json}"
            );
            let change = TvmFindingMapper::new().map_change(&raw(&json), &catalog());
            assert_eq!(change, Ok(Mapped::Skipped(SkipReason::NoCve)), "{json}");
        }
        let json = r#"{"deviceId": "d", "id": "r"}"#;
        assert_eq!(
            map(json, &catalog()),
            Ok(Mapped::Skipped(SkipReason::NoCve))
        );
    }

    #[test]
    fn rows_without_usable_keys_are_rejected() {
        let cases = [
            (
                row(json!({ "deviceId": null })),
                MappingError::new(Some(ROW.into()), "`deviceId` is missing"),
            ),
            (
                row(json!({ "deviceId": "" })),
                MappingError::new(Some(ROW.into()), "`deviceId` is empty"),
            ),
            (
                row(json!({ "deviceId": 12 })),
                MappingError::new(Some(ROW.into()), "`deviceId` is a number, not a string"),
            ),
            (
                row(json!({ "id": null })),
                MappingError::new(None, "`id` is missing"),
            ),
            (
                row(json!({ "id": { "a": 1 } })),
                MappingError::new(None, "`id` is an object, not a string"),
            ),
            (
                row(json!({ "cveId": 2020 })),
                MappingError::new(Some(ROW.into()), "`cveId` is a number, not a string"),
            ),
            (
                "[1, 2]".to_owned(),
                MappingError::new(None, "record is an array, not a JSON object"),
            ),
            (
                "42".to_owned(),
                MappingError::new(None, "record is a number, not a JSON object"),
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(map(&json, &catalog()), Err(expected.clone()), "{json}");
            let change = TvmFindingMapper::new().map_change(&raw(&json), &catalog());
            assert_eq!(change, Err(expected), "{json}");
        }
    }

    type RatingOf = (
        Severity,
        Option<SeveritySource>,
        Option<f64>,
        Vec<MappingWarning>,
    );

    /// The severity columns and warnings of the full row with `changes`.
    fn rating_of(changes: Value) -> RatingOf {
        match map(&row(changes), &NoReference) {
            Ok(Mapped::Record {
                record: finding,
                warnings,
            }) => (
                finding.severity,
                finding.severity_source,
                finding.cvss_score,
                warnings,
            ),
            other => panic!("did not map: {other:?}"),
        }
    }

    #[test]
    fn severity_comes_from_score_then_vendor() {
        let cvss = |severity, score| (severity, Some(SeveritySource::Cvss), Some(score), vec![]);
        let vendor = |severity, warnings| (severity, Some(SeveritySource::Vendor), None, warnings);
        let cases = [
            (json!({ "cvssScore": 9.0 }), cvss(Severity::Critical, 9.0)),
            (json!({ "cvssScore": 8.9 }), cvss(Severity::High, 8.9)),
            (json!({ "cvssScore": 7.0 }), cvss(Severity::High, 7.0)),
            (json!({ "cvssScore": 6.9 }), cvss(Severity::Medium, 6.9)),
            (json!({ "cvssScore": 4.0 }), cvss(Severity::Medium, 4.0)),
            (json!({ "cvssScore": 3.9 }), cvss(Severity::Low, 3.9)),
            (json!({ "cvssScore": 0.1 }), cvss(Severity::Low, 0.1)),
            (json!({ "cvssScore": 0.0 }), cvss(Severity::None, 0.0)),
            (json!({ "cvssScore": "7.5" }), cvss(Severity::High, 7.5)),
            (
                json!({ "cvssScore": 2, "vulnerabilitySeverityLevel": "Critical" }),
                cvss(Severity::Low, 2.0),
            ),
            (
                json!({ "cvssScore": null, "vulnerabilitySeverityLevel": "hIgH" }),
                vendor(Severity::High, vec![]),
            ),
            (
                json!({ "cvssScore": "n/a", "vulnerabilitySeverityLevel": "CRITICAL" }),
                vendor(Severity::Critical, vec![CVSS_UNPARSABLE]),
            ),
            (
                json!({ "cvssScore": 10.5, "vulnerabilitySeverityLevel": "medium" }),
                vendor(Severity::Medium, vec![CVSS_OUT_OF_RANGE]),
            ),
            (
                json!({ "cvssScore": -1, "vulnerabilitySeverityLevel": "Low" }),
                vendor(Severity::Low, vec![CVSS_OUT_OF_RANGE]),
            ),
            (
                json!({ "cvssScore": null, "vulnerabilitySeverityLevel": null }),
                (Severity::None, None, None, vec![]),
            ),
        ];
        for (changes, expected) in cases {
            assert_eq!(rating_of(changes.clone()), expected, "{changes}");
        }
    }

    /// The custom attributes (and warnings) of a row with just its keys
    /// plus `fields`.
    fn attributes_of(fields: Value) -> (Map<String, Value>, Vec<MappingWarning>) {
        let mut row = object(json!({ "id": ROW, "deviceId": DEVICE, "cveId": "CVE-2020-26971" }));
        row.extend(object(fields));
        match map(&Value::Object(row).to_string(), &NoReference) {
            Ok(Mapped::Record { record, warnings }) => (record.custom_attributes, warnings),
            other => panic!("did not map: {other:?}"),
        }
    }

    #[test]
    fn custom_attributes_omit_nulls_and_join_the_update() {
        let cases = [
            (
                json!({ "recommendedSecurityUpdate": "April 2020 Security Updates",
                        "recommendedSecurityUpdateUrl": "https://example.com/kb4550961" }),
                json!({
                    "recommended_security_update":
                        "April 2020 Security Updates https://example.com/kb4550961"
                }),
            ),
            (
                json!({ "recommendedSecurityUpdate": null,
                        "recommendedSecurityUpdateUrl": "https://example.com/kb4550961" }),
                json!({ "recommended_security_update": "https://example.com/kb4550961" }),
            ),
            (
                json!({ "recommendedSecurityUpdate": "ADV 200002",
                        "recommendedSecurityUpdateUrl": "" }),
                json!({ "recommended_security_update": "ADV 200002" }),
            ),
            (
                json!({ "recommendedSecurityUpdate": "4550961" }),
                json!({ "recommended_security_update": "4550961" }),
            ),
            (
                json!({ "recommendedSecurityUpdate": null, "recommendedSecurityUpdateUrl": null }),
                json!({}),
            ),
            (
                json!({ "softwareVendor": null, "softwareName": null, "softwareVersion": null,
                        "diskPaths": null,
                     "registryPaths": null, "vulnerabilitySeverityLevel": null }),
                json!({}),
            ),
            (
                json!({ "softwareVendor": "microsoft", "softwareName": ".net_framework",
                        "softwareVersion": "",
                     "vulnerabilitySeverityLevel": "Medium" }),
                json!({ "software_vendor": "microsoft", "software_name": ".net_framework",
                        "software_version": "",
                     "severity": "Medium" }),
            ),
            (
                json!({ "diskPaths": [], "registryPaths": ["HKEY_LOCAL_MACHINE\\SOFTWARE\\Mozilla",
                        "SOFTWARE\\Mozilla"] }),
                json!({ "disk_paths": [],
                        "registry_paths": ["HKEY_LOCAL_MACHINE\\SOFTWARE\\Mozilla",
                        "SOFTWARE\\Mozilla"] }),
            ),
        ];
        for (fields, expected) in cases {
            assert_eq!(
                attributes_of(fields.clone()),
                (object(expected), vec![]),
                "{fields}"
            );
        }
    }

    #[test]
    fn odd_types_and_timestamps_warn_without_rejecting() {
        let changes = json!({
            "softwareVersion": 83,
            "diskPaths": "C:\\firefox.exe",
            "registryPaths": ["SOFTWARE\\Mozilla", 7],
            "firstSeenTimestamp": "0001-01-01 00:00:00",
            "lastSeenTimestamp": "30/12/2020",
        });
        let mut attributes = full_finding().custom_attributes;
        attributes.remove("cvssVector");
        attributes.remove("software_version");
        attributes.remove("disk_paths");
        attributes.insert("registry_paths".into(), json!(["SOFTWARE\\Mozilla"]));
        let expected = FindingObservation {
            description: None,
            custom_attributes: attributes,
            first_seen: None,
            last_seen: None,
            ..full_finding()
        };
        let warnings = vec![
            WRONG_FIELD_TYPE,
            WRONG_FIELD_TYPE,
            WRONG_FIELD_TYPE,
            UNPARSABLE_TIMESTAMP,
        ];
        assert_eq!(map(&row(changes), &NoReference), mapped(expected, warnings));
    }

    #[test]
    fn delta_rows_carry_status_and_event_time() {
        let cases = [
            (
                "New",
                "2021-01-11T11:06:08.291Z",
                FindingStatus::Active,
                at("2021-01-11T11:06:08.291Z"),
            ),
            (
                "updated",
                "2020-11-03 10:13:34.8476880",
                FindingStatus::Active,
                at("2020-11-03T10:13:34.847688Z"),
            ),
            (
                "FIXED",
                "2020-12-30 14:17:26",
                FindingStatus::Fixed,
                at("2020-12-30T14:17:26Z"),
            ),
        ];
        for (status, event, expected_status, event_at) in cases {
            let json =
                row(json!({ "status": status, "eventTimestamp": event, "isOnboarded": true }));
            let expected = FindingChange {
                finding: full_finding(),
                status: expected_status,
                event_at,
            };
            let change = TvmFindingMapper::new().map_change(&raw(&json), &catalog());
            assert_eq!(
                change,
                Ok(Mapped::Record {
                    record: expected,
                    warnings: vec![]
                }),
                "{status}"
            );
        }

        let json = row(json!({ "status": "Fixed", "eventTimestamp": "soon" }));
        let expected = FindingChange {
            finding: full_finding(),
            status: FindingStatus::Fixed,
            event_at: None,
        };
        let change = TvmFindingMapper::new().map_change(&raw(&json), &catalog());
        assert_eq!(
            change,
            Ok(Mapped::Record {
                record: expected,
                warnings: vec![UNPARSABLE_TIMESTAMP]
            })
        );
    }

    #[test]
    fn delta_rows_with_an_unknown_status_are_rejected() {
        let cases = [
            (
                json!({ "status": "Removed" }),
                "`status` `Removed` is not New, Updated or Fixed",
            ),
            (json!({ "status": "" }), "`status` is empty"),
            (json!({}), "`status` is missing"),
            (json!({ "status": 1 }), "`status` is a number, not a string"),
        ];
        for (changes, reason) in cases {
            let change =
                TvmFindingMapper::new().map_change(&raw(&row(changes.clone())), &catalog());
            assert_eq!(
                change,
                Err(MappingError::new(Some(ROW.into()), reason)),
                "{changes}"
            );
        }
    }

    #[test]
    fn catalog_records_become_entries() {
        let cases = [
            (
                r#"{"id": "CVE-2020-1", "description": "d", "cvssVector": "v", "cvssV3": 7}"#,
                Ok(Some(ReferenceEntry {
                    key: "CVE-2020-1".into(),
                    value: json!({ "description": "d", "cvssVector": "v" }),
                })),
            ),
            (
                r#"{"id": "CVE-2020-1", "description": "d", "cvssVector": null}"#,
                Ok(Some(ReferenceEntry {
                    key: "CVE-2020-1".into(),
                    value: json!({ "description": "d" }),
                })),
            ),
            (
                r#"{"id": "TVM-2020-2", "cvssVector": "v"}"#,
                Ok(Some(ReferenceEntry {
                    key: "TVM-2020-2".into(),
                    value: json!({ "cvssVector": "v" }),
                })),
            ),
            (
                r#"{"id": "CVE-2020-1", "description": "", "cvssVector": 3}"#,
                Ok(None),
            ),
            (r#"{"id": "CVE-2020-1"}"#, Ok(None)),
            (
                r#"{"description": "d"}"#,
                Err(MappingError::new(None, "`id` is missing")),
            ),
            (
                r#"{"id": 5, "description": "d"}"#,
                Err(MappingError::new(None, "`id` is a number, not a string")),
            ),
            (
                r#"["CVE-2020-1"]"#,
                Err(MappingError::new(
                    None,
                    "record is an array, not a JSON object",
                )),
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(catalog_entry(&raw(json)), expected, "{json}");
        }
    }
}

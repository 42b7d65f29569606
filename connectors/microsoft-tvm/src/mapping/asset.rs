//! Devices (`GET /api/machines` records) into asset observations, following
//! the "Asset mapping" table of the connector spec. A record is read once into
//! plain options (so each odd field warns once), then assembled.

use std::net::IpAddr;

use inlet_core::{
    AssetMapper, AssetObservation, ExternalTag, Mapped, MappingError, MappingWarning, SkipReason,
};
use jiff::Timestamp;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::records::{self, non_blank, DeviceRecord, Nested, Scalar};
use super::{insert_text, UNPARSABLE_IP, WRONG_FIELD_TYPE};
use crate::config::TvmConfig;

/// Maps Defender devices; pure, configured by the instance's IP and
/// onboarding options.
#[derive(Debug, Clone)]
pub struct TvmAssetMapper {
    map_external_ip: bool,
    fetch_only_onboarded: bool,
}

impl TvmAssetMapper {
    pub fn new(config: &TvmConfig) -> Self {
        Self {
            map_external_ip: config.map_external_ip,
            fetch_only_onboarded: config.fetch_only_onboarded,
        }
    }
}

impl AssetMapper for TvmAssetMapper {
    fn map_asset(&self, record: &RawValue) -> Result<Mapped<AssetObservation>, MappingError> {
        let record: DeviceRecord<'_> = records::parse(record)?;
        let mut warnings = Vec::new();
        let device = Device::read(&record, &mut warnings)?;

        // Absent counts as not onboarded: the filter keeps only devices
        // Defender says it fully manages.
        let onboarded = device
            .onboarding_status
            .is_some_and(|status| status.eq_ignore_ascii_case("onboarded"));
        if self.fetch_only_onboarded && !onboarded {
            return Ok(Mapped::Skipped(SkipReason::Filtered));
        }

        let (ipv4, ipv6) = self.ip_lists(&device, &mut warnings);
        let observation = AssetObservation {
            id: device.id.to_owned(),
            external_identifier: non_blank(device.vm_id).unwrap_or(device.id).to_owned(),
            name: device.name().to_owned(),
            operating_systems: non_blank(device.os_platform)
                .map(str::to_owned)
                .into_iter()
                .collect(),
            ipv4,
            ipv6,
            first_observed: device.first_seen,
            last_observed: device.last_seen,
            external_tags: device.external_tags(),
            custom_attributes: device.custom_attributes(),
            source_status: non_blank(device.health_status).map(str::to_owned),
        };
        Ok(Mapped::Record {
            record: observation,
            warnings,
        })
    }
}

impl TvmAssetMapper {
    /// The device's addresses by family, parsed and written in canonical
    /// form, duplicates removed in first-seen order.
    fn ip_lists(
        &self,
        device: &Device<'_>,
        warnings: &mut Vec<MappingWarning>,
    ) -> (Vec<String>, Vec<String>) {
        let external = device
            .last_external_ip_address
            .filter(|_| self.map_external_ip);
        let mut ipv4 = Vec::new();
        let mut ipv6 = Vec::new();
        for text in [device.last_ip_address, external].into_iter().flatten() {
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let (list, address) = match text.parse::<IpAddr>() {
                Ok(IpAddr::V4(address)) => (&mut ipv4, address.to_string()),
                Ok(IpAddr::V6(address)) => (&mut ipv6, address.to_string()),
                Err(_) => {
                    warnings.push(UNPARSABLE_IP);
                    continue;
                }
            };
            if !list.contains(&address) {
                list.push(address);
            }
        }
        (ipv4, ipv6)
    }
}

/// The fields of one device the mapping uses, each read once.
struct Device<'s> {
    id: &'s str,
    computer_dns_name: Option<&'s str>,
    last_ip_address: Option<&'s str>,
    last_external_ip_address: Option<&'s str>,
    vm_id: Option<&'s str>,
    os_platform: Option<&'s str>,
    first_seen: Option<Timestamp>,
    last_seen: Option<Timestamp>,
    machine_tags: Vec<&'s str>,
    rbac_group_name: Option<&'s str>,
    health_status: Option<&'s str>,
    risk_score: Option<&'s str>,
    managed_by: Option<&'s str>,
    exposure_level: Option<&'s str>,
    os_build: Option<Value>,
    os_version: Option<&'s str>,
    onboarding_status: Option<&'s str>,
}

impl<'s> Device<'s> {
    /// Reads the record; only a missing or unusable `id` is an error.
    fn read(
        record: &'s DeviceRecord<'_>,
        warnings: &mut Vec<MappingWarning>,
    ) -> Result<Self, MappingError> {
        let id = records::required_text(&record.id, "id", None)?;
        let vm_id = match &record.vm_metadata {
            Nested::Object(metadata) => metadata.vm_id.text(warnings),
            Nested::Missing => None,
            Nested::Other => {
                warnings.push(WRONG_FIELD_TYPE);
                None
            }
        };
        let os_version = non_blank(record.os_version.text(warnings));
        let version = record.version.text(warnings);
        Ok(Self {
            id,
            computer_dns_name: record.computer_dns_name.text(warnings),
            last_ip_address: record.last_ip_address.text(warnings),
            last_external_ip_address: record.last_external_ip_address.text(warnings),
            vm_id,
            os_platform: record.os_platform.text(warnings),
            first_seen: record.first_seen.timestamp(warnings),
            last_seen: record.last_seen.timestamp(warnings),
            machine_tags: record.machine_tags.texts(warnings).unwrap_or_default(),
            rbac_group_name: record.rbac_group_name.text(warnings),
            health_status: record.health_status.text(warnings),
            risk_score: record.risk_score.text(warnings),
            managed_by: record.managed_by.text(warnings),
            exposure_level: record.exposure_level.text(warnings),
            os_build: os_build(&record.os_build, warnings),
            os_version: os_version.or(version),
            onboarding_status: record.onboarding_status.text(warnings),
        })
    }

    /// The first non-empty of DNS name, local IP, external IP, id.
    fn name(&self) -> &'s str {
        [
            self.computer_dns_name,
            self.last_ip_address,
            self.last_external_ip_address,
        ]
        .into_iter()
        .find_map(non_blank)
        .unwrap_or(self.id)
    }

    /// Machine tags first, then the labelled fields in the spec's order.
    fn external_tags(&self) -> Vec<ExternalTag> {
        let labelled = [
            ("computerDnsName", self.computer_dns_name),
            ("rbacGroupName", self.rbac_group_name),
            ("healthStatus", self.health_status),
            ("riskScore", self.risk_score),
            ("managedBy", self.managed_by),
            ("exposureLevel", self.exposure_level),
            ("lastExternalIpAddress", self.last_external_ip_address),
            ("osPlatform", self.os_platform),
        ];
        let tags = self
            .machine_tags
            .iter()
            .map(|tag| ("machineTags", Some(*tag)));
        tags.chain(labelled)
            .filter_map(|(key, value)| non_blank(value).map(|value| ExternalTag::new(key, value)))
            .collect()
    }

    fn custom_attributes(&self) -> Map<String, Value> {
        let mut attributes = Map::new();
        attributes.insert("device_id".into(), Value::String(self.id.to_owned()));
        insert_text(&mut attributes, "healthStatus", self.health_status);
        insert_text(&mut attributes, "exposureLevel", self.exposure_level);
        if let Some(build) = &self.os_build {
            attributes.insert("osBuild".into(), build.clone());
        }
        insert_text(&mut attributes, "osVersion", self.os_version);
        attributes
    }
}

/// `osBuild` keeps its JSON type: Defender documents a number, some rows
/// carry a string.
fn os_build(field: &Scalar<'_>, warnings: &mut Vec<MappingWarning>) -> Option<Value> {
    match field {
        Scalar::Number(number) => Some(Value::Number(number.clone())),
        other => other
            .text(warnings)
            .map(|text| Value::String(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mapping::{test_config, UNPARSABLE_TIMESTAMP};

    const DEVICE: &str = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07";

    /// What a device with nothing but its id maps to.
    fn bare() -> AssetObservation {
        AssetObservation {
            id: DEVICE.into(),
            external_identifier: DEVICE.into(),
            name: DEVICE.into(),
            operating_systems: vec![],
            ipv4: vec![],
            ipv6: vec![],
            first_observed: None,
            last_observed: None,
            external_tags: vec![],
            custom_attributes: attributes(json!({ "device_id": DEVICE })),
            source_status: None,
        }
    }

    fn attributes(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("attributes must be an object, got {other}"),
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<ExternalTag> {
        pairs
            .iter()
            .map(|(key, value)| ExternalTag::new(*key, *value))
            .collect()
    }

    fn at(rfc3339: &str) -> Option<Timestamp> {
        Some(rfc3339.parse().expect("test timestamp is RFC 3339"))
    }

    /// Maps `fields` merged over `{"id": DEVICE}` with the default options.
    fn map(fields: Value) -> Result<Mapped<AssetObservation>, MappingError> {
        map_with(&test_config(false, false), fields)
    }

    fn map_with(
        config: &TvmConfig,
        fields: Value,
    ) -> Result<Mapped<AssetObservation>, MappingError> {
        let mut record = attributes(json!({ "id": DEVICE }));
        record.extend(attributes(fields));
        map_raw(config, &Value::Object(record).to_string())
    }

    fn map_raw(config: &TvmConfig, json: &str) -> Result<Mapped<AssetObservation>, MappingError> {
        let raw = RawValue::from_string(json.to_owned()).expect("test JSON is valid");
        TvmAssetMapper::new(config).map_asset(&raw)
    }

    fn mapped(
        record: AssetObservation,
        warnings: Vec<MappingWarning>,
    ) -> Result<Mapped<AssetObservation>, MappingError> {
        Ok(Mapped::Record { record, warnings })
    }

    #[test]
    fn a_full_device_maps_every_column() {
        let record = json!({
            "id": DEVICE,
            "computerDnsName": "mymachine1.contoso.com",
            "firstSeen": "2018-08-02T14:55:03.7791856Z",
            "lastSeen": "2023-05-04 17:40:05",
            "osPlatform": "Windows10",
            "onboardingStatus": "Onboarded",
            "version": "1709",
            "osVersion": null,
            "osBuild": 18209,
            "lastIpAddress": "172.17.230.209",
            "lastExternalIpAddress": "167.220.196.71",
            "healthStatus": "Active",
            "rbacGroupName": "The-A-Team",
            "rbacGroupId": 140,
            "riskScore": "Low",
            "exposureLevel": "Medium",
            "managedBy": "Intune",
            "aadDeviceId": null,
            "machineTags": ["test tag 1", "test tag 2"],
            "vmMetadata": { "vmId": "0c9d7f6e-1111-2222-3333-444455556666",
                "cloudProvider": "Azure" },
            "ipAddresses": [{ "ipAddress": "172.17.230.209", "macAddress": "8CEC4B897E73" }],
            "isAadJoined": true
        });
        let expected = AssetObservation {
            id: DEVICE.into(),
            external_identifier: "0c9d7f6e-1111-2222-3333-444455556666".into(),
            name: "mymachine1.contoso.com".into(),
            operating_systems: vec!["Windows10".into()],
            ipv4: vec!["172.17.230.209".into()],
            ipv6: vec![],
            first_observed: at("2018-08-02T14:55:03.7791856Z"),
            last_observed: at("2023-05-04T17:40:05Z"),
            external_tags: tags(&[
                ("machineTags", "test tag 1"),
                ("machineTags", "test tag 2"),
                ("computerDnsName", "mymachine1.contoso.com"),
                ("rbacGroupName", "The-A-Team"),
                ("healthStatus", "Active"),
                ("riskScore", "Low"),
                ("managedBy", "Intune"),
                ("exposureLevel", "Medium"),
                ("lastExternalIpAddress", "167.220.196.71"),
                ("osPlatform", "Windows10"),
            ]),
            custom_attributes: attributes(json!({
                "device_id": DEVICE,
                "healthStatus": "Active",
                "exposureLevel": "Medium",
                "osBuild": 18209,
                "osVersion": "1709",
            })),
            source_status: Some("Active".into()),
        };
        assert_eq!(map(record), mapped(expected, vec![]));
    }

    #[test]
    fn the_name_falls_back_step_by_step() {
        let cases = [
            (
                json!({ "computerDnsName": "host", "lastIpAddress": "10.0.0.1",
                        "lastExternalIpAddress": "1.2.3.4" }),
                "host",
            ),
            (
                json!({ "computerDnsName": "", "lastIpAddress": "10.0.0.1",
                        "lastExternalIpAddress": "1.2.3.4" }),
                "10.0.0.1",
            ),
            (
                json!({ "computerDnsName": null, "lastIpAddress": " ",
                        "lastExternalIpAddress": "1.2.3.4" }),
                "1.2.3.4",
            ),
            (json!({ "lastExternalIpAddress": "" }), DEVICE),
            (json!({}), DEVICE),
        ];
        for (fields, expected) in cases {
            let Ok(Mapped::Record { record, .. }) = map(fields.clone()) else {
                panic!("{fields} did not map");
            };
            assert_eq!(record.name, expected, "{fields}");
        }
    }

    #[test]
    fn the_external_identifier_prefers_a_vm_id() {
        let cases = [
            (json!({ "vmMetadata": { "vmId": "vm-1" } }), "vm-1", vec![]),
            (json!({ "vmMetadata": { "vmId": "" } }), DEVICE, vec![]),
            (
                json!({ "vmMetadata": { "vmId": null, "cloudProvider": "Azure" } }),
                DEVICE,
                vec![],
            ),
            (json!({ "vmMetadata": {} }), DEVICE, vec![]),
            (json!({ "vmMetadata": null }), DEVICE, vec![]),
            (json!({}), DEVICE, vec![]),
            (
                json!({ "vmMetadata": "vm-1" }),
                DEVICE,
                vec![WRONG_FIELD_TYPE],
            ),
            (
                json!({ "vmMetadata": { "vmId": 7 } }),
                DEVICE,
                vec![WRONG_FIELD_TYPE],
            ),
        ];
        for (fields, expected, warnings) in cases {
            let observation = AssetObservation {
                external_identifier: expected.into(),
                ..bare()
            };
            assert_eq!(
                map(fields.clone()),
                mapped(observation, warnings),
                "{fields}"
            );
        }
    }

    /// The IP lists and warnings of a device with these two address fields.
    fn addresses(
        external_on: bool,
        last: Value,
        external: Value,
    ) -> (String, String, Vec<&'static str>) {
        let fields = json!({ "lastIpAddress": last, "lastExternalIpAddress": external });
        match map_with(&test_config(external_on, false), fields) {
            Ok(Mapped::Record { record, warnings }) => {
                (record.ipv4.join(" "), record.ipv6.join(" "), warnings)
            }
            other => panic!("did not map: {other:?}"),
        }
    }

    #[test]
    fn addresses_are_split_by_family_and_deduplicated() {
        let cases = [
            (
                false,
                json!("10.0.0.1"),
                json!("1.2.3.4"),
                ("10.0.0.1", "", vec![]),
            ),
            (
                true,
                json!("10.0.0.1"),
                json!("1.2.3.4"),
                ("10.0.0.1 1.2.3.4", "", vec![]),
            ),
            (
                true,
                json!("fe80::1"),
                json!("1.2.3.4"),
                ("1.2.3.4", "fe80::1", vec![]),
            ),
            (
                true,
                json!("2001:DB8:0:0::1"),
                json!("2001:db8::1"),
                ("", "2001:db8::1", vec![]),
            ),
            (
                true,
                json!("10.0.0.1"),
                json!(" 10.0.0.1 "),
                ("10.0.0.1", "", vec![]),
            ),
            (
                true,
                json!("10.0.0.256"),
                json!("1.2.3.4"),
                ("1.2.3.4", "", vec![UNPARSABLE_IP]),
            ),
            (
                true,
                json!("10.0.0.1"),
                json!("fe80::1%12"),
                ("10.0.0.1", "", vec![UNPARSABLE_IP]),
            ),
            (
                false,
                json!("10.0.0.1"),
                json!("not an ip"),
                ("10.0.0.1", "", vec![]),
            ),
            (true, json!(""), json!(null), ("", "", vec![])),
            (
                true,
                json!(167837953),
                json!(null),
                ("", "", vec![WRONG_FIELD_TYPE]),
            ),
        ];
        for (external_on, last, external, (ipv4, ipv6, warnings)) in cases {
            let context = format!("{last} {external} external={external_on}");
            let expected = (ipv4.to_owned(), ipv6.to_owned(), warnings);
            assert_eq!(
                addresses(external_on, last, external),
                expected,
                "{context}"
            );
        }
    }

    #[test]
    fn tags_keep_their_order_and_skip_empty_values() {
        let record = json!({
            "machineTags": ["b", "", null, "a"],
            "computerDnsName": "",
            "rbacGroupName": null,
            "healthStatus": "Inactive",
            "riskScore": "None",
            "managedBy": " ",
            "osPlatform": "Linux",
            "exposureLevel": "High",
            "lastExternalIpAddress": "1.2.3.4"
        });
        let Ok(Mapped::Record { record, warnings }) = map(record) else {
            panic!("did not map");
        };
        let expected = tags(&[
            ("machineTags", "b"),
            ("machineTags", "a"),
            ("healthStatus", "Inactive"),
            ("riskScore", "None"),
            ("exposureLevel", "High"),
            ("lastExternalIpAddress", "1.2.3.4"),
            ("osPlatform", "Linux"),
        ]);
        assert_eq!((record.external_tags, warnings), (expected, vec![]));
    }

    #[test]
    fn custom_attributes_omit_nulls_and_keep_types() {
        let cases = [
            (
                json!({ "healthStatus": null, "exposureLevel": null, "osBuild": null,
                        "osVersion": null, "version": null }),
                json!({ "device_id": DEVICE }),
                vec![],
            ),
            (
                json!({ "healthStatus": "Active", "osBuild": 22631, "osVersion": "10.0.22631",
                        "version": "23H2" }),
                json!({ "device_id": DEVICE, "healthStatus": "Active", "osBuild": 22631,
                        "osVersion": "10.0.22631" }),
                vec![],
            ),
            (
                json!({ "osBuild": "22631.3007", "osVersion": "", "version": "23H2" }),
                json!({ "device_id": DEVICE, "osBuild": "22631.3007", "osVersion": "23H2" }),
                vec![],
            ),
            (
                json!({ "osVersion": null, "version": "1709", "exposureLevel": "" }),
                json!({ "device_id": DEVICE, "exposureLevel": "", "osVersion": "1709" }),
                vec![],
            ),
            (
                json!({ "osBuild": true, "healthStatus": 3 }),
                json!({ "device_id": DEVICE }),
                vec![WRONG_FIELD_TYPE, WRONG_FIELD_TYPE],
            ),
        ];
        for (fields, expected, warnings) in cases {
            let Ok(Mapped::Record {
                record,
                warnings: actual,
            }) = map(fields.clone())
            else {
                panic!("{fields} did not map");
            };
            assert_eq!(
                (record.custom_attributes, actual),
                (attributes(expected), warnings),
                "{fields}"
            );
        }
    }

    #[test]
    fn status_os_and_timestamps_follow_their_columns() {
        let record = json!({
            "healthStatus": "ImpairedCommunication",
            "osPlatform": "",
            "firstSeen": "0001-01-01T00:00:00Z",
            "lastSeen": "yesterday"
        });
        let expected = AssetObservation {
            source_status: Some("ImpairedCommunication".into()),
            external_tags: tags(&[("healthStatus", "ImpairedCommunication")]),
            custom_attributes: attributes(
                json!({ "device_id": DEVICE, "healthStatus": "ImpairedCommunication" }),
            ),
            ..bare()
        };
        assert_eq!(map(record), mapped(expected, vec![UNPARSABLE_TIMESTAMP]));

        let record = json!({ "firstSeen": 1700000000, "lastSeen": "2021-01-25T07:27:36.052313Z" });
        let expected = AssetObservation {
            last_observed: at("2021-01-25T07:27:36.052313Z"),
            ..bare()
        };
        assert_eq!(map(record), mapped(expected, vec![UNPARSABLE_TIMESTAMP]));
    }

    #[test]
    fn the_onboarding_filter_skips_devices_not_onboarded() {
        let filtering = test_config(false, true);
        let cases = [
            (json!({ "onboardingStatus": "Onboarded" }), true),
            (json!({ "onboardingStatus": "onboarded" }), true),
            (json!({ "onboardingStatus": "ONBOARDED" }), true),
            (json!({ "onboardingStatus": "CanBeOnboarded" }), false),
            (json!({ "onboardingStatus": "InsufficientInfo" }), false),
            (json!({ "onboardingStatus": null }), false),
            (json!({}), false),
        ];
        for (fields, kept) in cases {
            let result = map_with(&filtering, fields.clone());
            if kept {
                assert_eq!(result, mapped(bare(), vec![]), "{fields}");
            } else {
                assert_eq!(
                    result,
                    Ok(Mapped::Skipped(SkipReason::Filtered)),
                    "{fields}"
                );
            }
            // Without the option every device is kept.
            assert_eq!(map(fields.clone()), mapped(bare(), vec![]), "{fields}");
        }
    }

    #[test]
    fn records_without_a_usable_id_are_rejected() {
        let cases = [
            (
                r#"{"computerDnsName": "host"}"#,
                MappingError::new(None, "`id` is missing"),
            ),
            (
                r#"{"id": null}"#,
                MappingError::new(None, "`id` is missing"),
            ),
            (r#"{"id": ""}"#, MappingError::new(None, "`id` is empty")),
            (
                r#"{"id": 42}"#,
                MappingError::new(None, "`id` is a number, not a string"),
            ),
            (
                r#"{"id": ["a"]}"#,
                MappingError::new(None, "`id` is an array, not a string"),
            ),
            (
                r#"["id", "a"]"#,
                MappingError::new(None, "record is an array, not a JSON object"),
            ),
            (
                r#""a""#,
                MappingError::new(None, "record is a string, not a JSON object"),
            ),
            (
                "null",
                MappingError::new(None, "record is null, not a JSON object"),
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(
                map_raw(&test_config(false, false), json),
                Err(expected),
                "{json}"
            );
        }
    }
}

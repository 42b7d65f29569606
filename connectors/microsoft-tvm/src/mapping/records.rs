//! Tolerant shapes of the upstream's records, deserialized straight from the
//! raw text: every field may be absent, null or of an unexpected type, and
//! unknown fields are ignored. Strings are borrowed from the record when they
//! have no escapes, and nothing builds a `serde_json::Value` tree, because the
//! vulnerability export runs to millions of rows per sync.
//!
//! A field's type is only judged later, when a mapper reads it: a wrong type
//! there becomes a warning, or an error for the few keys a record needs.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use inlet_core::{MappingError, MappingWarning};
use jiff::Timestamp;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Number;

use super::{UNPARSABLE_TIMESTAMP, WRONG_FIELD_TYPE};
use crate::time::parse_timestamp;

/// One JSON value of a field, kept only as far as a mapper can use it: text,
/// a number, or just the kind of anything else.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Scalar<'a> {
    /// Absent or `null`.
    #[default]
    Missing,
    Text(Cow<'a, str>),
    Number(Number),
    Bool(bool),
    Array,
    Object,
}

impl Scalar<'_> {
    /// The JSON kind, for error reasons.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Missing => "null",
            Self::Text(_) => "a string",
            Self::Number(_) => "a number",
            Self::Bool(_) => "a boolean",
            Self::Array => "an array",
            Self::Object => "an object",
        }
    }

    /// The text of a string field; any other type is ignored with a warning.
    pub(crate) fn text(&self, warnings: &mut Vec<MappingWarning>) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            Self::Missing => None,
            _ => {
                warnings.push(WRONG_FIELD_TYPE);
                None
            }
        }
    }

    /// A timestamp field; a text that does not parse (or a non-text value)
    /// becomes `None` with a warning.
    pub(crate) fn timestamp(&self, warnings: &mut Vec<MappingWarning>) -> Option<Timestamp> {
        match self {
            Self::Missing => None,
            Self::Text(text) => parse_timestamp(text).unwrap_or_else(|_| {
                warnings.push(UNPARSABLE_TIMESTAMP);
                None
            }),
            _ => {
                warnings.push(UNPARSABLE_TIMESTAMP);
                None
            }
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor(PhantomData))
    }
}

/// Reads any JSON value into a [`Scalar`] borrowing from the input (`'a`).
struct ScalarVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ScalarVisitor<'a> {
    type Value = Scalar<'a>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Missing)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Missing)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        Scalar::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(value.into()))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(value.into()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        // JSON has no NaN or infinity, so this always holds a number.
        Ok(Number::from_f64(value).map_or(Scalar::Missing, Scalar::Number))
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Borrowed(value)))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(value)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
}

/// A field that should hold an array of strings.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum TextList<'a> {
    /// Absent or `null`.
    #[default]
    Missing,
    Items(Vec<Scalar<'a>>),
    /// Neither an array nor null.
    Other,
}

impl TextList<'_> {
    /// The strings of the list, in order; `None` when the field is missing.
    /// Null items are skipped; items or a field of another type are ignored
    /// with a warning.
    pub(crate) fn texts(&self, warnings: &mut Vec<MappingWarning>) -> Option<Vec<&str>> {
        match self {
            Self::Missing => None,
            Self::Other => {
                warnings.push(WRONG_FIELD_TYPE);
                None
            }
            Self::Items(items) => Some(
                items
                    .iter()
                    .filter_map(|item| item.text(warnings))
                    .collect(),
            ),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for TextList<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextListVisitor(PhantomData))
    }
}

/// Reads any JSON value into a [`TextList`] borrowing from the input (`'a`).
struct TextListVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for TextListVisitor<'a> {
    type Value = TextList<'a>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element::<Scalar<'a>>()? {
            items.push(item);
        }
        Ok(TextList::Items(items))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(TextList::Missing)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(TextList::Missing)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        TextList::deserialize(deserializer)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(TextList::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(TextList::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(TextList::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(TextList::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(TextList::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(TextList::Other)
    }
}

/// A field that should hold a JSON object of shape `T`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Nested<T> {
    /// Absent or `null`.
    #[default]
    Missing,
    Object(T),
    /// Not an object.
    Other,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Nested<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NestedVisitor(PhantomData))
    }
}

struct NestedVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for NestedVisitor<T> {
    type Value = Nested<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Nested::Object)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Nested::Missing)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Nested::Missing)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        Nested::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Nested::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Nested::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Nested::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Nested::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Nested::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Nested::Other)
    }
}

/// One device of `GET /api/machines`, the fields the asset mapping reads.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct DeviceRecord<'a> {
    #[serde(borrow)]
    pub id: Scalar<'a>,
    #[serde(borrow)]
    pub computer_dns_name: Scalar<'a>,
    #[serde(borrow)]
    pub last_ip_address: Scalar<'a>,
    #[serde(borrow)]
    pub last_external_ip_address: Scalar<'a>,
    #[serde(borrow)]
    pub vm_metadata: Nested<VmMetadata<'a>>,
    #[serde(borrow)]
    pub os_platform: Scalar<'a>,
    #[serde(borrow)]
    pub first_seen: Scalar<'a>,
    #[serde(borrow)]
    pub last_seen: Scalar<'a>,
    #[serde(borrow)]
    pub machine_tags: TextList<'a>,
    #[serde(borrow)]
    pub rbac_group_name: Scalar<'a>,
    #[serde(borrow)]
    pub health_status: Scalar<'a>,
    #[serde(borrow)]
    pub risk_score: Scalar<'a>,
    #[serde(borrow)]
    pub managed_by: Scalar<'a>,
    #[serde(borrow)]
    pub exposure_level: Scalar<'a>,
    #[serde(borrow)]
    pub os_build: Scalar<'a>,
    #[serde(borrow)]
    pub os_version: Scalar<'a>,
    #[serde(borrow)]
    pub version: Scalar<'a>,
    #[serde(borrow)]
    pub onboarding_status: Scalar<'a>,
}

/// A device's `vmMetadata` object (cloud VMs only).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct VmMetadata<'a> {
    #[serde(borrow)]
    pub vm_id: Scalar<'a>,
}

/// One row of the full vulnerability export or of the delta export (which
/// adds `status` and `eventTimestamp`), the fields the finding mapping reads.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct VulnerabilityRecord<'a> {
    #[serde(borrow)]
    pub id: Scalar<'a>,
    #[serde(borrow)]
    pub device_id: Scalar<'a>,
    #[serde(borrow)]
    pub cve_id: Scalar<'a>,
    #[serde(borrow)]
    pub cvss_score: Scalar<'a>,
    #[serde(borrow)]
    pub vulnerability_severity_level: Scalar<'a>,
    #[serde(borrow)]
    pub software_vendor: Scalar<'a>,
    #[serde(borrow)]
    pub software_name: Scalar<'a>,
    #[serde(borrow)]
    pub software_version: Scalar<'a>,
    #[serde(borrow)]
    pub disk_paths: TextList<'a>,
    #[serde(borrow)]
    pub registry_paths: TextList<'a>,
    #[serde(borrow)]
    pub recommended_security_update: Scalar<'a>,
    #[serde(borrow)]
    pub recommended_security_update_url: Scalar<'a>,
    #[serde(borrow)]
    pub first_seen_timestamp: Scalar<'a>,
    #[serde(borrow)]
    pub last_seen_timestamp: Scalar<'a>,
    #[serde(borrow)]
    pub status: Scalar<'a>,
    #[serde(borrow)]
    pub event_timestamp: Scalar<'a>,
}

/// One vulnerability of `GET /api/vulnerabilities` (the catalog).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct CatalogRecord<'a> {
    #[serde(borrow)]
    pub id: Scalar<'a>,
    #[serde(borrow)]
    pub description: Scalar<'a>,
    #[serde(borrow)]
    pub cvss_vector: Scalar<'a>,
}

/// Only the `id` of a record, read again when the whole record did not
/// deserialize so the error can still name it.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct IdProbe<'a> {
    #[serde(borrow)]
    id: Scalar<'a>,
}

/// Deserializes one record into its tolerant shape. Only a record that is
/// not a JSON object, or one serde cannot read at all (e.g. a known field
/// given twice), is an error.
pub(crate) fn parse<'a, T: Deserialize<'a>>(record: &'a RawValue) -> Result<T, MappingError> {
    let text = record.get().trim_start();

    // A derived struct also accepts a JSON array (fields by position), so
    // only an object is let through to serde.
    if !text.starts_with('{') {
        let reason = format!("record is {}, not a JSON object", json_kind(text));
        return Err(MappingError::new(None, reason));
    }

    serde_json::from_str(text).map_err(|error| {
        MappingError::new(probe_id(text), format!("record cannot be read: {error}"))
    })
}

/// The string `id` of an object text whose other fields may be unreadable.
fn probe_id(text: &str) -> Option<String> {
    match serde_json::from_str::<IdProbe<'_>>(text).ok()?.id {
        Scalar::Text(id) => Some(id.into_owned()),
        _ => None,
    }
}

/// The kind of a JSON text from its first character.
fn json_kind(text: &str) -> &'static str {
    match text.bytes().next() {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(_) => "a number",
        None => "empty",
    }
}

/// Reads a key a record cannot do without: a non-blank string.
pub(crate) fn required_text<'s>(
    field: &'s Scalar<'_>,
    name: &str,
    record_id: Option<&str>,
) -> Result<&'s str, MappingError> {
    let reason = match field {
        Scalar::Text(text) if !text.trim().is_empty() => return Ok(text),
        Scalar::Text(_) => format!("`{name}` is empty"),
        Scalar::Missing => format!("`{name}` is missing"),
        other => format!("`{name}` is {}, not a string", other.kind()),
    };
    Err(MappingError::new(record_id.map(str::to_owned), reason))
}

/// `text` unless it is empty or only whitespace.
pub(crate) fn non_blank(text: Option<&str>) -> Option<&str> {
    text.filter(|text| !text.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).expect("test JSON is valid")
    }

    #[test]
    fn scalars_keep_their_kind() {
        let record = raw(
            r#"{"id": "a\"b", "computerDnsName": "host", "osBuild": 19045, "riskScore": 1.5,
                "managedBy": true, "healthStatus": null, "rbacGroupName": [1],
                "osPlatform": {"x": 1},
                "vmMetadata": {"vmId": "vm", "other": [1, 2]}, "machineTags": ["a", null, 3],
                "unknownField": {"nested": [[[]]]}}"#,
        );
        let device: DeviceRecord<'_> = parse(&record).expect("an object");
        assert_eq!(device.id, Scalar::Text(Cow::Owned("a\"b".into())));
        assert!(matches!(
            device.computer_dns_name,
            Scalar::Text(Cow::Borrowed("host"))
        ));
        assert_eq!(device.os_build, Scalar::Number(19045.into()));
        assert_eq!(device.risk_score.kind(), "a number");
        assert_eq!(device.managed_by, Scalar::Bool(true));
        assert_eq!(device.health_status, Scalar::Missing);
        assert_eq!(device.exposure_level, Scalar::Missing);
        assert_eq!(device.rbac_group_name, Scalar::Array);
        assert_eq!(device.os_platform, Scalar::Object);
        assert_eq!(
            device.vm_metadata,
            Nested::Object(VmMetadata {
                vm_id: Scalar::Text(Cow::Borrowed("vm"))
            })
        );

        let mut warnings = Vec::new();
        assert_eq!(device.machine_tags.texts(&mut warnings), Some(vec!["a"]));
        assert_eq!(warnings, [WRONG_FIELD_TYPE]);
    }

    #[test]
    fn wrong_container_types_are_kept_as_other() {
        let record = raw(r#"{"vmMetadata": [1], "machineTags": {"a": 1}}"#);
        let device: DeviceRecord<'_> = parse(&record).expect("an object");
        assert_eq!(device.vm_metadata, Nested::Other);
        assert_eq!(device.machine_tags, TextList::Other);

        let record = raw(r#"{"vmMetadata": "vm", "machineTags": "tag"}"#);
        let device: DeviceRecord<'_> = parse(&record).expect("an object");
        assert_eq!(device.vm_metadata, Nested::Other);
        assert_eq!(device.machine_tags, TextList::Other);
    }

    #[test]
    fn only_objects_are_records() {
        for (json, kind) in [
            (r#"["id", "x"]"#, "an array"),
            (r#""id""#, "a string"),
            ("true", "a boolean"),
            ("null", "null"),
            ("-1.5", "a number"),
        ] {
            let error = parse::<DeviceRecord<'_>>(&raw(json)).expect_err("not an object");
            assert_eq!(
                error,
                MappingError::new(None, format!("record is {kind}, not a JSON object"))
            );
        }
    }

    #[test]
    fn an_unreadable_object_still_names_its_id() {
        let error = parse::<DeviceRecord<'_>>(&raw(
            r#"{"id": "d1", "healthStatus": "a", "healthStatus": "b"}"#,
        ))
        .expect_err("duplicate field");
        assert_eq!(error.record_id.as_deref(), Some("d1"));
        assert!(
            error.reason.contains("duplicate field `healthStatus`"),
            "{}",
            error.reason
        );
    }

    #[test]
    fn required_keys_name_what_is_wrong() {
        let cases = [
            (Scalar::Text("d1".into()), Ok("d1")),
            (Scalar::Text(" ".into()), Err("`id` is empty")),
            (Scalar::Missing, Err("`id` is missing")),
            (
                Scalar::Number(7.into()),
                Err("`id` is a number, not a string"),
            ),
            (Scalar::Object, Err("`id` is an object, not a string")),
        ];
        for (field, expected) in cases {
            let result = required_text(&field, "id", Some("r1"));
            let expected = expected.map_err(|reason| MappingError::new(Some("r1".into()), reason));
            assert_eq!(result, expected);
        }
    }
}

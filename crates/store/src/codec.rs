//! What the store keeps per record and how it is encoded.
//!
//! A record value (`StoredAsset`, `StoredFinding`) holds the observation plus
//! the lifecycle fields, as JSON. What changes on every sync (which run last
//! returned the record, which run activated it, the last delta event) lives in
//! a small fixed-layout marker in a sibling tree instead, so a resync that
//! changes nothing rewrites only the marker and never the record value.

use inlet_core::{
    ArchiveReason, Asset, AssetObservation, AssetStatus, Finding, FindingObservation, FindingStatus,
};
use jiff::Timestamp;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::{DecodeError, StoreError};
use crate::keys;

/// An asset as stored: the observation plus its lifecycle. `instance` is the
/// key's first part; `last_synced_at` comes from the marker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredAsset {
    pub connector: String,
    pub observation: AssetObservation,
    pub status: AssetStatus,
    pub archived_reason: Option<ArchiveReason>,
    pub archived_at: Option<Timestamp>,
    pub first_ingested_at: Timestamp,
}

impl StoredAsset {
    pub fn archive(&mut self, reason: ArchiveReason, at: Timestamp) {
        self.status = AssetStatus::Archived;
        self.archived_reason = Some(reason);
        self.archived_at = Some(at);
    }

    pub fn activate(&mut self) {
        self.status = AssetStatus::Active;
        self.archived_reason = None;
        self.archived_at = None;
    }

    pub fn into_asset(self, instance: &str, seen: &Seen) -> Asset {
        let observation = self.observation;
        Asset {
            instance: instance.to_owned(),
            connector: self.connector,
            id: observation.id,
            external_identifier: observation.external_identifier,
            name: observation.name,
            operating_systems: observation.operating_systems,
            ipv4: observation.ipv4,
            ipv6: observation.ipv6,
            first_observed: observation.first_observed,
            last_observed: observation.last_observed,
            external_tags: observation.external_tags,
            custom_attributes: observation.custom_attributes,
            source_status: observation.source_status,
            status: self.status,
            archived_reason: self.archived_reason,
            archived_at: self.archived_at,
            first_ingested_at: self.first_ingested_at,
            last_synced_at: seen.at,
        }
    }
}

/// A finding as stored: the observation plus its lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredFinding {
    pub connector: String,
    pub observation: FindingObservation,
    pub status: FindingStatus,
    pub fixed_at: Option<Timestamp>,
    pub first_ingested_at: Timestamp,
}

impl StoredFinding {
    pub fn fix(&mut self, at: Timestamp) {
        self.status = FindingStatus::Fixed;
        self.fixed_at = Some(at);
    }

    pub fn into_finding(self, instance: &str, seen: &Seen) -> Finding {
        let observation = self.observation;
        Finding {
            instance: instance.to_owned(),
            connector: self.connector,
            id: observation.id,
            asset_id: observation.asset_id,
            name: observation.name,
            cves: observation.cves,
            severity: observation.severity,
            severity_source: observation.severity_source,
            cvss_score: observation.cvss_score,
            description: observation.description,
            custom_attributes: observation.custom_attributes,
            first_seen: observation.first_seen,
            last_seen: observation.last_seen,
            status: self.status,
            fixed_at: self.fixed_at,
            first_ingested_at: self.first_ingested_at,
            last_synced_at: seen.at,
        }
    }
}

/// Which run last returned a record (and its start time, the exported
/// `last_synced_at`), and which run made it active. Encoded as 32 bytes:
/// run (u64 BE), start (i128 ns BE), activating run (u64 BE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    pub run: u64,
    pub at: Timestamp,
    pub activated_run: u64,
}

const SEEN_LEN: usize = 32;
const EVENT_LEN: usize = 17;

impl Seen {
    /// The marker of a record written before markers existed or torn apart
    /// from it: never returned, active since before any run.
    pub fn unknown(at: Timestamp) -> Seen {
        Seen {
            run: 0,
            at,
            activated_run: 0,
        }
    }

    pub fn encode(&self) -> [u8; SEEN_LEN] {
        let mut bytes = [0; SEEN_LEN];
        bytes[..8].copy_from_slice(&self.run.to_be_bytes());
        bytes[8..24].copy_from_slice(&self.at.as_nanosecond().to_be_bytes());
        bytes[24..].copy_from_slice(&self.activated_run.to_be_bytes());
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<Seen, DecodeError> {
        if bytes.len() != SEEN_LEN {
            return Err(DecodeError::MarkerLength {
                len: bytes.len(),
                expected: "32",
            });
        }
        let mut reader = MarkerReader { bytes };
        Ok(Seen {
            run: u64::from_be_bytes(reader.take()?),
            at: reader.timestamp()?,
            activated_run: u64::from_be_bytes(reader.take()?),
        })
    }
}

/// Reads fixed-size fields off the front of a marker whose length was checked.
struct MarkerReader<'a> {
    bytes: &'a [u8],
}

impl MarkerReader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, rest) =
            self.bytes
                .split_first_chunk::<N>()
                .ok_or(DecodeError::MarkerLength {
                    len: self.bytes.len(),
                    expected: "more",
                })?;
        self.bytes = rest;
        Ok(*head)
    }

    fn timestamp(&mut self) -> Result<Timestamp, DecodeError> {
        Ok(Timestamp::from_nanosecond(i128::from_be_bytes(
            self.take()?,
        ))?)
    }
}

/// A delta event applied to a finding: when, and what it said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    pub at: Timestamp,
    pub status: FindingStatus,
}

impl Event {
    /// Events apply in this order; at equal times `active` sorts after
    /// `fixed`, so it is the one that stays.
    pub fn order(&self) -> (Timestamp, u8) {
        (self.at, status_byte(self.status))
    }
}

pub(crate) fn status_byte(status: FindingStatus) -> u8 {
    match status {
        FindingStatus::Fixed => 0,
        FindingStatus::Active => 1,
    }
}

/// A finding's marker: [`Seen`], then optionally the last applied delta event
/// (i128 ns BE, kind byte 0 = fixed, 1 = active): 32 or 49 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FindingSeen {
    pub seen: Seen,
    pub last_event: Option<Event>,
}

impl FindingSeen {
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(SEEN_LEN + EVENT_LEN);
        bytes.extend_from_slice(&self.seen.encode());
        if let Some(event) = self.last_event {
            bytes.extend_from_slice(&event.at.as_nanosecond().to_be_bytes());
            bytes.push(status_byte(event.status));
        }
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<FindingSeen, DecodeError> {
        let length_error = || DecodeError::MarkerLength {
            len: bytes.len(),
            expected: "32 or 49",
        };
        let (seen, event) = match bytes.len() {
            SEEN_LEN => (bytes, None),
            len if len == SEEN_LEN + EVENT_LEN => {
                let (seen, event) = bytes.split_at(SEEN_LEN);
                (seen, Some(event))
            }
            _ => return Err(length_error()),
        };
        let seen = Seen::decode(seen)?;
        let last_event = event.map(decode_event).transpose()?;
        Ok(FindingSeen { seen, last_event })
    }
}

fn decode_event(bytes: &[u8]) -> Result<Event, DecodeError> {
    let mut reader = MarkerReader { bytes };
    let at = reader.timestamp()?;
    let [byte] = reader.take::<1>()?;
    Ok(Event {
        at,
        status: status_of_byte(byte)?,
    })
}

/// The inverse of [`status_byte`].
pub(crate) fn status_of_byte(byte: u8) -> Result<FindingStatus, DecodeError> {
    match byte {
        0 => Ok(FindingStatus::Fixed),
        1 => Ok(FindingStatus::Active),
        other => Err(DecodeError::EventKind(other)),
    }
}

/// A record loaded for merging: its decoded value, the exact stored bytes
/// (compared to decide "unchanged"), its marker, and whether the value must
/// be written.
#[derive(Debug, Clone)]
pub(crate) struct Entry<T, M> {
    pub stored: T,
    pub bytes: Vec<u8>,
    pub marker: M,
    pub dirty: bool,
}

impl<T: Serialize + PartialEq, M> Entry<T, M> {
    /// Replaces the value of `current` with `next`. When the value did not
    /// change, the stored bytes stay and the value is not rewritten; the
    /// second result says whether it changed.
    pub fn settle(
        tree: &'static str,
        key: &[u8],
        current: Option<Entry<T, M>>,
        next: T,
        marker: M,
    ) -> Result<(Entry<T, M>, bool), StoreError> {
        let bytes = encode_json(tree, key, &next)?;
        match current {
            // Bytes catch equal values whose floats do not survive a JSON
            // round trip; struct equality catches reordered maps.
            Some(current) if current.bytes == bytes || current.stored == next => {
                Ok((Entry { marker, ..current }, false))
            }
            _ => Ok((
                Entry {
                    stored: next,
                    bytes,
                    marker,
                    dirty: true,
                },
                true,
            )),
        }
    }
}

/// The fields of a stored finding that a merge reads. Decoding only these
/// skips over the observation without building it, which is most of the
/// cost of a resync where nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) struct FindingHead {
    pub status: FindingStatus,
    pub first_ingested_at: Timestamp,
}

/// The key that starts a stored finding's head: `status`, then `fixed_at`
/// and `first_ingested_at`, the last fields of [`StoredFinding`].
const HEAD_START: &[u8] = b",\"status\":";

impl FindingHead {
    /// The head of a stored finding's JSON, read from its tail: serde writes
    /// a struct's fields in order, so the last `,"status":` of the value is
    /// the top-level one (nothing after it is free text), and the fields
    /// from there on are the head. Parsing only those skips the observation,
    /// a kilobyte of strings to scan; a value not laid out that way is
    /// decoded whole. Damage inside the observation goes unnoticed here: it
    /// is found when the value is decoded whole (a read, a fix, or a merge
    /// whose re-encoded value differs).
    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<FindingHead, StoreError> {
        let from_tail = memchr::memmem::rfind(bytes, HEAD_START).and_then(|at| {
            let mut tail = Vec::with_capacity(bytes.len() - at);
            tail.push(b'{');
            tail.extend_from_slice(&bytes[at + 1..]);
            serde_json::from_slice(&tail).ok()
        });
        match from_tail {
            Some(head) => Ok(head),
            None => decode_json(keys::FINDINGS, key, bytes),
        }
    }
}

impl StoredFinding {
    pub fn head(&self) -> FindingHead {
        FindingHead {
            status: self.status,
            first_ingested_at: self.first_ingested_at,
        }
    }
}

/// A finding loaded for merging: the head of its value, the exact stored
/// bytes (compared to decide "unchanged"), its marker, and whether the
/// value must be written. The whole value is decoded only when needed.
#[derive(Debug, Clone)]
pub(crate) struct FindingEntry {
    pub head: FindingHead,
    pub bytes: Vec<u8>,
    pub marker: FindingSeen,
    pub dirty: bool,
}

impl FindingEntry {
    /// The stored value in full.
    pub fn decode(&self, key: &[u8]) -> Result<StoredFinding, StoreError> {
        decode_json(keys::FINDINGS, key, &self.bytes)
    }

    /// Replaces the value of `current` with `next`, as [`Entry::settle`]
    /// does; the stored value is decoded only when its bytes differ.
    pub fn settle(
        key: &[u8],
        current: Option<FindingEntry>,
        next: StoredFinding,
        marker: FindingSeen,
    ) -> Result<(FindingEntry, bool), StoreError> {
        let bytes = encode_json(keys::FINDINGS, key, &next)?;
        if let Some(current) = current {
            // Bytes catch equal values; struct equality catches floats that
            // do not survive a JSON round trip and reordered maps.
            if current.bytes == bytes || current.decode(key)? == next {
                return Ok((FindingEntry { marker, ..current }, false));
            }
        }
        let entry = FindingEntry {
            head: next.head(),
            bytes,
            marker,
            dirty: true,
        };
        Ok((entry, true))
    }
}

/// Room a value's JSON starts with: a stored finding or asset is about a
/// KiB, and `serde_json::to_vec` starts at 128 bytes, growing (and copying)
/// four times on the way.
const ENCODE_CAPACITY: usize = 1024;

pub(crate) fn encode_json<T: Serialize>(
    tree: &'static str,
    key: &[u8],
    value: &T,
) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::with_capacity(ENCODE_CAPACITY);
    serde_json::to_writer(&mut bytes, value).map_err(|source| StoreError::Encode {
        tree,
        key: keys::display_key(key),
        source,
    })?;
    Ok(bytes)
}

pub(crate) fn decode_json<T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| corrupt(tree, key, source.into()))
}

pub(crate) fn corrupt(tree: &'static str, key: &[u8], source: DecodeError) -> StoreError {
    StoreError::Corrupt {
        tree,
        key: keys::display_key(key),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64, nanosecond: i32) -> Timestamp {
        Timestamp::new(second, nanosecond).unwrap()
    }

    #[test]
    fn a_head_read_from_the_tail_is_the_whole_values_head() {
        let mut observation = crate::testutil::finding("a", "CVE-2024-0001");
        // Text that looks like the head, inside the observation.
        observation.description = Some(r#"x,"status":"fixed","first_ingested_at":"#.into());
        // A `status` key after another one: written as `,"status":` inside
        // the observation.
        observation
            .custom_attributes
            .insert("a".into(), serde_json::json!(1));
        observation
            .custom_attributes
            .insert("status".into(), serde_json::json!("fixed"));
        let mut finding = StoredFinding {
            connector: "microsoft-tvm".into(),
            observation,
            status: FindingStatus::Active,
            fixed_at: None,
            first_ingested_at: at(1_700_000_000, 5),
        };
        for fixed in [false, true] {
            if fixed {
                finding.fix(at(1_700_086_400, 0));
            }
            let bytes = encode_json(keys::FINDINGS, b"k", &finding).unwrap();
            let whole: FindingHead = decode_json(keys::FINDINGS, b"k", &bytes).unwrap();
            assert_eq!(whole, finding.head());
            assert_eq!(FindingHead::decode(b"k", &bytes).unwrap(), whole);
        }
    }

    #[test]
    fn a_head_not_at_the_tail_is_decoded_from_the_whole_value() {
        let bytes = br#"{"status":"fixed","first_ingested_at":"2023-11-14T22:13:20Z","other":1}"#;
        let head = FindingHead::decode(b"k", bytes).unwrap();
        assert_eq!(head.status, FindingStatus::Fixed);
        assert_eq!(head.first_ingested_at, at(1_700_000_000, 0));
        assert!(FindingHead::decode(b"k", b"{}").is_err());
    }

    #[test]
    fn markers_round_trip() {
        let seen = Seen {
            run: 7,
            at: at(1_700_000_000, 123),
            activated_run: 3,
        };
        assert_eq!(Seen::decode(&seen.encode()).unwrap(), seen);

        for last_event in [
            None,
            Some(Event {
                at: at(-5, 1),
                status: FindingStatus::Fixed,
            }),
            Some(Event {
                at: at(1_800_000_000, 0),
                status: FindingStatus::Active,
            }),
        ] {
            let marker = FindingSeen { seen, last_event };
            let bytes = marker.encode();
            assert_eq!(bytes.len(), if last_event.is_some() { 49 } else { 32 });
            assert_eq!(FindingSeen::decode(&bytes).unwrap(), marker);
        }
    }

    #[test]
    fn damaged_markers_are_errors() {
        assert!(matches!(
            Seen::decode(&[0; 31]),
            Err(DecodeError::MarkerLength { len: 31, .. })
        ));
        let mut bytes = FindingSeen {
            seen: Seen::unknown(at(0, 0)),
            last_event: Some(Event {
                at: at(0, 0),
                status: FindingStatus::Active,
            }),
        }
        .encode();
        bytes[48] = 9;
        assert!(matches!(
            FindingSeen::decode(&bytes),
            Err(DecodeError::EventKind(9))
        ));
    }

    #[test]
    fn an_active_event_sorts_after_a_fixed_one_at_the_same_time() {
        let fixed = Event {
            at: at(10, 0),
            status: FindingStatus::Fixed,
        };
        let active = Event {
            at: at(10, 0),
            status: FindingStatus::Active,
        };
        let earlier_active = Event {
            at: at(9, 0),
            status: FindingStatus::Active,
        };
        assert!(fixed.order() < active.order());
        assert!(earlier_active.order() < fixed.order());
    }
}

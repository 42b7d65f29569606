//! Findings stored one group per device: the `findings` tree maps an asset
//! key to all of that device's finding values, and `finding_seen` maps the
//! same key to their statuses and markers, in the same order.
//!
//! Why groups: a sled insert costs tens of microseconds whatever its size
//! (each one copies a leaf node and goes through the page cache), and a
//! tenant has tens of findings per device. One write per device instead of
//! one per finding made a full sync several times faster. The values are
//! compressed as a group, where the repeated field names, device id and
//! software strings shrink well.
//!
//! A group's values are rewritten only when one of them changed; its marker
//! group whenever one of its findings was returned, got a delta event or was
//! fixed. Both are written in the same transaction, and a marker group must
//! have as many entries as its value group, or the store reports it as
//! corrupt. Reconciliation reads only the marker groups (status and run
//! ids), so it decodes no JSON for a device where nothing is fixed.

use std::collections::BTreeMap;

use inlet_core::FindingStatus;
use sled::{Batch, IVec};

use crate::codec::{self, FindingEntry, FindingHead, FindingSeen};
use crate::db::{self, Store};
use crate::error::{DecodeError, StoreError};
use crate::keys;

/// First byte of a value group: the payload follows uncompressed.
const PLAIN: u8 = 1;
/// First byte of a value group: the payload is LZ4-compressed, size first.
const LZ4: u8 = 2;
/// Payloads shorter than this are stored plain; compressing them gains little.
const COMPRESS_FROM_BYTES: usize = 256;
/// Encoded groups a batch holds before they are written. A delta's batch
/// can touch a device per row, thousands of groups, and sled holds each
/// written group about three times over until its transaction ends (the
/// batch, the transaction's write set, the new leaf), plus the leaves it
/// read. Measured on a 1M-row tenant's delta: one transaction per batch
/// peaked at 450 MiB RSS, 4 MiB at 269-281 MiB, 1 MiB at 245-251 MiB, at the
/// same speed; a full sync's batch (about a hundred devices, ~1.5 MiB) then
/// takes two transactions, also at the same speed.
pub(crate) const COMMIT_FROM_BYTES: usize = 1 << 20;

/// One finding of a group as stored: its id, JSON value, status (also in
/// the value; kept beside the marker for reconciliation) and marker.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredEntry {
    pub id: String,
    pub value: Vec<u8>,
    pub status: FindingStatus,
    pub marker: FindingSeen,
}

/// A finding read back by a scan: its logical key (`instance SEP asset_id
/// SEP finding_id`, for messages and device lookups), value and marker.
#[derive(Debug, Clone)]
pub(crate) struct ScannedFinding {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub marker: FindingSeen,
}

impl ScannedFinding {
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, StoreError> {
        codec::decode_json(keys::FINDINGS, &self.key, &self.value)
    }
}

/// Encodes the values of a group, in the order given.
pub(crate) fn encode_values<'a>(entries: impl Iterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let mut payload = Vec::new();
    for (id, value) in entries {
        push_chunk(&mut payload, id.as_bytes());
        push_chunk(&mut payload, value);
    }
    if payload.len() < COMPRESS_FROM_BYTES {
        let mut bytes = Vec::with_capacity(payload.len() + 1);
        bytes.push(PLAIN);
        bytes.extend_from_slice(&payload);
        return bytes;
    }
    let mut bytes = vec![LZ4];
    bytes.extend_from_slice(&lz4_flex::compress_prepend_size(&payload));
    bytes
}

/// Encodes the statuses and markers of a group, in the order of its values:
/// per finding the marker's length, the status byte, then the marker.
pub(crate) fn encode_markers<'a>(
    entries: impl Iterator<Item = (FindingStatus, &'a FindingSeen)>,
) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (status, marker) in entries {
        let encoded = marker.encode();
        // 32 or 49 bytes: the length always fits one byte.
        bytes.push(encoded.len() as u8);
        bytes.push(codec::status_byte(status));
        bytes.extend_from_slice(&encoded);
    }
    bytes
}

fn push_chunk(out: &mut Vec<u8>, chunk: &[u8]) {
    // A finding's id or value over 4 GiB cannot come from one JSON record.
    out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
    out.extend_from_slice(chunk);
}

/// Decodes a value group and its marker group into entries.
pub(crate) fn decode_group(
    asset_key: &[u8],
    values: &[u8],
    markers: Option<&[u8]>,
) -> Result<Vec<StoredEntry>, StoreError> {
    let pairs = decode_values(values)
        .map_err(|source| codec::corrupt(keys::FINDINGS, asset_key, source))?;
    let markers = decode_markers(asset_key, markers.unwrap_or_default())?;
    if markers.len() != pairs.len() {
        let counts = DecodeError::GroupCount {
            values: pairs.len(),
            markers: markers.len(),
        };
        return Err(codec::corrupt(keys::FINDING_SEEN, asset_key, counts));
    }
    Ok(pairs
        .into_iter()
        .zip(markers)
        .map(|((id, value), (status, marker))| StoredEntry {
            id,
            value,
            status,
            marker,
        })
        .collect())
}

fn decode_values(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, DecodeError> {
    let (&encoding, rest) = bytes.split_first().ok_or(DecodeError::Group("empty"))?;
    let inflated;
    let mut payload = match encoding {
        PLAIN => rest,
        LZ4 => {
            inflated = lz4_flex::decompress_size_prepended(rest)
                .map_err(|_| DecodeError::Group("LZ4 data is damaged"))?;
            inflated.as_slice()
        }
        _ => return Err(DecodeError::Group("unknown encoding")),
    };
    let mut pairs = Vec::new();
    while !payload.is_empty() {
        let id = take_chunk(&mut payload)?;
        let value = take_chunk(&mut payload)?;
        pairs.push((std::str::from_utf8(id)?.to_owned(), value.to_vec()));
    }
    Ok(pairs)
}

fn take_chunk<'a>(payload: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let truncated = DecodeError::Group("truncated");
    let (length, rest) = payload.split_first_chunk::<4>().ok_or(truncated)?;
    let length = u32::from_le_bytes(*length) as usize;
    if rest.len() < length {
        return Err(DecodeError::Group("truncated"));
    }
    let (chunk, rest) = rest.split_at(length);
    *payload = rest;
    Ok(chunk)
}

/// Decodes a marker group: each finding's status and marker.
pub(crate) fn decode_markers(
    asset_key: &[u8],
    bytes: &[u8],
) -> Result<Vec<(FindingStatus, FindingSeen)>, StoreError> {
    let corrupt = |source| codec::corrupt(keys::FINDING_SEEN, asset_key, source);
    let mut rest = bytes;
    let mut markers = Vec::new();
    while let Some((&length, tail)) = rest.split_first() {
        let length = usize::from(length);
        let Some((&status, tail)) = tail.split_first().filter(|(_, tail)| tail.len() >= length)
        else {
            return Err(corrupt(DecodeError::Group("a marker is truncated")));
        };
        let (marker, tail) = tail.split_at(length);
        let status = codec::status_of_byte(status).map_err(corrupt)?;
        markers.push((status, FindingSeen::decode(marker).map_err(corrupt)?));
        rest = tail;
    }
    Ok(markers)
}

impl Store {
    /// The stored findings of the device at `asset_key`, in id order.
    pub(crate) fn load_group(&self, asset_key: &[u8]) -> Result<Vec<StoredEntry>, StoreError> {
        let Some(values) = self.trees.findings.get(asset_key)? else {
            return Ok(Vec::new());
        };
        let markers = self.trees.finding_seen.get(asset_key)?;
        decode_group(asset_key, &values, markers.as_deref())
    }

    /// Every finding of the instance with `prefix`, in (asset id, finding
    /// id) order, one device's group in memory at a time.
    pub(crate) fn scan_findings(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<ScannedFinding, StoreError>> + '_ {
        let mut groups = self.trees.findings.scan_prefix(prefix);
        let mut current: std::vec::IntoIter<ScannedFinding> = Vec::new().into_iter();
        let mut failed = false;
        std::iter::from_fn(move || loop {
            if failed {
                return None;
            }
            if let Some(finding) = current.next() {
                return Some(Ok(finding));
            }
            match groups.next().map(|entry| self.scanned_group(entry))? {
                Ok(findings) => current = findings.into_iter(),
                Err(error) => {
                    failed = true;
                    return Some(Err(error));
                }
            }
        })
    }

    fn scanned_group(
        &self,
        entry: Result<(IVec, IVec), sled::Error>,
    ) -> Result<Vec<ScannedFinding>, StoreError> {
        let (asset_key, values) = entry?;
        let markers = self.trees.finding_seen.get(&asset_key)?;
        let entries = decode_group(&asset_key, &values, markers.as_deref())?;
        Ok(entries
            .into_iter()
            .map(|entry| ScannedFinding {
                key: keys::finding_key_of(&asset_key, &entry.id),
                value: entry.value,
                marker: entry.marker,
            })
            .collect())
    }
}

/// A finding of a loaded group while a batch is merged.
#[derive(Debug)]
enum Slot {
    /// As stored, not looked at by this batch (or taken and not put back,
    /// which leaves it as stored: a finding is never lost that way).
    Stored(StoredEntry),
    /// Merged by this batch.
    Merged(Box<FindingEntry>),
}

#[derive(Debug, Default)]
struct PendingGroup {
    slots: BTreeMap<String, Slot>,
    /// A value was added or changed: the value group must be rewritten.
    values_changed: bool,
}

impl PendingGroup {
    fn load(entries: Vec<StoredEntry>) -> Self {
        let slots = entries
            .into_iter()
            .map(|entry| (entry.id.clone(), Slot::Stored(entry)))
            .collect();
        PendingGroup {
            slots,
            values_changed: false,
        }
    }

    /// The group's new value group (when a value changed) and marker group.
    fn encode(&self) -> (Option<Vec<u8>>, Vec<u8>) {
        let parts = self.slots.iter().map(|(id, slot)| match slot {
            Slot::Stored(stored) => (
                id.as_str(),
                stored.value.as_slice(),
                stored.status,
                &stored.marker,
            ),
            Slot::Merged(entry) => (
                id.as_str(),
                entry.bytes.as_slice(),
                entry.head.status,
                &entry.marker,
            ),
        });
        let markers = encode_markers(parts.clone().map(|(_, _, status, marker)| (status, marker)));
        let values = self
            .values_changed
            .then(|| encode_values(parts.map(|(id, value, _, _)| (id, value))));
        (values, markers)
    }
}

/// A finished group of this batch, encoded: `values` is `None` when the
/// stored value group stays as it is.
#[derive(Debug)]
struct EncodedGroup {
    values: Option<Vec<u8>>,
    markers: Vec<u8>,
}

impl EncodedGroup {
    fn len(&self) -> usize {
        self.values.as_ref().map_or(0, Vec::len) + self.markers.len()
    }
}

/// The device groups one batch touches. Findings are merged one device at a
/// time (callers pass them sorted by device), and a finished device is kept
/// only encoded, so a batch holds compressed bytes, not decoded findings.
/// Once the finished groups reach [`COMMIT_FROM_BYTES`] they are written
/// before the next device starts ([`PendingFindings::next_device`]), and
/// [`Store::commit_findings`] writes the rest: each transaction holds whole
/// devices, a device's values and markers always together.
#[derive(Debug, Default)]
pub(crate) struct PendingFindings {
    current: Option<(Vec<u8>, PendingGroup)>,
    done: BTreeMap<Vec<u8>, EncodedGroup>,
    /// Encoded bytes in `done`.
    done_bytes: usize,
}

impl PendingFindings {
    /// Called before each finding, with its device: when that starts a new
    /// device and the finished groups are large enough, writes them in one
    /// transaction first, so a batch's memory is bounded by
    /// [`COMMIT_FROM_BYTES`] however many devices it touches. A group
    /// written here and visited again later in the batch is read back from
    /// the store, as written.
    pub fn next_device(&mut self, store: &Store, asset_key: &[u8]) -> Result<(), StoreError> {
        let same_device = matches!(&self.current, Some((key, _)) if key.as_slice() == asset_key);
        if same_device {
            return Ok(());
        }
        self.finish_current();
        if self.done_bytes >= COMMIT_FROM_BYTES {
            store.write_groups(std::mem::take(&mut self.done))?;
            self.done_bytes = 0;
        }
        Ok(())
    }

    /// The finding `finding_id` of the device at `asset_key`, as this batch
    /// or the store holds it; `None` when neither does.
    pub fn take(
        &mut self,
        store: &Store,
        asset_key: &[u8],
        finding_id: &str,
    ) -> Result<Option<FindingEntry>, StoreError> {
        let group = self.group(store, asset_key)?;
        let Some(slot) = group.slots.remove(finding_id) else {
            return Ok(None);
        };
        match slot {
            Slot::Merged(entry) => Ok(Some(*entry)),
            Slot::Stored(stored) => {
                let key = keys::finding_key_of(asset_key, finding_id);
                let head = FindingHead::decode(&key, &stored.value)?;
                let entry = FindingEntry {
                    head,
                    bytes: stored.value.clone(),
                    marker: stored.marker,
                    dirty: false,
                };
                group
                    .slots
                    .insert(finding_id.to_owned(), Slot::Stored(stored));
                Ok(Some(entry))
            }
        }
    }

    /// Puts a merged finding (back) into its group, which must be the group
    /// of the last [`PendingFindings::take`].
    pub fn put(
        &mut self,
        store: &Store,
        asset_key: &[u8],
        finding_id: &str,
        entry: FindingEntry,
    ) -> Result<(), StoreError> {
        let group = self.group(store, asset_key)?;
        let added = !group.slots.contains_key(finding_id);
        group.values_changed |= entry.dirty || added;
        group
            .slots
            .insert(finding_id.to_owned(), Slot::Merged(Box::new(entry)));
        Ok(())
    }

    /// The group of `asset_key`, made current: the previous current group is
    /// encoded, and this one comes from the batch's own encoded groups or
    /// from the store.
    fn group(&mut self, store: &Store, asset_key: &[u8]) -> Result<&mut PendingGroup, StoreError> {
        let is_current = matches!(&self.current, Some((key, _)) if key.as_slice() == asset_key);
        if !is_current {
            self.finish_current();
            let group = match self.done.remove(asset_key) {
                Some(encoded) => {
                    self.done_bytes -= encoded.len();
                    let values_changed = encoded.values.is_some();
                    let entries = decode_encoded(store, asset_key, encoded)?;
                    PendingGroup {
                        values_changed,
                        ..PendingGroup::load(entries)
                    }
                }
                None => PendingGroup::load(store.load_group(asset_key)?),
            };
            self.current = Some((asset_key.to_vec(), group));
        }
        match &mut self.current {
            Some((_, group)) => Ok(group),
            None => unreachable!("a current group was just set"),
        }
    }

    fn finish_current(&mut self) {
        if let Some((asset_key, group)) = self.current.take() {
            if group.slots.is_empty() {
                return;
            }
            let (values, markers) = group.encode();
            let encoded = EncodedGroup { values, markers };
            self.done_bytes += encoded.len();
            self.done.insert(asset_key, encoded);
        }
    }
}

/// A group this batch already finished, decoded again for another visit
/// (its findings came apart in the batch); its values are the stored ones
/// when it did not change them.
fn decode_encoded(
    store: &Store,
    asset_key: &[u8],
    encoded: EncodedGroup,
) -> Result<Vec<StoredEntry>, StoreError> {
    let values = match encoded.values {
        Some(values) => values,
        None => match store.trees.findings.get(asset_key)? {
            Some(values) => values.to_vec(),
            None => return Ok(Vec::new()),
        },
    };
    decode_group(asset_key, &values, Some(&encoded.markers))
}

impl Store {
    /// Writes the groups of a batch not written yet.
    pub(crate) fn commit_findings(&self, mut pending: PendingFindings) -> Result<(), StoreError> {
        pending.finish_current();
        self.write_groups(pending.done)
    }

    /// Writes finished groups in one transaction: every group's markers, and
    /// the values of groups where one changed.
    fn write_groups(&self, done: BTreeMap<Vec<u8>, EncodedGroup>) -> Result<(), StoreError> {
        let mut values = Batch::default();
        let mut markers = Batch::default();
        for (asset_key, group) in done {
            if let Some(encoded) = group.values {
                values.insert(asset_key.as_slice(), encoded);
            }
            markers.insert(asset_key, group.markers);
        }
        db::commit(
            &[&self.trees.findings, &self.trees.finding_seen],
            &[values, markers],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Seen;
    use crate::ingest::{upsert_finding, IngestContext};
    use crate::testutil::{finding, run, temp_store, INSTANCE};

    fn marker(run: u64) -> FindingSeen {
        let seen = Seen {
            run,
            ..Seen::unknown(jiff::Timestamp::UNIX_EPOCH)
        };
        FindingSeen {
            seen,
            last_event: None,
        }
    }

    #[test]
    fn groups_round_trip_plain_and_compressed() {
        for n in [1, 3, 200] {
            let entries: Vec<StoredEntry> = (0..n)
                .map(|i| StoredEntry {
                    id: format!("CVE-2024-{i:05}"),
                    value: format!("{{\"n\":{i},\"text\":\"same words again\"}}").into_bytes(),
                    status: if i % 2 == 0 {
                        FindingStatus::Active
                    } else {
                        FindingStatus::Fixed
                    },
                    marker: marker(i),
                })
                .collect();
            let values = encode_values(entries.iter().map(|e| (e.id.as_str(), &e.value[..])));
            let markers = encode_markers(entries.iter().map(|e| (e.status, &e.marker)));
            let expected = if n > 100 { LZ4 } else { PLAIN };
            assert_eq!(values[0], expected, "{n} entries");
            let decoded = decode_group(b"i\0a", &values, Some(&markers)).unwrap();
            assert_eq!(decoded, entries);
        }
    }

    #[test]
    fn a_damaged_group_is_reported_not_misread() {
        let values = encode_values([("a", &b"{}"[..]), ("b", &b"{}"[..])].into_iter());
        let active = FindingStatus::Active;
        let markers = encode_markers([(active, &marker(1)), (active, &marker(2))].into_iter());
        let long = "x".repeat(COMPRESS_FROM_BYTES);
        let compressed = encode_values([("a", long.as_bytes())].into_iter());
        let cases: [(&[u8], &[u8], &str); 4] = [
            (&values[..values.len() - 1], &markers, "truncated"),
            (&values, &markers[..34], "2 values but 1 markers"),
            (&[9, 0], &markers, "unknown encoding"),
            (&compressed[..8], &markers, "LZ4 data is damaged"),
        ];
        for (values, markers, expected) in cases {
            let error = decode_group(b"i\0asset", values, Some(markers)).unwrap_err();
            let shown = inlet_core::error::error_chain(&error);
            assert!(shown.contains("i/asset"), "{shown}");
            assert!(shown.contains(expected), "{shown} lacks {expected}");
        }
    }

    /// Merges `cve` on `device` into `pending` as a run of `ctx` would.
    fn merge(
        store: &Store,
        pending: &mut PendingFindings,
        ctx: &IngestContext,
        device: &str,
        cve: &str,
    ) {
        let observation = finding(device, cve);
        let asset_key = keys::asset_key(INSTANCE, device).unwrap();
        let id = observation.id.clone();
        let key = keys::finding_key_of(&asset_key, &id);
        let current = pending.take(store, &asset_key, &id).unwrap();
        let (entry, _, _) = upsert_finding(ctx, &key, current, observation, None).unwrap();
        pending.put(store, &asset_key, &id, entry).unwrap();
    }

    #[test]
    fn a_device_visited_twice_in_one_batch_keeps_both_visits() {
        let (_dir, store) = temp_store();
        let ctx = run(&store, 0);
        let mut pending = PendingFindings::default();
        merge(&store, &mut pending, &ctx, "a", "CVE-1");
        merge(&store, &mut pending, &ctx, "b", "CVE-1");
        merge(&store, &mut pending, &ctx, "a", "CVE-2");
        store.commit_findings(pending).unwrap();

        let ids = |device: &str| -> Vec<String> {
            let key = keys::asset_key(INSTANCE, device).unwrap();
            store
                .load_group(&key)
                .unwrap()
                .into_iter()
                .map(|e| e.id)
                .collect()
        };
        assert_eq!(ids("a").len(), 2, "{:?}", ids("a"));
        assert_eq!(ids("b").len(), 1);

        // A later batch that only touches markers keeps the values it finished.
        let ctx = run(&store, 1);
        let mut pending = PendingFindings::default();
        merge(&store, &mut pending, &ctx, "a", "CVE-3");
        merge(&store, &mut pending, &ctx, "b", "CVE-1");
        merge(&store, &mut pending, &ctx, "a", "CVE-1");
        store.commit_findings(pending).unwrap();
        assert_eq!(ids("a").len(), 3, "{:?}", ids("a"));
        let stored = store
            .load_group(&keys::asset_key(INSTANCE, "b").unwrap())
            .unwrap();
        assert_eq!(stored[0].marker.seen.run, ctx.run_id);
    }
}

//! Small per-instance state a connector or the runner keeps between syncs:
//! named cursors, and cached reference data the mappers look up.

use inlet_core::{ReferenceEntry, ReferenceLookup};
use sled::{Batch, Tree};

use crate::codec;
use crate::db::{self, Store};
use crate::error::{DecodeError, StoreError};
use crate::keys;

impl Store {
    /// The value of cursor `name` of `instance`, if set.
    pub fn cursor(&self, instance: &str, name: &str) -> Result<Option<String>, StoreError> {
        let key = keys::named_key(instance, name)?;
        let Some(value) = self.trees.cursors.get(&key)? else {
            return Ok(None);
        };
        let text = std::str::from_utf8(&value)
            .map_err(|source| codec::corrupt(keys::CURSORS, &key, DecodeError::Utf8(source)))?;
        Ok(Some(text.to_owned()))
    }

    pub fn set_cursor(&self, instance: &str, name: &str, value: &str) -> Result<(), StoreError> {
        let key = keys::named_key(instance, name)?;
        self.trees.cursors.insert(key, value.as_bytes())?;
        Ok(())
    }

    /// Stores reference entries of `instance` in one atomic write, replacing
    /// entries with the same key.
    pub fn put_reference(
        &self,
        instance: &str,
        entries: Vec<ReferenceEntry>,
    ) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        for entry in entries {
            let key = keys::named_key(instance, &entry.key)?;
            let value = codec::encode_json(keys::REFERENCE, &key, &entry.value)?;
            batch.insert(key, value);
        }
        db::commit(&[&self.trees.reference], &[batch])
    }

    /// A lookup over the reference data of `instance`, for the mappers.
    pub fn reference(&self, instance: &str) -> StoreReference {
        StoreReference {
            tree: self.trees.reference.clone(),
            instance: instance.to_owned(),
        }
    }
}

/// Reads an instance's reference data straight from the store.
#[derive(Clone)]
pub struct StoreReference {
    tree: Tree,
    instance: String,
}

impl std::fmt::Debug for StoreReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreReference")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl StoreReference {
    /// The entry at `key`, with read and decode errors reported.
    pub fn try_get(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let full_key = keys::named_key(&self.instance, key)?;
        match self.tree.get(&full_key)? {
            Some(value) => codec::decode_json(keys::REFERENCE, &full_key, &value).map(Some),
            None => Ok(None),
        }
    }
}

impl ReferenceLookup for StoreReference {
    /// A mapper cannot act on a storage error, so one reads as a missing
    /// entry, with a warning.
    fn reference(&self, key: &str) -> Option<serde_json::Value> {
        self.try_get(key).unwrap_or_else(|error| {
            tracing::warn!(
                instance = %self.instance,
                key,
                error = %error,
                "reference lookup failed"
            );
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testutil::{temp_store, INSTANCE};

    #[test]
    fn cursors_round_trip_per_instance() {
        let (_dir, store) = temp_store();
        assert_eq!(store.cursor(INSTANCE, "delta_since").unwrap(), None);

        store
            .set_cursor(INSTANCE, "delta_since", "2024-05-01T00:00:00Z")
            .unwrap();
        store
            .set_cursor(INSTANCE, "delta_since", "2024-05-02T00:00:00Z")
            .unwrap();
        store.set_cursor("other", "delta_since", "x").unwrap();

        let cursor = store.cursor(INSTANCE, "delta_since").unwrap();
        assert_eq!(cursor.as_deref(), Some("2024-05-02T00:00:00Z"));
        assert_eq!(
            store.cursor("other", "delta_since").unwrap().as_deref(),
            Some("x")
        );
    }

    #[test]
    fn reference_entries_round_trip_through_the_lookup() {
        let (_dir, store) = temp_store();
        let entry = |key: &str, value| ReferenceEntry {
            key: key.to_owned(),
            value,
        };
        store
            .put_reference(
                INSTANCE,
                vec![
                    entry("CVE-2024-1", json!({"cvssV3": 9.8})),
                    entry("CVE-2024-2", json!({"cvssV3": 5.0})),
                ],
            )
            .unwrap();
        store
            .put_reference(INSTANCE, vec![entry("CVE-2024-2", json!({"cvssV3": 6.1}))])
            .unwrap();

        let lookup = store.reference(INSTANCE);
        let lookup: &(dyn ReferenceLookup + Send + Sync) = &lookup;
        assert_eq!(lookup.reference("CVE-2024-1"), Some(json!({"cvssV3": 9.8})));
        assert_eq!(lookup.reference("CVE-2024-2"), Some(json!({"cvssV3": 6.1})));
        assert_eq!(lookup.reference("CVE-2024-3"), None);
        assert_eq!(store.reference("other").reference("CVE-2024-1"), None);
    }

    #[test]
    fn a_corrupt_reference_entry_reads_as_missing_and_try_get_reports_it() {
        let (_dir, store) = temp_store();
        let key = keys::named_key(INSTANCE, "CVE-1").unwrap();
        store.trees.reference.insert(key, "{not json").unwrap();

        let lookup = store.reference(INSTANCE);
        assert_eq!(lookup.reference("CVE-1"), None);
        let error = lookup.try_get("CVE-1").unwrap_err();
        assert_eq!(
            error.to_string(),
            "corrupt record in tree `reference` at key `contoso/CVE-1`"
        );
    }
}

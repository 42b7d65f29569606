//! The quarantine: records a mapper rejected, kept with the reason so an
//! operator can inspect them. Keys sort by run, then by arrival.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sled::Batch;

use crate::codec;
use crate::db::{self, Store};
use crate::error::StoreError;
use crate::ingest::IngestContext;
use crate::keys;

/// A record a mapper could not turn into an Inlet record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedRecord {
    pub run_id: u64,
    /// Which stream the record came from, e.g. `assets` or `findings`.
    pub stream: String,
    /// The record's upstream id, when it had a readable one.
    pub record_id: Option<String>,
    pub reason: String,
    /// The raw upstream record, as received.
    pub raw: String,
    pub quarantined_at: Timestamp,
}

impl Store {
    /// Keeps `records` under `ctx.instance`, keyed by each record's own
    /// `run_id`, in one atomic write.
    pub fn quarantine(
        &self,
        ctx: &IngestContext,
        records: Vec<QuarantinedRecord>,
    ) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        for record in records {
            // Ids from the generator are unique store-wide, so batches of one
            // run never overwrite each other without a read.
            let seq = self.db.generate_id()?;
            let key = keys::quarantine_key(&ctx.instance, record.run_id, seq)?;
            let value = codec::encode_json(keys::QUARANTINE, &key, &record)?;
            batch.insert(key, value);
        }
        db::commit(&[&self.trees.quarantine], &[batch])
    }

    /// An instance's quarantined records, oldest run first.
    pub fn quarantined<'a>(
        &'a self,
        instance: &str,
    ) -> impl Iterator<Item = Result<QuarantinedRecord, StoreError>> + 'a {
        let (scan, error) = match keys::instance_prefix(instance) {
            Ok(prefix) => (Some(self.trees.quarantine.scan_prefix(prefix)), None),
            Err(error) => (None, Some(error)),
        };
        error
            .map(Err)
            .into_iter()
            .chain(scan.into_iter().flatten().map(|entry| {
                let (key, value) = entry?;
                codec::decode_json(keys::QUARANTINE, &key, &value)
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{day, run, temp_store, INSTANCE};

    fn record(run_id: u64, record_id: Option<&str>, reason: &str) -> QuarantinedRecord {
        QuarantinedRecord {
            run_id,
            stream: "assets".to_owned(),
            record_id: record_id.map(str::to_owned),
            reason: reason.to_owned(),
            raw: r#"{"id":"x","lastSeen":"yesterday"}"#.to_owned(),
            quarantined_at: day(0),
        }
    }

    #[test]
    fn quarantined_records_round_trip_in_run_then_arrival_order() {
        let (_dir, store) = temp_store();
        let first = run(&store, 0);
        let second = run(&store, 1);
        let late = record(second.run_id, None, "missing id");
        let early = vec![
            record(first.run_id, Some("a"), "bad date"),
            record(first.run_id, Some("b"), "bad ip"),
        ];

        store.quarantine(&second, vec![late.clone()]).unwrap();
        store.quarantine(&first, early.clone()).unwrap();
        store.quarantine(&first, vec![]).unwrap();

        let stored: Vec<_> = store.quarantined(INSTANCE).map(Result::unwrap).collect();
        assert_eq!(stored, vec![early[0].clone(), early[1].clone(), late]);
        assert_eq!(store.quarantined("other").count(), 0);
    }

    #[test]
    fn a_bad_instance_name_is_an_error_item() {
        let (_dir, store) = temp_store();
        let items: Vec<_> = store.quarantined("bad\0name").collect();
        assert!(matches!(
            items.as_slice(),
            [Err(StoreError::InvalidKey { .. })]
        ));
    }
}

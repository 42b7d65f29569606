//! Inlet's store: every instance's assets, findings, run history, quarantine,
//! cursors and reference data, in one sled database folder.
//!
//! The store owns the stateful half of a sync (spec sections 5-7): it merges
//! observations into records ([`Store::upsert_assets`] and friends, atomic
//! per device), reconciles a full sync ([`Store::apply_reconciliation`]),
//! and streams records back out ([`Store::findings`], [`Store::stats`]).
//!
//! # Layout
//!
//! Every key starts with the instance name and a 0x00 byte (`SEP`), so one
//! instance's data is one contiguous range in each tree; instance names and
//! asset ids cannot contain 0x00. Integers in keys are big-endian so they sort.
//!
//! | tree           | key                                    | value                          |
//! | -------------- | -------------------------------------- | ------------------------------ |
//! | `assets`       | `instance SEP asset_id`                | JSON: observation + lifecycle  |
//! | `asset_seen`   | same as `assets`                       | marker, 32 bytes (below)       |
//! | `findings`     | `instance SEP asset_id`                | the device's findings, grouped |
//! | `finding_seen` | same as `findings`                     | their markers, same order      |
//! | `runs`         | `instance SEP run_id:u64`              | JSON [`RunRecord`]             |
//! | `quarantine`   | `instance SEP run_id:u64 SEP seq:u64`  | JSON [`QuarantinedRecord`]     |
//! | `cursors`      | `instance SEP name`                    | UTF-8 text                     |
//! | `reference`    | `instance SEP key`                     | JSON value                     |
//! | `meta`         | `format_version`                       | `2`                            |
//!
//! A marker holds the id of the run that last returned the record
//! (u64), that run's start (i128 nanoseconds, the exported
//! `last_synced_at`) and the id of the run that made the record active
//! (u64). A finding's marker may add the last delta event applied (i128
//! nanoseconds, then 0 = fixed, 1 = active). Markers live apart from the
//! record values so a resync that changes nothing rewrites only the marker;
//! a record and its marker are always written in the same transaction.
//!
//! Findings are stored one group per device (module `groups`): a finding
//! group is a list of (finding id, JSON value), LZ4-compressed when large,
//! and the marker group lists the markers (each a length byte and the
//! marker) in the same order. One sled write per device instead of one per
//! finding is what makes a full sync of millions of rows fast.
//!
//! Modules: `keys` (tree names and key builders), `codec` (stored values and
//! markers), `groups` (findings per device), `db` (open, the write path),
//! `ingest` and `delta` (upserts), `reconcile`, `read` (listings and stats),
//! `runs`, `quarantine`, `cursors`.

mod codec;
mod copy;
mod cursors;
mod db;
mod delta;
mod error;
mod folders;
mod groups;
mod ingest;
mod keys;
mod quarantine;
mod read;
mod reconcile;
mod runs;

#[cfg(test)]
mod testutil;

pub use cursors::StoreReference;
pub use db::Store;
pub use error::{DecodeError, StoreError};
pub use ingest::{AssetUpsert, FindingUpsert, IngestContext};
pub use quarantine::QuarantinedRecord;
pub use read::{AssetFilter, AssetStats, FindingFilter, FindingStats, SeverityCounts, Stats};
pub use reconcile::{ReconcilePlan, RECONCILE_BATCH_KEYS, SAMPLE_LIMIT};
pub use runs::{
    AssetCounts, FindingCounts, RunCounts, RunMode, RunOutcome, RunRecord, INTERRUPTED_ERROR,
};

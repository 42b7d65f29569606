//! Run history: one record per sync, with its outcome and counts.
//!
//! Run ids count up per instance from 1 (the last key of the instance's range
//! plus one), so a newer run always has a larger id, an instance's runs sort
//! by key, and the numbers an operator sees stay small.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sled::Batch;

use crate::codec;
use crate::db::{self, Store};
use crate::error::StoreError;
use crate::ingest::{AssetUpsert, FindingUpsert};
use crate::keys;

/// The error a run left `Running` by a process that died is closed with.
pub const INTERRUPTED_ERROR: &str = "interrupted: the process stopped before the run finished";

/// Which kind of sync a run was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    Full,
    Delta,
}

impl RunMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Delta => "delta",
        }
    }
}

/// How a run ended, or `Running` while it goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Running,
    Succeeded,
    Failed,
    /// Stopped before reconciling because it would remove too much.
    Held,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Held => "held",
        }
    }
}

/// One sync, as the run history shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: u64,
    pub instance: String,
    pub connector: String,
    pub mode: RunMode,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub outcome: RunOutcome,
    pub counts: RunCounts,
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
    pub error: Option<String>,
    /// Why the run was held, with the numbers.
    pub held: Option<String>,
}

/// What a run did to the store, and what it skipped or warned about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    pub assets: AssetCounts,
    pub findings: FindingCounts,
    /// Records not stored, by reason: `no_cve`, `orphaned`, `filtered`,
    /// `quarantined`, `duplicate`.
    pub skipped: BTreeMap<String, u64>,
    /// Mapping warnings, by code.
    pub warnings: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetCounts {
    pub seen: u64,
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub reactivated: u64,
    /// Assets archived, by reason (`missing_from_sync`, `status`, `retention`).
    pub archived: BTreeMap<String, u64>,
}

impl AssetCounts {
    /// Adds one batch's upsert counts; duplicates count as seen only.
    pub fn add_upsert(&mut self, upsert: &AssetUpsert) {
        self.seen += upsert.new + upsert.updated + upsert.unchanged + upsert.reactivated;
        self.seen += upsert.duplicate;
        self.new += upsert.new;
        self.updated += upsert.updated;
        self.unchanged += upsert.unchanged;
        self.reactivated += upsert.reactivated;
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingCounts {
    pub seen: u64,
    pub new: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub reopened: u64,
    pub fixed: u64,
}

impl FindingCounts {
    /// Adds one batch's upsert or delta counts; duplicates and ignored
    /// events count as seen only.
    pub fn add_upsert(&mut self, upsert: &FindingUpsert) {
        self.seen += upsert.new + upsert.updated + upsert.unchanged + upsert.reopened;
        self.seen += upsert.fixed + upsert.duplicate + upsert.ignored;
        self.new += upsert.new;
        self.updated += upsert.updated;
        self.unchanged += upsert.unchanged;
        self.reopened += upsert.reopened;
        self.fixed += upsert.fixed;
    }
}

impl Store {
    /// Allocates a run id and records the run as `Running`.
    pub fn begin_run(
        &self,
        instance: &str,
        connector: &str,
        mode: RunMode,
        started_at: Timestamp,
    ) -> Result<RunRecord, StoreError> {
        // Ids count up per instance from 1 (0 means "no run" in markers);
        // a dry run's scratch copy continues from the copied runs. The new
        // run is flushed to disk before any record is stamped with its id, so
        // a process killed mid-sync never leaves stamps of an id that the
        // next run could be given again.
        let id = self.newest_run_id(instance)?.map_or(1, |newest| newest + 1);
        let run = RunRecord {
            id,
            instance: instance.to_owned(),
            connector: connector.to_owned(),
            mode,
            started_at,
            finished_at: None,
            outcome: RunOutcome::Running,
            counts: RunCounts::default(),
            requests: 0,
            retries: 0,
            throttled: 0,
            error: None,
            held: None,
        };
        self.save_run(&run)?;
        self.flush()?;
        Ok(run)
    }

    /// The largest run id of `instance`, from the last key of its range.
    fn newest_run_id(&self, instance: &str) -> Result<Option<u64>, StoreError> {
        let prefix = keys::instance_prefix(instance)?;
        let Some(entry) = self.trees.runs.scan_prefix(&prefix).next_back() else {
            return Ok(None);
        };
        let (key, _) = entry?;
        let id_bytes = key
            .get(prefix.len()..)
            .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok());
        Ok(id_bytes.map(u64::from_be_bytes))
    }

    /// Stores `run`, replacing the record with the same instance and id.
    pub fn save_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let key = keys::run_key(&run.instance, run.id)?;
        let value = codec::encode_json(keys::RUNS, &key, run)?;
        self.trees.runs.insert(key, value)?;
        Ok(())
    }

    /// An instance's runs, newest first.
    pub fn runs(&self, instance: &str) -> Result<Vec<RunRecord>, StoreError> {
        self.runs_newest_first(instance)?.collect()
    }

    /// The newest run of `instance` with `outcome` (and `mode`, when given).
    pub fn last_run(
        &self,
        instance: &str,
        outcome: RunOutcome,
        mode: Option<RunMode>,
    ) -> Result<Option<RunRecord>, StoreError> {
        for run in self.runs_newest_first(instance)? {
            let run = run?;
            if run.outcome == outcome && mode.is_none_or(|mode| run.mode == mode) {
                return Ok(Some(run));
            }
        }
        Ok(None)
    }

    /// Closes the runs a dead process left `Running` as `Failed`, finished at
    /// `now`; returns how many. Call it before starting a run of `instance`.
    pub fn fail_interrupted_runs(
        &self,
        instance: &str,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let mut batch = Batch::default();
        let mut n_failed = 0;
        for run in self.runs_newest_first(instance)? {
            let mut run = run?;
            if run.outcome != RunOutcome::Running {
                continue;
            }
            run.outcome = RunOutcome::Failed;
            run.finished_at = Some(now);
            run.error = Some(INTERRUPTED_ERROR.to_owned());
            let key = keys::run_key(instance, run.id)?;
            let value = codec::encode_json(keys::RUNS, &key, &run)?;
            batch.insert(key, value);
            n_failed += 1;
        }
        db::commit(&[&self.trees.runs], &[batch])?;
        Ok(n_failed)
    }

    /// The newest run of `instance`, whatever its outcome.
    pub(crate) fn newest_run(&self, instance: &str) -> Result<Option<RunRecord>, StoreError> {
        self.runs_newest_first(instance)?.next().transpose()
    }

    fn runs_newest_first(
        &self,
        instance: &str,
    ) -> Result<impl Iterator<Item = Result<RunRecord, StoreError>> + '_, StoreError> {
        let prefix = keys::instance_prefix(instance)?;
        Ok(self.trees.runs.scan_prefix(prefix).rev().map(|entry| {
            let (key, value) = entry?;
            codec::decode_json(keys::RUNS, &key, &value)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{day, temp_store, CONNECTOR, INSTANCE};

    fn begin(store: &Store, mode: RunMode, started: i64) -> RunRecord {
        store
            .begin_run(INSTANCE, CONNECTOR, mode, day(started))
            .unwrap()
    }

    fn finish(store: &Store, mut run: RunRecord, outcome: RunOutcome) -> RunRecord {
        run.outcome = outcome;
        run.finished_at = Some(run.started_at);
        store.save_run(&run).unwrap();
        run
    }

    #[test]
    fn run_ids_start_at_one_and_grow_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let first = begin(&store, RunMode::Full, 0);
        let second = begin(&store, RunMode::Delta, 1);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let third = begin(&store, RunMode::Delta, 2);

        assert!(first.id >= 1);
        assert!(first.id < second.id && second.id < third.id);
        assert_eq!(first.outcome, RunOutcome::Running);
    }

    #[test]
    fn runs_round_trip_newest_first_and_save_overwrites() {
        let (_dir, store) = temp_store();
        let first = begin(&store, RunMode::Full, 0);
        let mut second = begin(&store, RunMode::Delta, 1);
        store
            .begin_run("other", CONNECTOR, RunMode::Full, day(2))
            .unwrap();

        second.counts.assets.archived.insert("status".to_owned(), 3);
        second.counts.skipped.insert("no_cve".to_owned(), 2);
        second.requests = 12;
        second.error = Some("token expired".to_owned());
        let second = finish(&store, second, RunOutcome::Failed);

        assert_eq!(store.runs(INSTANCE).unwrap(), vec![second, first]);
    }

    #[test]
    fn last_run_filters_by_outcome_and_mode() {
        let (_dir, store) = temp_store();
        let full = finish(
            &store,
            begin(&store, RunMode::Full, 0),
            RunOutcome::Succeeded,
        );
        let delta = finish(
            &store,
            begin(&store, RunMode::Delta, 1),
            RunOutcome::Succeeded,
        );
        finish(&store, begin(&store, RunMode::Full, 2), RunOutcome::Held);

        let last = |outcome, mode| store.last_run(INSTANCE, outcome, mode).unwrap();
        assert_eq!(last(RunOutcome::Succeeded, None), Some(delta));
        assert_eq!(last(RunOutcome::Succeeded, Some(RunMode::Full)), Some(full));
        assert_eq!(last(RunOutcome::Failed, None), None);
    }

    #[test]
    fn interrupted_runs_are_closed_as_failed() {
        let (_dir, store) = temp_store();
        let done = finish(
            &store,
            begin(&store, RunMode::Full, 0),
            RunOutcome::Succeeded,
        );
        let stuck = begin(&store, RunMode::Delta, 1);
        store
            .begin_run("other", CONNECTOR, RunMode::Full, day(1))
            .unwrap();

        assert_eq!(store.fail_interrupted_runs(INSTANCE, day(5)).unwrap(), 1);
        assert_eq!(store.fail_interrupted_runs(INSTANCE, day(6)).unwrap(), 0);

        let runs = store.runs(INSTANCE).unwrap();
        assert_eq!(runs[1], done);
        assert_eq!(runs[0].id, stuck.id);
        assert_eq!(runs[0].outcome, RunOutcome::Failed);
        assert_eq!(runs[0].finished_at, Some(day(5)));
        assert_eq!(runs[0].error.as_deref(), Some(INTERRUPTED_ERROR));
        let other = store.runs("other").unwrap();
        assert_eq!(
            other[0].outcome,
            RunOutcome::Running,
            "other instances are left alone"
        );
    }

    #[test]
    fn run_json_uses_snake_case() {
        let (_dir, store) = temp_store();
        let run = finish(&store, begin(&store, RunMode::Full, 0), RunOutcome::Held);
        let json = serde_json::to_value(&run).unwrap();
        assert_eq!(json["mode"], "full");
        assert_eq!(json["outcome"], "held");
        assert_eq!(json["counts"]["assets"]["archived"], serde_json::json!({}));
    }

    #[test]
    fn counts_add_up_upserts() {
        let mut counts = RunCounts::default();
        let assets = AssetUpsert {
            new: 2,
            updated: 1,
            unchanged: 3,
            reactivated: 1,
            duplicate: 1,
        };
        let findings = FindingUpsert {
            new: 1,
            fixed: 2,
            ignored: 1,
            ..FindingUpsert::default()
        };
        counts.assets.add_upsert(&assets);
        counts.assets.add_upsert(&assets);
        counts.findings.add_upsert(&findings);

        assert_eq!(counts.assets.seen, 16);
        assert_eq!(counts.assets.new, 4);
        assert_eq!(counts.assets.reactivated, 2);
        assert_eq!(counts.findings.seen, 4);
        assert_eq!(counts.findings.fixed, 2);
    }
}

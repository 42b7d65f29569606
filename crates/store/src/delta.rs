//! Applying a delta: finding change events, each finding's in time order.
//!
//! The marker keeps the last event applied to a finding; an older event is
//! ignored, so replaying an overlapping delta (the runner asks from the start
//! of the last successful sync) changes nothing.

use std::collections::BTreeMap;

use inlet_core::{FindingChange, FindingStatus};

use crate::codec::{Event, FindingEntry, FindingSeen};
use crate::db::Store;
use crate::error::StoreError;
use crate::groups::PendingFindings;
use crate::ingest::{self, FindingUpsert, IngestContext};
use crate::keys;

impl Store {
    /// Applies one batch of delta events, each device's in one transaction
    /// (one per MiB of device groups, as in [`Store::upsert_findings`]). An
    /// event without a time counts as happening at `ctx.started_at`.
    pub fn apply_finding_changes(
        &self,
        ctx: &IngestContext,
        changes: Vec<FindingChange>,
    ) -> Result<FindingUpsert, StoreError> {
        let mut events: Vec<(Event, FindingChange)> = changes
            .into_iter()
            .map(|change| {
                let at = change.event_at.unwrap_or(ctx.started_at);
                (
                    Event {
                        at,
                        status: change.status,
                    },
                    change,
                )
            })
            .collect();
        // Stable: events of one finding keep their order when times tie.
        events.sort_by_key(|(event, _)| event.order());

        // At equal times only the winning event applies: a device-group move
        // (fixed and new at one time) is one active finding, not a fix and a
        // reopen. Keyed by finding and time, so each finding's events still
        // apply in time order; the superseded ones count as ignored.
        let mut counts = FindingUpsert::default();
        type Winners = BTreeMap<(Vec<u8>, String, jiff::Timestamp), (Event, FindingChange)>;
        let mut winners = Winners::new();
        for (event, change) in events {
            let finding = &change.finding;
            let asset_key = keys::asset_key(&ctx.instance, &finding.asset_id)?;
            let id = finding.id.clone();
            if winners
                .insert((asset_key, id, event.at), (event, change))
                .is_some()
            {
                counts.ignored += 1;
            }
        }

        let mut pending = PendingFindings::default();
        for ((asset_key, id, _), (event, change)) in winners {
            let key = keys::finding_key_of(&asset_key, &id);
            pending.next_device(self, &asset_key)?;
            let current = pending.take(self, &asset_key, &id)?;
            if let Some(entry) = apply_event(ctx, &key, current, change, event, &mut counts)? {
                pending.put(self, &asset_key, &id, entry)?;
            }
        }
        self.commit_findings(pending)?;
        let instance = &ctx.instance;
        tracing::trace!(instance, run_id = ctx.run_id, ?counts, "delta batch stored");
        Ok(counts)
    }
}

/// Applies one event to a finding; returns the entry to keep pending, if any.
fn apply_event(
    ctx: &IngestContext,
    key: &[u8],
    current: Option<FindingEntry>,
    change: FindingChange,
    event: Event,
    counts: &mut FindingUpsert,
) -> Result<Option<FindingEntry>, StoreError> {
    let last_event = current.as_ref().and_then(|entry| entry.marker.last_event);
    if last_event.is_some_and(|last| event.order() < last.order()) {
        counts.ignored += 1;
        return Ok(current);
    }

    match (event.status, current) {
        (FindingStatus::Active, current) => {
            let (entry, transition, changed) =
                ingest::upsert_finding(ctx, key, current, change.finding, Some(event))?;
            ingest::count_finding(counts, transition, changed);
            Ok(Some(entry))
        }
        (FindingStatus::Fixed, None) => {
            counts.ignored += 1;
            Ok(None)
        }
        (FindingStatus::Fixed, Some(entry)) => {
            let marker = FindingSeen {
                seen: entry.marker.seen,
                last_event: Some(event),
            };
            if entry.head.status == FindingStatus::Fixed {
                counts.unchanged += 1;
                return Ok(Some(FindingEntry { marker, ..entry }));
            }
            let mut next = entry.decode(key)?;
            next.fix(event.at);
            let (entry, _) = FindingEntry::settle(key, Some(entry), next, marker)?;
            counts.fixed += 1;
            Ok(Some(entry))
        }
    }
}

#[cfg(test)]
mod tests {
    use inlet_core::{Finding, FindingObservation};

    use super::*;
    use crate::testutil::{day, finding, run, temp_store, INSTANCE};
    use crate::FindingFilter;

    fn change(
        observation: &FindingObservation,
        status: FindingStatus,
        day_at: i64,
    ) -> FindingChange {
        FindingChange {
            finding: observation.clone(),
            status,
            event_at: Some(day(day_at)),
        }
    }

    fn stored(store: &Store) -> Vec<Finding> {
        let filter = FindingFilter {
            include_archived: true,
            ..FindingFilter::default()
        };
        store
            .findings(INSTANCE, filter)
            .map(Result::unwrap)
            .collect()
    }

    fn status_of(store: &Store) -> Vec<(FindingStatus, Option<jiff::Timestamp>)> {
        stored(store)
            .iter()
            .map(|finding| (finding.status, finding.fixed_at))
            .collect()
    }

    #[test]
    fn a_group_move_is_one_active_finding_not_a_fix_and_a_reopen() {
        let (_dir, store) = temp_store();
        let f = finding("a", "CVE-1");
        store
            .apply_finding_changes(&run(&store, 1), vec![change(&f, FindingStatus::Active, 1)])
            .unwrap();

        // Fixed under the old group and new under the new one, at one time.
        let moved = vec![
            change(&f, FindingStatus::Fixed, 2),
            change(&f, FindingStatus::Active, 2),
        ];
        let counts = store.apply_finding_changes(&run(&store, 3), moved).unwrap();

        assert_eq!(
            (counts.fixed, counts.reopened, counts.ignored),
            (0, 0, 1),
            "{counts:?}"
        );
        assert_eq!(status_of(&store), vec![(FindingStatus::Active, None)]);
    }

    #[test]
    fn events_of_one_batch_apply_in_time_order() {
        let (_dir, store) = temp_store();
        let f = finding("a", "CVE-1");
        let ctx = run(&store, 10);

        // Given newest first: fixed on day 3 must win over active on day 1.
        let changes = vec![
            change(&f, FindingStatus::Fixed, 3),
            change(&f, FindingStatus::Active, 1),
        ];
        let counts = store.apply_finding_changes(&ctx, changes).unwrap();

        assert_eq!(
            counts,
            FindingUpsert {
                new: 1,
                fixed: 1,
                ..FindingUpsert::default()
            }
        );
        assert_eq!(
            status_of(&store),
            vec![(FindingStatus::Fixed, Some(day(3)))]
        );
    }

    #[test]
    fn an_event_older_than_the_last_applied_is_ignored() {
        let (_dir, store) = temp_store();
        let f = finding("a", "CVE-1");
        let ctx = run(&store, 10);
        store
            .apply_finding_changes(&ctx, vec![change(&f, FindingStatus::Active, 5)])
            .unwrap();

        let late = vec![change(&f, FindingStatus::Fixed, 4)];
        let counts = store.apply_finding_changes(&ctx, late).unwrap();

        assert_eq!(
            counts,
            FindingUpsert {
                ignored: 1,
                ..FindingUpsert::default()
            }
        );
        assert_eq!(status_of(&store), vec![(FindingStatus::Active, None)]);
    }

    #[test]
    fn at_equal_times_active_beats_fixed_in_any_order() {
        for fixed_first in [true, false] {
            let (_dir, store) = temp_store();
            let f = finding("a", "CVE-1");
            let ctx = run(&store, 10);
            let (active, fixed) = (
                change(&f, FindingStatus::Active, 2),
                change(&f, FindingStatus::Fixed, 2),
            );
            let changes = if fixed_first {
                vec![fixed, active]
            } else {
                vec![active, fixed]
            };

            store.apply_finding_changes(&ctx, changes).unwrap();

            assert_eq!(
                status_of(&store),
                vec![(FindingStatus::Active, None)],
                "fixed first: {fixed_first}"
            );
        }
    }

    #[test]
    fn at_equal_times_across_batches_active_still_wins() {
        let (_dir, store) = temp_store();
        let f = finding("a", "CVE-1");
        let ctx = run(&store, 10);
        store
            .apply_finding_changes(&ctx, vec![change(&f, FindingStatus::Active, 1)])
            .unwrap();
        store
            .apply_finding_changes(&ctx, vec![change(&f, FindingStatus::Fixed, 2)])
            .unwrap();

        let ignored = store
            .apply_finding_changes(&ctx, vec![change(&f, FindingStatus::Fixed, 1)])
            .unwrap();
        let reopened = store
            .apply_finding_changes(&ctx, vec![change(&f, FindingStatus::Active, 2)])
            .unwrap();
        let after_active = store
            .apply_finding_changes(&ctx, vec![change(&f, FindingStatus::Fixed, 2)])
            .unwrap();

        assert_eq!(ignored.ignored, 1);
        assert_eq!(
            reopened,
            FindingUpsert {
                reopened: 1,
                ..FindingUpsert::default()
            }
        );
        assert_eq!(after_active.ignored, 1);
        assert_eq!(status_of(&store), vec![(FindingStatus::Active, None)]);
    }

    #[test]
    fn replaying_an_overlapping_delta_changes_nothing() {
        let (_dir, store) = temp_store();
        let (f1, f2, f3) = (
            finding("a", "CVE-1"),
            finding("a", "CVE-2"),
            finding("b", "CVE-3"),
        );
        let delta = vec![
            change(&f1, FindingStatus::Active, 1),
            change(&f2, FindingStatus::Active, 1),
            change(&f2, FindingStatus::Fixed, 2),
            change(&f3, FindingStatus::Active, 3),
            change(&f1, FindingStatus::Fixed, 3),
            change(&f1, FindingStatus::Active, 4),
        ];
        store
            .apply_finding_changes(&run(&store, 5), delta.clone())
            .unwrap();
        let before = status_of(&store);
        let values = store.trees.findings.checksum().unwrap();

        // The next delta starts from the last sync's start and repeats the tail.
        let counts = store
            .apply_finding_changes(&run(&store, 6), delta[2..].to_vec())
            .unwrap();

        assert_eq!(
            counts.new + counts.updated + counts.reopened + counts.fixed,
            0,
            "{counts:?}"
        );
        assert_eq!(status_of(&store), before);
        assert_eq!(store.trees.findings.checksum().unwrap(), values);
        assert_eq!(
            before,
            vec![
                (FindingStatus::Active, None),
                (FindingStatus::Fixed, Some(day(2))),
                (FindingStatus::Active, None)
            ]
        );
    }

    #[test]
    fn a_fixed_event_for_an_unknown_finding_is_ignored() {
        let (_dir, store) = temp_store();
        let f = finding("a", "CVE-1");
        let ctx = run(&store, 10);

        let counts = store
            .apply_finding_changes(&ctx, vec![change(&f, FindingStatus::Fixed, 1)])
            .unwrap();

        assert_eq!(
            counts,
            FindingUpsert {
                ignored: 1,
                ..FindingUpsert::default()
            }
        );
        assert!(stored(&store).is_empty());
        assert!(store.trees.finding_seen.is_empty());
    }

    #[test]
    fn a_fixed_event_without_a_time_fixes_at_the_sync_start() {
        let (_dir, store) = temp_store();
        let f = finding("a", "CVE-1");
        let ctx = run(&store, 10);
        store.upsert_findings(&ctx, vec![f.clone()]).unwrap();

        let untimed = FindingChange {
            finding: f,
            status: FindingStatus::Fixed,
            event_at: None,
        };
        let counts = store.apply_finding_changes(&ctx, vec![untimed]).unwrap();

        assert_eq!(counts.fixed, 1);
        assert_eq!(
            status_of(&store),
            vec![(FindingStatus::Fixed, Some(day(10)))]
        );
    }

    /// `n` characters that LZ4 cannot shrink much: a xorshift stream written
    /// six bits a character.
    fn noise(seed: u64, n: usize) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        // Spread the small seeds over all 64 bits first (splitmix64's step).
        let mut state = (seed + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        state = (state ^ (state >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(ALPHABET[(state >> 58) as usize])
            })
            .collect()
    }

    #[test]
    fn batches_larger_than_one_commit_are_stored_whole() {
        let (_dir, store) = temp_store();
        let (n_devices, per_device) = (400, 8);
        let findings: Vec<FindingObservation> = (0..n_devices)
            .flat_map(|device| {
                (0..per_device).map(move |n| {
                    let mut observation =
                        finding(&format!("dev-{device:03}"), &format!("CVE-2024-{n:04}"));
                    observation.description = Some(noise(device * 100 + n, 2_000));
                    observation
                })
            })
            .collect();
        let n_findings = findings.len() as u64;

        let full = run(&store, 0);
        let upsert = store.upsert_findings(&full, findings.clone()).unwrap();
        assert_eq!(upsert.new, n_findings);
        // The batch needed more than one transaction.
        let stored_bytes: usize = store
            .trees
            .findings
            .iter()
            .map(|entry| entry.unwrap().1.len())
            .sum();
        assert!(
            stored_bytes > crate::groups::COMMIT_FROM_BYTES,
            "{stored_bytes}"
        );

        // A delta batch touching every device: each finding fixed, and one
        // new finding per device.
        let mut changes: Vec<FindingChange> = findings
            .iter()
            .map(|observation| change(observation, FindingStatus::Fixed, 1))
            .collect();
        for device in 0..n_devices {
            let mut added = finding(&format!("dev-{device:03}"), "CVE-2025-0001");
            added.description = Some(noise(device + 7, 2_000));
            changes.push(change(&added, FindingStatus::Active, 1));
        }
        let delta = store
            .apply_finding_changes(&run(&store, 1), changes)
            .unwrap();
        assert_eq!(
            (delta.fixed, delta.new, delta.ignored),
            (n_findings, n_devices, 0)
        );

        let statuses = status_of(&store);
        let fixed = statuses
            .iter()
            .filter(|(status, at)| *status == FindingStatus::Fixed && *at == Some(day(1)))
            .count() as u64;
        let active = statuses
            .iter()
            .filter(|(status, _)| *status == FindingStatus::Active)
            .count() as u64;
        assert_eq!((fixed, active), (n_findings, n_devices));
        let descriptions = stored(&store)
            .into_iter()
            .filter(|finding| finding.id == "dev-123_CVE-2024-0005")
            .map(|finding| finding.description)
            .collect::<Vec<_>>();
        assert_eq!(descriptions, vec![Some(noise(123 * 100 + 5, 2_000))]);
    }

    #[test]
    fn a_failing_delta_batch_writes_nothing() {
        let (_dir, store) = temp_store();
        let good = finding("a", "CVE-1");
        let mut bad = finding("a", "CVE-2");
        bad.asset_id = "a\0b".to_owned();
        let changes = vec![
            change(&good, FindingStatus::Active, 1),
            change(&bad, FindingStatus::Active, 2),
        ];

        assert!(store
            .apply_finding_changes(&run(&store, 5), changes)
            .is_err());

        assert!(store.trees.findings.is_empty() && store.trees.finding_seen.is_empty());
    }
}

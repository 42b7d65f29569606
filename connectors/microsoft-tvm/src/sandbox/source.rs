//! What the API serves, behind one interface: the synthetic tenant or a
//! fixtures folder, day by day. Every snapshot stays available after the
//! day moves on, so a skiptoken keeps paging through the day it began on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use jiff::{SignedDuration, Timestamp};

use super::body::RowSource;
use super::clock;
use super::fixtures::{Change, FixtureDay, Records};
use super::records::DeviceProfile;
use super::tenant::{locate, ChangeStatus, DayIndex, SlotKey, SyntheticTenant};
use super::vulns::{self, RowContext};

/// Why the simulated day could not move on.
#[derive(Debug, thiserror::Error)]
pub enum AdvanceError {
    #[error("the fixtures folder has no `day{folder}/` folder, so it cannot serve day {day}")]
    NoMoreFixtureDays { folder: u32, day: u32 },
    #[error("building the next day's index failed")]
    Index(#[source] tokio::task::JoinError),
}

/// One day of the synthetic tenant.
#[derive(Debug)]
pub(crate) struct SyntheticDay {
    index: DayIndex,
    /// Real instants at which days 0..=this one began.
    starts: Vec<Timestamp>,
}

pub(crate) enum Dataset {
    Synthetic {
        tenant: Arc<SyntheticTenant>,
        days: RwLock<Vec<Arc<SyntheticDay>>>,
        advancing: tokio::sync::Mutex<()>,
    },
    Fixtures {
        days: Vec<FixtureDay>,
        current: AtomicUsize,
    },
}

impl Dataset {
    /// The synthetic tenant on day 0, which began at `start`.
    pub(crate) async fn synthetic(
        tenant: SyntheticTenant,
        start: Timestamp,
    ) -> Result<Self, AdvanceError> {
        let tenant = Arc::new(tenant);
        let builder = Arc::clone(&tenant);
        let index = tokio::task::spawn_blocking(move || builder.build_index(0))
            .await
            .map_err(AdvanceError::Index)?;
        let day = Arc::new(SyntheticDay {
            index,
            starts: vec![start],
        });
        let days = RwLock::new(vec![day]);
        Ok(Self::Synthetic {
            tenant,
            days,
            advancing: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn fixtures(days: Vec<FixtureDay>) -> Self {
        Self::Fixtures {
            days,
            current: AtomicUsize::new(0),
        }
    }

    pub(crate) fn current_day(&self) -> u32 {
        match self {
            Self::Synthetic { days, .. } => read(days).len().saturating_sub(1) as u32,
            Self::Fixtures { current, .. } => current.load(Ordering::SeqCst) as u32,
        }
    }

    /// Moves to the next day, which begins at `now` (at least a second after
    /// the previous day, so event times keep days apart).
    pub(crate) async fn advance(&self, now: Timestamp) -> Result<u32, AdvanceError> {
        match self {
            Self::Synthetic {
                tenant,
                days,
                advancing,
            } => {
                let _one_at_a_time = advancing.lock().await;
                let previous = read(days).last().map(Arc::clone);
                let mut starts = previous.map(|day| day.starts.clone()).unwrap_or_default();
                let next = starts.len() as u32;
                let floor = starts
                    .last()
                    .map(|last| clock::plus(*last, SignedDuration::from_secs(1)));
                starts.push(floor.map_or(now, |floor| floor.max(now)));
                let builder = Arc::clone(tenant);
                let index = tokio::task::spawn_blocking(move || builder.build_index(next))
                    .await
                    .map_err(AdvanceError::Index)?;
                write(days).push(Arc::new(SyntheticDay { index, starts }));
                Ok(next)
            }
            Self::Fixtures { days, current } => {
                // Atomic, so concurrent calls each move exactly one day.
                let last = days.len().saturating_sub(1);
                let moved = current.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |day| {
                    (day < last).then_some(day + 1)
                });
                match moved {
                    Ok(previous) => Ok(previous as u32 + 1),
                    Err(day) => {
                        let day = day as u32 + 1;
                        Err(AdvanceError::NoMoreFixtureDays {
                            folder: day + 1,
                            day,
                        })
                    }
                }
            }
        }
    }

    fn synthetic_day(days: &RwLock<Vec<Arc<SyntheticDay>>>, day: u32) -> Option<Arc<SyntheticDay>> {
        read(days).get(day as usize).map(Arc::clone)
    }

    fn fixture_day(days: &[FixtureDay], day: u32) -> Option<&FixtureDay> {
        days.get(day as usize)
    }

    /// Devices `skip..skip + top` of `day`; None when that slice is empty.
    pub(crate) fn machines(&self, day: u32, skip: u64, top: u64) -> Option<Box<dyn RowSource>> {
        match self {
            Self::Synthetic { tenant, days, .. } => {
                let day = Self::synthetic_day(days, day)?;
                let (start, end) = slice(day.index.n_listed as u64, skip, top)?;
                Some(Box::new(MachineRows {
                    tenant: Arc::clone(tenant),
                    day,
                    next: start,
                    end,
                }))
            }
            Self::Fixtures { days, .. } => {
                let records = &Self::fixture_day(days, day)?.machines;
                let (start, end) = slice(records.len() as u64, skip, top)?;
                Some(Box::new(RawRows {
                    records: Arc::clone(records),
                    next: start,
                    end,
                }))
            }
        }
    }

    /// Rows of the full export on `day`.
    pub(crate) fn export_len(&self, day: u32) -> u64 {
        match self {
            Self::Synthetic { days, .. } => {
                Self::synthetic_day(days, day).map_or(0, |day| day.index.n_rows())
            }
            Self::Fixtures { days, .. } => {
                Self::fixture_day(days, day).map_or(0, |day| day.vulnerabilities.len() as u64)
            }
        }
    }

    pub(crate) fn export_rows(&self, day: u32, offset: u64, count: u64) -> Box<dyn RowSource> {
        match self {
            Self::Synthetic { tenant, days, .. } => {
                let segments = Self::synthetic_day(days, day).into_iter().collect();
                Box::new(SyntheticRows::new(
                    Arc::clone(tenant),
                    segments,
                    Kind::Export,
                    offset,
                    count,
                ))
            }
            Self::Fixtures { days, .. } => {
                let records =
                    Self::fixture_day(days, day).map(|day| Arc::clone(&day.vulnerabilities));
                let records = records.unwrap_or_default();
                let end = (offset + count).min(records.len() as u64);
                Box::new(RawRows {
                    records,
                    next: offset,
                    end,
                })
            }
        }
    }

    /// The change events served on `day` for a query whose 6-hour window
    /// starts at `window`.
    pub(crate) fn changes(&self, day: u32, window: Timestamp) -> ChangeSet {
        match self {
            Self::Synthetic { tenant, days, .. } => {
                // Events of day d happened when d began: keep the days that
                // began inside or after the window.
                let all = read(days);
                let through = (day as usize).min(all.len().saturating_sub(1));
                let segments: Vec<_> = all[..=through]
                    .iter()
                    .filter(|segment| {
                        let start = segment.starts.get(segment.index.day as usize);
                        segment.index.day > 0 && start.is_some_and(|start| *start >= window)
                    })
                    .map(Arc::clone)
                    .collect();
                let len = segments
                    .iter()
                    .map(|segment| segment.index.n_events())
                    .sum();
                ChangeSet::Synthetic {
                    tenant: Arc::clone(tenant),
                    segments,
                    len,
                }
            }
            Self::Fixtures { days, .. } => {
                let changes = Self::fixture_day(days, day)
                    .map(|day| Arc::clone(&day.changes))
                    .unwrap_or_default();
                // Rows without a readable time are always served.
                let picked: Vec<usize> = (0..changes.len())
                    .filter(|index| changes[*index].at.is_none_or(|at| at >= window))
                    .collect();
                ChangeSet::Fixtures {
                    changes,
                    picked: Arc::new(picked),
                }
            }
        }
    }

    pub(crate) fn catalog_len(&self) -> u64 {
        match self {
            Self::Synthetic { tenant, .. } => u64::from(tenant.n_cves),
            Self::Fixtures { days, current } => days
                .get(current.load(Ordering::SeqCst))
                .map_or(0, |day| day.catalog.len() as u64),
        }
    }

    pub(crate) fn catalog_rows(&self, offset: u64, count: u64) -> Box<dyn RowSource> {
        let end = (offset + count).min(self.catalog_len());
        match self {
            Self::Synthetic { tenant, .. } => Box::new(CatalogRows {
                tenant: Arc::clone(tenant),
                next: offset,
                end,
            }),
            Self::Fixtures { days, current } => {
                let day = days.get(current.load(Ordering::SeqCst));
                let records = day.map(|day| Arc::clone(&day.catalog)).unwrap_or_default();
                Box::new(RawRows {
                    records,
                    next: offset,
                    end,
                })
            }
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // A panic while holding the lock cannot leave the day list half-written
    // (pushes are atomic), so a poisoned lock is still safe to read.
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `skip..skip + top` clipped to `len`; None when empty.
fn slice(len: u64, skip: u64, top: u64) -> Option<(u64, u64)> {
    let end = skip.saturating_add(top).min(len);
    (skip < end).then_some((skip, end))
}

/// The change events one delta query pages through.
pub(crate) enum ChangeSet {
    Synthetic {
        tenant: Arc<SyntheticTenant>,
        segments: Vec<Arc<SyntheticDay>>,
        len: u64,
    },
    Fixtures {
        changes: Arc<Vec<Change>>,
        picked: Arc<Vec<usize>>,
    },
}

impl ChangeSet {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Self::Synthetic { len, .. } => *len,
            Self::Fixtures { picked, .. } => picked.len() as u64,
        }
    }

    pub(crate) fn rows(self, offset: u64, count: u64) -> Box<dyn RowSource> {
        match self {
            Self::Synthetic {
                tenant, segments, ..
            } => Box::new(SyntheticRows::new(
                tenant,
                segments,
                Kind::Changes,
                offset,
                count,
            )),
            Self::Fixtures { changes, picked } => {
                let end = (offset + count).min(picked.len() as u64);
                Box::new(PickedRows {
                    changes,
                    picked,
                    next: offset,
                    end,
                })
            }
        }
    }
}

struct MachineRows {
    tenant: Arc<SyntheticTenant>,
    day: Arc<SyntheticDay>,
    next: u64,
    end: u64,
}

impl RowSource for MachineRows {
    fn write_next(&mut self, out: &mut Vec<u8>) -> bool {
        if self.next >= self.end {
            return false;
        }
        let position = self.day.index.present[self.next as usize];
        let profile = DeviceProfile::generate(self.tenant.seed, position);
        profile.write_machine(out, self.tenant.seed, position, &self.day.starts);
        self.next += 1;
        true
    }
}

struct CatalogRows {
    tenant: Arc<SyntheticTenant>,
    next: u64,
    end: u64,
}

impl RowSource for CatalogRows {
    fn write_next(&mut self, out: &mut Vec<u8>) -> bool {
        if self.next >= self.end {
            return false;
        }
        vulns::write_catalog_record(out, &self.tenant, self.next as u32);
        self.next += 1;
        true
    }
}

struct RawRows {
    records: Records,
    next: u64,
    end: u64,
}

impl RowSource for RawRows {
    fn write_next(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(record) = self
            .records
            .get(self.next as usize)
            .filter(|_| self.next < self.end)
        else {
            return false;
        };
        out.extend_from_slice(record.get().as_bytes());
        self.next += 1;
        true
    }
}

struct PickedRows {
    changes: Arc<Vec<Change>>,
    picked: Arc<Vec<usize>>,
    next: u64,
    end: u64,
}

impl RowSource for PickedRows {
    fn write_next(&mut self, out: &mut Vec<u8>) -> bool {
        let picked = self
            .picked
            .get(self.next as usize)
            .filter(|_| self.next < self.end);
        let Some(change) = picked.and_then(|index| self.changes.get(*index)) else {
            return false;
        };
        out.extend_from_slice(change.raw.get().as_bytes());
        self.next += 1;
        true
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Export,
    Changes,
}

/// One device's rows in a segment.
struct DeviceRows {
    position: u32,
    profile: DeviceProfile,
    entries: Vec<(SlotKey, Option<ChangeStatus>)>,
}

/// Synthetic rows `offset..offset + count` across day segments: one for the
/// full export, one per included day for a delta.
struct SyntheticRows {
    tenant: Arc<SyntheticTenant>,
    segments: Vec<Arc<SyntheticDay>>,
    kind: Kind,
    segment: usize,
    device: usize,
    entry: usize,
    remaining: u64,
    current: Option<DeviceRows>,
}

impl SyntheticRows {
    fn new(
        tenant: Arc<SyntheticTenant>,
        segments: Vec<Arc<SyntheticDay>>,
        kind: Kind,
        offset: u64,
        count: u64,
    ) -> Self {
        let mut rows = Self {
            tenant,
            segments,
            kind,
            segment: 0,
            device: 0,
            entry: 0,
            remaining: count,
            current: None,
        };

        // Skip whole segments, then find the device and row within one.
        let mut offset = offset;
        while let Some(segment) = rows.segments.get(rows.segment) {
            let len = rows.ends(segment).last().copied().unwrap_or(0);
            if offset < len {
                let (device, entry) = locate(rows.ends(segment), offset);
                rows.device = device;
                rows.entry = entry as usize;
                break;
            }
            offset -= len;
            rows.segment += 1;
        }
        rows
    }

    fn ends<'a>(&self, segment: &'a SyntheticDay) -> &'a [u64] {
        match self.kind {
            Kind::Export => &segment.index.row_ends,
            Kind::Changes => &segment.index.event_ends,
        }
    }

    fn load(&self, segment: &SyntheticDay, device: usize) -> Option<DeviceRows> {
        let position = *segment.index.present.get(device)?;
        let day = segment.index.day;
        let entries = match self.kind {
            Kind::Export => self
                .tenant
                .export_slots(position, day)
                .into_iter()
                .map(|key| (key, None))
                .collect(),
            Kind::Changes => self
                .tenant
                .events(position, day)
                .into_iter()
                .map(|(key, status)| (key, Some(status)))
                .collect(),
        };
        let profile = DeviceProfile::generate(self.tenant.seed, position);
        Some(DeviceRows {
            position,
            profile,
            entries,
        })
    }

    /// Makes `current` hold the device with the next row; false at the end.
    fn settle(&mut self) -> bool {
        loop {
            if let Some(current) = &self.current {
                if self.entry < current.entries.len() {
                    return true;
                }
                self.current = None;
                self.device += 1;
                self.entry = 0;
            }
            let Some(segment) = self.segments.get(self.segment).map(Arc::clone) else {
                return false;
            };
            if self.device >= segment.index.present.len() {
                self.segment += 1;
                self.device = 0;
                continue;
            }
            match self.load(&segment, self.device) {
                Some(rows) => self.current = Some(rows),
                None => return false,
            }
        }
    }
}

impl RowSource for SyntheticRows {
    fn write_next(&mut self, out: &mut Vec<u8>) -> bool {
        if self.remaining == 0 || !self.settle() {
            return false;
        }
        let (Some(segment), Some(current)) = (self.segments.get(self.segment), &self.current)
        else {
            return false;
        };
        let (key, status) = current.entries[self.entry];
        let day = segment.index.day;
        let context = RowContext {
            tenant: &self.tenant,
            profile: &current.profile,
            position: current.position,
            days: &segment.starts,
        };
        match status {
            None => context.write_row(out, key, day),
            Some(status) => context.write_change(out, key, day, status),
        }
        self.entry += 1;
        self.remaining -= 1;
        true
    }
}

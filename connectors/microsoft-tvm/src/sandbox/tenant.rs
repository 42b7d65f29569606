//! The synthetic tenant's structure: which devices exist on which day, which
//! vulnerability slots each device has and what changed between two days,
//! all drawn from the seed; plus the per-day index that finds row `i` of any
//! page without storing rows.

use super::mix::Draw;
use super::options::DEFAULT_DAILY_CHANGE_PERCENT;
use super::records::{self, DeviceProfile};
use super::vulns;

// The four per-day chances below are the rates at the default
// `--daily-change-percent`; a tenant scales all of them by the same factor.

/// Share of devices that disappear each day.
const REMOVAL_CHANCE: f64 = 0.02;
/// Share of live vulnerabilities fixed each day.
const FIX_CHANCE: f64 = 0.05;
/// Expected new vulnerabilities per device and day, as a share of `M`.
const ADD_CHANCE: f64 = 0.03;
/// Share of live vulnerabilities reported `Updated` each day.
const UPDATE_CHANCE: f64 = 0.02;
/// Share of devices that never have vulnerability rows.
const NO_ROW_CHANCE: f64 = 0.04;
/// Share of devices whose first export row is sent twice.
const DUPLICATE_CHANCE: f64 = 0.02;
/// One orphan (a device only the export knows) per this many devices.
const DEVICES_PER_ORPHAN: u32 = 100;

/// Purpose tags keep the draws of different decisions independent.
pub(crate) mod tag {
    pub const REMOVAL: u64 = 1;
    pub const NO_ROWS: u64 = 2;
    pub const FIX: u64 = 3;
    pub const ADD: u64 = 4;
    pub const UPDATE: u64 = 5;
    pub const DUPLICATE: u64 = 6;
    pub const DEVICE: u64 = 7;
    pub const DEVICE_DAY: u64 = 8;
    pub const ROW: u64 = 9;
    pub const ROW_DAY: u64 = 10;
    pub const CVE: u64 = 11;
    pub const EVENT: u64 = 12;
    pub const ERROR_RATE: u64 = 13;
}

/// A vulnerability slot of one device: present from day 0, or added later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotKey {
    Initial(u32),
    Added { day: u32, index: u32 },
}

/// The per-day chances of one tenant: the constants above, scaled.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DailyChances {
    removal: f64,
    fix: f64,
    add: f64,
    update: f64,
}

impl DailyChances {
    /// The chances for `percent` (0..=100) of rows fixed, added or updated a
    /// day. At the default percent the factor is exactly 1, so the default
    /// tenant draws exactly the constants' rates.
    fn for_percent(percent: f64) -> Self {
        let factor = percent / DEFAULT_DAILY_CHANGE_PERCENT;
        Self {
            removal: REMOVAL_CHANCE * factor,
            fix: FIX_CHANCE * factor,
            add: ADD_CHANCE * factor,
            update: UPDATE_CHANCE * factor,
        }
    }
}

/// Days until an event of daily `chance` first happens; never (`u32::MAX`)
/// when the chance is 0, where the geometric draw would divide by zero.
fn days_until(mut draw: Draw, chance: f64) -> u32 {
    if chance > 0.0 {
        draw.days_until(chance)
    } else {
        u32::MAX
    }
}

/// What a delta row reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeStatus {
    New,
    Fixed,
    Updated,
}

impl ChangeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "New",
            Self::Fixed => "Fixed",
            Self::Updated => "Updated",
        }
    }
}

/// Counts describing one day of a synthetic tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantSummary {
    /// Devices `/api/machines` lists.
    pub devices: u64,
    /// Devices only the vulnerability export knows.
    pub orphans: u64,
    /// Present devices (listed or orphan) without any vulnerability row.
    pub devices_without_rows: u64,
    /// Rows of the full export, duplicates included.
    pub export_rows: u64,
    /// Rows the full export sends twice.
    pub duplicate_rows: u64,
    /// Change events that led into this day (0 on day 0).
    pub change_events: u64,
}

/// A tenant generated from `(seed, devices, vulns_per_device)`.
///
/// Nothing is stored per row. A device is a position in `0..universe`
/// (listed devices first, then about one orphan per hundred devices that only
/// the vulnerability export knows), and a slot is a key whose fate (the day
/// it appears, the day it gets fixed, the days it is updated) is drawn from
/// `(seed, position, key)`. The only stored data is a per-day index with one
/// entry per present device: cumulative row and event counts, so row `i` of
/// any page is found by a binary search and computed on demand.
///
/// Day 0: every device has `vulns_per_device` rows except about 4% with
/// none; about 2% of devices send their first row twice. Each later day, at
/// the default daily change of 10%, about 2% of devices disappear (with
/// their rows, and without change events), about 5% of live vulnerabilities
/// get fixed and about 3% x `M` new ones appear per device; about 2% of the
/// rest are reported `Updated`. [`Self::with_daily_change_percent`] scales
/// these four rates together; day 0 is the same whatever the percent.
#[derive(Debug, Clone)]
pub struct SyntheticTenant {
    pub(crate) seed: u64,
    pub(crate) n_devices: u32,
    pub(crate) n_orphans: u32,
    pub(crate) vulns_per_device: u32,
    pub(crate) n_cves: u32,
    chances: DailyChances,
}

/// The per-day index: one entry per present device.
#[derive(Debug)]
pub(crate) struct DayIndex {
    pub(crate) day: u32,
    /// Present positions, ascending; the listed ones come first.
    pub(crate) present: Vec<u32>,
    pub(crate) n_listed: usize,
    /// Cumulative full-export rows through `present[k]`.
    pub(crate) row_ends: Vec<u64>,
    /// Cumulative change events (into this day) through `present[k]`.
    pub(crate) event_ends: Vec<u64>,
}

impl DayIndex {
    pub(crate) fn n_rows(&self) -> u64 {
        self.row_ends.last().copied().unwrap_or(0)
    }

    pub(crate) fn n_events(&self) -> u64 {
        self.event_ends.last().copied().unwrap_or(0)
    }
}

/// The entry holding `offset` in a cumulative `ends` list and the offset
/// within that entry; `ends.len()` when `offset` is past the end.
pub(crate) fn locate(ends: &[u64], offset: u64) -> (usize, u64) {
    let entry = ends.partition_point(|end| *end <= offset);
    let before = if entry == 0 { 0 } else { ends[entry - 1] };
    (entry, offset.saturating_sub(before))
}

impl SyntheticTenant {
    pub fn new(seed: u64, devices: u32, vulns_per_device: u32) -> Self {
        // The CVE pool grows with the rows per device so ids repeat across
        // devices (as real CVEs do) but the catalog stays a few pages long.
        let n_cves = vulns_per_device.saturating_mul(10).clamp(50, 5_000);
        Self {
            seed,
            n_devices: devices,
            n_orphans: devices.div_ceil(DEVICES_PER_ORPHAN),
            vulns_per_device,
            n_cves,
            chances: DailyChances::for_percent(DEFAULT_DAILY_CHANGE_PERCENT),
        }
    }

    /// The same tenant with about `percent` % of rows fixed, added or updated
    /// each day instead of the default 10% (and devices removed at a fifth
    /// of that rate, 2% by default); 0 freezes the tenant after day 0.
    ///
    /// # Panics
    ///
    /// When `percent` is not a number in `0..=100`; `--daily-change-percent`
    /// refuses such values before a tenant is built.
    pub fn with_daily_change_percent(mut self, percent: f64) -> Self {
        assert!(
            (0.0..=100.0).contains(&percent),
            "daily change percent `{percent}` is not between 0 and 100"
        );
        self.chances = DailyChances::for_percent(percent);
        self
    }

    fn universe(&self) -> u32 {
        self.n_devices + self.n_orphans
    }

    pub(crate) fn is_orphan(&self, position: u32) -> bool {
        position >= self.n_devices
    }

    fn draw(&self, keys: &[u64]) -> Draw {
        Draw::new(self.seed, keys)
    }

    /// The first day `position` is gone from both `/api/machines` and the export.
    fn removal_day(&self, position: u32) -> u32 {
        days_until(
            self.draw(&[tag::REMOVAL, u64::from(position)]),
            self.chances.removal,
        )
    }

    pub(crate) fn is_present(&self, position: u32, day: u32) -> bool {
        day < self.removal_day(position)
    }

    fn has_rows(&self, position: u32) -> bool {
        self.vulns_per_device > 0
            && !self
                .draw(&[tag::NO_ROWS, u64::from(position)])
                .chance(NO_ROW_CHANCE)
    }

    fn is_duplicated(&self, position: u32) -> bool {
        self.draw(&[tag::DUPLICATE, u64::from(position)])
            .chance(DUPLICATE_CHANCE)
    }

    /// A number unique among one device's slots (it makes row ids unique).
    pub(crate) fn ordinal(&self, key: SlotKey) -> u64 {
        let per_day = u64::from(self.vulns_per_device);
        match key {
            SlotKey::Initial(index) => u64::from(index),
            SlotKey::Added { day, index } => per_day * u64::from(day) + u64::from(index),
        }
    }

    /// The day a slot appeared.
    pub(crate) fn added_on(key: SlotKey) -> u32 {
        match key {
            SlotKey::Initial(_) => 0,
            SlotKey::Added { day, .. } => day,
        }
    }

    /// The first day a slot is no longer live (it was fixed the day before).
    fn fixed_on(&self, position: u32, key: SlotKey) -> u32 {
        let ordinal = self.ordinal(key);
        let after = days_until(
            self.draw(&[tag::FIX, u64::from(position), ordinal]),
            self.chances.fix,
        );
        Self::added_on(key).saturating_add(after)
    }

    fn is_added(&self, position: u32, day: u32, index: u32) -> bool {
        let keys = [
            tag::ADD,
            u64::from(position),
            u64::from(day),
            u64::from(index),
        ];
        self.draw(&keys).chance(self.chances.add)
    }

    fn is_updated(&self, position: u32, key: SlotKey, day: u32) -> bool {
        let keys = [
            tag::UPDATE,
            u64::from(position),
            self.ordinal(key),
            u64::from(day),
        ];
        self.draw(&keys).chance(self.chances.update)
    }

    /// Every slot a device has had by `day`, live or not, in row order.
    fn slots_through(&self, position: u32, day: u32) -> Vec<SlotKey> {
        if !self.has_rows(position) {
            return Vec::new();
        }
        let per_day = self.vulns_per_device;
        let mut slots: Vec<SlotKey> = (0..per_day).map(SlotKey::Initial).collect();
        for added_day in 1..=day {
            for index in 0..per_day {
                if self.is_added(position, added_day, index) {
                    slots.push(SlotKey::Added {
                        day: added_day,
                        index,
                    });
                }
            }
        }
        slots
    }

    /// The device's live slots on `day`, in row order.
    pub(crate) fn live_slots(&self, position: u32, day: u32) -> Vec<SlotKey> {
        if !self.is_present(position, day) {
            return Vec::new();
        }
        let mut slots = self.slots_through(position, day);
        slots.retain(|key| day < self.fixed_on(position, *key));
        slots
    }

    /// The device's full-export rows on `day`: its live slots, the first one
    /// twice on a duplicating device.
    pub(crate) fn export_slots(&self, position: u32, day: u32) -> Vec<SlotKey> {
        let mut slots = self.live_slots(position, day);
        if let Some(first) = slots.first().copied() {
            if self.is_duplicated(position) {
                slots.insert(1, first);
            }
        }
        slots
    }

    /// What changed on a device between `day - 1` and `day`, in row order.
    /// A vanished device reports nothing: its rows just stop being exported.
    pub(crate) fn events(&self, position: u32, day: u32) -> Vec<(SlotKey, ChangeStatus)> {
        if day == 0 || !self.is_present(position, day) {
            return Vec::new();
        }
        let mut events = Vec::new();
        for key in self.slots_through(position, day) {
            let fixed_on = self.fixed_on(position, key);
            let status = if Self::added_on(key) == day {
                Some(ChangeStatus::New)
            } else if fixed_on == day {
                Some(ChangeStatus::Fixed)
            } else if fixed_on > day && self.is_updated(position, key, day) {
                Some(ChangeStatus::Updated)
            } else {
                None
            };
            if let Some(status) = status {
                events.push((key, status));
            }
        }
        events
    }

    /// Builds the index of `day`: O(devices x slots), no per-row storage.
    pub(crate) fn build_index(&self, day: u32) -> DayIndex {
        let mut index = DayIndex {
            day,
            present: Vec::new(),
            n_listed: 0,
            row_ends: Vec::new(),
            event_ends: Vec::new(),
        };
        let (mut rows, mut events) = (0u64, 0u64);
        for position in 0..self.universe() {
            if !self.is_present(position, day) {
                continue;
            }
            rows += self.export_slots(position, day).len() as u64;
            events += self.events(position, day).len() as u64;
            index.present.push(position);
            index.row_ends.push(rows);
            index.event_ends.push(events);
            if !self.is_orphan(position) {
                index.n_listed += 1;
            }
        }
        index
    }

    /// Counts of `day`, for tests and for the benchmark's expectations.
    pub fn summary(&self, day: u32) -> TenantSummary {
        let index = self.build_index(day);
        let mut summary = TenantSummary {
            devices: index.n_listed as u64,
            orphans: (index.present.len() - index.n_listed) as u64,
            devices_without_rows: 0,
            export_rows: index.n_rows(),
            duplicate_rows: 0,
            change_events: index.n_events(),
        };
        for position in &index.present {
            let live = self.live_slots(*position, day).len() as u64;
            let exported = self.export_slots(*position, day).len() as u64;
            summary.duplicate_rows += exported - live;
            if live == 0 {
                summary.devices_without_rows += 1;
            }
        }
        summary
    }

    /// Ids of the devices `/api/machines` lists on `day`, in order.
    pub fn device_ids(&self, day: u32) -> Vec<String> {
        (0..self.n_devices)
            .filter(|position| self.is_present(*position, day))
            .map(|position| records::device_id(self.seed, position))
            .collect()
    }

    /// Ids of the full export's rows on `day`, in order, duplicates included.
    pub fn export_row_ids(&self, day: u32) -> Vec<String> {
        let mut ids = Vec::new();
        for position in 0..self.universe() {
            let profile = DeviceProfile::generate(self.seed, position);
            for key in self.export_slots(position, day) {
                ids.push(vulns::row_id(self, &profile, position, key));
            }
        }
        ids
    }

    /// Ids and statuses of the change events that led into `day`, in order.
    pub fn change_row_ids(&self, day: u32) -> Vec<(String, ChangeStatus)> {
        let mut changes = Vec::new();
        for position in 0..self.universe() {
            let profile = DeviceProfile::generate(self.seed, position);
            for (key, status) in self.events(position, day) {
                changes.push((vulns::row_id(self, &profile, position, key), status));
            }
        }
        changes
    }

    /// Ids of the vulnerability catalog, in order.
    pub fn catalog_ids(&self) -> Vec<String> {
        (0..self.n_cves)
            .map(|index| vulns::cve_id(self.seed, index))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_zero_has_m_rows_per_device_with_rows_plus_duplicates() {
        let tenant = SyntheticTenant::new(5, 300, 6);
        let summary = tenant.summary(0);
        assert_eq!(summary.devices, 300);
        assert_eq!(summary.orphans, 3);
        let with_rows = summary.devices + summary.orphans - summary.devices_without_rows;
        assert_eq!(summary.export_rows, with_rows * 6 + summary.duplicate_rows);
        assert!(summary.devices_without_rows > 0 && summary.duplicate_rows > 0);
        assert_eq!(summary.change_events, 0);
        assert_eq!(tenant.export_row_ids(0).len() as u64, summary.export_rows);
    }

    #[test]
    fn rows_are_unique_apart_from_the_deliberate_duplicates() {
        let tenant = SyntheticTenant::new(2, 120, 8);
        for day in [0, 3] {
            let ids = tenant.export_row_ids(day);
            let mut unique = ids.clone();
            unique.sort();
            unique.dedup();
            let duplicates = tenant.summary(day).duplicate_rows as usize;
            assert_eq!(ids.len() - unique.len(), duplicates);
        }
    }

    #[test]
    fn a_day_changes_the_tenant_by_exactly_its_events() {
        let tenant = SyntheticTenant::new(11, 400, 10);
        let before = tenant.summary(0);
        let after = tenant.summary(1);
        assert!(after.devices < before.devices, "some devices disappear");
        let changes = tenant.change_row_ids(1);
        let count = |status| changes.iter().filter(|(_, s)| *s == status).count();
        assert!(count(ChangeStatus::New) > 0);
        assert!(count(ChangeStatus::Fixed) > count(ChangeStatus::New));
        assert!(count(ChangeStatus::Updated) > 0);

        // Rows of day 1 = rows of day 0 on surviving devices - fixed + new.
        let mut surviving = 0;
        for position in 0..tenant.universe() {
            if tenant.is_present(position, 1) {
                surviving += tenant.live_slots(position, 0).len();
            }
        }
        let live_after = after.export_rows - after.duplicate_rows;
        let expected = surviving + count(ChangeStatus::New) - count(ChangeStatus::Fixed);
        assert_eq!(live_after as usize, expected);
    }

    /// Change events into day 1 as a share of day 0's export rows.
    fn day_one_change_share(tenant: &SyntheticTenant) -> f64 {
        let rows = tenant.summary(0).export_rows;
        tenant.summary(1).change_events as f64 / rows as f64
    }

    /// Every full-export row of day 0 as the sandbox writes it.
    fn day_zero_export(tenant: &SyntheticTenant) -> Vec<u8> {
        let start: jiff::Timestamp = "2025-03-01T12:00:00Z".parse().expect("timestamp");
        let mut out = Vec::new();
        for position in 0..tenant.universe() {
            let profile = DeviceProfile::generate(tenant.seed, position);
            let context = vulns::RowContext {
                tenant,
                profile: &profile,
                position,
                days: &[start],
            };
            for key in tenant.export_slots(position, 0) {
                context.write_row(&mut out, key, 0);
            }
        }
        out
    }

    #[test]
    fn the_default_percent_draws_exactly_the_constant_rates() {
        let chances = SyntheticTenant::new(1, 10, 2).chances;
        let constants = DailyChances {
            removal: REMOVAL_CHANCE,
            fix: FIX_CHANCE,
            add: ADD_CHANCE,
            update: UPDATE_CHANCE,
        };
        assert_eq!(chances, constants);
        let rows_changed = (FIX_CHANCE + ADD_CHANCE + UPDATE_CHANCE) * 100.0;
        assert!((rows_changed - DEFAULT_DAILY_CHANGE_PERCENT).abs() < 1e-9);
    }

    #[test]
    fn one_percent_changes_about_one_percent_of_rows_a_day() {
        let tenant = SyntheticTenant::new(7, 2_000, 20).with_daily_change_percent(1.0);
        let share = day_one_change_share(&tenant);
        assert!((0.006..=0.016).contains(&share), "share {share}");
        let changes = tenant.change_row_ids(1);
        for status in [
            ChangeStatus::New,
            ChangeStatus::Fixed,
            ChangeStatus::Updated,
        ] {
            assert!(
                changes.iter().any(|(_, seen)| *seen == status),
                "{status:?}"
            );
        }
    }

    #[test]
    fn the_change_share_follows_the_percent() {
        let small = SyntheticTenant::new(7, 400, 20).with_daily_change_percent(1.0);
        let default = SyntheticTenant::new(7, 400, 20);
        let (small, default) = (day_one_change_share(&small), day_one_change_share(&default));
        assert!((0.08..=0.12).contains(&default), "share {default}");
        assert!(small * 5.0 < default, "1%: {small}, 10%: {default}");
    }

    #[test]
    fn zero_percent_freezes_the_tenant_after_day_zero() {
        let tenant = SyntheticTenant::new(7, 300, 10).with_daily_change_percent(0.0);
        for day in [1, 5] {
            assert_eq!(tenant.summary(day).change_events, 0);
            assert!(tenant.change_row_ids(day).is_empty());
            assert_eq!(tenant.device_ids(day), tenant.device_ids(0));
            assert_eq!(tenant.export_row_ids(day), tenant.export_row_ids(0));
        }
    }

    #[test]
    fn day_zero_does_not_depend_on_the_percent() {
        let one = SyntheticTenant::new(7, 300, 10).with_daily_change_percent(1.0);
        let ten = SyntheticTenant::new(7, 300, 10).with_daily_change_percent(10.0);
        assert_eq!(one.summary(0), ten.summary(0));
        assert_eq!(one.device_ids(0), ten.device_ids(0));
        assert_eq!(day_zero_export(&one), day_zero_export(&ten));
        assert_ne!(one.summary(1), ten.summary(1));
    }

    #[test]
    #[should_panic(expected = "not between 0 and 100")]
    fn a_percent_above_100_is_refused() {
        let _ = SyntheticTenant::new(7, 10, 2).with_daily_change_percent(150.0);
    }

    #[test]
    fn locate_finds_the_entry_and_the_offset_within_it() {
        let ends = [3, 3, 5, 9];
        assert_eq!(locate(&ends, 0), (0, 0));
        assert_eq!(locate(&ends, 2), (0, 2));
        assert_eq!(locate(&ends, 3), (2, 0));
        assert_eq!(locate(&ends, 8), (3, 3));
        assert_eq!(locate(&ends, 9).0, 4);
    }

    #[test]
    fn an_empty_tenant_has_nothing() {
        let summary = SyntheticTenant::new(1, 0, 20).summary(0);
        assert_eq!(
            (summary.devices, summary.orphans, summary.export_rows),
            (0, 0, 0)
        );
    }
}

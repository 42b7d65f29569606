//! When a schedule's syncs fall. A *slot* is the instant of `at` on one of
//! `days`, in `timezone`; everything here is a pure function of a schedule
//! and instants read from a [`Clock`], so tests can put "now" anywhere.
//!
//! Daylight saving: a local time the clocks skip (02:30 on a spring-forward
//! night in Berlin) runs as if the clocks had not moved yet, so it lands
//! one hour late at 03:30 local; a local time that happens twice (02:30 on a
//! fall-back night) runs once, at its first occurrence. That is jiff's
//! `compatible` disambiguation (RFC 5545's rule), and it keeps exactly one
//! slot on every scheduled day.

use inlet_core::config::{Schedule, Weekday};
use jiff::civil::{self, Date, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Where "now" comes from: the system clock, or a test's.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The real time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Why a schedule from the config cannot be turned into slots. The config
/// validation catches all of these first; they are here so that nothing
/// panics if it ever does not.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("unknown time zone `{name}`")]
    TimeZone {
        name: String,
        #[source]
        source: jiff::Error,
    },
    #[error("invalid time of day `{0}`; expected `HH:MM` (24-hour)")]
    TimeOfDay(String),
    #[error("the schedule has no days")]
    NoDays,
}

/// A schedule, ready to compute its slots.
#[derive(Debug, Clone)]
pub struct Slots {
    /// Which weekdays have a slot, indexed from Monday.
    days: [bool; 7],
    at: Time,
    zone: TimeZone,
}

/// Days searched on each side of an instant: any 7 consecutive days hold
/// every weekday, and one more on each side covers a slot that a zone's
/// offset moves across midnight.
const SEARCH_DAYS: i32 = 8;

impl Slots {
    pub fn new(schedule: &Schedule) -> Result<Self, ScheduleError> {
        let zone = TimeZone::get(&schedule.timezone).map_err(|source| ScheduleError::TimeZone {
            name: schedule.timezone.clone(),
            source,
        })?;
        let at = parse_time_of_day(&schedule.at)
            .ok_or_else(|| ScheduleError::TimeOfDay(schedule.at.clone()))?;
        if schedule.days.is_empty() {
            return Err(ScheduleError::NoDays);
        }
        let mut days = [false; 7];
        for day in &schedule.days {
            days[weekday_index(*day)] = true;
        }
        Ok(Self { days, at, zone })
    }

    /// The schedule's time zone, to show slots in local time.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The first slot strictly after `instant`; `None` only at the edge of
    /// the representable range.
    pub fn next_after(&self, instant: Timestamp) -> Option<Timestamp> {
        let today = self.local_date(instant);
        (-1..=SEARCH_DAYS)
            .filter_map(|offset| self.slot_on(shift(today, offset)?))
            .find(|slot| *slot > instant)
    }

    /// The latest slot at or before `instant`; `None` only at the edge of
    /// the representable range.
    pub fn latest_at_or_before(&self, instant: Timestamp) -> Option<Timestamp> {
        let today = self.local_date(instant);
        (-SEARCH_DAYS..=1)
            .rev()
            .filter_map(|offset| self.slot_on(shift(today, offset)?))
            .find(|slot| *slot <= instant)
    }

    /// The slot of `date`, if the schedule has one that day.
    fn slot_on(&self, date: Date) -> Option<Timestamp> {
        if !self.days[date.weekday().to_monday_zero_offset() as usize] {
            return None;
        }
        // `compatible`: a skipped time moves forward by the gap, a repeated
        // time takes its first occurrence (see the module docs).
        self.zone
            .to_ambiguous_timestamp(date.to_datetime(self.at))
            .compatible()
            .ok()
    }

    fn local_date(&self, instant: Timestamp) -> Date {
        instant.to_zoned_datetime(self.zone.clone()).date()
    }
}

/// The slot to run now, if any: the latest slot at or before now, when it is
/// later than the last slot handled. However many slots were missed, this is
/// at most one, and once it is handled nothing is due until the next slot.
/// A schedule never handled has its latest slot due.
pub fn due_slot(
    slots: &Slots,
    last_handled: Option<Timestamp>,
    clock: &dyn Clock,
) -> Option<Timestamp> {
    let latest = slots.latest_at_or_before(clock.now())?;
    match last_handled {
        Some(handled) if handled >= latest => None,
        _ => Some(latest),
    }
}

/// `HH:MM` in 24-hour form.
fn parse_time_of_day(text: &str) -> Option<Time> {
    let (hour, minute) = text.split_once(':')?;
    if hour.len() != 2 || minute.len() != 2 {
        return None;
    }
    Time::new(hour.parse().ok()?, minute.parse().ok()?, 0, 0).ok()
}

fn weekday_index(day: Weekday) -> usize {
    let civil_day = match day {
        Weekday::Mon => civil::Weekday::Monday,
        Weekday::Tue => civil::Weekday::Tuesday,
        Weekday::Wed => civil::Weekday::Wednesday,
        Weekday::Thu => civil::Weekday::Thursday,
        Weekday::Fri => civil::Weekday::Friday,
        Weekday::Sat => civil::Weekday::Saturday,
        Weekday::Sun => civil::Weekday::Sunday,
    };
    civil_day.to_monday_zero_offset() as usize
}

fn shift(date: Date, days: i32) -> Option<Date> {
    date.checked_add(jiff::Span::new().days(days)).ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A clock a test sets and moves.
    struct ManualClock(Mutex<Timestamp>);

    impl ManualClock {
        fn at(time: &str) -> Self {
            Self(Mutex::new(ts(time)))
        }

        fn set(&self, time: &str) {
            *self.0.lock().unwrap() = ts(time);
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Timestamp {
            *self.0.lock().unwrap()
        }
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn slots(days: &[Weekday], at: &str, timezone: &str) -> Slots {
        Slots::new(&Schedule {
            days: days.to_vec(),
            at: at.into(),
            timezone: timezone.into(),
        })
        .unwrap()
    }

    fn next(slots: &Slots, after: &str) -> String {
        slots.next_after(ts(after)).unwrap().to_string()
    }

    fn latest(slots: &Slots, at_or_before: &str) -> String {
        slots
            .latest_at_or_before(ts(at_or_before))
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_daily_slot_moves_to_the_next_day_once_passed() {
        let daily = slots(&Weekday::ALL, "02:00", "UTC");
        assert_eq!(next(&daily, "2026-03-02T01:59:59Z"), "2026-03-02T02:00:00Z");
        assert_eq!(
            next(&daily, "2026-03-02T02:00:00Z"),
            "2026-03-03T02:00:00Z",
            "strictly after"
        );
        assert_eq!(
            latest(&daily, "2026-03-02T02:00:00Z"),
            "2026-03-02T02:00:00Z"
        );
        assert_eq!(
            latest(&daily, "2026-03-02T01:59:59Z"),
            "2026-03-01T02:00:00Z"
        );
        assert_eq!(
            next(&daily, "2026-12-31T23:00:00Z"),
            "2027-01-01T02:00:00Z",
            "across a year"
        );
    }

    #[test]
    fn the_weekday_filter_skips_other_days_and_wraps_the_week() {
        // 2026-03-03 is a Tuesday.
        let mon_fri = slots(&[Weekday::Mon, Weekday::Fri], "23:30", "UTC");
        assert_eq!(
            next(&mon_fri, "2026-03-03T12:00:00Z"),
            "2026-03-06T23:30:00Z"
        );
        assert_eq!(
            latest(&mon_fri, "2026-03-03T12:00:00Z"),
            "2026-03-02T23:30:00Z"
        );
        assert_eq!(
            next(&mon_fri, "2026-03-07T00:00:00Z"),
            "2026-03-09T23:30:00Z",
            "Saturday waits for Monday"
        );
        let sunday = slots(&[Weekday::Sun], "00:00", "UTC");
        assert_eq!(
            latest(&sunday, "2026-03-07T23:59:59Z"),
            "2026-03-01T00:00:00Z",
            "a whole week back"
        );
    }

    #[test]
    fn slots_are_local_times_of_the_zone_and_days_are_local_days() {
        let berlin = slots(&Weekday::ALL, "02:00", "Europe/Berlin");
        assert_eq!(
            next(&berlin, "2026-01-15T00:00:00Z"),
            "2026-01-15T01:00:00Z",
            "CET"
        );
        assert_eq!(
            next(&berlin, "2026-07-14T23:00:00Z"),
            "2026-07-15T00:00:00Z",
            "CEST"
        );
        let kolkata = slots(&Weekday::ALL, "09:00", "Asia/Kolkata");
        assert_eq!(
            next(&kolkata, "2026-01-15T00:00:00Z"),
            "2026-01-15T03:30:00Z"
        );

        // Monday 00:30 in Auckland (UTC+13 in January) is Sunday in UTC.
        let auckland = slots(&[Weekday::Mon], "00:30", "Pacific/Auckland");
        assert_eq!(
            next(&auckland, "2026-01-10T00:00:00Z"),
            "2026-01-11T11:30:00Z"
        );
        let slot = auckland.next_after(ts("2026-01-10T00:00:00Z")).unwrap();
        assert_eq!(
            slot.to_zoned_datetime(auckland.zone().clone())
                .date()
                .weekday(),
            civil::Weekday::Monday
        );
    }

    #[test]
    fn a_skipped_local_time_runs_one_hour_late_that_day() {
        // Berlin springs forward on 2026-03-29: 02:00 CET becomes 03:00 CEST.
        let berlin = slots(&Weekday::ALL, "02:30", "Europe/Berlin");
        assert_eq!(
            next(&berlin, "2026-03-28T12:00:00Z"),
            "2026-03-29T01:30:00Z",
            "02:30 does not exist: 03:30 CEST"
        );
        assert_eq!(
            next(&berlin, "2026-03-29T01:30:00Z"),
            "2026-03-30T00:30:00Z"
        );
        assert_eq!(
            latest(&berlin, "2026-03-29T01:29:59Z"),
            "2026-03-28T01:30:00Z"
        );
    }

    #[test]
    fn a_repeated_local_time_runs_once_at_its_first_occurrence() {
        // Berlin falls back on 2026-10-25: 02:30 happens at 00:30Z and at 01:30Z.
        let berlin = slots(&Weekday::ALL, "02:30", "Europe/Berlin");
        assert_eq!(
            next(&berlin, "2026-10-24T12:00:00Z"),
            "2026-10-25T00:30:00Z"
        );
        assert_eq!(
            next(&berlin, "2026-10-25T00:30:00Z"),
            "2026-10-26T01:30:00Z",
            "not again at the second 02:30"
        );
        assert_eq!(
            latest(&berlin, "2026-10-25T01:45:00Z"),
            "2026-10-25T00:30:00Z"
        );
    }

    #[test]
    fn missed_slots_are_due_once_however_many_were_missed() {
        let daily = slots(&Weekday::ALL, "02:00", "UTC");
        // Last handled on Monday; the daemon was down until Thursday 10:00.
        let clock = ManualClock::at("2026-03-05T10:00:00Z");
        let monday = Some(ts("2026-03-02T02:00:00Z"));
        let due = due_slot(&daily, monday, &clock);
        assert_eq!(due, Some(ts("2026-03-05T02:00:00Z")), "only the latest");

        // Once handled (and after a restart later that day) nothing is due...
        assert_eq!(due_slot(&daily, due, &clock), None);
        clock.set("2026-03-06T01:59:59Z");
        assert_eq!(due_slot(&daily, due, &clock), None);

        // ...until the next slot.
        clock.set("2026-03-06T02:00:00Z");
        assert_eq!(
            due_slot(&daily, due, &clock),
            Some(ts("2026-03-06T02:00:00Z"))
        );
    }

    #[test]
    fn a_schedule_never_handled_has_its_latest_slot_due() {
        let weekly = slots(&[Weekday::Wed], "08:00", "America/New_York");
        let clock = ManualClock::at("2026-03-06T00:00:00Z");
        assert_eq!(
            due_slot(&weekly, None, &clock),
            Some(ts("2026-03-04T13:00:00Z"))
        );
        // A handled slot later than now (the clock was set back) is not redone.
        let later = Some(ts("2026-03-11T12:00:00Z"));
        assert_eq!(due_slot(&weekly, later, &clock), None);
    }

    #[test]
    fn bad_schedules_are_errors_not_panics() {
        let schedule = |days: Vec<Weekday>, at: &str, timezone: &str| Schedule {
            days,
            at: at.into(),
            timezone: timezone.into(),
        };
        let all = Weekday::ALL.to_vec();
        for (bad, message) in [
            (
                schedule(all.clone(), "25:00", "UTC"),
                "invalid time of day `25:00`",
            ),
            (
                schedule(all.clone(), "2:00", "UTC"),
                "invalid time of day `2:00`",
            ),
            (
                schedule(all, "02:00", "Mars/Olympus"),
                "unknown time zone `Mars/Olympus`",
            ),
            (
                schedule(Vec::new(), "02:00", "UTC"),
                "the schedule has no days",
            ),
        ] {
            let error = Slots::new(&bad).unwrap_err().to_string();
            assert!(error.starts_with(message), "{error}");
        }
    }
}

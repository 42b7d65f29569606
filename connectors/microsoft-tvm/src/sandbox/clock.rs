//! Time in the sandbox: a clock that can be pinned (`--now`) for reproducible
//! output, and the upstream's timestamp spellings (ISO with 0-7 fraction
//! digits on devices, space-separated on vulnerability rows).

use std::str::FromStr;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// Length of one delta-export batch: change data is generated every 6 hours.
pub(crate) const WINDOW_SECS: i64 = 6 * 3600;

pub(crate) const DAY_SECS: i64 = 24 * 3600;

/// The sandbox's "now": real time, or real time shifted so that the sandbox
/// started at a pinned instant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    shift: SignedDuration,
}

impl Clock {
    pub(crate) fn new(pinned_start: Option<Timestamp>) -> Self {
        let shift = match pinned_start {
            Some(start) => start.duration_since(Timestamp::now()),
            None => SignedDuration::ZERO,
        };
        Self { shift }
    }

    pub(crate) fn now(&self) -> Timestamp {
        plus(Timestamp::now(), self.shift)
    }
}

/// `at + duration`, saturating at jiff's range (never reached in practice).
pub(crate) fn plus(at: Timestamp, duration: SignedDuration) -> Timestamp {
    at.checked_add(duration).unwrap_or(at)
}

pub(crate) fn plus_millis(at: Timestamp, millis: i64) -> Timestamp {
    plus(at, SignedDuration::from_millis(millis))
}

pub(crate) fn minus_nanos(at: Timestamp, nanos: u64) -> Timestamp {
    plus(
        at,
        SignedDuration::from_nanos(-(nanos.min(i64::MAX as u64) as i64)),
    )
}

pub(crate) fn minus_secs(at: Timestamp, secs: i64) -> Timestamp {
    plus(at, SignedDuration::from_secs(-secs))
}

/// Start of the 6-hour batch (00, 06, 12 or 18 UTC) that contains `at`.
pub(crate) fn window_start(at: Timestamp) -> Timestamp {
    let secs = at.as_second();
    Timestamp::from_second(secs - secs.rem_euclid(WINDOW_SECS)).unwrap_or(at)
}

fn push_fraction(out: &mut String, nanos: i32, digits: u8) {
    if digits == 0 {
        return;
    }
    let digits = u32::from(digits.min(9));
    let value = nanos / 10_i32.pow(9 - digits);
    out.push('.');
    out.push_str(&format!("{value:0width$}", width = digits as usize));
}

/// `2023-05-04T17:40:05.684607Z`, with `digits` fraction digits (0-9).
pub(crate) fn iso(at: Timestamp, digits: u8) -> String {
    let t = TimeZone::UTC.to_datetime(at);
    let mut out = date_and_time(at, 'T');
    push_fraction(&mut out, t.subsec_nanosecond(), digits);
    out.push('Z');
    out
}

/// `YYYY-MM-DD{separator}HH:MM:SS` in UTC, without a fraction.
fn date_and_time(at: Timestamp, separator: char) -> String {
    let t = TimeZone::UTC.to_datetime(at);
    format!(
        "{:04}-{:02}-{:02}{separator}{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `2020-12-30 14:17:26`, or `2020-11-03 10:13:34.8476880` with `fraction`.
pub(crate) fn spaced(at: Timestamp, fraction: bool) -> String {
    let t = TimeZone::UTC.to_datetime(at);
    let mut out = date_and_time(at, ' ');
    if fraction {
        push_fraction(&mut out, t.subsec_nanosecond(), 7);
    }
    out
}

/// The sign-in host's `2016-01-09 02:02:12Z`.
pub(crate) fn spaced_zulu(at: Timestamp) -> String {
    let mut out = spaced(at, false);
    out.push('Z');
    out
}

/// Reads a timestamp the way upstream writes them: `T` or a space, any
/// fraction, `Z`, an offset or no zone (UTC), or a bare date (midnight UTC).
pub(crate) fn parse_loose(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(at) = Timestamp::from_str(text) {
        return Some(at);
    }
    if let Ok(civil) = DateTime::from_str(text) {
        return TimeZone::UTC.to_timestamp(civil).ok();
    }
    let date = Date::from_str(text).ok()?;
    TimeZone::UTC
        .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::from_str(text).expect("test timestamp")
    }

    #[test]
    fn formats_the_upstream_spellings() {
        let moment = at("2023-05-04T17:40:05.6846071Z");
        assert_eq!(iso(moment, 0), "2023-05-04T17:40:05Z");
        assert_eq!(iso(moment, 3), "2023-05-04T17:40:05.684Z");
        assert_eq!(iso(moment, 7), "2023-05-04T17:40:05.6846071Z");
        assert_eq!(spaced(moment, false), "2023-05-04 17:40:05");
        assert_eq!(spaced(moment, true), "2023-05-04 17:40:05.6846071");
        assert_eq!(spaced_zulu(moment), "2023-05-04 17:40:05Z");
    }

    #[test]
    fn parses_every_form_upstream_uses() {
        let expected = at("2021-05-19T18:35:49.924Z");
        assert_eq!(parse_loose("2021-05-19T18:35:49.924Z"), Some(expected));
        assert_eq!(parse_loose("2021-05-19T20:35:49.924+02:00"), Some(expected));
        assert_eq!(parse_loose("2021-05-19 18:35:49.9240000"), Some(expected));
        assert_eq!(parse_loose("2021-05-19T18:35:49.924"), Some(expected));
        assert_eq!(parse_loose("2021-01-11"), Some(at("2021-01-11T00:00:00Z")));
        assert_eq!(parse_loose("yesterday"), None);
        assert_eq!(parse_loose(""), None);
    }

    #[test]
    fn windows_start_on_six_hour_boundaries() {
        assert_eq!(
            window_start(at("2021-05-19T18:35:49Z")),
            at("2021-05-19T18:00:00Z")
        );
        assert_eq!(
            window_start(at("2021-05-19T05:59:59Z")),
            at("2021-05-19T00:00:00Z")
        );
        assert_eq!(
            window_start(at("2021-05-19T12:00:00Z")),
            at("2021-05-19T12:00:00Z")
        );
    }

    #[test]
    fn a_pinned_clock_starts_at_the_pin() {
        let pinned = at("2024-02-01T10:00:00Z");
        let now = Clock::new(Some(pinned)).now();
        assert!(now.duration_since(pinned) >= SignedDuration::ZERO);
        assert!(now.duration_since(pinned) < SignedDuration::from_secs(60));
    }
}

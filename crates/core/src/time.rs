//! Timestamps as APIs send them, read strictly into UTC instants: RFC 3339
//! (`2021-01-11T11:01:00Z`, with or without a fraction or an offset) and
//! the common near-variants (a space instead of `T`, no zone meaning UTC,
//! up to 9 fractional digits, `+HHMM` offsets).
//!
//! The parser walks bytes instead of slicing the `str`, so no input (multi-byte
//! characters included) can make it panic. Pure: no clock, no I/O.

use jiff::civil::DateTime;
use jiff::tz::Offset;
use jiff::Timestamp;

/// Most characters of an unparsable text an error quotes; upstream records
/// are untrusted and a whole page could end up in one field.
const QUOTE_MAX_CHARS: usize = 64;

/// Why a timestamp text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// The text does not have the shape `YYYY-MM-DD[T ]HH:MM:SS[.f][zone]`.
    #[error("timestamp `{text}` is malformed: expected {expected}")]
    Malformed {
        text: String,
        expected: &'static str,
    },
    /// The shape is right but the date or time does not exist (e.g. February 30).
    #[error("timestamp `{text}` names a date, time or offset that does not exist")]
    Invalid { text: String },
    /// The instant is outside the range a timestamp can hold.
    #[error("timestamp `{text}` is out of range")]
    OutOfRange { text: String },
}

/// Parses one timestamp text into a UTC instant.
///
/// Accepts `T` or one space between date and time, 0 to 9 fractional digits,
/// and an optional `Z`, `z`, `+HH:MM`, `-HH:MM`, `+HHMM` or `-HHMM`; no zone
/// means UTC. Anything else, the empty text included, is an error that says
/// what was expected where the text broke.
pub fn parse_timestamp(text: &str) -> Result<Timestamp, TimestampError> {
    let fields = Fields::read(text.as_bytes()).map_err(|expected| TimestampError::Malformed {
        text: quote(text),
        expected,
    })?;

    let invalid = |_| TimestampError::Invalid { text: quote(text) };
    let datetime = DateTime::new(
        fields.year,
        fields.month,
        fields.day,
        fields.hour,
        fields.minute,
        fields.second,
        fields.nanosecond,
    )
    .map_err(invalid)?;
    let offset = Offset::from_seconds(fields.offset_seconds).map_err(invalid)?;
    offset
        .to_timestamp(datetime)
        .map_err(|_| TimestampError::OutOfRange { text: quote(text) })
}

/// The numbers of a timestamp text, not yet checked against the calendar.
#[derive(Debug, PartialEq)]
struct Fields {
    year: i16,
    month: i8,
    day: i8,
    hour: i8,
    minute: i8,
    second: i8,
    nanosecond: i32,
    offset_seconds: i32,
}

impl Fields {
    /// Reads the whole text; the error says what was expected where it broke.
    fn read(bytes: &[u8]) -> Result<Self, &'static str> {
        let mut cursor = Cursor { bytes, at: 0 };

        let year = cursor.number(4, "a 4-digit year")?;
        cursor.expect(b'-', "`-` after the year")?;
        let month = cursor.number(2, "a 2-digit month")?;
        cursor.expect(b'-', "`-` after the month")?;
        let day = cursor.number(2, "a 2-digit day")?;

        if !(cursor.eat(b'T') || cursor.eat(b' ')) {
            return Err("`T` or a space between date and time");
        }
        let hour = cursor.number(2, "a 2-digit hour")?;
        cursor.expect(b':', "`:` after the hour")?;
        let minute = cursor.number(2, "2-digit minutes")?;
        cursor.expect(b':', "`:` after the minutes")?;
        let second = cursor.number(2, "2-digit seconds")?;

        let nanosecond = if cursor.eat(b'.') {
            cursor.fraction()?
        } else {
            0
        };
        let offset_seconds = cursor.zone()?;
        if !cursor.at_end() {
            return Err("the end of the text after the time and zone");
        }

        // Each number has at most 4 digits, so every narrowing below is exact.
        Ok(Fields {
            year: year as i16,
            month: month as i8,
            day: day as i8,
            hour: hour as i8,
            minute: minute as i8,
            second: second as i8,
            nanosecond,
            offset_seconds,
        })
    }
}

/// A position in the text's bytes. Only ASCII bytes are ever matched, so a
/// multi-byte character simply fails the next expectation.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Consumes `byte` when it is next.
    fn eat(&mut self, byte: u8) -> bool {
        let matched = self.peek() == Some(byte);
        if matched {
            self.at += 1;
        }
        matched
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), &'static str> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(expected)
        }
    }

    /// Exactly `count` ASCII digits as a number.
    fn number(&mut self, count: usize, expected: &'static str) -> Result<i32, &'static str> {
        let mut value = 0;
        for _ in 0..count {
            match self.peek() {
                Some(digit @ b'0'..=b'9') => {
                    value = value * 10 + i32::from(digit - b'0');
                    self.at += 1;
                }
                _ => return Err(expected),
            }
        }
        Ok(value)
    }

    /// The digits after a `.`, 1 to 9 of them, as nanoseconds.
    fn fraction(&mut self) -> Result<i32, &'static str> {
        let mut value = 0;
        let mut count: u32 = 0;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            count += 1;
            if count > 9 {
                return Err("at most 9 fractional digits");
            }
            value = value * 10 + i32::from(digit - b'0');
            self.at += 1;
        }
        if count == 0 {
            return Err("digits after `.`");
        }
        Ok(value * 10_i32.pow(9 - count))
    }

    /// An optional zone: nothing (UTC), `Z`/`z`, or a signed `HH:MM`/`HHMM`
    /// offset, as seconds east of UTC.
    fn zone(&mut self) -> Result<i32, &'static str> {
        if self.at_end() || self.eat(b'Z') || self.eat(b'z') {
            return Ok(0);
        }
        let sign = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return Err("`Z` or a `+HH:MM`/`-HH:MM` offset after the time");
        };
        let hours = self.number(2, "2-digit offset hours")?;
        self.eat(b':');
        let minutes = self.number(2, "2-digit offset minutes")?;
        if minutes >= 60 {
            return Err("offset minutes below 60");
        }
        Ok(sign * (hours * 3600 + minutes * 60))
    }
}

/// The start of `text` for an error message, cut at a character boundary.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_MAX_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn instant(rfc3339: &str) -> Timestamp {
        rfc3339.parse().expect("test timestamp is RFC 3339")
    }

    #[test]
    fn accepts_rfc3339_and_its_near_variants() {
        let cases = [
            (
                "2018-08-02T14:55:03.7791856Z",
                "2018-08-02T14:55:03.7791856Z",
            ),
            ("2020-12-30 14:17:26", "2020-12-30T14:17:26Z"),
            ("2020-11-03 10:13:34.8476880", "2020-11-03T10:13:34.847688Z"),
            ("2021-01-11T11:06:08.291Z", "2021-01-11T11:06:08.291Z"),
            (
                "2023-05-04T17:40:05.123456789Z",
                "2023-05-04T17:40:05.123456789Z",
            ),
            ("2021-01-11T11:01:00Z", "2021-01-11T11:01:00Z"),
            ("2016-01-09 02:02:12Z", "2016-01-09T02:02:12Z"),
            ("2021-01-11T11:01:00z", "2021-01-11T11:01:00Z"),
            ("2021-01-11T13:01:00+02:00", "2021-01-11T11:01:00Z"),
            ("2021-01-11T05:31:00.5-0530", "2021-01-11T11:01:00.5Z"),
            ("2021-01-11T11:01:00-00:00", "2021-01-11T11:01:00Z"),
            ("2024-02-29 00:00:00", "2024-02-29T00:00:00Z"),
            ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
            ("1970-01-01T00:00:00.000000000Z", "1970-01-01T00:00:00Z"),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_timestamp(text), Ok(instant(expected)), "{text}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        let cases = [
            ("", "a 4-digit year"),
            ("garbage", "a 4-digit year"),
            (" 2020-12-30 14:17:26", "a 4-digit year"),
            (
                "2020-12-30 14:17:26 ",
                "`Z` or a `+HH:MM`/`-HH:MM` offset after the time",
            ),
            ("2020-12-30  14:17:26", "a 2-digit hour"),
            ("2020-12-30", "`T` or a space between date and time"),
            (
                "2021-01-11t11:01:00z",
                "`T` or a space between date and time",
            ),
            ("2020-12-30T14:17", "`:` after the minutes"),
            ("2020-12-30T14:17:26.", "digits after `.`"),
            (
                "2020-12-30T14:17:26.1234567891Z",
                "at most 9 fractional digits",
            ),
            ("2020-12-30T14:17:26+02", "2-digit offset minutes"),
            ("2020-12-30T14:17:26+02:60", "offset minutes below 60"),
            (
                "2020-12-30T14:17:26ZZ",
                "the end of the text after the time and zone",
            ),
            (
                "2020-12-30T14:17:26 UTC",
                "`Z` or a `+HH:MM`/`-HH:MM` offset after the time",
            ),
            ("20201230T141726Z", "`-` after the year"),
            ("２０２０-12-30T14:17:26Z", "a 4-digit year"),
            ("2020-12-30T14:17:2é", "2-digit seconds"),
            (
                "2020-12-30T14:17:26Zé",
                "the end of the text after the time and zone",
            ),
        ];
        for (text, expected) in cases {
            let error = TimestampError::Malformed {
                text: text.to_owned(),
                expected,
            };
            assert_eq!(parse_timestamp(text), Err(error), "{text:?}");
        }
    }

    #[test]
    fn rejects_dates_and_times_that_do_not_exist() {
        for text in [
            "2021-02-29 00:00:00",
            "2021-13-01 00:00:00",
            "2021-01-01 24:00:00",
            "2021-01-01 23:59:60",
            "2021-01-01T00:00:00+26:00",
        ] {
            let error = TimestampError::Invalid {
                text: text.to_owned(),
            };
            assert_eq!(parse_timestamp(text), Err(error), "{text}");
        }
    }

    #[test]
    fn rejects_instants_out_of_range() {
        let text = "9999-12-31T23:59:59-23:00";
        assert_eq!(
            parse_timestamp(text),
            Err(TimestampError::OutOfRange {
                text: text.to_owned()
            })
        );
    }

    #[test]
    fn messages_quote_the_text_and_say_what_was_expected() {
        let cases = [
            (
                "2020-12-30T14:17",
                "timestamp `2020-12-30T14:17` is malformed: expected `:` after the minutes",
            ),
            (
                "2021-02-29 00:00:00",
                "timestamp `2021-02-29 00:00:00` names a date, time or offset that does not exist",
            ),
            (
                "9999-12-31T23:59:59-23:00",
                "timestamp `9999-12-31T23:59:59-23:00` is out of range",
            ),
        ];
        for (text, message) in cases {
            let error = parse_timestamp(text).expect_err(text);
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn errors_quote_a_bounded_prefix() {
        let text = "é".repeat(200);
        let error = parse_timestamp(&text).expect_err("not a timestamp");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("timestamp `{}...`", "é".repeat(64))),
            "{message}"
        );
    }

    /// Timestamp-shaped texts with digits anywhere, up to 11 fractional
    /// digits and odd zones.
    const NEAR_TIMESTAMP: &str = concat!(
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}",
        "(\\.[0-9]{0,11})?([Zz]|[+-][0-9]{2}:?[0-9]{2}|é)?",
    );

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn never_panics_on_any_text(text in any::<String>()) {
            // Every accepted character is ASCII, so nothing else can parse.
            if parse_timestamp(&text).is_ok() {
                prop_assert!(text.is_ascii());
            }
        }

        #[test]
        fn never_panics_on_near_timestamps(text in NEAR_TIMESTAMP) {
            // Every well-formed text either parses or names its problem.
            match parse_timestamp(&text) {
                Ok(_) => {}
                Err(error) => prop_assert!(error.to_string().contains(&text)),
            }
        }

        #[test]
        fn round_trips_valid_instants(
            // From the start of year 1 to the latest instant jiff holds.
            seconds in -62_135_596_800_i64..=253_402_207_200,
            nanos in 0_i32..1_000_000_000,
        ) {
            let timestamp = Timestamp::new(seconds, nanos);
            prop_assume!(timestamp.is_ok());
            let timestamp = timestamp.expect("checked above");
            let text = timestamp.to_string();
            prop_assert_eq!(parse_timestamp(&text), Ok(timestamp));
        }
    }
}

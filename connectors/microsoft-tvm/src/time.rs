//! The upstream's timestamp forms. Devices carry ISO 8601 with `Z` and 0-7
//! fractional digits; vulnerability rows carry `2020-12-30 14:17:26` (a space,
//! no zone); deltas have used both. [`inlet_core::time`] reads all of them;
//! this module adds what is Defender's: the empty text and the .NET "unset"
//! value (year 1) are unknown, not errors.

use inlet_core::time;
use jiff::Timestamp;

pub use inlet_core::time::TimestampError;

/// Parses one upstream timestamp into a UTC instant.
///
/// Accepts what [`inlet_core::time::parse_timestamp`] does: `T` or one space
/// between date and time, 0 to 9 fractional digits, and an optional `Z`,
/// `z`, `+HH:MM`, `-HH:MM`, `+HHMM` or `-HHMM`; no zone means UTC. The empty
/// string and well-formed year-1 texts (`0001-01-01...`) are unknown:
/// `Ok(None)`. Anything else is an error.
pub fn parse_timestamp(text: &str) -> Result<Option<Timestamp>, TimestampError> {
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = time::parse_timestamp(text);

    // .NET serializes an unset DateTime as 0001-01-01T00:00:00; Defender uses
    // it for "never", so it is not a real instant. Only a text of the right
    // shape counts: a malformed one stays an error.
    let well_formed = !matches!(parsed, Err(TimestampError::Malformed { .. }));
    if well_formed && text.starts_with("0001") {
        return Ok(None);
    }
    parsed.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn instant(rfc3339: &str) -> Option<Timestamp> {
        Some(rfc3339.parse().expect("test timestamp is RFC 3339"))
    }

    #[test]
    fn accepts_every_upstream_form() {
        let cases = [
            (
                "2018-08-02T14:55:03.7791856Z",
                "2018-08-02T14:55:03.7791856Z",
            ),
            ("2020-12-30 14:17:26", "2020-12-30T14:17:26Z"),
            ("2020-11-03 10:13:34.8476880", "2020-11-03T10:13:34.847688Z"),
            ("2021-01-11T11:06:08.291Z", "2021-01-11T11:06:08.291Z"),
            ("2016-01-09 02:02:12Z", "2016-01-09T02:02:12Z"),
            ("2021-01-11T13:01:00+02:00", "2021-01-11T11:01:00Z"),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_timestamp(text), Ok(instant(expected)), "{text}");
        }
    }

    #[test]
    fn year_one_and_empty_are_unknown() {
        for text in [
            "",
            "0001-01-01T00:00:00Z",
            "0001-01-01 00:00:00",
            "0001-01-01T00:00:00.0000000+05:00",
            "0001-02-30T00:00:00Z",
        ] {
            assert_eq!(parse_timestamp(text), Ok(None), "{text:?}");
        }
    }

    #[test]
    fn malformed_year_one_and_other_errors_stay_errors() {
        let cases = [
            (
                "0001-01-01",
                TimestampError::Malformed {
                    text: "0001-01-01".into(),
                    expected: "`T` or a space between date and time",
                },
            ),
            (
                " 2020-12-30 14:17:26",
                TimestampError::Malformed {
                    text: " 2020-12-30 14:17:26".into(),
                    expected: "a 4-digit year",
                },
            ),
            (
                "2021-02-29 00:00:00",
                TimestampError::Invalid {
                    text: "2021-02-29 00:00:00".into(),
                },
            ),
            (
                "9999-12-31T23:59:59-23:00",
                TimestampError::OutOfRange {
                    text: "9999-12-31T23:59:59-23:00".into(),
                },
            ),
        ];
        for (text, error) in cases {
            assert_eq!(parse_timestamp(text), Err(error), "{text:?}");
        }
    }

    /// Timestamp-shaped texts, often of year 1, sometimes broken.
    const NEAR_TIMESTAMP: &str = concat!(
        "(0001|[0-9]{4})-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?",
        "(\\.[0-9]{0,8})?([Zz]|[+-][0-9]{2}:?[0-9]{2}|x)?",
    );

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn only_year_one_and_empty_differ_from_the_core_parser(text in NEAR_TIMESTAMP) {
            let core = time::parse_timestamp(&text);
            match parse_timestamp(&text) {
                Ok(None) => {
                    prop_assert!(text.starts_with("0001"));
                    let malformed = matches!(core, Err(TimestampError::Malformed { .. }));
                    prop_assert!(!malformed, "{:?}", core);
                }
                other => prop_assert_eq!(other, core.map(Some)),
            }
        }
    }
}

//! A finding's severity: the CVSS base score decides when it is usable, else
//! Defender's own label, else nothing. `cvssScore` has been documented as a
//! number and as a string, so both are read.

use inlet_core::{MappingWarning, Severity, SeveritySource};

use super::records::Scalar;
use super::{CVSS_OUT_OF_RANGE, CVSS_UNPARSABLE};

/// The severity fields of a finding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rating {
    pub severity: Severity,
    pub source: Option<SeveritySource>,
    pub cvss_score: Option<f64>,
}

/// Rates a row from its `cvssScore` and `vulnerabilitySeverityLevel`.
pub(crate) fn rate(
    cvss_score: &Scalar<'_>,
    vendor_level: Option<&str>,
    warnings: &mut Vec<MappingWarning>,
) -> Rating {
    if let Some(score) = usable_score(cvss_score, warnings) {
        // `usable_score` only returns scores inside 0.0..=10.0.
        let severity = Severity::from_cvss(score).unwrap_or(Severity::None);
        return Rating {
            severity,
            source: Some(SeveritySource::Cvss),
            cvss_score: Some(score),
        };
    }
    match vendor_level.and_then(vendor_severity) {
        Some(severity) => Rating {
            severity,
            source: Some(SeveritySource::Vendor),
            cvss_score: None,
        },
        None => Rating {
            severity: Severity::None,
            source: None,
            cvss_score: None,
        },
    }
}

/// The score when it is a number (or numeric string) within 0.0..=10.0. An
/// empty string counts as absent; any other unusable value is absent too,
/// with a warning.
fn usable_score(field: &Scalar<'_>, warnings: &mut Vec<MappingWarning>) -> Option<f64> {
    let score = match field {
        Scalar::Missing => return None,
        Scalar::Number(number) => number.as_f64(),
        Scalar::Text(text) if text.trim().is_empty() => return None,
        // `f64::from_str` also reads "NaN" and "inf", which are no scores.
        Scalar::Text(text) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|score| score.is_finite()),
        _ => None,
    };
    let Some(score) = score else {
        warnings.push(CVSS_UNPARSABLE);
        return None;
    };
    if !(0.0..=10.0).contains(&score) {
        warnings.push(CVSS_OUT_OF_RANGE);
        return None;
    }
    // Adding zero turns -0.0 into 0.0, so it exports as `0.0`.
    Some(score + 0.0)
}

/// Defender's label, any case; other labels (e.g. `None`) give no severity.
fn vendor_severity(level: &str) -> Option<Severity> {
    let level = level.trim();
    [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ]
    .into_iter()
    .find(|severity| severity.as_str().eq_ignore_ascii_case(level))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(value: f64) -> Scalar<'static> {
        Scalar::Number(serde_json::Number::from_f64(value).expect("finite"))
    }

    fn text(value: &'static str) -> Scalar<'static> {
        Scalar::Text(value.into())
    }

    fn by_cvss(severity: Severity, score: f64) -> (Rating, Vec<MappingWarning>) {
        let rating = Rating {
            severity,
            source: Some(SeveritySource::Cvss),
            cvss_score: Some(score),
        };
        (rating, Vec::new())
    }

    fn unrated(warnings: Vec<MappingWarning>) -> (Rating, Vec<MappingWarning>) {
        (
            Rating {
                severity: Severity::None,
                source: None,
                cvss_score: None,
            },
            warnings,
        )
    }

    fn by_vendor(
        severity: Severity,
        warnings: Vec<MappingWarning>,
    ) -> (Rating, Vec<MappingWarning>) {
        let rating = Rating {
            severity,
            source: Some(SeveritySource::Vendor),
            cvss_score: None,
        };
        (rating, warnings)
    }

    #[test]
    fn scores_decide_at_every_boundary() {
        let cases = [
            (number(10.0), by_cvss(Severity::Critical, 10.0)),
            (number(9.0), by_cvss(Severity::Critical, 9.0)),
            (number(8.9), by_cvss(Severity::High, 8.9)),
            (number(7.0), by_cvss(Severity::High, 7.0)),
            (number(6.9), by_cvss(Severity::Medium, 6.9)),
            (number(4.0), by_cvss(Severity::Medium, 4.0)),
            (number(3.9), by_cvss(Severity::Low, 3.9)),
            (number(0.1), by_cvss(Severity::Low, 0.1)),
            (number(0.0), by_cvss(Severity::None, 0.0)),
            (number(-0.0), by_cvss(Severity::None, 0.0)),
            (Scalar::Number(7.into()), by_cvss(Severity::High, 7.0)),
            (text("7.5"), by_cvss(Severity::High, 7.5)),
            (text(" 9 "), by_cvss(Severity::Critical, 9.0)),
            (text("0"), by_cvss(Severity::None, 0.0)),
            (Scalar::Missing, unrated(vec![])),
            (text(""), unrated(vec![])),
            (text("high"), unrated(vec![CVSS_UNPARSABLE])),
            (text("NaN"), unrated(vec![CVSS_UNPARSABLE])),
            (text("inf"), unrated(vec![CVSS_UNPARSABLE])),
            (Scalar::Bool(true), unrated(vec![CVSS_UNPARSABLE])),
            (Scalar::Array, unrated(vec![CVSS_UNPARSABLE])),
            (number(10.5), unrated(vec![CVSS_OUT_OF_RANGE])),
            (text("10.5"), unrated(vec![CVSS_OUT_OF_RANGE])),
            (
                Scalar::Number((-1).into()),
                unrated(vec![CVSS_OUT_OF_RANGE]),
            ),
            (number(-0.1), unrated(vec![CVSS_OUT_OF_RANGE])),
        ];
        for (score, expected) in cases {
            let mut warnings = Vec::new();
            let rating = rate(&score, None, &mut warnings);
            assert_eq!((rating, warnings), expected, "cvssScore {score:?}");
        }
    }

    #[test]
    fn the_vendor_label_decides_without_a_usable_score() {
        let cases = [
            (
                Scalar::Missing,
                Some("Critical"),
                by_vendor(Severity::Critical, vec![]),
            ),
            (
                Scalar::Missing,
                Some("HIGH"),
                by_vendor(Severity::High, vec![]),
            ),
            (
                Scalar::Missing,
                Some("mEdIuM"),
                by_vendor(Severity::Medium, vec![]),
            ),
            (
                Scalar::Missing,
                Some(" low "),
                by_vendor(Severity::Low, vec![]),
            ),
            (Scalar::Missing, Some("None"), unrated(vec![])),
            (Scalar::Missing, Some("Important"), unrated(vec![])),
            (Scalar::Missing, Some(""), unrated(vec![])),
            (
                text("x"),
                Some("high"),
                by_vendor(Severity::High, vec![CVSS_UNPARSABLE]),
            ),
            (
                number(11.0),
                Some("Low"),
                by_vendor(Severity::Low, vec![CVSS_OUT_OF_RANGE]),
            ),
            (number(2.0), Some("Critical"), by_cvss(Severity::Low, 2.0)),
        ];
        for (score, level, expected) in cases {
            let mut warnings = Vec::new();
            let rating = rate(&score, level, &mut warnings);
            assert_eq!(
                (rating, warnings),
                expected,
                "cvssScore {score:?}, level {level:?}"
            );
        }
    }
}

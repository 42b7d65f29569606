//! Scenario 10: no secret leaves the connector. Two syncs run with their
//! logs captured at TRACE; then the logs, the store's files and the JSON of
//! every record are searched for the config's secrets and for every bearer
//! token the sandbox issued.

use super::expect::{first_day, succeeded, Result};
use crate::error::ensure;
use crate::harness::{write_days, Harness};
use crate::leaks::{store_evidence, with_captured_logs, Evidence, LOGS_PLACE};
use crate::upstream::{cve, device_id, ConformanceUpstream};

/// What the engine logs when a sync begins: proof the capture worked.
const SYNC_STARTED: &str = "sync started";

/// 10. A secret never reaches a log, the store, an exported record or the
///     instance's `Debug` output.
pub async fn secrets_never_leak(upstream: &dyn ConformanceUpstream) -> Result<()> {
    // Two days, so the syncs also reconcile (archive and fix).
    let day = first_day(upstream);
    let changed = day
        .without_device(&device_id(3))
        .without_vulnerability(&device_id(1), &cve(2));
    let fixtures = write_days(upstream, &[day, changed])?;
    let evidence = with_captured_logs(fixtures, sync_two_days).await?;

    let logs = evidence.bytes_of(LOGS_PLACE).unwrap_or_default();
    let logs = String::from_utf8_lossy(logs);
    ensure!(
        logs.contains(SYNC_STARTED),
        "the captured logs lack the engine's `{SYNC_STARTED}` line, so the capture missed the sync"
    );

    let secrets = upstream.secret_values(&evidence.config);
    let n_empty = secrets.iter().filter(|secret| secret.is_empty()).count();
    ensure!(
        !secrets.is_empty() && n_empty == 0,
        "secret_values() must return every secret of the sandbox's config, none empty; it \
         returned {} values, {n_empty} of them empty",
        secrets.len()
    );
    let mut needles = labelled("secret value", &secrets);
    needles.extend(labelled("issued bearer token", &evidence.credentials));
    let leaks = evidence.leaks(&needles);
    ensure!(leaks.is_empty(), "secrets leaked: {}", leaks.join("; "));
    Ok(())
}

/// `values` with a label each that names them without quoting them.
fn labelled(kind: &str, values: &[String]) -> Vec<(String, String)> {
    let numbered = values.iter().enumerate();
    let labelled = numbered.map(|(index, value)| (format!("{kind} #{}", index + 1), value.clone()));
    labelled.collect()
}

/// Runs on the log-capturing thread: two syncs, then everything to search.
async fn sync_two_days(harness: Harness) -> Result<Evidence> {
    let mut evidence = Evidence::default();
    for day in 1..=2 {
        if day > 1 {
            harness.advance().await?;
        }
        let report = harness.sync().await?;
        succeeded(&report, &format!("sync {day}"))?;
        evidence.add(
            format!("the Debug output of sync {day}'s report"),
            format!("{report:?}"),
        );
    }
    store_evidence(&harness, &mut evidence)?;
    evidence.config = harness.config.clone();
    evidence.credentials = harness.issued_credentials();
    harness.shutdown().await;
    Ok(evidence)
}

//! Named points in a sync where an end-to-end test can freeze the process and
//! then kill it with SIGKILL, to prove a crash at that exact moment leaves a
//! store that opens and a next sync that converges.
//!
//! `INLET_TEST_STOP_AT=POINT:N` freezes the process the Nth time it reaches
//! POINT, after printing `inlet: stopped at POINT:N` on stderr. Without the
//! variable a point costs one relaxed atomic load. The points:
//! `batch` (a handed-over batch was stored), `fetched` (every page stored,
//! before reconciling), `reconcile` (one reconciliation transaction committed)
//! and `reconciled` (reconciliation done, before the run is recorded).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

const VARIABLE: &str = "INLET_TEST_STOP_AT";

static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
static HITS: AtomicU64 = AtomicU64::new(0);

fn target() -> Option<&'static (String, u64)> {
    TARGET
        .get_or_init(|| {
            let value = std::env::var(VARIABLE).ok()?;
            let (point, count) = value.split_once(':')?;
            Some((point.to_string(), count.parse().ok()?))
        })
        .as_ref()
}

/// Marks that the sync reached `point`; freezes here when a test asked to.
pub fn reached(point: &str) {
    let Some((wanted, count)) = target() else {
        return;
    };
    if wanted != point {
        return;
    }
    if HITS.fetch_add(1, Ordering::SeqCst) + 1 == *count {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "inlet: stopped at {point}:{count}");
        let _ = stderr.flush();
        loop {
            std::thread::park();
        }
    }
}

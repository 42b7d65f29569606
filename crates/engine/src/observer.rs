//! What a sync tells whoever watches it: the runner's progress display on a
//! terminal, periodic log lines elsewhere, or nothing.

/// The streams a connector hands over, as progress shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Assets,
    Findings,
    FindingChanges,
    Reference,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assets => "assets",
            Self::Findings => "findings",
            Self::FindingChanges => "finding changes",
            Self::Reference => "reference",
        }
    }
}

/// Hooks called as a sync goes; every method defaults to doing nothing.
pub trait SyncObserver: Send + Sync {
    /// A batch of `n_records` records of `stream` was stored.
    fn batch_stored(&self, _stream: Stream, _n_records: usize) {}

    /// Every page arrived; reconciliation starts.
    fn reconciling(&self) {}

    /// A reconciliation transaction of `n_keys` keys was committed.
    fn reconcile_committed(&self, _n_keys: u64) {}

    /// The sync ended, whatever its outcome.
    fn finished(&self) {}
}

/// An observer that watches nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unobserved;

impl SyncObserver for Unobserved {}

//! Injected faults (`--fault`): which API call or export page misbehaves and
//! how. Decisions depend only on call counters and the seed, so a run with
//! the same requests in the same order fails the same way.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;

use super::body::Cut;
use super::mix::Draw;
use super::options::Fault;
use super::tenant::tag;

/// The faults switched on, gathered from the `--fault` list.
#[derive(Debug, Clone, Default)]
pub(crate) struct FaultPlan {
    throttle_every: Option<u64>,
    quota_exhausted: bool,
    error_share: Option<f64>,
    truncate_pages: Vec<u64>,
    reset_pages: Vec<u64>,
    empty_pages: Vec<u64>,
    slow_pages: Vec<u64>,
    pub(crate) token_ttl_secs: Option<u64>,
    pub(crate) foreign_next_link: bool,
}

impl FaultPlan {
    pub(crate) fn new(faults: &[Fault]) -> Self {
        let mut plan = Self::default();
        for fault in faults {
            match *fault {
                Fault::Throttle { every } => plan.throttle_every = Some(every),
                Fault::QuotaExhausted => plan.quota_exhausted = true,
                Fault::ErrorRate { share } => plan.error_share = Some(share),
                Fault::TruncatePage { page } => plan.truncate_pages.push(page),
                Fault::ResetPage { page } => plan.reset_pages.push(page),
                Fault::EmptyPage { page } => plan.empty_pages.push(page),
                Fault::SlowPage { page } => plan.slow_pages.push(page),
                Fault::TokenTtl { secs } => plan.token_ttl_secs = Some(secs),
                Fault::ForeignNextLink => plan.foreign_next_link = true,
            }
        }
        plan
    }
}

/// What a fault does to one API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallFault {
    /// The hourly-quota 429 (`quota-exhausted`).
    QuotaExhausted,
    /// The per-minute 429 with `Retry-After: 1` (`throttle=N`).
    Throttled,
    /// A 5xx (`error-rate=P`).
    ServerError(StatusCode),
}

/// What a fault does to one export page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageFault {
    Empty,
    Cut(Cut),
    /// The body stalls after the headers, past a client's read timeout.
    Slow,
}

/// The plan plus the counters it is evaluated against.
#[derive(Debug)]
pub(crate) struct Faults {
    pub(crate) plan: FaultPlan,
    seed: u64,
    api_calls: AtomicU64,
    export_pages: AtomicU64,
}

const SERVER_ERRORS: [StatusCode; 3] = [
    StatusCode::INTERNAL_SERVER_ERROR,
    StatusCode::BAD_GATEWAY,
    StatusCode::SERVICE_UNAVAILABLE,
];

impl Faults {
    pub(crate) fn new(plan: FaultPlan, seed: u64) -> Self {
        Self {
            plan,
            seed,
            api_calls: AtomicU64::new(0),
            export_pages: AtomicU64::new(0),
        }
    }

    /// Counts an authorized API call and says whether a fault answers it.
    pub(crate) fn on_api_call(&self) -> Option<CallFault> {
        let call = self.api_calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.plan.quota_exhausted {
            return Some(CallFault::QuotaExhausted);
        }
        if self
            .plan
            .throttle_every
            .is_some_and(|every| call % every == 0)
        {
            return Some(CallFault::Throttled);
        }
        let share = self.plan.error_share?;
        let mut draw = Draw::new(self.seed, &[tag::ERROR_RATE, call]);
        draw.chance(share)
            .then(|| CallFault::ServerError(*draw.pick(&SERVER_ERRORS)))
    }

    /// Counts a vulnerability-export page about to be served (full or delta)
    /// and says whether a fault spoils it. Each page number comes once, so
    /// each page fault fires once.
    pub(crate) fn on_export_page(&self) -> Option<PageFault> {
        let page = self.export_pages.fetch_add(1, Ordering::SeqCst) + 1;
        let plan = &self.plan;
        if plan.empty_pages.contains(&page) {
            Some(PageFault::Empty)
        } else if plan.truncate_pages.contains(&page) {
            Some(PageFault::Cut(Cut::Truncate))
        } else if plan.reset_pages.contains(&page) {
            Some(PageFault::Cut(Cut::Reset))
        } else if plan.slow_pages.contains(&page) {
            Some(PageFault::Slow)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_hits_every_nth_call() {
        let faults = Faults::new(FaultPlan::new(&[Fault::Throttle { every: 3 }]), 1);
        let hits: Vec<bool> = (0..9).map(|_| faults.on_api_call().is_some()).collect();
        assert_eq!(
            hits,
            [false, false, true, false, false, true, false, false, true]
        );
    }

    #[test]
    fn error_rate_is_seeded_and_close_to_its_share() {
        let run = |seed| {
            let faults = Faults::new(FaultPlan::new(&[Fault::ErrorRate { share: 0.3 }]), seed);
            (0..2_000).map(|_| faults.on_api_call()).collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
        let errors = run(5).iter().filter(|fault| fault.is_some()).count();
        assert!((500..700).contains(&errors), "errors {errors}");
    }

    #[test]
    fn page_faults_fire_once_on_their_page() {
        let plan = FaultPlan::new(&[
            Fault::EmptyPage { page: 2 },
            Fault::ResetPage { page: 3 },
            Fault::SlowPage { page: 5 },
        ]);
        let faults = Faults::new(plan, 1);
        let pages: Vec<_> = (0..6).map(|_| faults.on_export_page()).collect();
        assert_eq!(
            pages,
            [
                None,
                Some(PageFault::Empty),
                Some(PageFault::Cut(Cut::Reset)),
                None,
                Some(PageFault::Slow),
                None
            ]
        );
    }
}

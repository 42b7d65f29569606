//! Counts of what the sandbox served, so tests can assert request counts.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// What a sandbox has served so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SandboxStats {
    /// Tokens issued by either token endpoint.
    pub tokens_issued: u64,
    /// Token requests refused.
    pub token_errors: u64,
    /// Requests to `/api/machines`, whatever their answer.
    pub machines_requests: u64,
    /// Requests to the full vulnerability export, whatever their answer.
    pub export_requests: u64,
    /// Requests to the delta vulnerability export, whatever their answer.
    pub delta_requests: u64,
    /// Requests to `/api/vulnerabilities`, whatever their answer.
    pub catalog_requests: u64,
    /// 401 answers (no, unknown or expired token).
    pub unauthorized: u64,
    /// 403 answers (`--deny-permission`).
    pub forbidden: u64,
    /// 429 answers, from real limits or faults.
    pub throttled: u64,
    /// 5xx answers.
    pub server_errors: u64,
    /// Answers a `--fault` changed.
    pub faults_fired: u64,
    /// 200 pages started (faulty ones included).
    pub pages_served: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) tokens_issued: AtomicU64,
    pub(crate) token_errors: AtomicU64,
    pub(crate) machines_requests: AtomicU64,
    pub(crate) export_requests: AtomicU64,
    pub(crate) delta_requests: AtomicU64,
    pub(crate) catalog_requests: AtomicU64,
    pub(crate) unauthorized: AtomicU64,
    pub(crate) forbidden: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) server_errors: AtomicU64,
    pub(crate) faults_fired: AtomicU64,
    pub(crate) pages_served: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> SandboxStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        SandboxStats {
            tokens_issued: get(&self.tokens_issued),
            token_errors: get(&self.token_errors),
            machines_requests: get(&self.machines_requests),
            export_requests: get(&self.export_requests),
            delta_requests: get(&self.delta_requests),
            catalog_requests: get(&self.catalog_requests),
            unauthorized: get(&self.unauthorized),
            forbidden: get(&self.forbidden),
            throttled: get(&self.throttled),
            server_errors: get(&self.server_errors),
            faults_fired: get(&self.faults_fired),
            pages_served: get(&self.pages_served),
        }
    }
}

//! The scenarios, each a `pub async fn` on its own temp folder, sandbox and
//! store, and the [`Scenario`] list that names them.

mod brakes;
mod expect;
mod lifecycle;
mod secrets;

pub use brakes::{empty_upstream, failed_last_page, mass_removal};
pub use lifecycle::{
    device_removed, device_returns, retention_removal, same_input_twice, status_removal,
    vulnerability_removed, vulnerability_returns,
};
pub use secrets::secrets_never_leak;

use inlet_core::error::error_chain;

use crate::error::ConformanceError;
use crate::upstream::ConformanceUpstream;

/// One conformance scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    SameInputTwice,
    DeviceRemoved,
    DeviceReturns,
    VulnerabilityRemoved,
    VulnerabilityReturns,
    StatusRemoval,
    RetentionRemoval,
    FailedLastPage,
    EmptyUpstream,
    MassRemoval,
    SecretsNeverLeak,
}

impl Scenario {
    /// Every scenario, in the order [`crate::run_all`] runs them.
    pub const ALL: [Scenario; 11] = [
        Self::SameInputTwice,
        Self::DeviceRemoved,
        Self::DeviceReturns,
        Self::VulnerabilityRemoved,
        Self::VulnerabilityReturns,
        Self::StatusRemoval,
        Self::RetentionRemoval,
        Self::FailedLastPage,
        Self::EmptyUpstream,
        Self::MassRemoval,
        Self::SecretsNeverLeak,
    ];

    /// The scenario's name, as its function and test are called.
    pub fn name(self) -> &'static str {
        match self {
            Self::SameInputTwice => "same_input_twice",
            Self::DeviceRemoved => "device_removed",
            Self::DeviceReturns => "device_returns",
            Self::VulnerabilityRemoved => "vulnerability_removed",
            Self::VulnerabilityReturns => "vulnerability_returns",
            Self::StatusRemoval => "status_removal",
            Self::RetentionRemoval => "retention_removal",
            Self::FailedLastPage => "failed_last_page",
            Self::EmptyUpstream => "empty_upstream",
            Self::MassRemoval => "mass_removal",
            Self::SecretsNeverLeak => "secrets_never_leak",
        }
    }

    /// Runs the scenario against `upstream`'s connector and sandbox.
    pub async fn run(self, upstream: &dyn ConformanceUpstream) -> Result<(), ConformanceError> {
        match self {
            Self::SameInputTwice => same_input_twice(upstream).await,
            Self::DeviceRemoved => device_removed(upstream).await,
            Self::DeviceReturns => device_returns(upstream).await,
            Self::VulnerabilityRemoved => vulnerability_removed(upstream).await,
            Self::VulnerabilityReturns => vulnerability_returns(upstream).await,
            Self::StatusRemoval => status_removal(upstream).await,
            Self::RetentionRemoval => retention_removal(upstream).await,
            Self::FailedLastPage => failed_last_page(upstream).await,
            Self::EmptyUpstream => empty_upstream(upstream).await,
            Self::MassRemoval => mass_removal(upstream).await,
            Self::SecretsNeverLeak => secrets_never_leak(upstream).await,
        }
    }

    /// Runs the scenario on a runtime of its own and panics, with the
    /// scenario's name and the whole error chain, when it fails. For a plain
    /// `#[test]`; inside an async test, await [`Scenario::run`] instead.
    pub fn assert(self, upstream: &dyn ConformanceUpstream) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let result = match runtime {
            Ok(runtime) => runtime.block_on(self.run(upstream)),
            Err(error) => panic!(
                "conformance scenario `{}`: no runtime: {error}",
                self.name()
            ),
        };
        if let Err(error) = result {
            panic!(
                "conformance scenario `{}` failed: {}",
                self.name(),
                error_chain(&error)
            );
        }
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

//! Inlet's conformance kit: the sync rules of product spec sections 5-7,
//! checked end to end against a connector's own sandbox. Each scenario
//! writes a few simulated days of upstream data as fixtures, serves them
//! with the connector's sandbox, builds the instance from a TOML config as
//! an operator would write it, syncs into a real sled store with the engine
//! the runner uses, and checks the store's listings, stats and run records.
//!
//! # How a connector opts in
//!
//! 1. **Its sandbox serves fixtures.** The connector's registration has a
//!    `sandbox` that accepts `--fixtures DIR`: day 1's files in `DIR`, day
//!    N's in `DIR/dayN/`, read once at start; each `advance_day()` moves to
//!    the next day. `instance_config()` returns a `config` table that points
//!    an instance at the sandbox. When it also implements
//!    `issued_credentials()`, the kit searches for every bearer token the
//!    sandbox handed out.
//! 2. **It depends on the kit** for its tests:
//!    `[dev-dependencies] inlet-testkit.workspace = true`.
//! 3. **It implements [`ConformanceUpstream`]** in `tests/conformance.rs`.
//!    The kit speaks of devices ([`DeviceSpec`]: id, status, last seen,
//!    vulnerability ids); `write_day` writes one [`UpstreamDay`] in the
//!    upstream's own record shapes, as realistic as the connector's other
//!    fixtures. The connector must turn each device into an asset with that
//!    `id`, its status as `source_status` and its last-seen time as
//!    `last_observed`, and each vulnerability into a finding whose
//!    `asset_id` is the device's id and whose `cves` (or `name`) holds the
//!    vulnerability id. `kind()` should return the connector crate's own
//!    constant, which also makes sure the crate is linked into the test.
//! 4. **It declares the tests** with one line,
//!    `inlet_testkit::conformance_tests!(MyUpstream);`, which writes one
//!    `#[test]` per [`Scenario`] (and fails to compile when the kit gains a
//!    scenario the macro does not cover). Run them with
//!    `cargo test -p <connector crate> --test conformance`.
//!
//! ```no_run
//! use std::path::Path;
//!
//! use inlet_testkit::{ConformanceUpstream, UpstreamDay};
//!
//! struct MyUpstream;
//!
//! impl ConformanceUpstream for MyUpstream {
//!     fn kind(&self) -> &'static str {
//!         "my-connector" // my_connector::KIND
//!     }
//!
//!     fn write_day(&self, dir: &Path, day: &UpstreamDay) -> std::io::Result<()> {
//!         let hosts: Vec<_> = day
//!             .devices
//!             .iter()
//!             .map(|device| serde_json::json!({ "hostId": device.id, "state": device.status }))
//!             .collect();
//!         std::fs::write(dir.join("hosts.json"), serde_json::to_vec(&hosts)?)
//!     }
//!
//!     fn active_status(&self) -> &'static str {
//!         "online"
//!     }
//!
//!     fn removable_status(&self) -> &'static str {
//!         "decommissioned"
//!     }
//!
//!     fn secret_values(&self, config: &serde_json::Value) -> Vec<String> {
//!         config["api_key"].as_str().map(str::to_owned).into_iter().collect()
//!     }
//! }
//!
//! inlet_testkit::conformance_tests!(MyUpstream);
//! # fn main() {}
//! ```
//!
//! Each scenario can also be awaited on its own ([`Scenario::run`] or the
//! functions in [`scenarios`]), and [`run_all`] runs them all into a
//! [`Report`].
//!
//! # What the scenarios check
//!
//! The instance is named `conformance`, with `asset_retention_days = 30`,
//! `remove_assets_with_status = [removable_status()]` and the default brake
//! thresholds (50 %); every sync is full. Day 1 holds four devices and six
//! findings, and every scenario first checks that it arrived whole.
//!
//! | scenario | upstream | expected |
//! | --- | --- | --- |
//! | `same_input_twice` | day 1 twice | nothing counted new, updated, archived, fixed or reopened; stats and records unchanged |
//! | `device_removed` | a device gone | archived `missing_from_sync` at the run's start; its findings kept, hidden from listings and counts |
//! | `device_returns` | gone, then back | active again, counted reactivated; its findings listed again |
//! | `vulnerability_removed` | a vulnerability gone | `fixed`, `fixed_at` = the run's start |
//! | `vulnerability_returns` | gone, then back | reopened: active, `fixed_at` null, counted reopened |
//! | `status_removal` | a device in the removable status | archived `status`; findings hidden |
//! | `retention_removal` | a device last seen 60 days ago | archived `retention`; findings hidden |
//! | `failed_last_page` | a device and a vulnerability gone; the sync loses its last batch | run `failed`, nothing archived or fixed; the next sync applies both |
//! | `empty_upstream` | no device at all | run `held` with a reason, nothing archived; `confirm_removal` applies it |
//! | `mass_removal` | three of four devices gone | run `held` naming `max_archive_percent`; `confirm_removal` applies it |
//! | `secrets_never_leak` | two days of syncs | no secret of the config and no issued token in the TRACE logs, the store's files, any record's JSON or the instance's `Debug` |
//!
//! `failed_last_page` wraps the connector so its sync fails exactly on its
//! last page, whatever its paging: every batch is held back by one, and the
//! last is dropped when the real sync succeeds.

mod error;
mod harness;
mod holdback;
mod leaks;
pub mod scenarios;
mod upstream;

pub use error::ConformanceError;
pub use scenarios::Scenario;
pub use upstream::{ConformanceUpstream, DeviceSpec, UpstreamDay};

use std::fmt;

use inlet_core::error::error_chain;

/// What [`run_all`] found: each scenario with its result.
#[derive(Debug)]
pub struct Report {
    pub results: Vec<(Scenario, Result<(), ConformanceError>)>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.results.iter().all(|(_, result)| result.is_ok())
    }

    /// The scenarios that failed, with why.
    pub fn failures(&self) -> impl Iterator<Item = (Scenario, &ConformanceError)> {
        let results = self.results.iter();
        results.filter_map(|(scenario, result)| result.as_ref().err().map(|e| (*scenario, e)))
    }

    /// Panics with the list of failures unless every scenario passed.
    pub fn assert_passed(&self) {
        if !self.passed() {
            panic!("{self}");
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n_failed = self.failures().count();
        write!(
            f,
            "conformance: {n_failed} of {} scenarios failed",
            self.results.len()
        )?;
        for (scenario, result) in &self.results {
            match result {
                Ok(()) => write!(f, "\n  ok      {scenario}")?,
                Err(error) => write!(f, "\n  FAILED  {scenario}: {}", error_chain(error))?,
            }
        }
        Ok(())
    }
}

/// Runs every scenario, one after the other, against `upstream`.
pub async fn run_all(upstream: &dyn ConformanceUpstream) -> Report {
    let mut results = Vec::with_capacity(Scenario::ALL.len());
    for scenario in Scenario::ALL {
        results.push((scenario, scenario.run(upstream).await));
    }
    Report { results }
}

/// Writes one `#[test]` per conformance scenario for an upstream adapter:
/// `inlet_testkit::conformance_tests!(MyUpstream);` in `tests/conformance.rs`.
/// Each test runs its scenario on a runtime of its own.
#[macro_export]
macro_rules! conformance_tests {
    ($upstream:expr) => {
        $crate::conformance_tests!(@each $upstream;
            same_input_twice => SameInputTwice,
            device_removed => DeviceRemoved,
            device_returns => DeviceReturns,
            vulnerability_removed => VulnerabilityRemoved,
            vulnerability_returns => VulnerabilityReturns,
            status_removal => StatusRemoval,
            retention_removal => RetentionRemoval,
            failed_last_page => FailedLastPage,
            empty_upstream => EmptyUpstream,
            mass_removal => MassRemoval,
            secrets_never_leak => SecretsNeverLeak,
        );
    };
    (@each $upstream:expr; $($test:ident => $scenario:ident),+ $(,)?) => {
        $(
            #[test]
            fn $test() {
                $crate::Scenario::$scenario.assert(&$upstream);
            }
        )+

        // Fails to compile when the kit has a scenario the list above lacks.
        #[allow(dead_code)]
        fn every_conformance_scenario_has_a_test(scenario: $crate::Scenario) {
            match scenario {
                $($crate::Scenario::$scenario => {})+
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_are_unique_and_match_the_macro() {
        let mut names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Scenario::ALL.len());
    }

    #[test]
    fn a_report_lists_each_failure_with_its_cause() {
        let report = Report {
            results: vec![
                (Scenario::SameInputTwice, Ok(())),
                (
                    Scenario::DeviceRemoved,
                    Err(ConformanceError::Rule(
                        "asset `a` is not in the store".into(),
                    )),
                ),
            ],
        };
        assert!(!report.passed());
        assert_eq!(
            report.to_string(),
            "conformance: 1 of 2 scenarios failed\n  ok      same_input_twice\n  \
             FAILED  device_removed: asset `a` is not in the store"
        );
    }
}

//! The sandbox's command line (`inlet sandbox microsoft-tvm ...`), parsed with
//! clap into [`SandboxOptions`], and the `--fault` specs it accepts.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Parser, ValueEnum};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:0";
pub const DEFAULT_DEVICES: u32 = 200;
pub const DEFAULT_VULNS_PER_DEVICE: u32 = 20;
pub const DEFAULT_SEED: u64 = 1;
/// About 10% of rows change per day, plus 2% of devices removed.
pub const DEFAULT_DAILY_CHANGE_PERCENT: f64 = 10.0;
pub const DEFAULT_TENANT_ID: &str = "00000000-0000-0000-0000-00000000a11e";
pub const DEFAULT_CLIENT_ID: &str = "5ab0c1d2-7e3f-4a6b-9c8d-00000000c11e";
pub const DEFAULT_CLIENT_SECRET: &str = "sandbox-secret";

const FAULT_HELP: &str = "\
Fault specs (--fault, repeatable and combinable; deterministic for a seed):
  throttle=N         every Nth API call answers 429 with Retry-After: 1
  quota-exhausted    every API call answers the hourly-quota 429 (Retry-After: 3600)
  error-rate=P       a share P (0..1) of API calls answers 500, 502 or 503
  truncate-page=K    the Kth vulnerability page (full or delta export) is a 200 cut off mid-JSON
  reset-page=K       the Kth vulnerability page's connection is reset after some bytes
  empty-page=K       the Kth vulnerability page is a 200 with an empty body
  slow-page=K        the Kth vulnerability page's body stalls for 10 s after its headers
  token-ttl=SECS     issued tokens stop working after SECS (they still claim expires_in 3599)
  foreign-next-link  next links point at http://foreign.invalid:PORT/...
Token and /_sandbox requests never count as API calls.";

/// How a sandbox is started; `Default` gives the command line's defaults.
#[derive(Clone, PartialEq, Parser)]
#[command(
    name = "sandbox microsoft-tvm",
    no_binary_name = true,
    about = "A local fake of Microsoft Defender's sign-in and vulnerability management API hosts.",
    after_help = FAULT_HELP
)]
pub struct SandboxOptions {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Devices in the synthetic tenant.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_DEVICES)]
    pub devices: u32,

    /// Vulnerability rows per device in the synthetic tenant on day 0.
    #[arg(long, value_name = "M", default_value_t = DEFAULT_VULNS_PER_DEVICE)]
    pub vulns_per_device: u32,

    /// Rows of the synthetic tenant fixed, added or updated per simulated
    /// day, in percent (0 to 100); devices disappear at a fifth of that rate.
    /// The default, 10, means about 10% of rows change per day, plus 2% of
    /// devices removed. Day 0 is the same whatever the value.
    #[arg(
        long,
        value_name = "P",
        default_value_t = DEFAULT_DAILY_CHANGE_PERCENT,
        value_parser = parse_daily_change_percent,
        // So that `-1` reaches the check above instead of reading as a flag.
        allow_negative_numbers = true
    )]
    pub daily_change_percent: f64,

    /// Seed of the synthetic tenant and of seeded faults.
    #[arg(long, value_name = "S", default_value_t = DEFAULT_SEED)]
    pub seed: u64,

    /// Serve the JSON files of this folder instead of a synthetic tenant
    /// (machines.json, vulnerabilities.json, optional changes.json and
    /// catalog.json; day2/, day3/, ... take over on each advance-day).
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = ["devices", "vulns_per_device", "daily_change_percent"]
    )]
    pub fixtures: Option<PathBuf>,

    /// The one tenant the sign-in host knows.
    #[arg(long, value_name = "ID", default_value = DEFAULT_TENANT_ID)]
    pub tenant_id: String,

    /// The one application (client) id the sign-in host knows.
    #[arg(long, value_name = "ID", default_value = DEFAULT_CLIENT_ID)]
    pub client_id: String,

    /// The one client secret the sign-in host accepts.
    #[arg(long, value_name = "SECRET", default_value = DEFAULT_CLIENT_SECRET)]
    pub client_secret: String,

    /// Switch a fault on (see below); repeatable.
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<Fault>,

    /// Withhold an application permission: requests that need it answer 403.
    #[arg(long = "deny-permission", value_name = "NAME")]
    pub deny_permissions: Vec<Permission>,

    /// Pin the sandbox clock's start (e.g. 2025-01-15T12:00:00Z) so that two
    /// runs with the same seed serve the same bytes; default: the real time.
    #[arg(long, value_name = "TIMESTAMP")]
    pub now: Option<jiff::Timestamp>,
}

impl fmt::Debug for SandboxOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Even a sandbox's secret stays out of Debug output.
        f.debug_struct("SandboxOptions")
            .field("listen", &self.listen)
            .field("devices", &self.devices)
            .field("vulns_per_device", &self.vulns_per_device)
            .field("daily_change_percent", &self.daily_change_percent)
            .field("seed", &self.seed)
            .field("fixtures", &self.fixtures)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("faults", &self.faults)
            .field("deny_permissions", &self.deny_permissions)
            .field("now", &self.now)
            .finish()
    }
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            devices: DEFAULT_DEVICES,
            vulns_per_device: DEFAULT_VULNS_PER_DEVICE,
            daily_change_percent: DEFAULT_DAILY_CHANGE_PERCENT,
            seed: DEFAULT_SEED,
            fixtures: None,
            tenant_id: DEFAULT_TENANT_ID.to_owned(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            faults: Vec::new(),
            deny_permissions: Vec::new(),
            now: None,
        }
    }
}

/// Reads `--daily-change-percent`: a finite number from 0 to 100.
fn parse_daily_change_percent(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(percent) if percent.is_finite() && (0.0..=100.0).contains(&percent) => Ok(percent),
        _ => Err(format!("`{value}` is not a percentage from 0 to 100")),
    }
}

/// An application permission of the WindowsDefenderATP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Permission {
    /// Needed by `/api/machines`.
    #[value(name = "Machine.Read.All")]
    MachineReadAll,
    /// Needed by the vulnerability exports and `/api/vulnerabilities`.
    #[value(name = "Vulnerability.Read.All")]
    VulnerabilityReadAll,
}

impl Permission {
    pub fn name(self) -> &'static str {
        match self {
            Self::MachineReadAll => "Machine.Read.All",
            Self::VulnerabilityReadAll => "Vulnerability.Read.All",
        }
    }

    /// The roles upstream lists as satisfying this permission.
    pub(crate) fn accepted_roles(self) -> &'static str {
        match self {
            Self::MachineReadAll => "Machine.Read.All,Machine.ReadWrite.All",
            Self::VulnerabilityReadAll => "Vulnerability.Read.All",
        }
    }
}

/// One injected misbehaviour (`--fault SPEC`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Every `every`th API call answers 429 with `Retry-After: 1`.
    Throttle { every: u64 },
    /// Every API call answers the hourly-quota 429 (`Retry-After: 3600`).
    QuotaExhausted,
    /// A seeded share (0..1) of API calls answers 500, 502 or 503.
    ErrorRate { share: f64 },
    /// The `page`th vulnerability page request is a 200 cut off mid-JSON.
    TruncatePage { page: u64 },
    /// The `page`th vulnerability page request's connection is reset.
    ResetPage { page: u64 },
    /// The `page`th vulnerability page request is a 200 with an empty body.
    EmptyPage { page: u64 },
    /// The `page`th vulnerability page request's body stalls after its headers.
    SlowPage { page: u64 },
    /// Issued tokens stop working after `secs` seconds.
    TokenTtl { secs: u64 },
    /// Next links point at another host.
    ForeignNextLink,
}

/// A `--fault` spec that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault `{spec}`: {reason}")]
pub struct FaultSpecError {
    pub spec: String,
    pub reason: String,
}

impl FromStr for Fault {
    type Err = FaultSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| FaultSpecError {
            spec: spec.to_owned(),
            reason: reason.into(),
        };
        let (name, value) = match spec.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim())),
            None => (spec.trim(), None),
        };
        let count = |minimum: u64| -> Result<u64, FaultSpecError> {
            let value = value.ok_or_else(|| fail("expected `NAME=NUMBER`"))?;
            match value.parse::<u64>() {
                Ok(number) if number >= minimum => Ok(number),
                _ => Err(fail(&format!(
                    "expected a whole number of at least {minimum}"
                ))),
            }
        };
        match name {
            "throttle" => Ok(Self::Throttle { every: count(1)? }),
            "truncate-page" => Ok(Self::TruncatePage { page: count(1)? }),
            "reset-page" => Ok(Self::ResetPage { page: count(1)? }),
            "empty-page" => Ok(Self::EmptyPage { page: count(1)? }),
            "slow-page" => Ok(Self::SlowPage { page: count(1)? }),
            "token-ttl" => Ok(Self::TokenTtl { secs: count(0)? }),
            "error-rate" => {
                let share = value.and_then(|value| value.parse::<f64>().ok());
                match share {
                    Some(share) if (0.0..=1.0).contains(&share) => Ok(Self::ErrorRate { share }),
                    _ => Err(fail(
                        "expected a share between 0 and 1, e.g. error-rate=0.1",
                    )),
                }
            }
            "quota-exhausted" | "foreign-next-link" if value.is_some() => {
                Err(fail("takes no value"))
            }
            "quota-exhausted" => Ok(Self::QuotaExhausted),
            "foreign-next-link" => Ok(Self::ForeignNextLink),
            _ => Err(fail(
                "unknown fault; expected throttle=N, quota-exhausted, error-rate=P, \
                 truncate-page=K, reset-page=K, empty-page=K, slow-page=K, token-ttl=SECS or \
                 foreign-next-link",
            )),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Throttle { every } => write!(f, "throttle={every}"),
            Self::QuotaExhausted => f.write_str("quota-exhausted"),
            Self::ErrorRate { share } => write!(f, "error-rate={share}"),
            Self::TruncatePage { page } => write!(f, "truncate-page={page}"),
            Self::ResetPage { page } => write!(f, "reset-page={page}"),
            Self::EmptyPage { page } => write!(f, "empty-page={page}"),
            Self::SlowPage { page } => write!(f, "slow-page={page}"),
            Self::TokenTtl { secs } => write!(f, "token-ttl={secs}"),
            Self::ForeignNextLink => f.write_str("foreign-next-link"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matches_the_command_line_defaults() {
        let parsed = SandboxOptions::try_parse_from(Vec::<String>::new()).expect("no arguments");
        assert_eq!(parsed, SandboxOptions::default());
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let options = SandboxOptions {
            client_secret: "hunter2".into(),
            ..Default::default()
        };
        let shown = format!("{options:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn every_fault_spec_round_trips() {
        for spec in [
            "throttle=3",
            "quota-exhausted",
            "error-rate=0.25",
            "truncate-page=2",
            "reset-page=1",
            "empty-page=4",
            "slow-page=5",
            "token-ttl=0",
            "foreign-next-link",
        ] {
            let fault: Fault = spec.parse().expect(spec);
            assert_eq!(fault.to_string(), spec);
        }
    }

    #[test]
    fn bad_fault_specs_say_why() {
        for (spec, reason) in [
            ("throttle=0", "at least 1"),
            ("throttle", "NAME=NUMBER"),
            ("error-rate=2", "between 0 and 1"),
            ("quota-exhausted=1", "takes no value"),
            ("slow", "unknown fault"),
        ] {
            let error = spec.parse::<Fault>().expect_err(spec);
            assert!(error.to_string().contains(reason), "{spec}: {error}");
        }
    }

    #[test]
    fn daily_change_percent_must_be_a_percentage() {
        for value in ["150", "-1", "nan", "inf"] {
            let error = SandboxOptions::try_parse_from(["--daily-change-percent", value])
                .expect_err(value)
                .to_string();
            assert!(
                error.contains("--daily-change-percent") && error.contains("from 0 to 100"),
                "{value}: {error}"
            );
        }
        let options = SandboxOptions::try_parse_from(["--daily-change-percent", "1"])
            .expect("1 is a percentage");
        assert_eq!(options.daily_change_percent, 1.0);
    }

    #[test]
    fn daily_change_percent_conflicts_with_fixtures() {
        let error = SandboxOptions::try_parse_from([
            "--fixtures",
            "some/dir",
            "--daily-change-percent",
            "1",
        ])
        .expect_err("a fixtures folder has no daily change");
        assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn parses_repeated_faults_and_permissions() {
        let options = SandboxOptions::try_parse_from([
            "--fault",
            "throttle=5",
            "--fault",
            "foreign-next-link",
            "--deny-permission",
            "Vulnerability.Read.All",
            "--seed",
            "9",
        ])
        .expect("valid arguments");
        assert_eq!(
            options.faults,
            vec![Fault::Throttle { every: 5 }, Fault::ForeignNextLink]
        );
        assert_eq!(
            options.deny_permissions,
            vec![Permission::VulnerabilityReadAll]
        );
        assert_eq!(options.seed, 9);
    }
}

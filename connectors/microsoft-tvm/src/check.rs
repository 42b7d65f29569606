//! The connectivity tests behind `inlet check`, in the spec's order: `login`,
//! `token`, `machines`, `vulnerabilities`, `mapping`. A test whose
//! prerequisite failed is skipped and says which one.

use inlet_core::{
    AssetMapper, CheckOutcome, CheckStatus, FindingMapper, Mapped, MappingError, NoReference,
    SyncCounters,
};
use serde_json::value::RawValue;

use crate::client::{Endpoint, TvmClient};
use crate::error::TvmError;
use crate::fetch::{FULL_EXPORT_PATH, MACHINES_PATH};
use crate::mapping::{TvmAssetMapper, TvmFindingMapper};

/// Runs the five tests; every one appears in the result, in order.
pub async fn run_checks(
    client: &TvmClient,
    assets: &TvmAssetMapper,
    findings: &TvmFindingMapper,
) -> Vec<CheckOutcome> {
    let counters = SyncCounters::default();
    let mut outcomes = Vec::with_capacity(5);

    let login = check_login(client, &counters).await;
    let login_passed = login.status == CheckStatus::Passed;
    outcomes.push(login);

    let token = if login_passed {
        check_token(client, &counters).await
    } else {
        skipped("token", "login")
    };
    let token_passed = token.status == CheckStatus::Passed;
    outcomes.push(token);

    let (machines, device) = match token_passed {
        true => check_machines(client, &counters).await,
        false => (skipped("machines", "token"), None),
    };
    let (vulnerabilities, row) = match token_passed {
        true => check_vulnerabilities(client, &counters).await,
        false => (skipped("vulnerabilities", "token"), None),
    };
    let mapping = check_mapping(&machines, &vulnerabilities, device, row, assets, findings);
    outcomes.extend([machines, vulnerabilities, mapping]);
    outcomes
}

fn outcome(name: &str, status: CheckStatus, detail: String, hint: Option<String>) -> CheckOutcome {
    CheckOutcome {
        name: name.into(),
        status,
        detail,
        hint,
    }
}

fn skipped(name: &str, because: &str) -> CheckOutcome {
    let detail = format!("skipped because the `{because}` test did not pass");
    outcome(name, CheckStatus::Skipped, detail, None)
}

/// A failed test whose detail is the error.
fn failed(name: &str, error: &TvmError, hint: impl Into<String>) -> CheckOutcome {
    outcome(
        name,
        CheckStatus::Failed,
        error.to_string(),
        Some(hint.into()),
    )
}

async fn check_login(client: &TvmClient, counters: &SyncCounters) -> CheckOutcome {
    let host = client.login_host();
    match client.probe_login(counters).await {
        Ok(status) => {
            let detail = if (200..300).contains(&status) {
                format!("the sign-in host `{host}` answers")
            } else {
                format!("the sign-in host `{host}` answers (HTTP {status} to a discovery request)")
            };
            outcome("login", CheckStatus::Passed, detail, None)
        }
        Err(error) => {
            let hint = format!(
                "Check that this machine resolves and reaches `{host}` (DNS, proxy, firewall, \
                 TLS inspection) and that `login_url` is right if you set it"
            );
            failed("login", &error, hint)
        }
    }
}

async fn check_token(client: &TvmClient, counters: &SyncCounters) -> CheckOutcome {
    match client.sign_in(counters).await {
        Ok(()) => {
            let detail = "a token was issued for the application".to_string();
            outcome("token", CheckStatus::Passed, detail, None)
        }
        Err(TvmError::SignIn {
            status,
            error,
            aadsts,
            hint,
        }) => {
            let code = aadsts
                .map(|code| format!(" (AADSTS{code})"))
                .unwrap_or_default();
            let detail = format!("sign-in was refused with HTTP {status}, error `{error}`{code}");
            outcome(
                "token",
                CheckStatus::Failed,
                detail,
                Some(upper_first(&hint)),
            )
        }
        Err(error) => failed(
            "token",
            &error,
            "Check `login_url` and `cloud`, then try again",
        ),
    }
}

async fn check_machines(
    client: &TvmClient,
    counters: &SyncCounters,
) -> (CheckOutcome, Option<Box<RawValue>>) {
    let url = client.api_url(MACHINES_PATH, Some("$top=1"));
    match client.get_page(Endpoint::Machines, &url, counters).await {
        Ok(Some(page)) if !page.records.is_empty() => {
            let detail = "devices can be listed".to_string();
            (
                outcome("machines", CheckStatus::Passed, detail, None),
                page.records.into_iter().next(),
            )
        }
        Ok(_) => {
            let detail = "devices can be listed; the tenant has no devices yet".to_string();
            (outcome("machines", CheckStatus::Passed, detail, None), None)
        }
        Err(error) => (failed("machines", &error, api_hint(&error)), None),
    }
}

async fn check_vulnerabilities(
    client: &TvmClient,
    counters: &SyncCounters,
) -> (CheckOutcome, Option<Box<RawValue>>) {
    let url = client.api_url(FULL_EXPORT_PATH, Some("pageSize=1&$top=1"));
    match client.get_page(Endpoint::Export, &url, counters).await {
        Ok(page) => {
            let row = page.and_then(|page| page.records.into_iter().next());
            let detail = match row {
                Some(_) => "the vulnerability export can be read",
                None => "the vulnerability export can be read; it has no rows yet",
            };
            (
                outcome("vulnerabilities", CheckStatus::Passed, detail.into(), None),
                row,
            )
        }
        Err(error) => (failed("vulnerabilities", &error, api_hint(&error)), None),
    }
}

/// What to do about a failed API call.
fn api_hint(error: &TvmError) -> String {
    match error {
        TvmError::Forbidden { permission, .. } => format!(
            "In the app registration, add the WindowsDefenderATP application permission \
             `{permission}` and grant admin consent"
        ),
        TvmError::Unauthorized { .. } => {
            "The API refuses the token: check that `cloud` matches the tenant's cloud".into()
        }
        TvmError::Throttled { .. } => "The tenant's API quota is used up; try again later".into(),
        _ => "Check `api_url` and this machine's access to the API host, then try again".into(),
    }
}

fn check_mapping(
    machines: &CheckOutcome,
    vulnerabilities: &CheckOutcome,
    device: Option<Box<RawValue>>,
    row: Option<Box<RawValue>>,
    assets: &TvmAssetMapper,
    findings: &TvmFindingMapper,
) -> CheckOutcome {
    for prerequisite in [machines, vulnerabilities] {
        if prerequisite.status != CheckStatus::Passed {
            return skipped("mapping", &prerequisite.name);
        }
    }
    if device.is_none() && row.is_none() {
        let detail = "skipped because there is no device or vulnerability row to sample".into();
        return outcome("mapping", CheckStatus::Skipped, detail, None);
    }

    let device = device.map(|device| assets.map_asset(&device).map(|mapped| describe(&mapped)));
    let row = row.map(|row| {
        findings
            .map_finding(&row, &NoReference)
            .map(|mapped| describe(&mapped))
    });
    match (device.transpose(), row.transpose()) {
        (Ok(device), Ok(row)) => {
            let device = device.map(|mapped| format!("the sampled device {mapped}"));
            let row = row.map(|mapped| format!("the sampled vulnerability row {mapped}"));
            let detail = [device, row]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" and ");
            outcome("mapping", CheckStatus::Passed, detail, None)
        }
        (Err(error), _) | (_, Err(error)) => mapping_failed(&error),
    }
}

fn describe<T>(mapped: &Mapped<T>) -> String {
    match mapped {
        Mapped::Record { .. } => "maps".into(),
        Mapped::Skipped(reason) => format!("is deliberately skipped (`{}`)", reason.as_str()),
    }
}

fn mapping_failed(error: &MappingError) -> CheckOutcome {
    let detail = format!("a sampled record does not map: {error}");
    let hint = "The tenant sends records of an unexpected shape; report the detail to the Inlet \
                maintainers";
    outcome("mapping", CheckStatus::Failed, detail, Some(hint.into()))
}

fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

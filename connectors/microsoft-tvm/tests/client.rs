//! The client, the sync fetch and the connectivity check against the real
//! sandbox on 127.0.0.1: paging, 404, throttling, token renewal, broken
//! pages, 5xx, foreign next links, sign-in errors and missing permissions.
//!
//! Waits go through a recording sleeper that returns at once, so "waits
//! `Retry-After`" is checked from the recorded durations without waiting.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use inlet_core::{
    CheckStatus, ConnectorError, RecordBatch, RecordSink, SandboxHandle, SinkError, SyncCounters,
    SyncMode, SyncRequest,
};
use inlet_microsoft_tvm::client::{ClientOptions, Endpoint, LinkPager, Sleeper, TvmClient};
use inlet_microsoft_tvm::config::TvmConfig;
use inlet_microsoft_tvm::error::TvmError;
use inlet_microsoft_tvm::mapping::{TvmAssetMapper, TvmFindingMapper};
use inlet_microsoft_tvm::sandbox::{
    self, Fault, Permission, RunningSandbox, SandboxOptions, SyntheticTenant,
};
use inlet_microsoft_tvm::{check, fetch};
use jiff::Timestamp;
use serde_json::{json, Value};

const SEED: u64 = 7;
const DEVICES: u32 = 20;
const VULNS_PER_DEVICE: u32 = 3;
/// Small pages so that every endpoint takes several.
const MACHINES_PAGE: u32 = 7;
const CATALOG_PAGE: u32 = 20;
const EXPORT_PAGE: u32 = 13;

/// Records every wait and returns at once.
#[derive(Debug, Default)]
struct RecordingSleeper(Mutex<Vec<Duration>>);

impl RecordingSleeper {
    fn waits(&self) -> Vec<Duration> {
        self.0.lock().expect("lock").clone()
    }
}

#[async_trait]
impl Sleeper for RecordingSleeper {
    async fn sleep(&self, duration: Duration) {
        self.0.lock().expect("lock").push(duration);
    }
}

/// A sink that keeps the ids of what it was handed, by kind.
#[derive(Debug, Default)]
struct Collected {
    assets: Vec<String>,
    findings: Vec<String>,
    changes: Vec<String>,
    reference: Vec<String>,
    /// Moves time on by this much after the first findings batch.
    advance_after_first_findings: Option<Duration>,
}

#[async_trait]
impl RecordSink for Collected {
    async fn accept(&mut self, batch: RecordBatch) -> Result<(), SinkError> {
        let ids = |records: &[Box<serde_json::value::RawValue>]| -> Vec<String> {
            records
                .iter()
                .map(|record| record_id(record.get()))
                .collect()
        };
        match batch {
            RecordBatch::Assets(records) => self.assets.extend(ids(&records)),
            RecordBatch::Findings(records) => {
                self.findings.extend(ids(&records));
                if let Some(by) = self.advance_after_first_findings.take() {
                    // The sandbox's token expiry runs on tokio's clock, so
                    // moving that clock expires the token without waiting.
                    tokio::time::pause();
                    tokio::time::advance(by).await;
                    tokio::time::resume();
                }
            }
            RecordBatch::FindingChanges(records) => self.changes.extend(ids(&records)),
            RecordBatch::Reference(entries) => self
                .reference
                .extend(entries.into_iter().map(|entry| entry.key)),
        }
        Ok(())
    }
}

fn record_id(json: &str) -> String {
    let value: Value = serde_json::from_str(json).expect("a record");
    value["id"].as_str().expect("an id").to_string()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn tenant() -> SyntheticTenant {
    SyntheticTenant::new(SEED, DEVICES, VULNS_PER_DEVICE)
}

fn options(faults: &[Fault]) -> SandboxOptions {
    SandboxOptions {
        devices: DEVICES,
        vulns_per_device: VULNS_PER_DEVICE,
        seed: SEED,
        faults: faults.to_vec(),
        ..SandboxOptions::default()
    }
}

async fn start(options: SandboxOptions) -> RunningSandbox {
    sandbox::start(options).await.expect("the sandbox starts")
}

/// The sandbox's instance config with `changes` laid over it.
fn config_for(sandbox: &RunningSandbox, changes: Value) -> TvmConfig {
    let mut config = sandbox.instance_config();
    config["page_size"] = json!(EXPORT_PAGE);
    if let (Some(target), Value::Object(changes)) = (config.as_object_mut(), changes) {
        target.extend(changes);
    }
    serde_json::from_value(config).expect("a valid config")
}

fn client(config: &TvmConfig, sleeper: &Arc<RecordingSleeper>) -> TvmClient {
    let options = ClientOptions {
        machines_page_size: MACHINES_PAGE,
        catalog_page_size: CATALOG_PAGE,
        sleeper: sleeper.clone(),
        ..ClientOptions::default()
    };
    TvmClient::with_options(config, options).expect("a client")
}

fn sync_request(mode: SyncMode, reference_refreshed_at: Option<Timestamp>) -> SyncRequest {
    SyncRequest {
        mode,
        reference_refreshed_at,
        counters: SyncCounters::default(),
    }
}

/// A sync of the sandbox with the default test settings.
struct Run {
    sandbox: RunningSandbox,
    sleeper: Arc<RecordingSleeper>,
    request: SyncRequest,
    sink: Collected,
    result: Result<(), ConnectorError>,
}

async fn full_sync(faults: &[Fault], changes: Value, sink: Collected) -> Run {
    let sandbox = start(options(faults)).await;
    let sleeper = Arc::new(RecordingSleeper::default());
    let config = config_for(&sandbox, changes);
    let client = client(&config, &sleeper);
    let request = sync_request(SyncMode::Full, None);
    let mut sink = sink;
    let result = fetch::sync(&client, &config, &request, &mut sink).await;
    Run {
        sandbox,
        sleeper,
        request,
        sink,
        result,
    }
}

fn upstream_error(result: Result<(), ConnectorError>) -> TvmError {
    match result {
        Err(ConnectorError::Upstream(error)) => match error.downcast::<TvmError>() {
            Ok(error) => *error,
            Err(other) => panic!("not a TvmError: {other}"),
        },
        other => panic!("expected an upstream error, got {other:?}"),
    }
}

/// Asserts that the run delivered the tenant's day-0 devices and rows exactly.
fn assert_exact_day_zero(run: &Run) {
    let tenant = tenant();
    assert_eq!(run.sink.assets, tenant.device_ids(0), "devices, in order");
    assert_eq!(
        sorted(run.sink.findings.clone()),
        sorted(tenant.export_row_ids(0)),
        "rows"
    );
}

#[tokio::test]
async fn a_full_sync_pages_every_endpoint_and_delivers_everything_once() {
    let run = full_sync(&[], json!({}), Collected::default()).await;
    run.result.as_ref().expect("the sync succeeds");
    assert_exact_day_zero(&run);

    // The catalog: every entry of every page, keyed by CVE id.
    let catalog = tenant().catalog_ids();
    assert!(!run.sink.reference.is_empty());
    assert!(
        run.sink.reference.iter().all(|key| catalog.contains(key)),
        "catalog keys"
    );

    let stats = run.sandbox.stats();
    let summary = tenant().summary(0);
    let pages = |n: u64, size: u32| n.div_ceil(u64::from(size));
    assert_eq!(
        stats.machines_requests,
        pages(summary.devices, MACHINES_PAGE)
    );
    assert_eq!(
        stats.catalog_requests,
        pages(catalog.len() as u64, CATALOG_PAGE)
    );
    assert_eq!(
        stats.export_requests,
        pages(summary.export_rows, EXPORT_PAGE)
    );
    assert!(stats.machines_requests > 1 && stats.catalog_requests > 1 && stats.export_requests > 1);
    assert_eq!(stats.tokens_issued, 1, "one token for the whole sync");

    let api_calls = stats.machines_requests + stats.catalog_requests + stats.export_requests;
    assert_eq!(run.request.counters.snapshot(), (api_calls + 1, 0, 0));
    assert!(run.sleeper.waits().is_empty());
}

#[tokio::test]
async fn a_delta_sync_pages_the_changes_and_skips_a_fresh_catalog() {
    let sandbox = start(options(&[])).await;
    let since = Timestamp::now();
    sandbox.advance_day().await.expect("day 1");
    let sleeper = Arc::new(RecordingSleeper::default());
    let config = config_for(&sandbox, json!({ "page_size": 1 }));
    let client = client(&config, &sleeper);
    let request = sync_request(SyncMode::Delta { since }, Some(Timestamp::now()));
    let mut sink = Collected::default();
    fetch::sync(&client, &config, &request, &mut sink)
        .await
        .expect("the sync succeeds");

    let tenant = tenant();
    let expected: Vec<String> = tenant
        .change_row_ids(1)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert!(expected.len() > 1, "several pages of changes");
    let expected_pages = expected.len() as u64;
    assert_eq!(sorted(sink.changes), sorted(expected));
    assert_eq!(sink.assets, tenant.device_ids(1));
    assert!(sink.findings.is_empty() && sink.reference.is_empty());
    let stats = sandbox.stats();
    assert_eq!((stats.catalog_requests, stats.export_requests), (0, 0));
    assert_eq!(stats.delta_requests, expected_pages);
}

#[tokio::test]
async fn a_delta_older_than_fourteen_days_fails_without_a_request() {
    let sandbox = start(options(&[])).await;
    let sleeper = Arc::new(RecordingSleeper::default());
    let config = config_for(&sandbox, json!({}));
    let client = client(&config, &sleeper);
    let since = Timestamp::now() - jiff::SignedDuration::from_hours(15 * 24);
    let request = sync_request(SyncMode::Delta { since }, None);
    let result = fetch::sync(&client, &config, &request, &mut Collected::default()).await;
    assert!(matches!(
        upstream_error(result),
        TvmError::DeltaTooOld { .. }
    ));
    assert_eq!(request.counters.snapshot(), (0, 0, 0));
}

#[tokio::test]
async fn a_tenant_without_devices_answers_404_and_the_sync_succeeds() {
    let sandbox = start(SandboxOptions {
        devices: 0,
        ..options(&[])
    })
    .await;
    let sleeper = Arc::new(RecordingSleeper::default());
    let config = config_for(&sandbox, json!({ "enrich_from_catalog": false }));
    let client = client(&config, &sleeper);
    let request = sync_request(SyncMode::Full, None);
    let mut sink = Collected::default();
    fetch::sync(&client, &config, &request, &mut sink)
        .await
        .expect("the sync succeeds");
    assert!(sink.assets.is_empty());
    assert_eq!(
        sandbox.stats().machines_requests,
        1,
        "the first page's 404 ends the list"
    );
}

#[tokio::test]
async fn throttling_waits_retry_after_and_the_sync_completes() {
    let throttle = Fault::Throttle { every: 3 };
    let run = full_sync(&[throttle], json!({}), Collected::default()).await;
    run.result.as_ref().expect("the sync succeeds");
    assert_exact_day_zero(&run);

    let stats = run.sandbox.stats();
    assert!(stats.throttled >= 3, "several 429s: {stats:?}");
    let waits = run.sleeper.waits();
    assert_eq!(
        waits,
        vec![Duration::from_secs(1); stats.throttled as usize],
        "Retry-After: 1"
    );
    let (_, retries, throttled) = run.request.counters.snapshot();
    assert_eq!((retries, throttled), (stats.throttled, stats.throttled));
}

#[tokio::test]
async fn an_exhausted_hourly_quota_fails_at_once() {
    let run = full_sync(&[Fault::QuotaExhausted], json!({}), Collected::default()).await;
    let error = upstream_error(run.result);
    match &error {
        TvmError::Throttled {
            retry_after_secs, ..
        } => assert_eq!(*retry_after_secs, 3600),
        other => panic!("expected Throttled, got {other:?}"),
    }
    assert!(error.to_string().contains("3600 s"), "{error}");
    assert!(
        run.sleeper.waits().is_empty(),
        "no wait longer than max_throttle_wait_secs"
    );
    assert_eq!(run.sandbox.stats().throttled, 1);
    assert_eq!(
        run.request.counters.snapshot(),
        (2, 0, 1),
        "a token and one call"
    );
}

#[tokio::test]
async fn an_expired_token_is_renewed_and_the_export_completes() {
    let sink = Collected {
        advance_after_first_findings: Some(Duration::from_secs(11)),
        ..Collected::default()
    };
    let run = full_sync(&[Fault::TokenTtl { secs: 10 }], json!({}), sink).await;
    run.result.as_ref().expect("the sync succeeds");
    assert_exact_day_zero(&run);
    let stats = run.sandbox.stats();
    assert_eq!((stats.tokens_issued, stats.unauthorized), (2, 1));
    let (_, retries, _) = run.request.counters.snapshot();
    assert_eq!(retries, 1, "the refused page was sent again once");
}

#[tokio::test]
async fn truncated_reset_and_empty_pages_are_retried_and_the_export_is_exact() {
    let faults = [
        Fault::TruncatePage { page: 2 },
        Fault::ResetPage { page: 3 },
        Fault::EmptyPage { page: 5 },
    ];
    let run = full_sync(
        &faults,
        json!({ "enrich_from_catalog": false }),
        Collected::default(),
    )
    .await;
    run.result.as_ref().expect("the sync succeeds");
    assert_exact_day_zero(&run);
    assert_eq!(run.sandbox.stats().faults_fired, 3);

    // Page 2 failed twice (backoffs near 1 s then 2 s), page 5 once.
    let waits = run.sleeper.waits();
    let within = |wait: Duration, full: u64| {
        wait >= Duration::from_millis(full * 500) && wait <= Duration::from_secs(full)
    };
    assert_eq!(waits.len(), 3, "{waits:?}");
    assert!(
        within(waits[0], 1) && within(waits[1], 2) && within(waits[2], 1),
        "{waits:?}"
    );
    assert_eq!(run.request.counters.snapshot().1, 3);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let run = full_sync(
        &[Fault::ErrorRate { share: 0.25 }],
        json!({}),
        Collected::default(),
    )
    .await;
    run.result.as_ref().expect("the sync succeeds");
    assert_exact_day_zero(&run);
    let stats = run.sandbox.stats();
    assert!(stats.server_errors > 0, "some 5xx: {stats:?}");
    let (_, retries, throttled) = run.request.counters.snapshot();
    assert_eq!((retries, throttled), (stats.server_errors, 0));
    assert_eq!(run.sleeper.waits().len() as u64, stats.server_errors);
}

#[tokio::test]
async fn a_request_that_keeps_failing_gives_up_after_the_retry_budget() {
    let run = full_sync(
        &[Fault::ErrorRate { share: 1.0 }],
        json!({}),
        Collected::default(),
    )
    .await;
    let error = upstream_error(run.result);
    assert!(matches!(error, TvmError::Server { .. }), "{error:?}");
    let stats = run.sandbox.stats();
    assert_eq!(stats.server_errors, 5, "five attempts of the first call");
    let waits = run.sleeper.waits();
    let caps = [1, 2, 4, 8].map(Duration::from_secs);
    assert_eq!(waits.len(), 4);
    assert!(
        waits
            .iter()
            .zip(caps)
            .all(|(wait, cap)| *wait >= cap / 2 && *wait <= cap),
        "{waits:?}"
    );
}

#[tokio::test]
async fn a_foreign_next_link_is_refused_before_anything_is_sent_there() {
    let changes = json!({ "enrich_from_catalog": false });
    let run = full_sync(&[Fault::ForeignNextLink], changes, Collected::default()).await;
    let error = upstream_error(run.result);
    let port = run
        .sandbox
        .base_url()
        .rsplit(':')
        .next()
        .expect("a port")
        .to_string();
    match &error {
        TvmError::ForeignLink { host } => assert_eq!(*host, format!("foreign.invalid:{port}")),
        other => panic!("expected ForeignLink, got {other:?}"),
    }
    assert!(error.to_string().contains("`foreign.invalid:"), "{error}");

    // One export page was fetched; its next link was never called, and the
    // client counted exactly the requests the sandbox saw.
    let stats = run.sandbox.stats();
    assert_eq!(stats.export_requests, 1);
    let seen = 1 + stats.machines_requests + stats.export_requests;
    assert_eq!(run.request.counters.snapshot().0, seen);
}

#[test]
fn plain_http_is_refused_unless_the_host_is_loopback() {
    let config = |api_url: &str, login_url: &str| -> TvmConfig {
        serde_json::from_value(json!({
            "tenant_id": sandbox::DEFAULT_TENANT_ID,
            "client_id": sandbox::DEFAULT_CLIENT_ID,
            "client_secret": "never-shown",
            "api_url": api_url,
            "login_url": login_url,
        }))
        .expect("a config")
    };
    assert!(TvmClient::new(&config("http://127.0.0.1:1", "http://127.0.0.1:1")).is_ok());

    let error =
        TvmClient::new(&config("http://example.com", "http://127.0.0.1:1")).expect_err("api");
    assert!(matches!(error, TvmError::InsecureUrl { .. }));
    assert_eq!(error.config_pointer(), "/api_url");
    assert!(
        error.to_string().contains("`http://example.com/`"),
        "{error}"
    );

    let error =
        TvmClient::new(&config("http://127.0.0.1:1", "http://login.example")).expect_err("login");
    assert_eq!(error.config_pointer(), "/login_url");
}

/// The check against a sandbox, with `changes` to the config.
async fn run_check(options: SandboxOptions, changes: Value) -> Vec<inlet_core::CheckOutcome> {
    let sandbox = start(options).await;
    let config = config_for(&sandbox, changes);
    let sleeper = Arc::new(RecordingSleeper::default());
    let client = client(&config, &sleeper);
    let assets = TvmAssetMapper::new(&config);
    let outcomes = check::run_checks(&client, &assets, &TvmFindingMapper::new()).await;
    let names: Vec<&str> = outcomes
        .iter()
        .map(|outcome| outcome.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["login", "token", "machines", "vulnerabilities", "mapping"]
    );
    outcomes
}

fn statuses(outcomes: &[inlet_core::CheckOutcome]) -> Vec<CheckStatus> {
    outcomes.iter().map(|outcome| outcome.status).collect()
}

#[tokio::test]
async fn the_check_passes_all_five_tests_against_a_healthy_tenant() {
    let outcomes = run_check(options(&[]), json!({})).await;
    assert_eq!(
        statuses(&outcomes),
        [CheckStatus::Passed; 5],
        "{outcomes:#?}"
    );
    assert!(outcomes.iter().all(|outcome| outcome.hint.is_none()));
}

#[tokio::test]
async fn a_wrong_secret_fails_the_token_test_with_the_value_not_id_hint() {
    let secret = "wrong-secret-6f1e2d";
    let outcomes = run_check(options(&[]), json!({ "client_secret": secret })).await;
    use CheckStatus::{Failed, Passed, Skipped};
    assert_eq!(
        statuses(&outcomes),
        [Passed, Failed, Skipped, Skipped, Skipped]
    );
    let token = &outcomes[1];
    assert!(token.detail.contains("AADSTS7000215"), "{}", token.detail);
    let hint = token.hint.as_deref().expect("a hint");
    assert!(hint.contains("Value, not its ID"), "{hint}");
    assert!(
        outcomes[2].detail.contains("`token`"),
        "{}",
        outcomes[2].detail
    );
    assert!(!format!("{outcomes:?}").contains(secret));
}

#[tokio::test]
async fn an_unknown_tenant_fails_the_token_test_with_the_tenant_hint() {
    let tenant = "99999999-9999-9999-9999-999999999999";
    let outcomes = run_check(options(&[]), json!({ "tenant_id": tenant })).await;
    let token = &outcomes[1];
    assert_eq!(token.status, CheckStatus::Failed);
    assert!(token.detail.contains("AADSTS90002"), "{}", token.detail);
    assert!(token
        .hint
        .as_deref()
        .expect("a hint")
        .contains("Directory (tenant) ID"));
}

#[tokio::test]
async fn a_missing_permission_names_it() {
    let denied = |permission| SandboxOptions {
        deny_permissions: vec![permission],
        ..options(&[])
    };
    use CheckStatus::{Failed, Passed, Skipped};

    let outcomes = run_check(denied(Permission::MachineReadAll), json!({})).await;
    assert_eq!(
        statuses(&outcomes),
        [Passed, Passed, Failed, Passed, Skipped]
    );
    let hint = outcomes[2].hint.as_deref().expect("a hint");
    assert!(
        hint.contains("`Machine.Read.All`") && hint.contains("admin consent"),
        "{hint}"
    );
    assert!(
        outcomes[4].detail.contains("`machines`"),
        "{}",
        outcomes[4].detail
    );

    let outcomes = run_check(denied(Permission::VulnerabilityReadAll), json!({})).await;
    assert_eq!(
        statuses(&outcomes),
        [Passed, Passed, Passed, Failed, Skipped]
    );
    let hint = outcomes[3].hint.as_deref().expect("a hint");
    assert!(hint.contains("`Vulnerability.Read.All`"), "{hint}");
}

#[tokio::test]
async fn an_unreachable_sign_in_host_fails_login_and_skips_the_rest() {
    let changes = json!({ "login_url": "http://127.0.0.1:1" });
    let outcomes = run_check(options(&[]), changes).await;
    use CheckStatus::{Failed, Skipped};
    assert_eq!(
        statuses(&outcomes),
        [Failed, Skipped, Skipped, Skipped, Skipped]
    );
    assert!(outcomes[0]
        .hint
        .as_deref()
        .expect("a hint")
        .contains("127.0.0.1:1"));
}

#[tokio::test]
async fn errors_show_neither_the_secret_nor_a_token() {
    let secret = "wrong-secret-6f1e2d";
    let sandbox = start(options(&[])).await;
    let sleeper = Arc::new(RecordingSleeper::default());
    let config = config_for(&sandbox, json!({ "client_secret": secret }));
    let client = client(&config, &sleeper);
    let request = sync_request(SyncMode::Full, None);
    let error =
        upstream_error(fetch::sync(&client, &config, &request, &mut Collected::default()).await);
    assert!(
        matches!(
            error,
            TvmError::SignIn {
                aadsts: Some(7_000_215),
                ..
            }
        ),
        "{error:?}"
    );

    // A signed-in client and the errors of a refused permission.
    let denied = start(SandboxOptions {
        deny_permissions: vec![Permission::MachineReadAll],
        ..options(&[])
    })
    .await;
    let config = config_for(&denied, json!({}));
    let client = TvmClient::with_options(&config, ClientOptions::default()).expect("a client");
    let request = sync_request(SyncMode::Full, None);
    let forbidden =
        upstream_error(fetch::sync(&client, &config, &request, &mut Collected::default()).await);
    assert!(matches!(
        forbidden,
        TvmError::Forbidden {
            permission: "Machine.Read.All",
            ..
        }
    ));

    for shown in [
        format!("{error} {error:?}"),
        format!("{forbidden} {forbidden:?}"),
        format!("{client:?}"),
    ] {
        assert!(
            !shown.contains(secret) && !shown.contains(sandbox::DEFAULT_CLIENT_SECRET),
            "{shown}"
        );
        assert!(!shown.to_ascii_lowercase().contains("bearer"), "{shown}");
        assert!(!has_token_like_word(&shown), "{shown}");
    }
}

/// Whether `text` holds a long run of base64url characters, as the
/// sandbox's tokens are (43 of them).
fn has_token_like_word(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .any(|word| word.len() >= 40)
}

#[tokio::test]
async fn concurrent_requests_sign_in_once() {
    let sandbox = start(options(&[])).await;
    let sleeper = Arc::new(RecordingSleeper::default());
    let client = client(&config_for(&sandbox, json!({})), &sleeper);
    let counters = SyncCounters::default();
    let url = client.api_url(fetch::MACHINES_PATH, Some("$top=1"));
    let get = || client.get_page(Endpoint::Machines, &url, &counters);
    let (first, second, third) = tokio::join!(get(), get(), get());
    for page in [first, second, third] {
        assert_eq!(page.expect("a page").expect("devices").records.len(), 1);
    }
    assert_eq!(sandbox.stats().tokens_issued, 1);
    assert_eq!(counters.snapshot(), (4, 0, 0));
}

/// A loopback API that pages wrongly: `/api/machines` ignores `$skip`, and
/// `/api/loop` links from page 1 to page 2 and back. The sandbox pages
/// correctly, so this misbehaviour needs its own small server.
async fn start_looping_api() -> String {
    use axum::extract::RawQuery;
    use axum::routing::{get, post};

    let token =
        || async { axum::Json(json!({ "access_token": "loop-token", "expires_in": 3599 })) };
    let machines = || async { axum::Json(json!({ "value": [{ "id": "a" }, { "id": "b" }] })) };
    let looping = |RawQuery(query): RawQuery| async move {
        let next = if query.as_deref() == Some("page=1") {
            "page=2"
        } else {
            "page=1"
        };
        axum::Json(
            json!({ "value": [{ "id": query }], "@odata.nextLink": format!("/api/loop?{next}") }),
        )
    };
    let router = axum::Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/api/machines", get(machines))
        .route("/api/loop", get(looping));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

#[tokio::test]
async fn repeated_pages_and_looping_links_stop_the_paging() {
    let base = start_looping_api().await;
    let config: TvmConfig = serde_json::from_value(json!({
        "tenant_id": sandbox::DEFAULT_TENANT_ID,
        "client_id": sandbox::DEFAULT_CLIENT_ID,
        "client_secret": "loop-secret",
        "api_url": base,
        "login_url": base,
        "enrich_from_catalog": false,
    }))
    .expect("a config");
    let sleeper = Arc::new(RecordingSleeper::default());
    let options = ClientOptions {
        machines_page_size: 2,
        sleeper: sleeper.clone(),
        ..Default::default()
    };
    let client = TvmClient::with_options(&config, options).expect("a client");

    // Devices: the second page starts with the first page's first id.
    let request = sync_request(SyncMode::Full, None);
    let mut sink = Collected::default();
    let error = upstream_error(fetch::sync(&client, &config, &request, &mut sink).await);
    assert!(matches!(error, TvmError::RepeatedPage { .. }), "{error:?}");
    assert_eq!(sink.assets, ["a", "b"], "the first page was delivered once");

    // Next links: page 1 -> page 2 -> page 1 again.
    let counters = SyncCounters::default();
    let url = client.api_url("/api/loop", Some("page=1"));
    let mut pager = LinkPager::new(&client, Endpoint::Export, url, &counters);
    assert!(pager.next_batch(10).await.expect("page 1").is_some());
    assert!(pager.next_batch(10).await.expect("page 2").is_some());
    // Page 2 links back to page 1: refused before it is requested again.
    let error = pager.next_batch(10).await.expect_err("page 2 links back");
    assert_eq!(
        error.to_string(),
        format!("`{base}/api/loop` served the same page again; stopping instead of looping")
    );
    assert_eq!(
        counters.snapshot().0,
        2,
        "the repeated link was not requested"
    );
}

#[tokio::test]
async fn a_page_broken_halfway_is_read_again_without_repeating_records() {
    let faults = [
        Fault::TruncatePage { page: 1 },
        Fault::ResetPage { page: 3 },
    ];
    let sandbox = start(options(&faults)).await;
    let sleeper = Arc::new(RecordingSleeper::default());
    let client = client(&config_for(&sandbox, json!({})), &sleeper);
    let counters = SyncCounters::default();
    let query = format!("pageSize={EXPORT_PAGE}");
    let url = client.api_url(fetch::FULL_EXPORT_PATH, Some(&query));

    // Batches of 2 hand on the first records of a page before its body
    // breaks; the second attempt must skip exactly those.
    let mut pager = LinkPager::new(&client, Endpoint::Export, url, &counters);
    let mut ids = Vec::new();
    while let Some(batch) = pager.next_batch(2).await.expect("the export completes") {
        assert!(!batch.is_empty() && batch.len() <= 2, "{}", batch.len());
        ids.extend(batch.iter().map(|record| record_id(record.get())));
    }
    assert_eq!(sorted(ids), sorted(tenant().export_row_ids(0)));
    assert_eq!(sandbox.stats().faults_fired, 2);
    assert_eq!(counters.snapshot().1, 2, "two retries");
}

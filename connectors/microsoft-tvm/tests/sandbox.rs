//! The sandbox over real HTTP on 127.0.0.1: sign-in, paging, days, fixtures,
//! compression and every fault, asserted against the generator.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use inlet_core::{SandboxError, SandboxHandle};
use inlet_microsoft_tvm::sandbox::{
    self, ChangeStatus, Fault, Permission, RunningSandbox, SandboxOptions, SyntheticTenant,
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

const SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";
const RESOURCE: &str = "https://api.securitycenter.microsoft.com";
const FULL: &str = "/api/machines/SoftwareVulnerabilitiesByMachine";
const DELTA: &str = "/api/machines/SoftwareVulnerabilityChangesByMachine";

fn small(devices: u32, vulns_per_device: u32) -> SandboxOptions {
    SandboxOptions {
        devices,
        vulns_per_device,
        seed: 3,
        ..SandboxOptions::default()
    }
}

/// A started sandbox and a signed-in HTTP client.
struct Session {
    sandbox: RunningSandbox,
    http: reqwest::Client,
    base: String,
    token: String,
}

async fn session(options: SandboxOptions) -> Session {
    let sandbox = sandbox::start(options).await.expect("sandbox starts");
    let base = SandboxHandle::base_url(&sandbox);
    let http = reqwest::Client::new();
    let token = sign_in(&http, &base).await;
    Session {
        sandbox,
        http,
        base,
        token,
    }
}

fn v2_form(secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".to_owned()),
        ("client_id", DEFAULT_CLIENT_ID.to_owned()),
        ("client_secret", secret.to_owned()),
        ("scope", SCOPE.to_owned()),
    ]
}

async fn sign_in(http: &reqwest::Client, base: &str) -> String {
    let url = format!("{base}/{DEFAULT_TENANT_ID}/oauth2/v2.0/token");
    let response = http
        .post(url)
        .form(&v2_form(DEFAULT_CLIENT_SECRET))
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("token JSON");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

impl Session {
    fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("API request")
    }

    async fn get_json(&self, url: &str) -> (StatusCode, Value, HashMap<String, String>) {
        let response = self.get(url).await;
        let status = response.status();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body, headers)
    }

    /// Follows next links from `first`; every page's body.
    async fn pages(&self, first: &str) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut url = Some(first.to_owned());
        while let Some(next) = url {
            let (status, body, _) = self.get_json(&next).await;
            assert_eq!(status, StatusCode::OK, "{next}: {body}");
            url = body["@odata.nextLink"].as_str().map(str::to_owned);
            pages.push(body);
            assert!(pages.len() < 100, "paging does not end");
        }
        pages
    }

    async fn advance(&self) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url("/_sandbox/advance-day"))
            .send()
            .await
            .expect("advance");
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }
}

fn ids(pages: &[Value]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|page| page["value"].as_array().cloned().unwrap_or_default())
        .map(|row| row["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `(id, status)` of every delta row, in order.
fn statuses(pages: &[Value]) -> Vec<(String, String)> {
    let rows = pages
        .iter()
        .flat_map(|page| page["value"].as_array().cloned().unwrap_or_default());
    let pair = |row: Value| {
        let text = |field: &str| row[field].as_str().unwrap_or_default().to_owned();
        (text("id"), text("status"))
    };
    rows.map(pair).collect()
}

fn rfc3339(at: jiff::Timestamp) -> String {
    at.to_string()
}

#[tokio::test]
async fn tokens_are_issued_by_v2_as_numbers_and_by_v1_as_strings() {
    let session = session(small(3, 2)).await;
    let v2 = session.url(&format!("/{DEFAULT_TENANT_ID}/oauth2/v2.0/token"));
    let body: Value = session
        .http
        .post(v2)
        .form(&v2_form(DEFAULT_CLIENT_SECRET))
        .send()
        .await
        .expect("v2")
        .json()
        .await
        .expect("v2 JSON");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert!(body["ext_expires_in"].is_number());

    let v1 = session.url(&format!("/{DEFAULT_TENANT_ID}/oauth2/token"));
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
        ("resource", RESOURCE),
    ];
    let body: Value = session
        .http
        .post(v1)
        .form(&form)
        .send()
        .await
        .expect("v1")
        .json()
        .await
        .expect("v1 JSON");
    assert_eq!(body["expires_in"], "3599");
    let expires_on: i64 = body["expires_on"]
        .as_str()
        .and_then(|text| text.parse().ok())
        .expect("expires_on string");
    assert!(expires_on > jiff::Timestamp::now().as_second() + 3000);
    assert_eq!(body["resource"], RESOURCE);
    // Both tokens work.
    let (status, _, _) = session.get_json(&session.url("/api/machines?$top=1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(session.sandbox.stats().tokens_issued, 3);
}

#[tokio::test]
async fn sign_in_errors_carry_the_real_codes_and_statuses() {
    let session = session(small(1, 1)).await;
    let mut unknown_client = v2_form(DEFAULT_CLIENT_SECRET);
    unknown_client[1].1 = "99999999-0000-0000-0000-000000000000".into();
    let mut no_secret = v2_form(DEFAULT_CLIENT_SECRET);
    no_secret.remove(2);
    let mut wrong_grant = v2_form(DEFAULT_CLIENT_SECRET);
    wrong_grant[0].1 = "password".into();
    let other_tenant = "11111111-2222-3333-4444-555555555555";
    // One line per case reads better than rustfmt's vertical tuples.
    #[rustfmt::skip]
    let cases = [
        (other_tenant, v2_form(DEFAULT_CLIENT_SECRET), 400, "invalid_request", 90002),
        (DEFAULT_TENANT_ID, unknown_client, 400, "unauthorized_client", 700016),
        (DEFAULT_TENANT_ID, v2_form("not-the-secret"), 401, "invalid_client", 7000215),
        (DEFAULT_TENANT_ID, no_secret, 400, "invalid_request", 7000218),
        (DEFAULT_TENANT_ID, wrong_grant, 400, "unsupported_grant_type", 70003),
    ];
    for (tenant, form, status, error, code) in cases {
        let url = session.url(&format!("/{tenant}/oauth2/v2.0/token"));
        let response = session
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status().as_u16(), status, "{error}");
        let body: Value = response.json().await.expect("error JSON");
        assert_eq!(body["error"], error);
        assert_eq!(body["error_codes"], json!([code]));
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(
            description.starts_with(&format!("AADSTS{code}: ")),
            "{description}"
        );
        assert!(description.contains("\r\nTrace ID: "), "{description}");
        assert!(
            description.contains("\r\nCorrelation ID: "),
            "{description}"
        );
        assert!(
            !description.contains("not-the-secret"),
            "the secret is never echoed"
        );
        for field in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
            assert!(body[field].is_string(), "{field} in {body}");
        }
    }
    assert_eq!(session.sandbox.stats().token_errors, 5);
}

#[tokio::test]
async fn api_calls_without_a_valid_token_get_401() {
    let session = session(small(2, 1)).await;
    let url = session.url("/api/machines");
    let bare = session.http.get(&url).send().await.expect("request");
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    let body: Value = bare.json().await.expect("401 JSON");
    assert_eq!(body["error"]["code"], "Unauthorized");
    let forged = session
        .http
        .get(&url)
        .bearer_auth("made-up")
        .send()
        .await
        .expect("request");
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(session.sandbox.stats().unauthorized, 2);
    assert_eq!(session.sandbox.stats().machines_requests, 2);
}

#[tokio::test]
async fn devices_page_with_top_and_skip_and_answer_404_past_the_end() {
    let session = session(small(25, 1)).await;
    let mut seen = Vec::new();
    for skip in [0, 10, 20] {
        let url = session.url(&format!("/api/machines?$top=10&$skip={skip}"));
        let (status, body, _) = session.get_json(&url).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.get("@odata.nextLink").is_none());
        assert!(body["@odata.context"]
            .as_str()
            .is_some_and(|c| c.ends_with("/api/$metadata#Machines")));
        seen.extend(ids(&[body]));
    }
    assert_eq!(seen, SyntheticTenant::new(3, 25, 1).device_ids(0));
    let (status, body, _) = session
        .get_json(&session.url("/api/machines?$top=10&$skip=25"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "ResourceNotFound");
    let (status, body, _) = session
        .get_json(&session.url("/api/machines?$top=10001"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "ODataError");
}

#[tokio::test]
async fn an_empty_tenant_answers_404_for_devices_and_empty_exports() {
    let session = session(small(0, 5)).await;
    let (status, body, _) = session.get_json(&session.url("/api/machines")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let pages = session.pages(&session.url(FULL)).await;
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0]["value"], json!([]));
}

#[tokio::test]
async fn vulnerability_pages_follow_next_links_and_hold_every_row_once() {
    let session = session(small(30, 4)).await;
    let tenant = SyntheticTenant::new(3, 30, 4);
    let summary = tenant.summary(0);
    let pages = session
        .pages(&session.url(&format!("{FULL}?pageSize=9")))
        .await;
    let rows = ids(&pages);
    assert_eq!(rows, tenant.export_row_ids(0), "every row once, in order");
    let with_rows = summary.devices + summary.orphans - summary.devices_without_rows;
    assert_eq!(rows.len() as u64, with_rows * 4 + summary.duplicate_rows);
    assert_eq!(pages.len() as u64, summary.export_rows.div_ceil(9));
    let link = pages[0]["@odata.nextLink"].as_str().expect("next link");
    assert!(
        link.starts_with(&format!("{}{FULL}?pagesize=9&$skiptoken=", session.base)),
        "{link}"
    );
    assert!(pages
        .iter()
        .take(pages.len() - 1)
        .all(|page| page["value"].as_array().map(Vec::len) == Some(9)));
    // Orphans: rows of devices /api/machines does not list.
    let listed = tenant.device_ids(0);
    let orphan_rows = pages
        .iter()
        .flat_map(|page| page["value"].as_array().cloned().unwrap_or_default());
    assert!(
        orphan_rows
            .filter(|row| !listed.iter().any(|id| row["deviceId"] == id.as_str()))
            .count()
            > 0
    );
    assert_eq!(session.sandbox.stats().export_requests, pages.len() as u64);
}

#[tokio::test]
async fn top_returns_that_many_rows_without_a_next_link_and_limits_are_checked() {
    let session = session(small(10, 5)).await;
    let (status, body, _) = session
        .get_json(&session.url(&format!("{FULL}?$top=3")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"].as_array().map(Vec::len), Some(3));
    assert!(body.get("@odata.nextLink").is_none());
    let (status, _, _) = session
        .get_json(&session.url(&format!("{FULL}?pageSize=200001")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = session
        .get_json(&session.url(&format!("{FULL}?$skiptoken=bm9wZQ")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn delta_needs_a_valid_since_time_within_14_days() {
    let session = session(small(10, 3)).await;
    let now = jiff::Timestamp::now();
    let (status, body, _) = session.get_json(&session.url(DELTA)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "MissingRequiredParameter");
    let (status, _, _) = session
        .get_json(&session.url(&format!("{DELTA}?sinceTime=last-week")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let old = rfc3339(now - jiff::SignedDuration::from_hours(15 * 24));
    let (status, body, _) = session
        .get_json(&session.url(&format!("{DELTA}?sinceTime={old}")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("14 days")));
    let recent = rfc3339(now - jiff::SignedDuration::from_hours(13 * 24));
    let (status, body, _) = session
        .get_json(&session.url(&format!("{DELTA}?sinceTime={recent}")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"], json!([]), "nothing changed on day 0");
}

#[tokio::test]
async fn advance_day_removes_devices_fixes_and_adds_rows_and_the_delta_reports_it() {
    let session = session(small(150, 6)).await;
    let tenant = SyntheticTenant::new(3, 150, 6);
    let before_sync = rfc3339(jiff::Timestamp::now());
    let (status, body) = session.advance().await;
    assert_eq!((status, body), (StatusCode::OK, json!({"day": 1})));

    let devices = ids(&[session.get_json(&session.url("/api/machines")).await.1]);
    assert_eq!(devices, tenant.device_ids(1));
    assert!(devices.len() < 150, "some devices disappeared");
    let rows = ids(&session
        .pages(&session.url(&format!("{FULL}?pageSize=500")))
        .await);
    assert_eq!(rows, tenant.export_row_ids(1));

    let pages = session
        .pages(&session.url(&format!("{DELTA}?sinceTime={before_sync}&pageSize=40")))
        .await;
    let changes = statuses(&pages);
    let expected: Vec<(String, String)> = tenant
        .change_row_ids(1)
        .into_iter()
        .map(|(id, status)| (id, status.as_str().into()))
        .collect();
    assert_eq!(changes, expected);
    for status in [
        ChangeStatus::New,
        ChangeStatus::Fixed,
        ChangeStatus::Updated,
    ] {
        assert!(
            changes.iter().any(|(_, s)| s == status.as_str()),
            "{status:?} present"
        );
    }
    let first = &pages[0]["value"][0];
    assert!(first["eventTimestamp"].is_string() && first["isOnboarded"].is_boolean());

    // A second day: the same sinceTime now returns both days' changes.
    assert_eq!(session.advance().await.1, json!({"day": 2}));
    let both = ids(&session
        .pages(&session.url(&format!("{DELTA}?sinceTime={before_sync}")))
        .await);
    let mut expected: Vec<String> = tenant
        .change_row_ids(1)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    expected.extend(tenant.change_row_ids(2).into_iter().map(|(id, _)| id));
    assert_eq!(both, expected);
}

#[tokio::test]
async fn a_skiptoken_keeps_paging_through_its_own_days_snapshot() {
    let session = session(small(80, 5)).await;
    let tenant = SyntheticTenant::new(3, 80, 5);
    let (_, first, _) = session
        .get_json(&session.url(&format!("{FULL}?pageSize=100")))
        .await;
    assert_eq!(session.sandbox.advance_day().await.expect("advance"), 1);
    let next = first["@odata.nextLink"]
        .as_str()
        .expect("next link")
        .to_owned();
    let mut rows = ids(&[first]);
    rows.extend(ids(&session.pages(&next).await));
    assert_eq!(rows, tenant.export_row_ids(0));
    assert_ne!(tenant.export_row_ids(0), tenant.export_row_ids(1));
}

fn write_fixture(dir: &Path, name: &str, records: Value) {
    std::fs::create_dir_all(dir).expect("fixture folder");
    std::fs::write(dir.join(name), records.to_string()).expect("fixture file");
}

/// Day 0: two devices, three rows, a catalog; day2/: one device and changes.
fn write_fixtures(dir: &Path) {
    let day2 = dir.join("day2");
    write_fixture(dir, "machines.json", json!([{"id": "m1"}, {"id": "m2"}]));
    let rows = json!([{"id": "v1"}, {"id": "v2"}, {"id": "v3"}]);
    write_fixture(dir, "vulnerabilities.json", rows);
    write_fixture(dir, "catalog.json", json!([{"id": "CVE-2024-0001"}]));
    write_fixture(&day2, "machines.json", json!([{"id": "m2"}]));
    let changes = json!([
        {"id": "v1", "status": "Fixed", "eventTimestamp": "2020-01-01 00:00:00"},
        {"id": "v2", "status": "Updated", "eventTimestamp": "not a time"},
        {"id": "v4", "status": "New", "eventTimestamp": "2099-01-01T00:00:00Z"},
    ]);
    write_fixture(&day2, "changes.json", changes);
}

#[tokio::test]
async fn a_fixtures_folder_is_served_and_day2_takes_over() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path();
    write_fixtures(dir);
    let options = SandboxOptions {
        fixtures: Some(dir.to_owned()),
        ..SandboxOptions::default()
    };
    let session = session(options).await;
    assert_eq!(
        ids(&[session.get_json(&session.url("/api/machines")).await.1]),
        ["m1", "m2"]
    );
    assert_eq!(
        ids(&session
            .pages(&session.url(&format!("{FULL}?pageSize=2")))
            .await),
        ["v1", "v2", "v3"]
    );
    assert_eq!(
        ids(&[session
            .get_json(&session.url("/api/vulnerabilities"))
            .await
            .1]),
        ["CVE-2024-0001"]
    );

    assert_eq!(session.advance().await.1, json!({"day": 1}));
    assert_eq!(
        ids(&[session.get_json(&session.url("/api/machines")).await.1]),
        ["m2"]
    );
    assert_eq!(
        ids(&session.pages(&session.url(FULL)).await),
        ["v1", "v2", "v3"],
        "kept from day 0"
    );
    let since = rfc3339(jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24));
    let delta = ids(&session
        .pages(&session.url(&format!("{DELTA}?sinceTime={since}")))
        .await);
    assert_eq!(
        delta,
        ["v2", "v4"],
        "old rows filtered, unreadable times always served"
    );

    let (status, body) = session.advance().await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("day3")),
        "{body}"
    );
}

#[tokio::test]
async fn bodies_are_gzip_or_deflate_only_when_asked() {
    let session = session(small(20, 5)).await;
    let raw = reqwest::Client::builder()
        .no_gzip()
        .no_deflate()
        .build()
        .expect("client");
    let url = session.url(&format!("{FULL}?pageSize=50"));
    let fetch = |coding: Option<&'static str>| {
        let mut request = raw.get(&url).bearer_auth(&session.token);
        if let Some(coding) = coding {
            request = request.header("Accept-Encoding", coding);
        }
        async move {
            let response = request.send().await.expect("request");
            let encoding = response
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap_or_default().to_owned());
            (encoding, response.bytes().await.expect("body").to_vec())
        }
    };
    let (encoding, plain) = fetch(None).await;
    assert_eq!(encoding, None);
    let plain: Value = serde_json::from_slice(&plain).expect("identity JSON");

    let (encoding, gzip) = fetch(Some("gzip")).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&gzip[..])
        .read_to_end(&mut text)
        .expect("gunzip");
    assert_eq!(
        serde_json::from_slice::<Value>(&text).expect("gzip JSON")["value"],
        plain["value"]
    );

    let (encoding, deflate) = fetch(Some("deflate")).await;
    assert_eq!(encoding.as_deref(), Some("deflate"));
    let mut text = Vec::new();
    flate2::read::ZlibDecoder::new(&deflate[..])
        .read_to_end(&mut text)
        .expect("inflate");
    assert_eq!(
        serde_json::from_slice::<Value>(&text).expect("deflate JSON")["value"],
        plain["value"]
    );
}

#[tokio::test]
async fn throttle_answers_every_nth_call_with_429() {
    let options = SandboxOptions {
        faults: vec![Fault::Throttle { every: 3 }],
        ..small(5, 2)
    };
    let session = session(options).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (status, body, headers) = session.get_json(&session.url("/api/machines?$top=1")).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(headers.get("retry-after").map(String::as_str), Some("1"));
            assert_eq!(body["error"]["code"], "429");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert_eq!(
                message,
                "API calls quota exceeded! maximum allowed 100 per 00:01:00"
            );
        }
        statuses.push(status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 200, 200, 429]);
    assert_eq!(session.sandbox.stats().throttled, 2);
}

#[tokio::test]
async fn quota_exhausted_answers_the_hourly_429() {
    let options = SandboxOptions {
        faults: vec![Fault::QuotaExhausted],
        ..small(5, 2)
    };
    let session = session(options).await;
    let (status, body, headers) = session.get_json(&session.url(FULL)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers.get("retry-after").map(String::as_str), Some("3600"));
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(
        message,
        "API calls quota exceeded! maximum allowed 1000 per 01:00:00"
    );
}

#[tokio::test]
async fn error_rate_is_seeded() {
    let statuses = |share: f64, seed: u64| async move {
        let options = SandboxOptions {
            faults: vec![Fault::ErrorRate { share }],
            seed,
            ..small(3, 1)
        };
        let session = session(options).await;
        let mut statuses = Vec::new();
        for _ in 0..12 {
            statuses.push(
                session
                    .get(&session.url("/api/machines?$top=1"))
                    .await
                    .status()
                    .as_u16(),
            );
        }
        statuses
    };
    assert!(statuses(1.0, 1)
        .await
        .iter()
        .all(|status| [500, 502, 503].contains(status)));
    assert!(statuses(0.0, 1).await.iter().all(|status| *status == 200));
    let half = statuses(0.5, 9).await;
    assert_eq!(half, statuses(0.5, 9).await, "same seed, same failures");
    assert!(half.contains(&200) && half.iter().any(|status| *status >= 500));
}

#[tokio::test]
async fn truncate_reset_and_empty_page_faults_fire_once_each() {
    let faults = vec![
        Fault::TruncatePage { page: 2 },
        Fault::ResetPage { page: 3 },
        Fault::EmptyPage { page: 4 },
    ];
    let session = session(SandboxOptions {
        faults,
        ..small(10, 5)
    })
    .await;
    let url = session.url(&format!("{FULL}?pageSize=20"));
    let first = session.get(&url).await;
    assert!(first.json::<Value>().await.is_ok(), "page 1 is fine");

    let truncated = session.get(&url).await;
    assert_eq!(truncated.status(), StatusCode::OK);
    let text = truncated
        .bytes()
        .await
        .expect("a well-formed but short body");
    assert!(!text.is_empty() && serde_json::from_slice::<Value>(&text).is_err());

    let reset = session
        .http
        .get(&url)
        .bearer_auth(&session.token)
        .send()
        .await;
    let outcome = match reset {
        Ok(response) => response.bytes().await.map(|_| ()),
        Err(error) => Err(error),
    };
    assert!(outcome.is_err(), "the connection is reset");

    let empty = session.get(&url).await;
    assert_eq!(empty.status(), StatusCode::OK);
    assert!(empty.bytes().await.expect("empty body").is_empty());

    let again = session.get(&url).await;
    assert_eq!(
        again.json::<Value>().await.expect("page 5 is fine")["value"]
            .as_array()
            .map(Vec::len),
        Some(20)
    );
    assert_eq!(session.sandbox.stats().faults_fired, 3);
}

#[tokio::test]
async fn a_token_with_zero_ttl_is_refused_at_once() {
    let session = session(SandboxOptions {
        faults: vec![Fault::TokenTtl { secs: 0 }],
        ..small(3, 1)
    })
    .await;
    let (status, body, _) = session.get_json(&session.url("/api/machines")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "Unauthorized");
}

#[tokio::test(start_paused = true)]
async fn tokens_expire_after_the_token_ttl_in_paused_time() {
    let mut session = session(SandboxOptions {
        faults: vec![Fault::TokenTtl { secs: 5 }],
        ..small(3, 1)
    })
    .await;
    let url = session.url("/api/machines");
    assert_eq!(session.get(&url).await.status(), StatusCode::OK);
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(session.get(&url).await.status(), StatusCode::UNAUTHORIZED);
    session.token = sign_in(&session.http, &session.base).await;
    assert_eq!(session.get(&url).await.status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn the_export_rate_limit_answers_429_until_the_minute_has_passed() {
    let session = session(small(3, 2)).await;
    let url = session.url(&format!("{FULL}?$top=1"));
    for _ in 0..30 {
        assert_eq!(session.get(&url).await.status(), StatusCode::OK);
    }
    let (status, body, headers) = session.get_json(&url).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = headers
        .get("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&wait));
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.ends_with("maximum allowed 30 per 00:01:00")));
    tokio::time::advance(Duration::from_secs(wait)).await;
    assert_eq!(session.get(&url).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn foreign_next_link_points_elsewhere() {
    let session = session(SandboxOptions {
        faults: vec![Fault::ForeignNextLink],
        ..small(10, 5)
    })
    .await;
    let port = session
        .base
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let (_, body, _) = session
        .get_json(&session.url(&format!("{FULL}?pageSize=5")))
        .await;
    let link = body["@odata.nextLink"].as_str().unwrap_or_default();
    assert!(
        link.starts_with(&format!("http://foreign.invalid:{port}{FULL}?")),
        "{link}"
    );
    let (_, body, _) = session
        .get_json(&session.url("/api/vulnerabilities?$top=5"))
        .await;
    let link = body["@odata.nextLink"].as_str().unwrap_or_default();
    assert!(link.starts_with("http://foreign.invalid:"), "{link}");
}

#[tokio::test]
async fn a_denied_permission_answers_403_missing_application_roles() {
    let options = SandboxOptions {
        deny_permissions: vec![Permission::MachineReadAll],
        ..small(5, 2)
    };
    let session = session(options).await;
    let (status, body, _) = session.get_json(&session.url("/api/machines")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "Forbidden");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Missing application roles. API required roles: Machine.Read.All"),
        "{message}"
    );
    assert!(
        message.contains("application roles: Vulnerability.Read.All"),
        "{message}"
    );
    assert_eq!(
        session.get(&session.url(FULL)).await.status(),
        StatusCode::OK
    );

    let options = SandboxOptions {
        deny_permissions: vec![Permission::VulnerabilityReadAll],
        ..small(5, 2)
    };
    let session = self::session(options).await;
    let (status, body, _) = session.get_json(&session.url(FULL)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("required roles: Vulnerability.Read.All")));
}

#[tokio::test]
async fn the_catalog_pages_through_the_tenants_cves() {
    let session = session(small(10, 2)).await;
    let pages = session
        .pages(&session.url("/api/vulnerabilities?$top=20"))
        .await;
    let tenant = SyntheticTenant::new(3, 10, 2);
    assert_eq!(ids(&pages), tenant.catalog_ids());
    assert!(pages.len() > 1);
    let record = &pages[0]["value"][0];
    for field in [
        "name",
        "description",
        "severity",
        "cvssV3",
        "cvssVector",
        "exposedMachines",
        "publishedOn",
        "updatedOn",
    ] {
        assert!(!record[field].is_null(), "{field} in {record}");
    }
    let (status, _, _) = session
        .get_json(&session.url("/api/vulnerabilities?$top=8001"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        session.sandbox.stats().catalog_requests,
        pages.len() as u64 + 1
    );
}

#[tokio::test]
async fn start_from_args_answers_help_and_usage_errors() {
    let Err(SandboxError::Help(help)) = sandbox::start_from_args(vec!["--help".into()]).await
    else {
        panic!("--help gives the help text");
    };
    let expected = [
        "--devices",
        "[default: 200]",
        "--fault",
        "throttle=N",
        "--deny-permission",
    ];
    for text in expected.into_iter().chain([DEFAULT_TENANT_ID]) {
        assert!(help.contains(text), "{text} in help");
    }
    let Err(SandboxError::Usage(usage)) = sandbox::start_from_args(vec!["--bogus".into()]).await
    else {
        panic!("a bad flag is a usage error");
    };
    assert!(usage.contains("--bogus"), "{usage}");
    let args = vec!["--fault".into(), "slow".into()];
    let Err(SandboxError::Usage(usage)) = sandbox::start_from_args(args).await else {
        panic!("a bad fault is a usage error");
    };
    assert!(usage.contains("unknown fault"), "{usage}");
}

#[tokio::test]
async fn start_from_args_starts_a_sandbox_that_signs_in_advances_and_stops() {
    let args = [
        "--devices",
        "4",
        "--vulns-per-device",
        "2",
        "--client-secret",
        "s3cret",
    ];
    let args = args.iter().map(|arg| arg.to_string()).collect();
    let handle = sandbox::start_from_args(args).await.expect("starts");
    let base = handle.base_url();
    assert!(base.starts_with("http://127.0.0.1:"));
    let config = handle.instance_config();
    assert_eq!(config["api_url"], base.as_str());
    assert_eq!(config["login_url"], base.as_str());
    assert_eq!(config["client_secret"], "s3cret");

    let http = reqwest::Client::new();
    let form = [
        ("grant_type", "client_credentials"),
        (
            "client_id",
            config["client_id"].as_str().unwrap_or_default(),
        ),
        ("client_secret", "s3cret"),
        ("scope", SCOPE),
    ];
    let tenant = config["tenant_id"].as_str().unwrap_or_default();
    let url = format!("{base}/{tenant}/oauth2/v2.0/token");
    let response = http.post(url).form(&form).send().await.expect("token");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(handle.advance_day().await.expect("advance"), 1);
    handle.shutdown().await;
    let after = http.get(format!("{base}/api/machines")).send().await;
    assert!(after.is_err(), "stopped");
}

#[tokio::test]
async fn the_same_seed_serves_the_same_bytes() {
    let pinned: jiff::Timestamp = "2025-01-15T12:00:00Z".parse().expect("timestamp");
    let body = |seed: u64, path: &'static str| async move {
        let options = SandboxOptions {
            seed,
            now: Some(pinned),
            ..small(40, 6)
        };
        let session = session(options).await;
        let response = session.get(&session.url(path)).await;
        let text = response.text().await.expect("body");
        text.replace(&session.base, "http://sandbox")
    };
    for path in [
        "/api/machines",
        "/api/machines/SoftwareVulnerabilitiesByMachine?pageSize=100",
        "/api/vulnerabilities",
    ] {
        let (first, second) = (body(7, path).await, body(7, path).await);
        assert!(first.len() > 1_000);
        assert_eq!(first, second, "{path}");
    }
    assert_ne!(
        body(7, "/api/machines").await,
        body(8, "/api/machines").await
    );
}

//! Hostile input, bounded so it runs with every `cargo test`: page bodies
//! served over 127.0.0.1 to the real client (arbitrary bytes, invalid UTF-8,
//! 100,000 `[`, a 10 MB string, numbers out of range, duplicated keys), the
//! mappers fed hostile records, and the upstream's shape variations (casing,
//! new enum values, numbers as strings, nulls, unknown fields).
//!
//! Each case ends in a typed error or a mapped/quarantined record, never a
//! panic; the parser's size and nesting limits keep memory bounded.
//! (cargo-fuzz needs a nightly toolchain this project does not use; these
//! proptests stand in for it.)

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::routing::post;
use axum::{Json, Router};
use inlet_core::{AssetMapper, FindingMapper, Mapped, NoReference, Severity, SyncCounters};
use inlet_microsoft_tvm::client::{
    ClientOptions, Endpoint, LinkPager, Page, Sleeper, TvmClient, MAX_WHOLE_PAGE_RECORDS,
};
use inlet_microsoft_tvm::config::TvmConfig;
use inlet_microsoft_tvm::error::TvmError;
use inlet_microsoft_tvm::mapping::{TvmAssetMapper, TvmFindingMapper};
use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// Retries happen, without waiting.
#[derive(Debug)]
struct NoWait;

#[async_trait]
impl Sleeper for NoWait {
    async fn sleep(&self, _duration: Duration) {}
}

fn config(base_url: &str) -> TvmConfig {
    serde_json::from_value(json!({
        "tenant_id": "00000000-0000-0000-0000-000000000001",
        "client_id": "11111111-1111-1111-1111-111111111111",
        "client_secret": "hostile-test-secret",
        "api_url": base_url,
        "login_url": base_url,
    }))
    .expect("a valid config")
}

/// Serves a token to any sign-in and `body` as a 200 to any GET (`{BASE}`
/// in it replaced by the server's URL); returns the client's answer to one
/// page request.
async fn serve_page(body: Vec<u8>) -> Result<Option<Page>, TvmError> {
    let (client, server) = serve(body).await;
    let url = client.api_url("/api/machines/SoftwareVulnerabilitiesByMachine", None);
    let answer = client
        .get_page(Endpoint::Export, &url, &SyncCounters::default())
        .await;
    server.abort();
    answer
}

/// A client of a loopback server answering every GET with `body`.
async fn serve(body: Vec<u8>) -> (TvmClient, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let base_url = format!("http://{}", listener.local_addr().expect("address"));
    // Only valid UTF-8 bodies can carry the placeholder.
    let body = match String::from_utf8(body) {
        Ok(text) => text.replace("{BASE}", &base_url).into_bytes(),
        Err(error) => error.into_bytes(),
    };
    let body = Bytes::from(body);
    let token = Json(json!({ "token_type": "Bearer", "expires_in": 3599, "access_token": "t" }));
    let router = Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(move || async move { token }),
        )
        .fallback(move || async move { body });
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let options = ClientOptions {
        sleeper: Arc::new(NoWait),
        ..ClientOptions::default()
    };
    let client = TvmClient::with_options(&config(&base_url), options).expect("client");
    (client, server)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A broken page's error, after the retries.
fn broken(answer: Result<Option<Page>, TvmError>) -> String {
    match answer {
        Err(TvmError::BrokenPage { detail, url }) => {
            assert!(!url.contains('?'), "{url}");
            detail
        }
        other => panic!("expected a broken page, got {other:?}"),
    }
}

fn page_of(records: &str) -> Vec<u8> {
    format!("{{\"value\":[{records}]}}").into_bytes()
}

#[test]
fn hostile_pages_are_typed_errors() {
    let runtime = runtime();
    let deep = page_of(&"[".repeat(100_000));
    let huge = page_of(&format!("{{\"id\":\"{}\"}}", "x".repeat(10_000_000)));
    let mut bad_utf8 = page_of("{\"id\":\"\u{1}\"}");
    let quote = bad_utf8.iter().rposition(|b| *b == 1).expect("marker");
    bad_utf8[quote] = 0xff;
    let cases: [(Vec<u8>, &str); 6] = [
        (deep, "nested deeper than 128 levels"),
        (huge, "record 1 is larger than"),
        (bad_utf8, "record 1 is not UTF-8"),
        (
            b"{\"value\":[1],\"value\":[2]}".to_vec(),
            "duplicate key `value`",
        ),
        (b"\xff\xfe{".to_vec(), "unexpected `0xff` at byte 0"),
        (b"{\"\xff\":1}".to_vec(), "a key is not valid JSON"),
    ];
    for (body, expected) in cases {
        let detail = broken(runtime.block_on(serve_page(body)));
        assert!(detail.contains(expected), "{expected:?} not in {detail:?}");
    }
}

#[test]
fn a_page_read_whole_cannot_grow_past_its_limit() {
    // A server ignoring `$top`: one record too many for a page read whole.
    let records = vec!["1"; MAX_WHOLE_PAGE_RECORDS + 1].join(",");
    let detail = broken(runtime().block_on(serve_page(page_of(&records))));
    let expected = format!("more than {MAX_WHOLE_PAGE_RECORDS} records in a page read whole");
    assert_eq!(detail, expected);
}

#[test]
fn odd_but_valid_records_reach_the_mapper_and_are_quarantined_or_mapped() {
    let runtime = runtime();
    let records = r#"{"id":"a","cvssScore":1e400,"deviceId":"d","cveId":"CVE-1"},
        {"id":"b","id":"c","cvssScore":"9.1","cvssScore":-1,"deviceId":"d","cveId":"CVE-2"},
        {"id":"d","osBuild":123456789012345678901234567890,"lastSeen":"2026-13-45T99:99:99Z"}"#;
    let page = runtime
        .block_on(serve_page(page_of(records)))
        .expect("a page")
        .expect("not a 404");
    assert_eq!(page.records.len(), 3);
    let finding_mapper = TvmFindingMapper::new();
    for record in &page.records[..2] {
        // Out-of-range numbers and duplicated keys: a record or a typed error.
        match finding_mapper.map_finding(record, &NoReference) {
            Ok(_) => {}
            Err(error) => assert!(!error.reason.is_empty()),
        }
    }
    let asset_mapper = TvmAssetMapper::new(&config("http://127.0.0.1:1"));
    match asset_mapper.map_asset(&page.records[2]) {
        Ok(Mapped::Record { record, warnings }) => {
            assert_eq!(record.id, "d");
            assert!(record.last_observed.is_none(), "an impossible date is null");
            assert!(!warnings.is_empty(), "the odd fields are counted");
        }
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_bytes_never_panic_the_client(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        let answer = runtime().block_on(serve_page(body));
        // Bytes that happen to be a page are fine; anything else is a broken page.
        if let Err(error) = answer {
            prop_assert!(matches!(error, TvmError::BrokenPage { .. }), "{error:?}");
        }
    }

    #[test]
    fn json_soup_never_panics_the_client(body in "[\\[\\]{}\",:a-z0-9 \\\\]{0,400}") {
        let body = format!("{{\"value\":[{body}");
        let answer = runtime().block_on(serve_page(body.into_bytes()));
        if let Err(error) = answer {
            prop_assert!(matches!(error, TvmError::BrokenPage { .. }), "{error:?}");
        }
    }
}

fn raw(value: &Value) -> Box<RawValue> {
    RawValue::from_string(value.to_string()).expect("json")
}

/// A value nested `depth` arrays deep.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!("core"), |inner, _| json!([inner]))
}

#[test]
fn mappers_survive_huge_strings_deep_nesting_and_duplicates() {
    let asset_mapper = TvmAssetMapper::new(&config("http://127.0.0.1:1"));
    let finding_mapper = TvmFindingMapper::new();
    let huge = "h".repeat(4_000_000);
    let device = json!({
        "id": "dev1", "computerDnsName": huge, "machineTags": nested(100),
        "vmMetadata": nested(100), "lastIpAddress": huge, "rbacGroupName": {"a": nested(100)}
    });
    match asset_mapper.map_asset(&raw(&device)) {
        Ok(Mapped::Record { record, .. }) => assert_eq!(record.id, "dev1"),
        other => panic!("{other:?}"),
    }
    let row = json!({
        "id": "dev1_x_1_CVE-2026-1_", "deviceId": "dev1", "cveId": "CVE-2026-1",
        "softwareName": huge, "diskPaths": nested(100), "cvssScore": nested(50)
    });
    assert!(finding_mapper.map_finding(&raw(&row), &NoReference).is_ok());

    // serde_json keeps duplicated keys in raw text; the mapper must decide.
    let duplicated = r#"{"id":"dev2","id":"dev3","healthStatus":"Active","healthStatus":7}"#;
    let duplicated = RawValue::from_string(duplicated.into()).expect("json");
    match asset_mapper.map_asset(&duplicated) {
        Ok(Mapped::Record { record, .. }) => assert!(["dev2", "dev3"].contains(&&*record.id)),
        Ok(Mapped::Skipped(reason)) => panic!("skipped: {reason:?}"),
        Err(error) => assert!(!error.reason.is_empty()),
    }
}

fn mapped_asset(device: Value) -> inlet_core::AssetObservation {
    let mapper = TvmAssetMapper::new(&config("http://127.0.0.1:1"));
    match mapper.map_asset(&raw(&device)) {
        Ok(Mapped::Record { record, .. }) => record,
        other => panic!("{device}: {other:?}"),
    }
}

fn mapped_finding(row: Value) -> inlet_core::FindingObservation {
    match TvmFindingMapper::new().map_finding(&raw(&row), &NoReference) {
        Ok(Mapped::Record { record, .. }) => record,
        other => panic!("{row}: {other:?}"),
    }
}

#[test]
fn upstream_shape_variations_map_alike() {
    // `rbacGroupId` comes as a number or a string: the same device.
    let as_number = mapped_asset(json!({ "id": "d1", "rbacGroupId": 140 }));
    let as_string = mapped_asset(json!({ "id": "d1", "rbacGroupId": "140" }));
    assert_eq!(as_number, as_string);
    // `osBuild` keeps the JSON type it came in (documented as a number).
    for build in [json!(22631), json!("22631")] {
        let device = mapped_asset(json!({ "id": "d1", "osBuild": build }));
        assert_eq!(device.custom_attributes["osBuild"], build);
    }

    // Statuses in other casing or never seen before are kept as sent.
    for status in ["inactive", "ACTIVE", "Decommissioned"] {
        let device = mapped_asset(json!({ "id": "d1", "healthStatus": status }));
        assert_eq!(device.source_status.as_deref(), Some(status));
    }

    // Nulls and missing keys everywhere: still a device.
    let nulls = mapped_asset(json!({
        "id": "d1", "computerDnsName": null, "lastIpAddress": null, "machineTags": null,
        "firstSeen": null, "lastSeen": null, "healthStatus": null, "vmMetadata": null,
        "someNewField": {"nested": [1, 2]}
    }));
    assert_eq!(nulls.id, "d1");
    assert_eq!(nulls.source_status, None);

    // cvssScore as a number or a string; severities in any casing or new.
    let row = |extra: Value| {
        let mut row =
            json!({ "id": "d1_a_1_CVE-2026-1_", "deviceId": "d1", "cveId": "CVE-2026-1" });
        row.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        row
    };
    let number = mapped_finding(row(json!({ "cvssScore": 7.5 })));
    let string = mapped_finding(row(json!({ "cvssScore": "7.5" })));
    assert_eq!(
        (number.cvss_score, number.severity),
        (Some(7.5), Severity::High)
    );
    assert_eq!(number, string);
    for (level, severity) in [("critical", Severity::Critical), ("HIGH", Severity::High)] {
        let finding = mapped_finding(row(json!({ "vulnerabilitySeverityLevel": level })));
        assert_eq!(finding.severity, severity, "{level}");
    }
    let unknown = mapped_finding(row(json!({ "vulnerabilitySeverityLevel": "Urgent" })));
    assert_eq!(
        unknown.severity,
        Severity::None,
        "an unknown level rates nothing"
    );
    let nulls = mapped_finding(row(json!({
        "cvssScore": null, "vulnerabilitySeverityLevel": null, "softwareName": null,
        "diskPaths": null, "firstSeenTimestamp": null, "newField": true
    })));
    assert_eq!(nulls.cvss_score, None);
}

#[test]
fn errors_about_a_next_link_never_show_its_query() {
    // Every page links to the same signed URL: the second visit is a loop.
    let body = br#"{"value":[{"id":"r"}],"@odata.nextLink":"{BASE}/api/next?sig=SIGsecret123&$skiptoken=TOKENxyz"}"#;
    let error = runtime().block_on(async {
        let (client, server) = serve(body.to_vec()).await;
        let counters = SyncCounters::default();
        let first = client.api_url("/api/first", None);
        let mut pager = LinkPager::new(&client, Endpoint::Export, first, &counters);
        let error = loop {
            match pager.next_batch(100).await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("a looping next link ended"),
                Err(error) => break error,
            }
        };
        server.abort();
        error
    });
    assert!(matches!(error, TvmError::RepeatedPage { .. }), "{error:?}");
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("/api/next"), "{shown}");
    for secret in ["SIGsecret123", "TOKENxyz", "sig=", "skiptoken"] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
}

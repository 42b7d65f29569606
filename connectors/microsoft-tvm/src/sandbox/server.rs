//! The API host's routes: devices, the full and delta vulnerability exports,
//! the catalog, and the `/_sandbox` controls. Every API call passes the
//! same gate in upstream's order: token (401), permission (403), injected
//! faults, rate limits (429); then its query is validated (400).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{self, TokenStore};
use super::body::{self, Encoding, Page};
use super::clock::{self, Clock, DAY_SECS};
use super::faults::{CallFault, Faults, PageFault};
use super::limits::{Family, RateLimits, Refusal};
use super::options::Permission;
use super::reply::ApiError;
use super::source::Dataset;
use super::stats::{bump, Counters};

const MAX_MACHINES_TOP: u64 = 10_000;
const DEFAULT_PAGE_SIZE: u64 = 50_000;
const MAX_PAGE_SIZE: u64 = 200_000;
const MAX_CATALOG_TOP: u64 = 8_000;
const MAX_DELTA_DAYS: i64 = 14;
/// How long the `slow-page` fault holds a body back after its headers.
const SLOW_PAGE_STALL: std::time::Duration = std::time::Duration::from_secs(10);

const FULL_PATH: &str = "/api/machines/SoftwareVulnerabilitiesByMachine";
const DELTA_PATH: &str = "/api/machines/SoftwareVulnerabilityChangesByMachine";
const CATALOG_PATH: &str = "/api/vulnerabilities";

/// The credentials and permissions the sandbox accepts (no `Debug`: it
/// holds the secret).
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) tenant_id: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) denied: Vec<Permission>,
}

/// Everything a request handler needs.
pub(crate) struct App {
    pub(crate) settings: Settings,
    pub(crate) data: Dataset,
    pub(crate) clock: Clock,
    pub(crate) tokens: TokenStore,
    pub(crate) limits: RateLimits,
    pub(crate) faults: Faults,
    pub(crate) stats: Counters,
    pub(crate) base_url: String,
    pub(crate) port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Machines,
    FullExport,
    DeltaExport,
    Catalog,
}

impl Endpoint {
    fn family(self) -> Family {
        match self {
            Self::Machines | Self::Catalog => Family::Machines,
            Self::FullExport | Self::DeltaExport => Family::Exports,
        }
    }

    fn permission(self) -> Permission {
        match self {
            Self::Machines => Permission::MachineReadAll,
            _ => Permission::VulnerabilityReadAll,
        }
    }
}

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(auth::token_v2))
        .route("/{tenant}/oauth2/token", post(auth::token_v1))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/api/machines", get(machines))
        .route(FULL_PATH, get(full_export))
        .route(DELTA_PATH, get(delta_export))
        .route(CATALOG_PATH, get(catalog))
        .route("/_sandbox/advance-day", post(advance_day))
        .route("/_sandbox/stats", get(stats))
        .route("/_sandbox/tokens", get(tokens))
        .fallback(not_found)
        .with_state(app)
}

impl App {
    /// The gate every API call passes; `Err` is the answer that stops it.
    fn admit(&self, headers: &HeaderMap, endpoint: Endpoint) -> Result<(), ApiError> {
        let admitted = self.gate(headers, endpoint);
        if let Err(refusal) = &admitted {
            tracing::debug!(?endpoint, ?refusal, "sandbox refused an api call");
        }
        admitted
    }

    fn gate(&self, headers: &HeaderMap, endpoint: Endpoint) -> Result<(), ApiError> {
        bump(match endpoint {
            Endpoint::Machines => &self.stats.machines_requests,
            Endpoint::FullExport => &self.stats.export_requests,
            Endpoint::DeltaExport => &self.stats.delta_requests,
            Endpoint::Catalog => &self.stats.catalog_requests,
        });
        if !self.tokens.authorizes(headers) {
            bump(&self.stats.unauthorized);
            return Err(ApiError::Unauthorized);
        }
        let permission = endpoint.permission();
        if self.settings.denied.contains(&permission) {
            bump(&self.stats.forbidden);
            return Err(self.forbidden(permission));
        }

        // Injected faults first, then the real quotas.
        let family = endpoint.family();
        let refusal = match self.faults.on_api_call() {
            Some(CallFault::ServerError(status)) => {
                bump(&self.stats.faults_fired);
                bump(&self.stats.server_errors);
                return Err(ApiError::ServerError(status));
            }
            Some(CallFault::QuotaExhausted) => Err(Refusal::per_hour(family, 3600)),
            Some(CallFault::Throttled) => Err(Refusal::per_minute(family, 1)),
            None => Ok(()),
        };
        if refusal.is_err() {
            bump(&self.stats.faults_fired);
        }
        refusal
            .and_then(|()| self.limits.admit(family))
            .map_err(|refusal| {
                bump(&self.stats.throttled);
                ApiError::Throttled(refusal)
            })
    }

    /// Upstream's 2023+ 403 text, listing the roles the app does have.
    fn forbidden(&self, permission: Permission) -> ApiError {
        let granted: Vec<&str> = [Permission::MachineReadAll, Permission::VulnerabilityReadAll]
            .into_iter()
            .filter(|granted| !self.settings.denied.contains(granted))
            .map(Permission::name)
            .collect();
        ApiError::Forbidden(format!(
            "Missing application roles. API required roles: {}, application roles: {}.",
            permission.accepted_roles(),
            granted.join(",")
        ))
    }

    /// The scheme and host the client used, for `@odata.context`.
    fn own_base(&self, headers: &HeaderMap) -> String {
        match headers.get(HOST).and_then(|host| host.to_str().ok()) {
            Some(host) if !host.is_empty() => format!("http://{host}"),
            _ => self.base_url.clone(),
        }
    }

    /// Where next links point: here, or elsewhere with `foreign-next-link`.
    fn link_base(&self, headers: &HeaderMap) -> String {
        if self.faults.plan.foreign_next_link {
            bump(&self.stats.faults_fired);
            format!("http://foreign.invalid:{}", self.port)
        } else {
            self.own_base(headers)
        }
    }

    /// Answers an export page request, unless a page fault spoils it.
    fn export_page(&self, headers: &HeaderMap, page: impl FnOnce() -> Page) -> Response {
        let fault = self.faults.on_export_page();
        if let Some(fault) = fault {
            tracing::debug!(?fault, "sandbox page fault fired");
        }
        let cut = match fault {
            Some(PageFault::Empty) => {
                bump(&self.stats.faults_fired);
                bump(&self.stats.pages_served);
                return body::empty_page();
            }
            Some(PageFault::Cut(cut)) => {
                bump(&self.stats.faults_fired);
                Some(cut)
            }
            Some(PageFault::Slow) => {
                bump(&self.stats.faults_fired);
                bump(&self.stats.pages_served);
                let response = body::respond(page(), Encoding::negotiate(headers), None);
                return body::stalled(response, SLOW_PAGE_STALL);
            }
            None => None,
        };
        bump(&self.stats.pages_served);
        body::respond(page(), Encoding::negotiate(headers), cut)
    }

    fn page(&self, headers: &HeaderMap, page: Page) -> Response {
        bump(&self.stats.pages_served);
        body::respond(page, Encoding::negotiate(headers), None)
    }
}

/// Query parameters, matched case-insensitively as upstream does
/// (its own next links say `pagesize` and `sincetime`).
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: Option<&str>) -> Self {
        let pairs = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes());
        Self(pairs.into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        let mut pairs = self.0.iter();
        pairs
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// A count parameter in `minimum..=maximum`, `default` when absent.
    fn count(&self, name: &str, default: u64, minimum: u64, maximum: u64) -> Result<u64, ApiError> {
        let Some(text) = self.get(name) else {
            return Ok(default);
        };
        match text.trim().parse::<u64>() {
            Ok(value) if (minimum..=maximum).contains(&value) => Ok(value),
            // OData's own wording for an oversized `$top`.
            Ok(value) if value > maximum && name.starts_with('$') => {
                let option = name.trim_start_matches('$');
                let option = option[..1].to_ascii_uppercase() + &option[1..];
                Err(ApiError::bad_request(
                    "ODataError",
                    format!(
                        "The limit of '{maximum}' for {option} query has been exceeded. The value \
                         from the incoming request is '{value}'."
                    ),
                ))
            }
            _ => Err(ApiError::bad_request(
                "InvalidInput",
                format!(
                    "The value '{text}' of '{name}' is invalid: expected a whole number from \
                     {minimum} to {maximum}."
                ),
            )),
        }
    }

    /// `$top` (default and maximum `max_top`) and `$skip`.
    fn top_and_skip(&self, min_top: u64, max_top: u64) -> Result<(u64, u64), ApiError> {
        let top = self.count("$top", max_top, min_top, max_top)?;
        Ok((top, self.count("$skip", 0, 0, u64::MAX)?))
    }
}

async fn machines(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    app.admit(&headers, Endpoint::Machines)?;
    let (top, skip) = Params::parse(query.as_deref()).top_and_skip(0, MAX_MACHINES_TOP)?;

    // Upstream answers 404, not an empty page, when no device is left.
    let rows = app.data.machines(app.data.current_day(), skip, top);
    let rows = rows.ok_or(ApiError::NotFound("No machines found."))?;
    let context = format!("{}/api/$metadata#Machines", app.own_base(&headers));
    Ok(app.page(
        &headers,
        Page {
            context,
            rows,
            next_link: None,
        },
    ))
}

/// Where a vulnerability page starts: a snapshot day and an offset.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cursor {
    kind: String,
    day: u32,
    offset: u64,
    /// Delta only: start of the sinceTime window, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<i64>,
}

impl Cursor {
    fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// The cursor a `$skiptoken` carries, if it is one of ours for `kind`.
    fn decode(token: &str, kind: &str, current_day: u32) -> Result<Self, ApiError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim())
            .ok();
        let cursor: Option<Self> = bytes.and_then(|bytes| serde_json::from_slice(&bytes).ok());
        match cursor {
            Some(cursor) if cursor.kind == kind && cursor.day <= current_day => Ok(cursor),
            _ => Err(ApiError::bad_request(
                "InvalidInput",
                "The $skiptoken is invalid.",
            )),
        }
    }

    /// The same query `count` rows further on.
    fn advanced(&self, count: u64) -> Self {
        Self {
            offset: self.offset + count,
            ..self.clone()
        }
    }
}

/// The paging parameters shared by both exports.
struct ExportQuery {
    page_size: u64,
    top: Option<u64>,
}

impl ExportQuery {
    fn parse(params: &Params) -> Result<Self, ApiError> {
        let page_size = params.count("pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)?;
        let top = match params.get("$top") {
            Some(_) => Some(params.count("$top", 0, 0, MAX_PAGE_SIZE)?),
            None => None,
        };
        Ok(Self { page_size, top })
    }

    /// How many rows to send from `offset` of `total`, and whether more remain.
    /// `$top` sends that many and never a next link.
    fn slice(&self, offset: u64, total: u64) -> (u64, bool) {
        let remaining = total.saturating_sub(offset);
        match self.top {
            Some(top) => (top.min(remaining), false),
            None => {
                let count = self.page_size.min(remaining);
                (count, offset + count < total)
            }
        }
    }
}

async fn full_export(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    app.admit(&headers, Endpoint::FullExport)?;
    let params = Params::parse(query.as_deref());
    let query = ExportQuery::parse(&params)?;
    let current = app.data.current_day();
    let cursor = match params.get("$skiptoken") {
        Some(token) => Cursor::decode(token, "full", current)?,
        None => Cursor {
            kind: "full".into(),
            day: current,
            offset: 0,
            window: None,
        },
    };

    // A skiptoken keeps paging through the snapshot its first page came from.
    let (count, more) = query.slice(cursor.offset, app.data.export_len(cursor.day));
    let next_link = more.then(|| {
        let base = app.link_base(&headers);
        let token = cursor.advanced(count).encode();
        format!(
            "{base}{FULL_PATH}?pagesize={}&$skiptoken={token}",
            query.page_size
        )
    });
    let context = format!(
        "{}/api/$metadata#Collection(microsoft.windowsDefenderATP.api.AssetVulnerability)",
        app.own_base(&headers)
    );
    Ok(app.export_page(&headers, || {
        let rows = app.data.export_rows(cursor.day, cursor.offset, count);
        Page {
            context,
            rows,
            next_link,
        }
    }))
}

/// The delta query's start: its 6-hour window, or a 400 saying what is wrong.
fn delta_window(params: &Params, now: Timestamp) -> Result<Timestamp, ApiError> {
    let Some(text) = params.get("sinceTime") else {
        return Err(ApiError::bad_request(
            "MissingRequiredParameter",
            "The sinceTime parameter is required, e.g. sinceTime=2021-05-19T18:35:49.924Z.",
        ));
    };
    let Some(since) = clock::parse_loose(text) else {
        return Err(ApiError::bad_request(
            "InvalidInput",
            format!("The sinceTime value '{text}' is not a valid ISO 8601 date and time."),
        ));
    };
    let oldest = clock::plus(now, SignedDuration::from_secs(-MAX_DELTA_DAYS * DAY_SECS));
    if since < oldest {
        return Err(ApiError::bad_request(
            "InvalidInput",
            format!("The sinceTime value '{text}' is more than {MAX_DELTA_DAYS} days in the past."),
        ));
    }
    Ok(clock::window_start(since))
}

/// A delta's cursor: from the skiptoken, or a first page from `sinceTime`.
fn delta_cursor(app: &App, params: &Params) -> Result<Cursor, ApiError> {
    let current = app.data.current_day();
    if let Some(token) = params.get("$skiptoken") {
        return Cursor::decode(token, "delta", current);
    }
    let window = delta_window(params, app.clock.now())?;
    Ok(Cursor {
        kind: "delta".into(),
        day: current,
        offset: 0,
        window: Some(window.as_second()),
    })
}

async fn delta_export(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    app.admit(&headers, Endpoint::DeltaExport)?;
    let params = Params::parse(query.as_deref());
    let query = ExportQuery::parse(&params)?;
    let cursor = delta_cursor(&app, &params)?;

    let window = cursor
        .window
        .and_then(|secs| Timestamp::from_second(secs).ok());
    let window = window.unwrap_or_default();
    let changes = app.data.changes(cursor.day, window);
    let (count, more) = query.slice(cursor.offset, changes.len());
    let next_link = more.then(|| {
        let base = app.link_base(&headers);
        let since: String =
            url::form_urlencoded::byte_serialize(clock::iso(window, 0).as_bytes()).collect();
        let token = cursor.advanced(count).encode();
        format!(
            "{base}{DELTA_PATH}?sincetime={since}&pagesize={}&$skiptoken={token}",
            query.page_size
        )
    });
    let context = format!(
        "{}/api/$metadata#Collection(microsoft.windowsDefenderATP.api.DeltaAssetVulnerability)",
        app.own_base(&headers)
    );
    Ok(app.export_page(&headers, || Page {
        context,
        rows: changes.rows(cursor.offset, count),
        next_link,
    }))
}

async fn catalog(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    app.admit(&headers, Endpoint::Catalog)?;
    let (top, skip) = Params::parse(query.as_deref()).top_and_skip(1, MAX_CATALOG_TOP)?;

    // Unlike devices, an empty catalog slice is an empty page.
    let total = app.data.catalog_len();
    let count = top.min(total.saturating_sub(skip));
    let next_link = (skip + count < total).then(|| {
        let base = app.link_base(&headers);
        format!("{base}{CATALOG_PATH}?$top={top}&$skip={}", skip + count)
    });
    let context = format!("{}/api/$metadata#Vulnerabilities", app.own_base(&headers));
    let rows = app.data.catalog_rows(skip, count);
    Ok(app.page(
        &headers,
        Page {
            context,
            rows,
            next_link,
        },
    ))
}

async fn advance_day(State(app): State<Arc<App>>) -> Response {
    match app.data.advance(app.clock.now()).await {
        Ok(day) => {
            tracing::debug!(day, "sandbox advanced a day");
            Json(json!({ "day": day })).into_response()
        }
        Err(error) => {
            let body = json!({ "error": { "code": "Conflict", "message": error.to_string() } });
            (StatusCode::CONFLICT, Json(body)).into_response()
        }
    }
}

/// The sign-in host's discovery document, as far as a client looks at it
/// (the check's `login` test asks for it to see the host answer).
async fn openid_configuration(State(app): State<Arc<App>>, Path(tenant): Path<String>) -> Response {
    let base = &app.base_url;
    Json(json!({
        "issuer": format!("{base}/{tenant}/v2.0"),
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "response_types_supported": ["code", "id_token", "token"],
    }))
    .into_response()
}

async fn stats(State(app): State<Arc<App>>) -> Response {
    let day = app.data.current_day();
    Json(json!({ "day": day, "stats": app.stats.snapshot() })).into_response()
}

/// The tokens issued so far: a test-only window into the fake sign-in host,
/// so tests can prove no token reached a log or a store.
async fn tokens(State(app): State<Arc<App>>) -> Response {
    Json(json!({ "tokens": app.tokens.issued() })).into_response()
}

async fn not_found() -> ApiError {
    ApiError::NotFound("The requested resource was not found.")
}

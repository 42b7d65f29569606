//! The sign-in host: the v1 and v2.0 client-credentials token endpoints with
//! the real error bodies, and the bearer check of API calls. Tokens are
//! random opaque strings remembered with their expiry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use bytes::Bytes;
use serde_json::json;
use tokio::time::Instant;

use super::reply::SignInError;
use super::server::App;
use super::stats::bump;

/// What every issued token claims: `expires_in` of a real token.
pub(crate) const ADVERTISED_TTL_SECS: u64 = 3599;

/// Resources (App ID URIs) the sign-in host issues tokens for.
const AUDIENCES: &[&str] = &[
    "https://api.securitycenter.microsoft.com",
    "https://api.security.microsoft.com",
    "https://securitycenter.onmicrosoft.com/windowsatpservice",
    "https://api-gcc.securitycenter.microsoft.us",
    "https://api-gov.securitycenter.microsoft.us",
    "fc780465-2017-40d4-a0c5-307022471b92",
];

#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    tokens: Mutex<HashMap<String, Instant>>,
    /// Every token ever issued, expired ones too, for `GET /_sandbox/tokens`
    /// (tests search logs and stores for them).
    issued: Mutex<Vec<String>>,
}

impl TokenStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // The map stays consistent whatever panicked while holding it.
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new token valid for `ttl`.
    pub(crate) fn issue(&self, ttl: Duration) -> String {
        let bytes: [u8; 32] = rand::random();
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let now = Instant::now();
        let mut tokens = self.lock();
        tokens.retain(|_, expires| *expires > now);
        tokens.insert(token.clone(), now + ttl);
        drop(tokens);
        self.issued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(token.clone());
        token
    }

    /// Every token issued so far, oldest first.
    pub(crate) fn issued(&self) -> Vec<String> {
        let issued = self.issued.lock();
        issued
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether `headers` carry `Authorization: Bearer <known, unexpired token>`.
    pub(crate) fn authorizes(&self, headers: &HeaderMap) -> bool {
        let value = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let token = value
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim);
        token.is_some_and(|token| {
            self.lock()
                .get(token)
                .is_some_and(|expires| *expires > Instant::now())
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

pub(crate) async fn token_v1(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    token(&app, Version::V1, &tenant, &headers, &body)
}

pub(crate) async fn token_v2(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    token(&app, Version::V2, &tenant, &headers, &body)
}

fn token(app: &App, version: Version, tenant: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let now = app.clock.now();
    let resource = match check(app, version, tenant, headers, body) {
        Ok(resource) => resource,
        Err(error) => {
            bump(&app.stats.token_errors);
            return error.into_response(now);
        }
    };
    let ttl = app
        .faults
        .plan
        .token_ttl_secs
        .unwrap_or(ADVERTISED_TTL_SECS);
    let access_token = app.tokens.issue(Duration::from_secs(ttl));
    bump(&app.stats.tokens_issued);
    let body = match version {
        Version::V2 => json!({
            "token_type": "Bearer",
            "expires_in": ADVERTISED_TTL_SECS,
            "ext_expires_in": ADVERTISED_TTL_SECS,
            "access_token": access_token,
        }),
        Version::V1 => {
            let issued = now.as_second();
            json!({
                "token_type": "Bearer",
                "expires_in": ADVERTISED_TTL_SECS.to_string(),
                "ext_expires_in": ADVERTISED_TTL_SECS.to_string(),
                "expires_on": (issued + ADVERTISED_TTL_SECS as i64).to_string(),
                "not_before": issued.to_string(),
                "resource": resource,
                "access_token": access_token,
            })
        }
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// The sign-in host's refusals, worded as it words them (texts may change
/// upstream; only `error` and the code are meant for programs).
mod refusal {
    use super::{SignInError, StatusCode};

    fn bad_request(error: &'static str, code: u32, text: String) -> SignInError {
        SignInError::new(StatusCode::BAD_REQUEST, error, code, text)
    }

    pub(super) fn missing(name: &str) -> SignInError {
        let text = format!("The request body must contain the following parameter: '{name}'.");
        bad_request("invalid_request", 900144, text)
    }

    pub(super) fn unknown_tenant(tenant: &str) -> SignInError {
        let text = format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and \
             are signing into the correct cloud. Check with your subscription administrator, this \
             may happen if there are no active subscriptions for the tenant."
        );
        bad_request("invalid_request", 90002, text)
    }

    pub(super) fn unsupported_grant(grant_type: &str) -> SignInError {
        let text = format!("The app requested an unsupported grant type '{grant_type}'.");
        bad_request("unsupported_grant_type", 70003, text)
    }

    pub(super) fn unknown_client(client_id: &str, tenant: &str) -> SignInError {
        let text = format!(
            "Application with identifier '{client_id}' was not found in the directory '{tenant}'. \
             This can happen if the application has not been installed by the administrator of the \
             tenant or consented to by any user in the tenant. You may have sent your \
             authentication request to the wrong tenant."
        );
        bad_request("unauthorized_client", 700016, text)
    }

    pub(super) fn no_secret() -> SignInError {
        let text = "The request body must contain the following parameter: 'client_assertion' or \
                    'client_secret'.";
        bad_request("invalid_request", 7000218, text.into())
    }

    /// Names the app, never the secret that was sent.
    pub(super) fn wrong_secret(client_id: &str) -> SignInError {
        let text = format!(
            "Invalid client secret provided. Ensure the secret being sent in the request is the \
             client secret value, not the client secret ID, for a secret added to app \
             '{client_id}'."
        );
        SignInError::new(StatusCode::UNAUTHORIZED, "invalid_client", 7000215, text)
    }

    pub(super) fn bad_scope(scope: &str) -> SignInError {
        let text = format!(
            "The provided value for the input parameter 'scope' is not valid. The scope {scope} is \
             not valid: client credential flows must have a scope value with /.default suffixed to \
             the resource identifier."
        );
        bad_request("invalid_scope", 70011, text)
    }

    pub(super) fn unknown_resource(resource: &str, tenant: &str) -> SignInError {
        let text = format!(
            "The resource principal named {resource} was not found in the tenant named {tenant}. \
             This can happen if the application has not been installed by the administrator of the \
             tenant or consented to by any user in the tenant. You might have sent your \
             authentication request to the wrong tenant."
        );
        bad_request("invalid_resource", 500011, text)
    }
}

/// The client id and secret sent with HTTP Basic auth (RFC 6749 2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?.trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Validates a token request in the sign-in host's order; returns the resource.
fn check(
    app: &App,
    version: Version,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, SignInError> {
    let settings = &app.settings;
    if !tenant.eq_ignore_ascii_case(&settings.tenant_id) {
        return Err(refusal::unknown_tenant(tenant));
    }
    let mut form: HashMap<String, String> =
        url::form_urlencoded::parse(body).into_owned().collect();
    if let Some((id, secret)) = basic_credentials(headers) {
        form.entry("client_id".into()).or_insert(id);
        form.entry("client_secret".into()).or_insert(secret);
    }

    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| refusal::missing("grant_type"))?;
    if grant_type != "client_credentials" {
        return Err(refusal::unsupported_grant(grant_type));
    }
    let client_id = form
        .get("client_id")
        .ok_or_else(|| refusal::missing("client_id"))?;
    if !client_id.eq_ignore_ascii_case(&settings.client_id) {
        return Err(refusal::unknown_client(client_id, tenant));
    }
    let resource = requested_resource(version, &form, tenant)?;
    match form.get("client_secret") {
        None => Err(refusal::no_secret()),
        Some(secret) if *secret != settings.client_secret => {
            Err(refusal::wrong_secret(&settings.client_id))
        }
        Some(_) => Ok(resource),
    }
}

/// The resource a v1 `resource` or v2 `scope` (`<resource>/.default`) names.
fn requested_resource(
    version: Version,
    form: &HashMap<String, String>,
    tenant: &str,
) -> Result<String, SignInError> {
    let resource = match version {
        Version::V1 => form
            .get("resource")
            .ok_or_else(|| refusal::missing("resource"))?
            .clone(),
        Version::V2 => {
            let scope = form.get("scope").ok_or_else(|| refusal::missing("scope"))?;
            let resource = scope.trim().strip_suffix("/.default");
            resource
                .ok_or_else(|| refusal::bad_scope(scope))?
                .to_owned()
        }
    };
    let resource_id = resource.trim_end_matches('/');
    if !AUDIENCES
        .iter()
        .any(|audience| audience.eq_ignore_ascii_case(resource_id))
    {
        return Err(refusal::unknown_resource(&resource, tenant));
    }
    Ok(resource)
}

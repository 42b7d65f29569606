//! Upstream's error bodies: the API's `{"error": {code, message, target}}`
//! and the sign-in host's AADSTS shape.

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jiff::Timestamp;
use serde_json::json;

use super::clock;
use super::limits::Refusal;

/// A fresh tracking id, as upstream puts in `target` and `trace_id`.
pub(crate) fn tracking_id() -> String {
    let bits: u128 = rand::random();
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `{"error": {"code", "message", "target"}}` with `status`.
pub(crate) fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message, "target": tracking_id() } });
    (status, Json(body)).into_response()
}

/// Why the API refuses a call; each variant answers as upstream does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiError {
    /// 401: no, unknown or expired bearer token.
    Unauthorized,
    /// 403 with upstream's "Missing application roles" text.
    Forbidden(String),
    /// 429 with `Retry-After` and `code` "429" (a string, as captured).
    Throttled(Refusal),
    /// A 5xx: JSON for 500 and 503, a gateway's HTML for 502.
    ServerError(StatusCode),
    /// 400 with an OData error code.
    BadRequest { code: &'static str, message: String },
    /// 404 `ResourceNotFound`.
    NotFound(&'static str),
}

impl ApiError {
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthorized => {
                let message = "Authorization has been denied for this request.";
                let mut response = api_error(StatusCode::UNAUTHORIZED, "Unauthorized", message);
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            Self::Forbidden(message) => api_error(StatusCode::FORBIDDEN, "Forbidden", &message),
            Self::Throttled(refusal) => {
                let mut response =
                    api_error(StatusCode::TOO_MANY_REQUESTS, "429", &refusal.message);
                if let Ok(value) = HeaderValue::from_str(&refusal.retry_after_secs.to_string()) {
                    response.headers_mut().insert(RETRY_AFTER, value);
                }
                response
            }
            Self::ServerError(status) => server_error(status),
            Self::BadRequest { code, message } => {
                api_error(StatusCode::BAD_REQUEST, code, &message)
            }
            Self::NotFound(message) => {
                api_error(StatusCode::NOT_FOUND, "ResourceNotFound", message)
            }
        }
    }
}

fn server_error(status: StatusCode) -> Response {
    match status {
        StatusCode::BAD_GATEWAY => (
            status,
            [(CONTENT_TYPE, "text/html")],
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response(),
        StatusCode::SERVICE_UNAVAILABLE => api_error(
            status,
            "ServiceUnavailable",
            "The service is temporarily unavailable.",
        ),
        _ => api_error(
            status,
            "InternalServerError",
            "An unexpected error occurred.",
        ),
    }
}

/// A sign-in error: which OAuth class, which AADSTS code, what text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignInError {
    pub(crate) status: StatusCode,
    pub(crate) error: &'static str,
    pub(crate) code: u32,
    pub(crate) text: String,
}

impl SignInError {
    pub(crate) fn new(status: StatusCode, error: &'static str, code: u32, text: String) -> Self {
        Self {
            status,
            error,
            code,
            text,
        }
    }

    /// The sign-in host's body: `error_description` carries the AADSTS code,
    /// trace and correlation ids and the time, separated by `\r\n`.
    pub(crate) fn into_response(self, now: Timestamp) -> Response {
        let (trace_id, correlation_id) = (tracking_id(), tracking_id());
        let timestamp = clock::spaced_zulu(now);
        let description = format!(
            "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\n\
             Timestamp: {timestamp}",
            self.code, self.text
        );
        let body = json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        (self.status, Json(body)).into_response()
    }
}

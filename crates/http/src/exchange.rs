//! One request whose whole answer is read: counted in the sync's counters,
//! logged at debug level (method, path, status, time; never the query), and
//! its transport failure reported without the URL's query.
//!
//! For small answers (tokens, error bodies, small pages): the body is read
//! whole into memory. A connector reading large pages streams them instead.

use std::time::{Duration, Instant};

use bytes::Bytes;
use inlet_core::SyncCounters;
use reqwest::{RequestBuilder, StatusCode};
use url::Url;

use crate::origin::display_url;
use crate::retry::parse_retry_after;

/// An answer whose body was read in full.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// The `Retry-After` header as a wait, when it had a usable one.
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

/// A request that got no complete answer: no connection, a reset, a
/// timeout, a body cut off. Worth retrying.
#[derive(Debug, thiserror::Error)]
#[error("request to `{url}` failed (connection, reset or timeout)")]
pub struct TransportError {
    /// The URL without its query ([`display_url`]).
    pub url: String,
    /// The inner error, its URL stripped.
    #[source]
    pub source: reqwest::Error,
}

impl TransportError {
    pub fn new(url: &str, source: reqwest::Error) -> Self {
        Self {
            url: display_url(url),
            source: source.without_url(),
        }
    }
}

/// Sends `request` (to `url`, with `method`, both for the log) and reads
/// the whole answer, whatever its status.
pub async fn exchange(
    method: &'static str,
    url: &Url,
    request: RequestBuilder,
    counters: &SyncCounters,
) -> Result<Answer, TransportError> {
    counters.add_request();
    let started = Instant::now();
    let transport = |error: reqwest::Error| {
        let elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::debug!(method, path = url.path(), elapsed_ms, "request failed");
        TransportError::new(url.as_str(), error)
    };

    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let retry_after = parse_retry_after(response.headers());
    let body = response.bytes().await.map_err(transport)?;

    let elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::debug!(
        method,
        path = url.path(),
        status = status.as_u16(),
        elapsed_ms,
        "request"
    );
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use axum::http::header::RETRY_AFTER;
    use axum::routing::get;
    use axum::Router;

    use super::*;
    use crate::client::{build_client, ClientSettings, USER_AGENT};

    /// Serves a few fixed answers on 127.0.0.1; returns the base URL.
    async fn serve() -> String {
        let router = Router::new()
            .route("/ok", get(|| async { "hello" }))
            .route(
                "/busy",
                get(|| async { (StatusCode::TOO_MANY_REQUESTS, [(RETRY_AFTER, "7")], "wait") }),
            )
            .route(
                "/moved",
                get(|| async {
                    (
                        StatusCode::FOUND,
                        [(axum::http::header::LOCATION, "https://elsewhere.example/")],
                    )
                }),
            )
            .route(
                "/agent",
                get(|headers: axum::http::HeaderMap| async move {
                    let agent = headers.get(axum::http::header::USER_AGENT);
                    agent
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        base
    }

    async fn get_answer(
        base: &str,
        path: &str,
        counters: &SyncCounters,
    ) -> Result<Answer, TransportError> {
        let client = build_client(&ClientSettings::default()).expect("a client");
        let url = Url::parse(&format!("{base}{path}?key=s3cret")).expect("a url");
        exchange("GET", &url, client.get(url.clone()), counters).await
    }

    #[tokio::test]
    async fn answers_are_read_whole_and_counted() {
        let base = serve().await;
        let counters = SyncCounters::default();
        let answer = get_answer(&base, "/ok", &counters)
            .await
            .expect("an answer");
        assert_eq!(
            (answer.status, &answer.body[..]),
            (StatusCode::OK, &b"hello"[..])
        );
        let answer = get_answer(&base, "/busy", &counters)
            .await
            .expect("an answer");
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answer.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(counters.snapshot(), (2, 0, 0));
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_the_agent_is_inlets() {
        let base = serve().await;
        let counters = SyncCounters::default();
        let answer = get_answer(&base, "/moved", &counters)
            .await
            .expect("an answer");
        assert_eq!(answer.status, StatusCode::FOUND);
        let answer = get_answer(&base, "/agent", &counters)
            .await
            .expect("an answer");
        assert_eq!(&answer.body[..], USER_AGENT.as_bytes());
        assert!(USER_AGENT.starts_with("inlet/"));
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_transport_error_without_the_query() {
        // Bind, then drop: nothing listens on the port any more.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        drop(listener);
        let counters = SyncCounters::default();
        let error = get_answer(&base, "/ok", &counters)
            .await
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            format!("request to `{base}/ok` failed (connection, reset or timeout)")
        );
        let chain = format!("{error} {:?}", error.source());
        assert!(!chain.contains("s3cret"), "{chain}");
        assert_eq!(counters.snapshot(), (1, 0, 0));
    }
}

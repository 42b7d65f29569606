//! Page bodies, streamed: rows are generated and (optionally) compressed
//! 64 KiB at a time, so a 200,000-row page never exists in memory at once.
//! The cut-off and reset faults also live here, because they are about
//! how the bytes of a body end.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;
use futures_util::Stream;

/// The `Content-Type` upstream sends with OData pages.
pub(crate) const ODATA_JSON: &str =
    "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8";

const CHUNK_BYTES: usize = 64 * 1024;

/// Rows of one page, produced on demand.
pub(crate) trait RowSource: Send {
    /// Appends the next row's JSON to `out`; false when the page is complete.
    fn write_next(&mut self, out: &mut Vec<u8>) -> bool;
}

/// One OData page: `{"@odata.context": .., "value": [rows], "@odata.nextLink": ..}`.
pub(crate) struct Page {
    pub(crate) context: String,
    pub(crate) rows: Box<dyn RowSource>,
    pub(crate) next_link: Option<String>,
}

/// The content coding of a response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Identity,
    Gzip,
    Deflate,
}

impl Encoding {
    /// gzip when `Accept-Encoding` allows it, else deflate, else identity.
    pub(crate) fn negotiate(headers: &HeaderMap) -> Self {
        let mut accepted = (false, false);
        for value in headers.get_all(ACCEPT_ENCODING) {
            for item in value.to_str().unwrap_or_default().split(',') {
                let mut parts = item.split(';');
                let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
                let refused = parts.any(|param| param.replace(' ', "").eq_ignore_ascii_case("q=0"));
                match name.as_str() {
                    "gzip" | "x-gzip" if !refused => accepted.0 = true,
                    "deflate" if !refused => accepted.1 = true,
                    _ => {}
                }
            }
        }
        match accepted {
            (true, _) => Self::Gzip,
            (false, true) => Self::Deflate,
            (false, false) => Self::Identity,
        }
    }

    fn header(self) -> Option<&'static str> {
        match self {
            Self::Identity => None,
            Self::Gzip => Some("gzip"),
            Self::Deflate => Some("deflate"),
        }
    }
}

/// How a faulty page's body ends early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// A well-formed 200 whose JSON stops midway.
    Truncate,
    /// The connection drops after some bytes.
    Reset,
}

enum Encoder {
    Identity,
    Gzip(GzEncoder<Vec<u8>>),
    Deflate(ZlibEncoder<Vec<u8>>),
}

impl Encoder {
    fn new(encoding: Encoding) -> Self {
        // Fast compression: the sandbox must not be the bottleneck of a benchmark.
        match encoding {
            Encoding::Identity => Self::Identity,
            Encoding::Gzip => Self::Gzip(GzEncoder::new(Vec::new(), Compression::fast())),
            Encoding::Deflate => Self::Deflate(ZlibEncoder::new(Vec::new(), Compression::fast())),
        }
    }

    /// Compresses `data`; returns what the compressor has ready.
    fn push(&mut self, data: Vec<u8>, flush: bool) -> io::Result<Vec<u8>> {
        match self {
            Self::Identity => Ok(data),
            Self::Gzip(encoder) => {
                encoder.write_all(&data)?;
                if flush {
                    encoder.flush()?;
                }
                Ok(std::mem::take(encoder.get_mut()))
            }
            Self::Deflate(encoder) => {
                encoder.write_all(&data)?;
                if flush {
                    encoder.flush()?;
                }
                Ok(std::mem::take(encoder.get_mut()))
            }
        }
    }

    fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            Self::Identity => Ok(Vec::new()),
            Self::Gzip(encoder) => encoder.finish(),
            Self::Deflate(encoder) => encoder.finish(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Streaming,
    /// The reset fault sent its bytes; yield once so hyper flushes them,
    /// then fail the body, which makes hyper drop the connection.
    FlushThenFail {
        yielded: bool,
    },
    Done,
}

struct PageStream {
    head: Option<Vec<u8>>,
    tail: Option<Vec<u8>>,
    rows: Box<dyn RowSource>,
    first_row: bool,
    rows_done: bool,
    encoder: Option<Encoder>,
    cut: Option<Cut>,
    state: State,
}

impl PageStream {
    /// Uncompressed JSON up to about one chunk.
    fn fill(&mut self) -> Vec<u8> {
        let mut raw = self.head.take().unwrap_or_default();
        raw.reserve(CHUNK_BYTES);
        while raw.len() < CHUNK_BYTES && !self.rows_done {
            let mark = raw.len();
            if !self.first_row {
                raw.push(b',');
            }
            if self.rows.write_next(&mut raw) {
                self.first_row = false;
            } else {
                raw.truncate(mark);
                self.rows_done = true;
                raw.extend(self.tail.take().unwrap_or_default());
            }
        }
        raw
    }

    fn next_bytes(&mut self) -> io::Result<Vec<u8>> {
        let mut raw = self.fill();
        let Some(mut encoder) = self.encoder.take() else {
            self.state = State::Done;
            return Ok(Vec::new());
        };
        if let Some(cut) = self.cut.take() {
            // Cut inside the first chunk: half of it is never complete JSON.
            raw.truncate((raw.len() / 2).max(1));
            return match cut {
                Cut::Truncate => {
                    self.state = State::Done;
                    let mut out = encoder.push(raw, false)?;
                    out.extend(encoder.finish()?);
                    Ok(out)
                }
                Cut::Reset => {
                    self.state = State::FlushThenFail { yielded: false };
                    encoder.push(raw, true)
                }
            };
        }
        let mut out = encoder.push(raw, false)?;
        if self.rows_done {
            out.extend(encoder.finish()?);
            self.state = State::Done;
        } else {
            self.encoder = Some(encoder);
        }
        Ok(out)
    }
}

impl Stream for PageStream {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.state {
                State::Done => return Poll::Ready(None),
                State::FlushThenFail { yielded: false } => {
                    this.state = State::FlushThenFail { yielded: true };
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                State::FlushThenFail { yielded: true } => {
                    this.state = State::Done;
                    let error =
                        io::Error::new(io::ErrorKind::ConnectionReset, "sandbox reset-page fault");
                    return Poll::Ready(Some(Err(error)));
                }
                State::Streaming => match this.next_bytes() {
                    // The compressor may hold everything back; never send an
                    // empty chunk, ask for more rows instead.
                    Ok(bytes) if bytes.is_empty() => continue,
                    Ok(bytes) => return Poll::Ready(Some(Ok(Bytes::from(bytes)))),
                    Err(error) => {
                        this.state = State::Done;
                        return Poll::Ready(Some(Err(error)));
                    }
                },
            }
        }
    }
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A 200 response streaming `page`, encoded as negotiated, maybe cut short.
pub(crate) fn respond(page: Page, encoding: Encoding, cut: Option<Cut>) -> Response {
    let head = format!(
        "{{\"@odata.context\":{},\"value\":[",
        json_string(&page.context)
    );
    let tail = match &page.next_link {
        Some(link) => format!("],\"@odata.nextLink\":{}}}", json_string(link)),
        None => "]}".to_owned(),
    };
    let stream = PageStream {
        head: Some(head.into_bytes()),
        tail: Some(tail.into_bytes()),
        rows: page.rows,
        first_row: true,
        rows_done: false,
        encoder: Some(Encoder::new(encoding)),
        cut,
        state: State::Streaming,
    };
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(ODATA_JSON));
    headers.insert("odata-version", HeaderValue::from_static("4.0"));
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Some(coding) = encoding.header() {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    response
}

/// `response` with its body held back for `stall` after the headers went
/// out: the slow-page fault, which outlasts a client's read timeout.
pub(crate) fn stalled(response: Response, stall: std::time::Duration) -> Response {
    use futures_util::StreamExt;

    // A stream that waits and yields nothing, then the body itself.
    let (parts, body) = response.into_parts();
    let delay = futures_util::stream::once(tokio::time::sleep(stall))
        .filter_map(|()| std::future::ready(None::<Result<Bytes, axum::Error>>));
    let delayed = delay.chain(body.into_data_stream());
    Response::from_parts(parts, Body::from_stream(delayed))
}

/// The empty-page fault: a 200 that announces JSON and sends nothing.
pub(crate) fn empty_page() -> Response {
    (StatusCode::OK, [(CONTENT_TYPE, ODATA_JSON)], Body::empty()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    struct Numbers {
        next: u32,
        end: u32,
    }

    impl RowSource for Numbers {
        fn write_next(&mut self, out: &mut Vec<u8>) -> bool {
            if self.next == self.end {
                return false;
            }
            out.extend(format!("{{\"n\":{}}}", self.next).as_bytes());
            self.next += 1;
            true
        }
    }

    fn page(end: u32, next_link: Option<&str>) -> Page {
        Page {
            context: "http://x/api/$metadata#Things".into(),
            rows: Box::new(Numbers { next: 0, end }),
            next_link: next_link.map(str::to_owned),
        }
    }

    async fn collect(page: Page, encoding: Encoding, cut: Option<Cut>) -> (Vec<u8>, bool) {
        let response = respond(page, encoding, cut);
        let mut stream = response.into_body().into_data_stream();
        let (mut bytes, mut failed) = (Vec::new(), false);
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(_) => failed = true,
            }
        }
        (bytes, failed)
    }

    #[tokio::test]
    async fn pages_are_complete_json_across_many_chunks() {
        let (bytes, failed) = collect(
            page(20_000, Some("http://x/next")),
            Encoding::Identity,
            None,
        )
        .await;
        assert!(!failed);
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON page");
        assert_eq!(value["value"].as_array().map(Vec::len), Some(20_000));
        assert_eq!(value["value"][19_999]["n"], 19_999);
        assert_eq!(value["@odata.nextLink"], "http://x/next");
        let (bytes, _) = collect(page(0, None), Encoding::Identity, None).await;
        assert_eq!(
            bytes,
            br#"{"@odata.context":"http://x/api/$metadata#Things","value":[]}"#
        );
    }

    #[tokio::test]
    async fn gzip_and_deflate_decode_to_the_same_page() {
        use std::io::Read;
        let (plain, _) = collect(page(5_000, None), Encoding::Identity, None).await;
        let (gzip, _) = collect(page(5_000, None), Encoding::Gzip, None).await;
        let (deflate, _) = collect(page(5_000, None), Encoding::Deflate, None).await;
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_end(&mut unzipped)
            .expect("gunzip");
        let mut inflated = Vec::new();
        flate2::read::ZlibDecoder::new(&deflate[..])
            .read_to_end(&mut inflated)
            .expect("inflate");
        assert_eq!(unzipped, plain);
        assert_eq!(inflated, plain);
        assert!(gzip.len() < plain.len() / 2);
    }

    #[tokio::test]
    async fn cuts_end_the_body_early() {
        let (truncated, failed) =
            collect(page(100, None), Encoding::Gzip, Some(Cut::Truncate)).await;
        assert!(!failed);
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&truncated[..]), &mut text)
            .expect("gunzip");
        assert!(!text.is_empty() && serde_json::from_slice::<serde_json::Value>(&text).is_err());
        let (sent, failed) = collect(page(100, None), Encoding::Identity, Some(Cut::Reset)).await;
        assert!(failed && !sent.is_empty());
    }

    #[test]
    fn negotiates_like_a_server_should() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                ACCEPT_ENCODING,
                HeaderValue::from_str(value).expect("header"),
            );
            Encoding::negotiate(&headers)
        };
        assert_eq!(Encoding::negotiate(&HeaderMap::new()), Encoding::Identity);
        assert_eq!(with("gzip, deflate"), Encoding::Gzip);
        assert_eq!(with("deflate"), Encoding::Deflate);
        assert_eq!(with("gzip;q=0, deflate"), Encoding::Deflate);
        assert_eq!(with("br"), Encoding::Identity);
    }
}

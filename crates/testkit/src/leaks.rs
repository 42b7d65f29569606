//! The evidence of the secret scenario and the search through it.
//!
//! The syncs run on a thread of their own, on a current-thread runtime, with
//! a TRACE-level fmt subscriber set as that thread's default: every event
//! the connector, the engine and the store emit while syncing lands in one
//! buffer, and tests running in parallel on other threads stay out of it.
//! The sandbox serves from that runtime too, so its events are captured as
//! well. `log` records (from the HTTP client and sled) are bridged into
//! tracing once per process so they are captured too.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, Once, OnceLock, PoisonError};

use tracing_subscriber::fmt::MakeWriter;

use crate::error::{ensure, ConformanceError};
use crate::harness::{Fixtures, Harness, INSTANCE};

type Result<T> = std::result::Result<T, ConformanceError>;

/// The place under which the captured logs are kept in the evidence.
pub(crate) const LOGS_PLACE: &str = "the syncs' logs (TRACE level)";

/// Bytes to search, each with where it came from.
#[derive(Debug, Default)]
pub(crate) struct Evidence {
    pub places: Vec<(String, Vec<u8>)>,
    /// The connector config the sandbox handed out.
    pub config: serde_json::Value,
    /// The bearer tokens the sandbox issued during the syncs.
    pub credentials: Vec<String>,
}

impl Evidence {
    pub(crate) fn add(&mut self, place: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.places.push((place.into(), bytes.into()));
    }

    /// The bytes kept under `place`.
    pub(crate) fn bytes_of(&self, place: &str) -> Option<&[u8]> {
        let found = self.places.iter().find(|(name, _)| name == place);
        found.map(|(_, bytes)| bytes.as_slice())
    }

    /// Where each of `needles` occurs, as sentences that never quote a needle.
    pub(crate) fn leaks(&self, needles: &[(String, String)]) -> Vec<String> {
        let mut found = Vec::new();
        for (label, needle) in needles {
            for (place, bytes) in &self.places {
                if contains(bytes, needle.as_bytes()) {
                    found.push(format!("{label} appears in {place}"));
                }
            }
        }
        found
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// A log sink shared between the subscriber and the scenario.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Readies the process for capturing, once. Two things outlive every capture:
///
/// - a bridge sending `log` records to the current tracing subscriber (a
///   process that already has a `log` logger keeps it, and those records are
///   then not captured);
/// - a second, silent dispatcher. With exactly one dispatcher registered,
///   tracing-core computes a new callsite's interest from the default
///   dispatcher of whichever thread hits it first; a test on another thread,
///   with no subscriber, would then mark the engine's callsites "never" and
///   the capture would miss them. With two, interest is asked of both.
fn prepare_capture() {
    static SILENT: OnceLock<tracing::Dispatch> = OnceLock::new();
    static BRIDGE: Once = Once::new();
    SILENT.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    BRIDGE.call_once(|| {
        let _ = tracing_log::LogTracer::init();
    });
}

/// Runs `syncs` on a new thread with its logs captured, then adds the logs
/// to the evidence it returns. Awaits the thread without blocking the caller's
/// runtime.
pub(crate) async fn with_captured_logs<F, Fut>(fixtures: Fixtures, syncs: F) -> Result<Evidence>
where
    F: FnOnce(Harness) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Evidence>>,
{
    let (answer, answered) = tokio::sync::oneshot::channel();
    let thread = std::thread::Builder::new().name("conformance-logs".into());
    let spawned = thread.spawn(move || {
        let _ = answer.send(capture(fixtures, syncs));
    });
    spawned.map_err(|source| ConformanceError::Setup {
        what: "starting the log-capturing thread",
        source,
    })?;
    answered
        .await
        .map_err(|_| ConformanceError::ThreadPanicked)?
}

fn capture<F, Fut>(fixtures: Fixtures, syncs: F) -> Result<Evidence>
where
    F: FnOnce(Harness) -> Fut,
    Fut: std::future::Future<Output = Result<Evidence>>,
{
    prepare_capture();
    let buffer = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(buffer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ConformanceError::Setup {
            what: "building the log-capturing runtime",
            source,
        })?;

    let mut evidence = runtime.block_on(async move { syncs(fixtures.start().await?).await })?;
    drop(runtime);
    evidence.add(LOGS_PLACE, buffer.take());
    Ok(evidence)
}

/// Everything the store shows or holds for the instance: the JSON of every
/// asset, finding, run and quarantined record, and every file's raw bytes.
pub(crate) fn store_evidence(harness: &Harness, evidence: &mut Evidence) -> Result<()> {
    let snapshot = harness.snapshot()?;
    let quarantined: Vec<_> = harness
        .store
        .quarantined(INSTANCE)
        .collect::<std::result::Result<_, _>>()?;
    evidence.add("the assets' JSON", json_of("the assets", &snapshot.assets)?);
    evidence.add(
        "the findings' JSON",
        json_of("the findings", &snapshot.findings)?,
    );
    evidence.add("the runs' JSON", json_of("the runs", &harness.runs()?)?);
    evidence.add(
        "the quarantine's JSON",
        json_of("the quarantine", &quarantined)?,
    );
    evidence.add(
        "the instance's Debug output",
        format!("{:?}", harness.instance),
    );

    let mut files = Vec::new();
    read_files(&harness.store_dir(), &mut files).map_err(|source| ConformanceError::Setup {
        what: "reading the store's files",
        source,
    })?;
    ensure!(
        !files.is_empty(),
        "the store's folder holds no file to search"
    );
    for (path, bytes) in files {
        evidence.add(format!("the store file `{path}`"), bytes);
    }
    Ok(())
}

/// `records` as the JSON an export would show.
fn json_of(what: &str, records: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(records).map_err(|error| {
        ConformanceError::Rule(format!("{what} cannot be written as JSON: {error}"))
    })
}

/// Every file under `dir`, recursively, with its path.
fn read_files(dir: &Path, files: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            read_files(&path, files)?;
        } else {
            files.push((path.display().to_string(), std::fs::read(&path)?));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leak_names_the_place_and_never_the_value() {
        let mut evidence = Evidence::default();
        evidence.add("the logs", "token=hunter2-xyz; done");
        evidence.add("the store", "nothing here");
        let needles = [("secret #1".to_owned(), "hunter2-xyz".to_owned())];

        let leaks = evidence.leaks(&needles);

        assert_eq!(leaks, ["secret #1 appears in the logs"]);
        assert!(!leaks[0].contains("hunter2"));
        assert!(evidence
            .leaks(&[("empty".into(), String::new())])
            .is_empty());
    }

    #[test]
    fn events_on_the_capturing_thread_reach_the_buffer() {
        let buffer = LogBuffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(buffer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(record = "r-1", "record mapped");
        });
        let text = String::from_utf8(buffer.take()).unwrap();
        assert!(
            text.contains("record mapped") && text.contains("r-1"),
            "{text}"
        );
    }
}

//! The sink a connector hands its batches to. `accept` only queues a batch for
//! the writer thread, which maps and stores it (see [`crate::sink`]), so the
//! connector fetches and parses its next page while the previous batch is
//! mapped and written: on a large sync the two halves overlap instead of
//! taking turns.
//!
//! The queue holds [`QUEUE_BATCHES`] batch, so memory stays bounded: one batch
//! being written, one waiting, one being built by the connector. A full queue
//! makes `accept` wait, which slows the fetch down to what the store can take.
//! A failed write stops the writer; the next `accept` returns its error, and
//! [`StoreSink::finish`] reports it too, so a sync whose batches were not all
//! stored never reaches reconciliation.

use async_trait::async_trait;
use inlet_core::{RecordBatch, RecordSink, SinkError};
use inlet_store::RunCounts;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error_chain;
use crate::sink::BatchWriter;

/// Batches waiting for the writer. One is enough to keep both sides busy;
/// more would only hold more memory.
pub const QUEUE_BATCHES: usize = 1;

/// What the writer did by the time it stopped.
#[derive(Debug, Default)]
pub struct Written {
    pub counts: RunCounts,
    /// Whether the connector's reference data was stored in this sync.
    pub reference_refreshed: bool,
    /// Why not every queued batch was stored, if one was not.
    pub error: Option<String>,
}

/// Why the writer thread ended without an answer.
#[derive(Debug, thiserror::Error)]
#[error("the store writer stopped unexpectedly")]
struct WriterStopped;

/// Queues batches for the writer thread; see the module doc.
pub struct StoreSink {
    sender: Option<mpsc::Sender<RecordBatch>>,
    writer: Option<JoinHandle<Written>>,
    /// The writer's answer once it stopped early (a failed write).
    stopped: Option<Written>,
}

impl StoreSink {
    /// Starts the writer thread with `writer`.
    pub fn start(writer: BatchWriter) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_BATCHES);
        // The writer logs (quarantine, skips) inside the sync's span, so its
        // lines carry the instance and run id like the rest of the sync's.
        let span = tracing::Span::current();
        let handle =
            tokio::task::spawn_blocking(move || span.in_scope(|| write_all(writer, receiver)));
        Self {
            sender: Some(sender),
            writer: Some(handle),
            stopped: None,
        }
    }

    /// Closes the queue, waits until the writer stored (or failed on) every
    /// batch already queued, and returns what it did. Called after the
    /// connector returned or was stopped; nothing is queued after this.
    pub async fn finish(mut self) -> Written {
        self.sender = None;
        if let Some(written) = self.stopped.take() {
            return written;
        }
        self.join().await
    }

    async fn join(&mut self) -> Written {
        let Some(handle) = self.writer.take() else {
            return Written {
                error: Some(WriterStopped.to_string()),
                ..Written::default()
            };
        };
        handle.await.unwrap_or_else(|error| {
            tracing::error!(error = %error, "store writer ended abnormally");
            Written {
                error: Some(WriterStopped.to_string()),
                ..Written::default()
            }
        })
    }
}

#[async_trait]
impl RecordSink for StoreSink {
    async fn accept(&mut self, batch: RecordBatch) -> Result<(), SinkError> {
        if let Some(sender) = &self.sender {
            if sender.send(batch).await.is_ok() {
                return Ok(());
            }
        }

        // The writer stopped: it failed on an earlier batch.
        self.sender = None;
        if self.stopped.is_none() {
            self.stopped = Some(self.join().await);
        }
        let error = self
            .stopped
            .as_ref()
            .and_then(|written| written.error.clone())
            .unwrap_or_else(|| WriterStopped.to_string());
        Err(SinkError::Store(error.into()))
    }
}

/// The writer thread: stores queued batches in order until the queue closes
/// or a batch fails.
fn write_all(mut writer: BatchWriter, mut receiver: mpsc::Receiver<RecordBatch>) -> Written {
    let mut error = None;
    while let Some(batch) = receiver.blocking_recv() {
        if let Err(failure) = writer.write(batch) {
            error = Some(error_chain(&failure));
            break;
        }
    }
    Written {
        counts: writer.counts,
        reference_refreshed: writer.reference_refreshed,
        error,
    }
}

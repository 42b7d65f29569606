//! The benchmark's floor, `xtask bench-floor CONFIG_JSON` (hidden; the bench
//! runs it from a release build): one full sync through the connector's real
//! client, page reader and record splitting, into a sink that only counts
//! and drops. Nothing is mapped or stored, so its time is the least a sync
//! of the same pages can take. Prints one JSON line.

use std::time::Instant;

use anyhow::Context;
use async_trait::async_trait;
use inlet_core::{Connector, RecordBatch, RecordSink, SinkError, SyncMode, SyncRequest};
use inlet_microsoft_tvm::{TvmConfig, TvmConnector};
use serde_json::json;

/// Counts what a connector hands over.
#[derive(Debug, Default)]
struct CountingSink {
    n_rows: u64,
    n_reference: u64,
    n_batches: u64,
}

#[async_trait]
impl RecordSink for CountingSink {
    async fn accept(&mut self, batch: RecordBatch) -> Result<(), SinkError> {
        self.n_batches += 1;
        match &batch {
            RecordBatch::Reference(entries) => self.n_reference += entries.len() as u64,
            _ => self.n_rows += batch.len() as u64,
        }
        Ok(())
    }
}

/// Runs the floor sync with the connector config given as JSON.
pub fn run(config_json: &str) -> anyhow::Result<()> {
    let config: TvmConfig =
        serde_json::from_str(config_json).context("reading the connector config")?;
    let connector = TvmConnector::new(config).context("building the connector")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let request = SyncRequest {
        mode: SyncMode::Full,
        reference_refreshed_at: None,
        counters: Default::default(),
    };
    let mut sink = CountingSink::default();

    let started = Instant::now();
    runtime
        .block_on(connector.sync(&request, &mut sink))
        .context("the floor sync failed")?;
    let elapsed = started.elapsed();

    let (requests, retries, throttled) = request.counters.snapshot();
    let line = json!({
        "elapsed_secs": elapsed.as_secs_f64(),
        "n_rows": sink.n_rows,
        "n_reference": sink.n_reference,
        "n_batches": sink.n_batches,
        "requests": requests,
        "retries": retries,
        "throttled": throttled,
    });
    println!("{line}");
    Ok(())
}

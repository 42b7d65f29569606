//! A wrapper that makes any connector's sync fail on exactly its last page.
//!
//! A connector cannot be asked to fail "on the last page" without knowing
//! its paging, so the wrapper holds every batch back by one: batch i-1 goes
//! to the engine when batch i arrives. When the real sync returns `Ok`, the
//! batch still held is the last one; the wrapper drops it and fails. The
//! engine has then stored every page but the last, which is the failure
//! spec section 6 says must leave every status as it was.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use inlet_core::config::Instance;
use inlet_core::{
    AssetMapper, Capabilities, CheckOutcome, Connector, ConnectorError, FindingMapper, RecordBatch,
    RecordSink, SinkError, SyncRequest,
};

/// The error the wrapped sync fails with.
#[derive(Debug, thiserror::Error)]
#[error("the conformance kit dropped the sync's last batch to fail it on its last page")]
pub(crate) struct LastPageDropped;

/// `instance` with its connector wrapped, and the count of batches the
/// wrapper forwarded in its last sync.
pub(crate) fn failing_on_last_page(instance: &Instance) -> (Instance, Arc<AtomicU64>) {
    let forwarded = Arc::new(AtomicU64::new(0));
    let connector = FailsOnLastPage {
        inner: Arc::clone(&instance.connector),
        forwarded: Arc::clone(&forwarded),
    };
    let wrapped = Instance {
        settings: instance.settings.clone(),
        connector: Arc::new(connector),
    };
    (wrapped, forwarded)
}

#[derive(Debug)]
struct FailsOnLastPage {
    inner: Arc<dyn Connector>,
    forwarded: Arc<AtomicU64>,
}

#[async_trait]
impl Connector for FailsOnLastPage {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn check(&self) -> Vec<CheckOutcome> {
        self.inner.check().await
    }

    async fn sync(
        &self,
        request: &SyncRequest,
        sink: &mut dyn RecordSink,
    ) -> Result<(), ConnectorError> {
        let mut holding = HoldBack {
            sink,
            held: None,
            forwarded: 0,
        };
        let result = self.inner.sync(request, &mut holding).await;
        self.forwarded.store(holding.forwarded, Ordering::SeqCst);
        result?;
        // `holding.held` is the last batch: it never reaches the engine.
        Err(ConnectorError::upstream(LastPageDropped))
    }

    fn asset_mapper(&self) -> &dyn AssetMapper {
        self.inner.asset_mapper()
    }

    fn finding_mapper(&self) -> &dyn FindingMapper {
        self.inner.finding_mapper()
    }
}

/// Forwards each batch when the next one arrives.
struct HoldBack<'a> {
    sink: &'a mut dyn RecordSink,
    held: Option<RecordBatch>,
    forwarded: u64,
}

#[async_trait]
impl RecordSink for HoldBack<'_> {
    async fn accept(&mut self, batch: RecordBatch) -> Result<(), SinkError> {
        if let Some(previous) = self.held.replace(batch) {
            self.sink.accept(previous).await?;
            self.forwarded += 1;
        }
        Ok(())
    }
}

//! PLACEHOLDER (owned by the client work): one sync's requests.

use inlet_core::{ConnectorError, RecordSink, SyncRequest};

use crate::client::TvmClient;
use crate::config::TvmConfig;

pub async fn sync(
    _client: &TvmClient,
    _config: &TvmConfig,
    _request: &SyncRequest,
    _sink: &mut dyn RecordSink,
) -> Result<(), ConnectorError> {
    Ok(())
}

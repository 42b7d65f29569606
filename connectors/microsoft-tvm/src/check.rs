//! PLACEHOLDER (owned by the client work): connectivity tests.

use inlet_core::CheckOutcome;

use crate::client::TvmClient;
use crate::mapping::{TvmAssetMapper, TvmFindingMapper};

pub async fn run_checks(
    _client: &TvmClient,
    _assets: &TvmAssetMapper,
    _findings: &TvmFindingMapper,
) -> Vec<CheckOutcome> {
    Vec::new()
}

//! The `microsoft-tvm` connector: devices and software vulnerabilities from
//! Microsoft Defender for Endpoint's vulnerability management API.
//!
//! - [`config`]: the instance config and the clouds' hosts.
//! - [`client`]: sign-in, the HTTP client, rate limits, retries, paging.
//! - [`fetch`]: what one sync requests and hands to the runner.
//! - [`mapping`]: pure mapping of devices and vulnerability rows.
//! - [`time`]: the upstream's many timestamp forms.
//! - [`check`]: the connectivity tests behind `inlet check`.
//! - [`sandbox`]: a local fake of the sign-in and API hosts.

pub mod check;
pub mod client;
pub mod config;
pub mod error;
pub mod fetch;
#[doc(hidden)]
pub mod fuzzing;
pub mod mapping;
pub mod sandbox;
pub mod time;

use std::sync::Arc;

use async_trait::async_trait;
use inlet_core::registry::{self, BuildContext, ConnectorRegistration};
use inlet_core::{
    AssetMapper, Capabilities, CheckOutcome, ConfigIssue, Connector, ConnectorError, FindingMapper,
    RecordSink, SyncRequest,
};

pub use config::TvmConfig;

/// The kind instances name in `connector = "..."`.
pub const KIND: &str = "microsoft-tvm";

/// How far back the delta export reaches.
pub const MAX_DELTA_DAYS: u32 = 14;

/// A configured Defender tenant.
#[derive(Debug)]
pub struct TvmConnector {
    config: TvmConfig,
    client: client::TvmClient,
    assets: mapping::TvmAssetMapper,
    findings: mapping::TvmFindingMapper,
}

impl TvmConnector {
    pub fn new(config: TvmConfig) -> Result<Self, error::TvmError> {
        let client = client::TvmClient::new(&config)?;
        let assets = mapping::TvmAssetMapper::new(&config);
        let findings = mapping::TvmFindingMapper::new();
        Ok(Self {
            config,
            client,
            assets,
            findings,
        })
    }
}

#[async_trait]
impl Connector for TvmConnector {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_delta_days: Some(MAX_DELTA_DAYS),
        }
    }

    async fn check(&self) -> Vec<CheckOutcome> {
        check::run_checks(&self.client, &self.assets, &self.findings).await
    }

    async fn sync(
        &self,
        request: &SyncRequest,
        sink: &mut dyn RecordSink,
    ) -> Result<(), ConnectorError> {
        fetch::sync(&self.client, &self.config, request, sink).await
    }

    fn asset_mapper(&self) -> &dyn AssetMapper {
        &self.assets
    }

    fn finding_mapper(&self) -> &dyn FindingMapper {
        &self.findings
    }
}

fn build(context: BuildContext<'_>) -> Result<Arc<dyn Connector>, Vec<ConfigIssue>> {
    let config: TvmConfig = registry::deserialize_config(context.config)?;
    let connector = TvmConnector::new(config).map_err(|error| {
        vec![ConfigIssue {
            pointer: error.config_pointer().into(),
            message: error.to_string(),
        }]
    })?;
    Ok(Arc::new(connector))
}

fn config_schema() -> schemars::Schema {
    schemars::schema_for!(TvmConfig)
}

inlet_core::inventory::submit! {
    ConnectorRegistration {
        kind: KIND,
        title: "Microsoft Defender vulnerability management",
        description: "Devices and software vulnerabilities from Microsoft Defender for Endpoint's vulnerability management (TVM) API.",
        version: env!("CARGO_PKG_VERSION"),
        config_schema,
        source_statuses: &config::HEALTH_STATUSES,
        example_config: config::EXAMPLE_CONFIG,
        build,
        sandbox: Some(sandbox::start_from_args),
    }
}

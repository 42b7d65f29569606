//! PLACEHOLDER (owned by the mapping work): device and vulnerability mapping.

use inlet_core::{
    AssetMapper, AssetObservation, FindingChange, FindingMapper, FindingObservation, Mapped,
    MappingError, ReferenceLookup,
};
use serde_json::value::RawValue;

use crate::config::TvmConfig;

#[derive(Debug, Clone)]
pub struct TvmAssetMapper {}

impl TvmAssetMapper {
    pub fn new(_config: &TvmConfig) -> Self {
        Self {}
    }
}

impl AssetMapper for TvmAssetMapper {
    fn map_asset(&self, _record: &RawValue) -> Result<Mapped<AssetObservation>, MappingError> {
        Err(MappingError::new(None, "placeholder"))
    }
}

#[derive(Debug, Clone, Default)]
pub struct TvmFindingMapper {}

impl TvmFindingMapper {
    pub fn new() -> Self {
        Self {}
    }
}

impl FindingMapper for TvmFindingMapper {
    fn map_finding(
        &self,
        _record: &RawValue,
        _reference: &dyn ReferenceLookup,
    ) -> Result<Mapped<FindingObservation>, MappingError> {
        Err(MappingError::new(None, "placeholder"))
    }

    fn map_change(
        &self,
        _record: &RawValue,
        _reference: &dyn ReferenceLookup,
    ) -> Result<Mapped<FindingChange>, MappingError> {
        Err(MappingError::new(None, "placeholder"))
    }
}

//! The microsoft-tvm mappers on any JSON value: they map or return a typed
//! error, never panic, with every mapping option.
#![no_main]

use inlet_core::{AssetMapper, FindingMapper, NoReference};
use inlet_microsoft_tvm::mapping::{catalog_entry, TvmAssetMapper, TvmFindingMapper};
use inlet_microsoft_tvm::TvmConfig;
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

fn config(external_ip: bool, onboarded: bool) -> TvmConfig {
    let config = serde_json::json!({
        "tenant_id": "00000000-0000-0000-0000-000000000001",
        "client_id": "11111111-1111-1111-1111-111111111111",
        "client_secret": "fuzz",
        "map_external_ip": external_ip,
        "fetch_only_onboarded": onboarded,
    });
    serde_json::from_value(config).expect("a valid config")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(record) = serde_json::from_str::<Box<RawValue>>(text) else { return };
    for (external_ip, onboarded) in [(false, false), (true, true)] {
        let _ = TvmAssetMapper::new(&config(external_ip, onboarded)).map_asset(&record);
    }
    let findings = TvmFindingMapper::new();
    let _ = findings.map_finding(&record, &NoReference);
    let _ = findings.map_change(&record, &NoReference);
    let _ = catalog_entry(&record);
});

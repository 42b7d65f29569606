//! The config loader on any text: every problem is an issue with a pointer,
//! never a panic.
#![no_main]

use inlet_core::config::parse_config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = inlet_microsoft_tvm::KIND;
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(errors) = parse_config(text, "fuzz.toml", std::path::Path::new("/nonexistent")) {
        assert!(!errors.issues.is_empty());
    }
});

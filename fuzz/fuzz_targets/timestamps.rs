//! The timestamp parser: never panics, and what it accepts prints as RFC 3339
//! that it reads back to the same instant.
#![no_main]

use inlet_microsoft_tvm::time::parse_timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(Some(instant)) = parse_timestamp(text) {
        let printed = instant.to_string();
        assert_eq!(parse_timestamp(&printed), Ok(Some(instant)), "{text:?} -> {printed}");
    }
});

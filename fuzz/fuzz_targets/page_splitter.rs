//! The incremental page parser: never panics, and the way the body is cut
//! into chunks never changes what it finds; every record it returns is JSON.
#![no_main]

use inlet_microsoft_tvm::fuzzing::split_page;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, body)) = data.split_first() else { return };
    let whole = split_page(body, body.len().max(1));
    let chunked = split_page(body, usize::from(chunk) + 1);
    match (&whole, &chunked) {
        (Ok(whole), Ok(chunked)) => assert_eq!(whole, chunked, "chunking changed the records"),
        (Err(_), Err(_)) => {}
        _ => panic!("chunking changed the outcome: {whole:?} vs {chunked:?}"),
    }
    if let Ok((records, _)) = whole {
        for record in records {
            assert!(serde_json::from_str::<serde_json::Value>(&record).is_ok(), "not JSON: {record}");
        }
    }
});

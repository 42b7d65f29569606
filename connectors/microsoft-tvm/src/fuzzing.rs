//! Entry points for the fuzz targets in `fuzz/` (not part of the connector's
//! API): the incremental page parser behind a plain function.

use crate::client::stream::PageSplitter;

/// Splits a page body fed in chunks of `chunk_size` bytes (at least 1) into
/// its records (as JSON text) and next link, or the parser's error.
pub fn split_page(body: &[u8], chunk_size: usize) -> Result<(Vec<String>, Option<String>), String> {
    let mut splitter = PageSplitter::default();
    let mut records = Vec::new();
    for chunk in body.chunks(chunk_size.max(1)) {
        splitter.feed(chunk)?;
        records.extend(
            splitter
                .take(usize::MAX)
                .into_iter()
                .map(|raw| raw.get().to_string()),
        );
    }
    let next_link = splitter.finish()?;
    Ok((records, next_link))
}

//! Tree names and key layouts, in one place (the crate root documents them).
//!
//! Every key starts with the instance name and [`SEP`], so one instance's data
//! is one contiguous range. Names that are followed by another key part must
//! not contain [`SEP`]; the builders here refuse them.

use crate::error::StoreError;

/// Assets: `instance SEP asset_id` -> JSON `StoredAsset`.
pub(crate) const ASSETS: &str = "assets";
/// Asset markers, same keys as [`ASSETS`].
pub(crate) const ASSET_SEEN: &str = "asset_seen";
/// Findings, one group per device: `instance SEP asset_id` -> every
/// `StoredFinding` of that device as JSON, grouped (see `groups`).
pub(crate) const FINDINGS: &str = "findings";
/// Finding markers, same keys as [`FINDINGS`], in the order of its values.
pub(crate) const FINDING_SEEN: &str = "finding_seen";
/// Runs: `instance SEP run_id (u64 BE)` -> JSON `RunRecord`.
pub(crate) const RUNS: &str = "runs";
/// Quarantine: `instance SEP run_id (u64 BE) SEP seq (u64 BE)` -> JSON `QuarantinedRecord`.
pub(crate) const QUARANTINE: &str = "quarantine";
/// Cursors: `instance SEP name` -> UTF-8 value.
pub(crate) const CURSORS: &str = "cursors";
/// Reference data: `instance SEP key` -> JSON value.
pub(crate) const REFERENCE: &str = "reference";
/// Store-wide facts: [`FORMAT_KEY`] -> [`FORMAT_VERSION`].
pub(crate) const META: &str = "meta";

/// Separates the parts of a key.
pub(crate) const SEP: u8 = 0x00;
/// Key in [`META`] of the layout version.
pub(crate) const FORMAT_KEY: &[u8] = b"format_version";
/// The layout this build reads and writes.
pub(crate) const FORMAT_VERSION: &str = "2";

/// `instance SEP`: the range of one instance in every tree.
pub(crate) fn instance_prefix(instance: &str) -> Result<Vec<u8>, StoreError> {
    let mut key = Vec::with_capacity(instance.len() + 1);
    push_part(&mut key, "instance name", instance)?;
    Ok(key)
}

/// `instance SEP asset_id`; also the prefix of the asset's findings (plus [`SEP`]).
pub(crate) fn asset_key(instance: &str, asset_id: &str) -> Result<Vec<u8>, StoreError> {
    let mut key = instance_prefix(instance)?;
    check_part("asset id", asset_id)?;
    key.extend_from_slice(asset_id.as_bytes());
    Ok(key)
}

/// `asset_key SEP finding_id`: a finding's logical key, which names it in
/// messages and sorts like the listing. The finding id is the last part, so
/// it may hold any byte. Not a sled key: findings are stored per device.
pub(crate) fn finding_key_of(asset_key: &[u8], finding_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(asset_key.len() + 1 + finding_id.len());
    key.extend_from_slice(asset_key);
    key.push(SEP);
    key.extend_from_slice(finding_id.as_bytes());
    key
}

/// `instance SEP run_id`, big-endian so runs sort by id.
pub(crate) fn run_key(instance: &str, run_id: u64) -> Result<Vec<u8>, StoreError> {
    let mut key = instance_prefix(instance)?;
    key.extend_from_slice(&run_id.to_be_bytes());
    Ok(key)
}

/// `instance SEP run_id SEP seq`.
pub(crate) fn quarantine_key(instance: &str, run_id: u64, seq: u64) -> Result<Vec<u8>, StoreError> {
    let mut key = run_key(instance, run_id)?;
    key.push(SEP);
    key.extend_from_slice(&seq.to_be_bytes());
    Ok(key)
}

/// `instance SEP name`, for cursors and reference entries.
pub(crate) fn named_key(instance: &str, name: &str) -> Result<Vec<u8>, StoreError> {
    let mut key = instance_prefix(instance)?;
    key.extend_from_slice(name.as_bytes());
    Ok(key)
}

/// The asset key (`instance SEP asset_id`) a finding key starts with, given
/// the length of the instance prefix.
pub(crate) fn asset_key_of_finding(finding_key: &[u8], prefix_len: usize) -> &[u8] {
    let rest = finding_key.get(prefix_len..).unwrap_or_default();
    match rest.iter().position(|&byte| byte == SEP) {
        Some(position) => &finding_key[..prefix_len + position],
        None => finding_key,
    }
}

/// A key made readable for error messages: the separator shows as `/`.
pub(crate) fn display_key(key: &[u8]) -> String {
    String::from_utf8_lossy(key).replace(char::from(SEP), "/")
}

fn push_part(key: &mut Vec<u8>, what: &'static str, part: &str) -> Result<(), StoreError> {
    check_part(what, part)?;
    key.extend_from_slice(part.as_bytes());
    key.push(SEP);
    Ok(())
}

fn check_part(what: &'static str, part: &str) -> Result<(), StoreError> {
    if part.as_bytes().contains(&SEP) {
        return Err(StoreError::InvalidKey {
            what,
            value: part.replace('\0', "\\0"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_instance_is_one_range_and_prefixes_do_not_overlap() {
        let contoso = instance_prefix("contoso").unwrap();
        let longer = asset_key("contoso-2", "a").unwrap();
        assert!(asset_key("contoso", "a").unwrap().starts_with(&contoso));
        assert!(
            !longer.starts_with(&contoso),
            "`contoso-2` must not fall in `contoso`'s range"
        );
    }

    #[test]
    fn a_finding_key_starts_with_its_device_key() {
        let device = asset_key("contoso", "dev1").unwrap();
        let finding = finding_key_of(&device, "dev1_CVE-1");
        assert_eq!(
            asset_key_of_finding(&finding, "contoso".len() + 1),
            device.as_slice()
        );
        assert_eq!(display_key(&finding), "contoso/dev1/dev1_CVE-1");
    }

    #[test]
    fn run_keys_sort_by_id() {
        assert!(run_key("i", 255).unwrap() < run_key("i", 256).unwrap());
        assert!(quarantine_key("i", 2, 1).unwrap() > quarantine_key("i", 1, 9).unwrap());
    }

    #[test]
    fn separators_in_names_are_refused() {
        let error = asset_key("contoso", "a\0b").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the asset id `a\\0b` contains a NUL byte, which a store key cannot hold"
        );
        assert!(instance_prefix("x\0y").is_err());
        let finding = finding_key_of(&asset_key("contoso", "a").unwrap(), "f\0g");
        assert!(finding.ends_with(b"f\0g"), "the last part may hold NUL");
    }
}

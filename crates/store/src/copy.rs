//! Copying one instance's data into another store, so a dry run can sync a
//! scratch copy through the ordinary code path and report what would change
//! while the real store is only read.

use sled::{Batch, Tree};

use crate::db::Store;
use crate::error::StoreError;
use crate::keys;

/// Entries per batch while copying.
const COPY_BATCH: usize = 10_000;

impl Store {
    /// Copies every record, marker, run, quarantined record, cursor and
    /// reference entry of `instance` into `target`; returns how many entries.
    pub fn copy_instance_to(&self, instance: &str, target: &Store) -> Result<u64, StoreError> {
        let prefix = keys::instance_prefix(instance)?;
        let (from, to) = (&self.trees, &target.trees);
        let pairs = [
            (&from.assets, &to.assets),
            (&from.asset_seen, &to.asset_seen),
            (&from.findings, &to.findings),
            (&from.finding_seen, &to.finding_seen),
            (&from.runs, &to.runs),
            (&from.quarantine, &to.quarantine),
            (&from.cursors, &to.cursors),
            (&from.reference, &to.reference),
        ];
        let mut n_copied = 0;
        for (source, destination) in pairs {
            n_copied += copy_range(source, destination, &prefix)?;
        }
        Ok(n_copied)
    }
}

fn copy_range(source: &Tree, destination: &Tree, prefix: &[u8]) -> Result<u64, StoreError> {
    let mut batch = Batch::default();
    let mut n_pending: u64 = 0;
    let mut n_copied = 0;
    for entry in source.scan_prefix(prefix) {
        let (key, value) = entry?;
        batch.insert(key, value);
        n_pending += 1;
        if n_pending == COPY_BATCH as u64 {
            destination.apply_batch(std::mem::take(&mut batch))?;
            n_copied += n_pending;
            n_pending = 0;
        }
    }
    destination.apply_batch(batch)?;
    Ok(n_copied + n_pending)
}

#[cfg(test)]
mod tests {
    use crate::testutil::temp_store;
    use crate::{AssetFilter, FindingFilter};

    #[test]
    fn a_copy_holds_the_same_listings_and_runs() {
        let (_dir, store) = temp_store();
        crate::testutil::fill_example(&store);
        let (_other_dir, copy) = temp_store();
        let n_copied = store
            .copy_instance_to(crate::testutil::INSTANCE, &copy)
            .unwrap();
        assert!(n_copied > 0);

        let instance = crate::testutil::INSTANCE;
        let assets = |s: &crate::Store| -> Vec<_> {
            s.assets(instance, AssetFilter::default())
                .map(Result::unwrap)
                .collect()
        };
        let findings = |s: &crate::Store| -> Vec<_> {
            let filter = FindingFilter {
                include_archived: true,
                ..FindingFilter::default()
            };
            s.findings(instance, filter).map(Result::unwrap).collect()
        };
        assert_eq!(assets(&copy), assets(&store));
        assert_eq!(findings(&copy), findings(&store));
        assert_eq!(copy.runs(instance).unwrap(), store.runs(instance).unwrap());
        assert_eq!(
            copy.stats(instance).unwrap(),
            store.stats(instance).unwrap()
        );
    }
}

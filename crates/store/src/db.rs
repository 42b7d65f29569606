//! Opening the database, the trees, and the one write path every change
//! takes: a sled transaction over the trees involved, so a change that spans a
//! record tree and its marker tree lands entirely or not at all, even across a
//! crash.

use std::convert::Infallible;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sled::transaction::{TransactionError, Transactional, TransactionalTree};
use sled::{Batch, Db, Tree};

use crate::codec::{self, Entry, Seen, StoredAsset};
use crate::error::StoreError;
use crate::folders;
use crate::keys;

/// sled 0.34 reports a lock held elsewhere as an `Io` error whose message
/// starts with this phrase; there is no dedicated variant to match.
const SLED_LOCK_MESSAGE: &str = "could not acquire lock";

/// Whether sled failed to open a folder because its lock is held.
fn is_lock_error(error: &sled::Error) -> bool {
    match error {
        sled::Error::Io(io) => io.to_string().contains(SLED_LOCK_MESSAGE),
        _ => false,
    }
}

/// sled's page cache budget. sled's default is 1 GiB, and a sync touches
/// every page, so the cache (not the sync) decided the process's peak memory:
/// 1.6 GB for a 1M-row full sync. A small cache costs little here because a
/// sync reads each key about once, in key order. sled also keeps pages well
/// past this budget (it evicts lazily, per shard), so the budget is only part
/// of the memory the pages take. Fresh full syncs of the bench's 1M and 2M-row
/// tenants, twice each: 64 MiB peaked at 220-223 and 277-278 MiB RSS, 32 MiB
/// at 201-207 and 240-243 MiB, 16 MiB at 188-192 and 245-248 MiB, all at the
/// same speed.
const CACHE_CAPACITY_BYTES: u64 = 32 * 1024 * 1024;

/// Inlet's database: one sled folder holding every instance's data.
///
/// Cloning is cheap (sled handles are reference counted) and clones share the
/// database. Writes of one instance are expected from one sync at a time.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Db,
    pub(crate) trees: Trees,
    path: PathBuf,
    /// Tells a later open in this process that a lock on `path` left after
    /// the last clone is dropped is sled's own threads finishing.
    _holder: Arc<folders::Holder>,
}

#[derive(Clone)]
pub(crate) struct Trees {
    pub assets: Tree,
    pub asset_seen: Tree,
    pub findings: Tree,
    pub finding_seen: Tree,
    pub runs: Tree,
    pub quarantine: Tree,
    pub cursors: Tree,
    pub reference: Tree,
}

impl Trees {
    fn open(db: &Db) -> Result<Trees, sled::Error> {
        Ok(Trees {
            assets: db.open_tree(keys::ASSETS)?,
            asset_seen: db.open_tree(keys::ASSET_SEEN)?,
            findings: db.open_tree(keys::FINDINGS)?,
            finding_seen: db.open_tree(keys::FINDING_SEEN)?,
            runs: db.open_tree(keys::RUNS)?,
            quarantine: db.open_tree(keys::QUARANTINE)?,
            cursors: db.open_tree(keys::CURSORS)?,
            reference: db.open_tree(keys::REFERENCE)?,
        })
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens or creates the database folder. When another process holds it,
    /// or another `Store` of this process, fails with [`StoreError::Locked`]:
    /// at once, unless this process closed the folder earlier, in which case
    /// the lock may still be sled's threads finishing with it and the open
    /// is retried for up to 10 s first.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let open_error = |source: sled::Error| {
            let path = dir.to_path_buf();
            if is_lock_error(&source) {
                StoreError::Locked { path }
            } else {
                StoreError::Open { path, source }
            }
        };
        let db =
            folders::open_waiting_for_release(dir, folders::RELEASE_WAIT, is_lock_error, || {
                sled::Config::new()
                    .path(dir)
                    .cache_capacity(CACHE_CAPACITY_BYTES)
                    .open()
            })
            .map_err(open_error)?;
        let holder = Arc::new(folders::Holder::new(dir));
        let trees = Trees::open(&db).map_err(open_error)?;
        check_format(&db, dir)?;
        tracing::debug!(path = %dir.display(), "store opened");
        Ok(Store {
            db,
            trees,
            path: dir.to_path_buf(),
            _holder: holder,
        })
    }

    /// The database folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes everything to disk before returning.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// The stored asset at `key` with its marker.
    pub(crate) fn load_asset(
        &self,
        key: &[u8],
    ) -> Result<Option<Entry<StoredAsset, Seen>>, StoreError> {
        let Some(bytes) = self.trees.assets.get(key)? else {
            return Ok(None);
        };
        let stored: StoredAsset = codec::decode_json(keys::ASSETS, key, &bytes)?;
        let marker = self.asset_marker(key, stored.first_ingested_at)?;
        Ok(Some(Entry {
            stored,
            bytes: bytes.to_vec(),
            marker,
            dirty: false,
        }))
    }

    /// The marker of the asset at `key`. Markers are written with their
    /// record, so a missing one means a record older than markers: it reads
    /// as never returned, active since before any run.
    pub(crate) fn asset_marker(
        &self,
        key: &[u8],
        first_ingested_at: jiff::Timestamp,
    ) -> Result<Seen, StoreError> {
        match self.trees.asset_seen.get(key)? {
            Some(marker) => Seen::decode(&marker)
                .map_err(|source| codec::corrupt(keys::ASSET_SEEN, key, source)),
            None => Ok(Seen::unknown(first_ingested_at)),
        }
    }
}

/// Records the layout version in a new store and refuses a store written in
/// another layout, rather than misreading it.
fn check_format(db: &Db, dir: &Path) -> Result<(), StoreError> {
    let meta = db.open_tree(keys::META)?;
    let found = meta.compare_and_swap(
        keys::FORMAT_KEY,
        None as Option<&[u8]>,
        Some(keys::FORMAT_VERSION.as_bytes()),
    )?;
    match found {
        Ok(()) => Ok(()),
        Err(existing) if existing.current.as_deref() == Some(keys::FORMAT_VERSION.as_bytes()) => {
            Ok(())
        }
        Err(existing) => Err(StoreError::Format {
            path: dir.to_path_buf(),
            found: String::from_utf8_lossy(existing.current.as_deref().unwrap_or_default())
                .into_owned(),
            expected: keys::FORMAT_VERSION,
        }),
    }
}

/// Applies `batches[i]` to `trees[i]`, all in one transaction.
pub(crate) fn commit(trees: &[&Tree], batches: &[Batch]) -> Result<(), StoreError> {
    let result = <[&Tree] as Transactional<Infallible>>::transaction(
        trees,
        |views: &Vec<TransactionalTree>| {
            for (view, batch) in views.iter().zip(batches) {
                view.apply_batch(batch)?;
            }
            Ok(())
        },
    );
    match result {
        Ok(()) => Ok(()),
        Err(TransactionError::Storage(error)) => Err(StoreError::Database(error)),
        Err(TransactionError::Abort(never)) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::testutil::{asset, run, temp_store, INSTANCE};
    use crate::AssetFilter;

    /// Set in the child process of the cross-process lock test: the folder
    /// the parent holds.
    const LOCKED_DIR_ENV: &str = "INLET_STORE_TEST_LOCKED_DIR";

    #[test]
    fn a_second_open_in_the_same_process_is_refused_with_the_folder() {
        let (dir, _store) = temp_store();

        let error = Store::open(dir.path()).unwrap_err();

        assert!(matches!(&error, StoreError::Locked { path } if path == dir.path()));
        let expected = format!(
            "the data folder `{}` is in use by another inlet process",
            dir.path().display()
        );
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn a_folder_held_by_another_process_is_refused_at_once() {
        // The child side: open what the parent holds, report, return.
        if let Ok(locked) = std::env::var(LOCKED_DIR_ENV) {
            match Store::open(Path::new(&locked)) {
                Err(error @ StoreError::Locked { .. }) => println!("REFUSED: {error}"),
                other => println!("UNEXPECTED: {other:?}"),
            }
            return;
        }

        let (dir, _store) = temp_store();
        let module = module_path!().split_once("::").unwrap().1;
        let test_name = format!("{module}::a_folder_held_by_another_process_is_refused_at_once");
        let started = Instant::now();
        let output = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &test_name, "--nocapture", "--test-threads=1"])
            .env(LOCKED_DIR_ENV, dir.path())
            .output()
            .unwrap();

        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "child failed: {stdout}");
        let expected = format!(
            "REFUSED: the data folder `{}` is in use by another inlet process",
            dir.path().display()
        );
        assert!(stdout.contains(&expected), "child said: {stdout}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the refusal must not wait"
        );
    }

    #[test]
    fn data_survives_closing_and_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ctx = run(&store, 0);
        store.upsert_assets(&ctx, vec![asset("a")]).unwrap();
        store.flush().unwrap();
        let before: Vec<_> = store.assets(INSTANCE, AssetFilter::default()).collect();
        drop(store);

        let store = Store::open(dir.path()).unwrap();
        let after: Vec<_> = store.assets(INSTANCE, AssetFilter::default()).collect();

        assert_eq!(after.len(), 1);
        assert_eq!(after[0].as_ref().unwrap(), before[0].as_ref().unwrap());
    }

    #[test]
    fn a_folder_closed_here_reopens_while_sleds_threads_let_go() {
        // Each drop leaves sled's thread pool writing to the folder for a
        // moment; a reopen right after must wait for it, not report the
        // folder as held by another process.
        let dir = tempfile::tempdir().unwrap();
        for round in 0..20 {
            let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("round {round}: {e}"));
            let ctx = run(&store, round);
            store.upsert_assets(&ctx, vec![asset("a")]).unwrap();
            drop(store);
        }
    }

    #[test]
    fn a_store_in_another_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .db
            .open_tree(keys::META)
            .unwrap()
            .insert(keys::FORMAT_KEY, "99")
            .unwrap();
        drop(store);

        let error = Store::open(dir.path()).unwrap_err();

        assert!(
            matches!(&error, StoreError::Format { found, .. } if found == "99"),
            "{error:?}"
        );
    }

    #[test]
    fn a_transaction_writes_every_tree_or_none() {
        let (_dir, store) = temp_store();
        let mut first = Batch::default();
        first.insert("k", "v");
        let mut second = Batch::default();
        second.insert("k", "w");

        commit(
            &[&store.trees.cursors, &store.trees.reference],
            &[first, second],
        )
        .unwrap();

        assert_eq!(store.trees.cursors.get("k").unwrap().unwrap(), "v");
        assert_eq!(store.trees.reference.get("k").unwrap().unwrap(), "w");
    }

    #[test]
    fn the_store_and_its_lookup_can_be_shared_across_threads() {
        fn shared<T: Send + Sync + Clone + 'static>() {}
        shared::<Store>();
        shared::<crate::StoreReference>();
    }

    #[test]
    fn debug_shows_the_folder() {
        let (dir, store) = temp_store();
        assert!(format!("{store:?}").contains(&dir.path().display().to_string()));
    }
}

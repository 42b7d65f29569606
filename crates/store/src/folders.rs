//! The data folders this process has opened, so that reopening one it just
//! closed waits for sled to let go of it instead of failing.
//!
//! sled locks its folder for as long as any of its threads holds the file:
//! its global thread pool finishes writes and segment work after the last
//! `Db` handle is dropped, so for a moment a folder this process closed still
//! reads as locked. A daemon that closes the store between scheduled syncs,
//! or a test that reopens a folder, would then see "in use by another inlet
//! process", which is false. A folder still open here, or never opened here
//! and held by another process, is refused at once as before; one this
//! process closed and another process then took is refused after the wait.
//! The table keeps an entry per folder the process ever opened: a few for
//! the CLI and the daemon, one per temp dir in tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a reopen waits for sled's threads to release a folder this
/// process closed. They finish in milliseconds; the margin is for a loaded
/// machine.
pub(crate) const RELEASE_WAIT: Duration = Duration::from_secs(10);

/// The first pause between attempts; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(2);
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// A folder's state here; `Open` carries the id of the [`Holder`] that
/// opened it, so a holder dropped late cannot mark a reopened folder closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open(u64),
    Closed,
}

static FOLDERS: Mutex<BTreeMap<PathBuf, State>> = Mutex::new(BTreeMap::new());
static NEXT_HOLDER: AtomicU64 = AtomicU64::new(0);

fn folders() -> std::sync::MutexGuard<'static, BTreeMap<PathBuf, State>> {
    FOLDERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The folder's canonical path, so `data` and `./data` are one folder.
fn canonical(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Marks a folder open here while alive, closed here once dropped. Every
/// clone of a [`crate::Store`] shares one.
#[derive(Debug)]
pub(crate) struct Holder {
    path: PathBuf,
    id: u64,
}

impl Holder {
    pub fn new(dir: &Path) -> Holder {
        let path = canonical(dir);
        let id = NEXT_HOLDER.fetch_add(1, Ordering::Relaxed);
        folders().insert(path.clone(), State::Open(id));
        Holder { path, id }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let mut folders = folders();
        if folders.get(&self.path) == Some(&State::Open(self.id)) {
            folders.insert(self.path.clone(), State::Closed);
        }
    }
}

/// Runs `open` until it stops failing with a lock error, as long as the lock
/// is one this process left behind by closing `dir`, for at most `wait`.
/// Any other outcome, or a lock held elsewhere, is returned at once.
pub(crate) fn open_waiting_for_release<T, E>(
    dir: &Path,
    wait: Duration,
    is_locked: impl Fn(&E) -> bool,
    mut open: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    let mut n_attempts = 0_u32;
    // Looked up once, and only when the folder turns out to be locked.
    let mut closed_here = None;
    let result = loop {
        n_attempts += 1;
        let error = match open() {
            Ok(opened) => break Ok(opened),
            Err(error) => error,
        };
        let closed_here = *closed_here
            .get_or_insert_with(|| folders().get(&canonical(dir)) == Some(&State::Closed));
        if !is_locked(&error) || !closed_here || started.elapsed() >= wait {
            break Err(error);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(MAX_PAUSE);
    };
    if n_attempts > 1 {
        tracing::debug!(
            path = %dir.display(),
            n_attempts,
            waited_ms = started.elapsed().as_millis(),
            released = result.is_ok(),
            "waited for this process's closed store to release the data folder"
        );
    }
    result
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    const LOCKED: &str = "locked";

    /// An opener failing with a lock error `failures` times, then opening.
    fn opener(failures: u32, calls: &Cell<u32>) -> impl FnMut() -> Result<(), &'static str> + '_ {
        move || {
            calls.set(calls.get() + 1);
            if calls.get() <= failures {
                Err(LOCKED)
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn a_folder_closed_here_is_retried_until_it_opens() {
        let dir = tempfile::tempdir().unwrap();
        drop(Holder::new(dir.path()));
        let calls = Cell::new(0);

        let opened = open_waiting_for_release(
            dir.path(),
            RELEASE_WAIT,
            |e| *e == LOCKED,
            opener(3, &calls),
        );

        assert_eq!(opened, Ok(()));
        assert_eq!(calls.get(), 4);
    }

    #[test]
    fn a_folder_open_here_or_unknown_is_refused_at_once() {
        let open_here = tempfile::tempdir().unwrap();
        let _holder = Holder::new(open_here.path());
        let unknown = tempfile::tempdir().unwrap();

        for dir in [open_here.path(), unknown.path()] {
            let calls = Cell::new(0);
            let opened =
                open_waiting_for_release(dir, RELEASE_WAIT, |e| *e == LOCKED, opener(1, &calls));
            assert_eq!(opened, Err(LOCKED));
            assert_eq!(calls.get(), 1, "{}", dir.display());
        }
    }

    #[test]
    fn a_holder_dropped_after_a_reopen_leaves_the_folder_open() {
        let dir = tempfile::tempdir().unwrap();
        let first = Holder::new(dir.path());
        let _second = Holder::new(dir.path());
        drop(first);

        let calls = Cell::new(0);
        let opened = open_waiting_for_release(
            dir.path(),
            RELEASE_WAIT,
            |e| *e == LOCKED,
            opener(1, &calls),
        );
        assert_eq!(opened, Err(LOCKED));
        assert_eq!(calls.get(), 1, "a folder open here is refused at once");
    }

    #[test]
    fn other_errors_and_a_lock_past_the_wait_are_returned() {
        let dir = tempfile::tempdir().unwrap();
        drop(Holder::new(dir.path()));

        let calls = Cell::new(0);
        let opened =
            open_waiting_for_release(dir.path(), RELEASE_WAIT, |_| false, opener(1, &calls));
        assert_eq!(opened, Err(LOCKED));
        assert_eq!(calls.get(), 1);

        let calls = Cell::new(0);
        let opened = open_waiting_for_release(
            dir.path(),
            Duration::ZERO,
            |e| *e == LOCKED,
            opener(5, &calls),
        );
        assert_eq!(opened, Err(LOCKED));
        assert_eq!(calls.get(), 1);
    }
}

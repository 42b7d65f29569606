//! `inlet run`: syncs every scheduled instance at its slots until SIGINT or
//! SIGTERM, and `inlet run --once`, which runs what is due and exits.
//!
//! Each scheduled instance has a task of its own, so a slow sync never delays
//! another instance, and a task handles its slots one after the other, so an
//! instance never syncs twice at once. The store's exclusive lock is held
//! only while a sync runs (tasks syncing at the same moment share one open
//! store), so `inlet sync` and the listings work while the daemon waits.
//!
//! The last slot each instance handled is a store cursor. On start, and after
//! each sync, the latest slot up to now runs once if it is later than that
//! cursor: a daemon that was down for three slots syncs once, not three times,
//! and a restart does not repeat a slot it already synced.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use inlet_core::config::Instance;
use inlet_engine::{run_sync, SyncOptions};
use inlet_store::{RunOutcome, RunRecord, Store, StoreError};
use jiff::Timestamp;
use tokio::sync::watch;

use crate::cli::GlobalArgs;
use crate::config_file;
use crate::failure::{CommandResult, Failure};
use crate::progress::{LogProgress, LOG_EVERY};
use crate::schedule::{due_slot, Clock, Slots, SystemClock};

/// The store cursor holding the last slot an instance handled (RFC 3339).
pub const LAST_SLOT_CURSOR: &str = "schedule_last_slot";
/// How long a sync waits when another process holds the data folder.
const LOCKED_RETRY: Duration = Duration::from_secs(60);
/// Longest single sleep: the wall clock is read again after it, so a
/// suspended machine or a clock change cannot make a slot late by hours.
const LONGEST_NAP: Duration = Duration::from_secs(60);

/// `inlet run` and `inlet run --once`.
pub async fn run(global: &GlobalArgs, once: bool) -> CommandResult {
    let config = config_file::load(&global.config)?;
    let jobs = scheduled_jobs(&config.instances)?;
    if jobs.is_empty() {
        return Err(Failure::usage(anyhow::anyhow!(
            "no instance in `{}` has a schedule; add `schedule = {{ at = \"02:00\" }}` to one, or sync with `inlet sync NAME`",
            global.config.display()
        )));
    }
    let stop_listener = listen_for_stop().map_err(Failure::failed)?;
    let (stop_sender, stop) = watch::channel(None);
    let daemon = Arc::new(Daemon {
        store: SharedStore::new(config_file::data_dir(global, &config)),
        clock: Arc::new(SystemClock),
        stop,
    });

    let mut tasks = tokio::task::JoinSet::new();
    for job in jobs {
        let daemon = daemon.clone();
        if once {
            tasks.spawn(async move { daemon.run_due(&job).await });
        } else {
            tasks.spawn(async move { daemon.watch(&job).await });
        }
    }
    tracing::info!(n_instances = tasks.len(), once, "scheduler started");

    let (all_succeeded, stopped) = supervise(tasks, stop_listener, stop_sender).await;
    tracing::info!("scheduler stopped");
    Ok(if once && !stopped && !all_succeeded {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Waits for every task (only `--once` tasks end by themselves), passing a
/// signal on to them; returns whether all succeeded and whether a signal came.
async fn supervise(
    mut tasks: tokio::task::JoinSet<bool>,
    stop_listener: impl std::future::Future<Output = &'static str>,
    stop_sender: watch::Sender<Option<&'static str>>,
) -> (bool, bool) {
    let mut all_succeeded = true;
    let mut stop_listener = std::pin::pin!(stop_listener);
    loop {
        tokio::select! {
            signal = &mut stop_listener, if stop_sender.borrow().is_none() => {
                tracing::info!(signal, "scheduler stopping");
                let _ = stop_sender.send(Some(signal));
            }
            joined = tasks.join_next() => match joined {
                Some(Ok(succeeded)) => all_succeeded &= succeeded,
                Some(Err(error)) => {
                    tracing::error!(error = %error, "a scheduler task ended abnormally");
                    all_succeeded = false;
                }
                None => break,
            },
        }
    }
    let stopped = stop_sender.borrow().is_some();
    (all_succeeded, stopped)
}

/// One scheduled instance.
struct Job {
    instance: Instance,
    slots: Slots,
}

impl Job {
    fn name(&self) -> &str {
        &self.instance.settings.name
    }

    /// A slot as the operator reads it: local time in the schedule's zone.
    fn local(&self, slot: Timestamp) -> String {
        slot.to_zoned_datetime(self.slots.zone().clone())
            .to_string()
    }
}

/// The instances that have a schedule; the others are mentioned once.
fn scheduled_jobs(instances: &[Instance]) -> Result<Vec<Job>, Failure> {
    let mut jobs = Vec::new();
    for instance in instances {
        let name = &instance.settings.name;
        let Some(schedule) = &instance.settings.schedule else {
            tracing::info!(instance = %name, "no schedule; syncs only with `inlet sync`");
            continue;
        };
        let slots = Slots::new(schedule).map_err(|error| {
            Failure::usage(
                anyhow::Error::new(error)
                    .context(format!("the schedule of instance `{name}` cannot be used")),
            )
        })?;
        jobs.push(Job {
            instance: instance.clone(),
            slots,
        });
    }
    Ok(jobs)
}

/// What handling one slot came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handled {
    /// Synced now, and the cursor holds the slot.
    Synced { succeeded: bool },
    /// The cursor already held the slot (or a later one): nothing to do.
    Already,
    /// The store could not be opened, or the sync not started; the slot is
    /// still due.
    NotDone,
    /// A stop was asked for first, or interrupted the sync.
    Stopped,
}

struct Daemon {
    store: SharedStore,
    clock: Arc<dyn Clock>,
    /// Becomes the signal's name when the process is asked to stop.
    stop: watch::Receiver<Option<&'static str>>,
}

impl Daemon {
    /// The daemon's loop for one instance: the due slot if any, then sleep
    /// until the next one, until stopped. Always `true` (a failed sync is
    /// logged and the next slot comes anyway).
    async fn watch(&self, job: &Job) -> bool {
        let mut handled_until: Option<Timestamp> = None;
        let first = job.slots.next_after(self.clock.now());
        tracing::info!(
            instance = %job.name(),
            next_run = %first.map(|slot| job.local(slot)).unwrap_or_default(),
            "instance scheduled"
        );
        loop {
            // Only a slot newer than the last one handled needs the store.
            let latest = job.slots.latest_at_or_before(self.clock.now());
            if latest.is_some() && latest > handled_until {
                let handled = self.handle(job, true).await;
                match handled {
                    Handled::Stopped => return true,
                    Handled::Synced { .. } | Handled::Already => handled_until = latest,
                    Handled::NotDone => {}
                }
                if handled != Handled::Already {
                    let next = job.slots.next_after(self.clock.now());
                    tracing::info!(
                        instance = %job.name(),
                        next_run = %next.map(|slot| job.local(slot)).unwrap_or_default(),
                        "next scheduled run"
                    );
                }
            }
            let Some(next) = job.slots.next_after(self.clock.now()) else {
                tracing::warn!(instance = %job.name(), "the schedule has no further slot");
                return true;
            };
            if !self.sleep_until(next).await {
                return true;
            }
        }
    }

    /// `--once`: the due slot, if any; `false` when it failed or could not run.
    async fn run_due(&self, job: &Job) -> bool {
        match self.handle(job, false).await {
            Handled::Synced { succeeded } => succeeded,
            Handled::Already | Handled::Stopped => true,
            Handled::NotDone => false,
        }
    }

    /// Syncs the due slot, if the cursor says there is one. A locked data
    /// folder is retried every minute when `retry_locked`, else left due;
    /// the slot is chosen once the store is open, so a long wait for the
    /// lock still syncs once, for the latest slot.
    async fn handle(&self, job: &Job, retry_locked: bool) -> Handled {
        let name = job.name();
        let store = loop {
            match self.store.open() {
                Ok(store) => break store,
                Err(StoreError::Locked { .. }) if retry_locked => {
                    tracing::warn!(
                        instance = %name,
                        retry_in_secs = LOCKED_RETRY.as_secs(),
                        "data folder in use by another inlet process; retrying"
                    );
                    if !self.nap(LOCKED_RETRY).await {
                        return Handled::Stopped;
                    }
                }
                Err(error) => {
                    tracing::error!(
                        instance = %name,
                        error = %inlet_engine::error_chain(&error),
                        "cannot open the data folder for a scheduled sync"
                    );
                    return Handled::NotDone;
                }
            }
        };
        let last = last_handled(&store, name);
        let Some(slot) = due_slot(&job.slots, last, self.clock.as_ref()) else {
            tracing::info!(
                instance = %name,
                last_slot = %last.map(|slot| job.local(slot)).unwrap_or_default(),
                "nothing due: the latest slot was already handled"
            );
            return Handled::Already;
        };
        self.sync(&store, job, slot).await
    }

    /// One scheduled sync of `slot`, then the cursor, unless a stop
    /// interrupted it: then the slot stays due for the next start.
    async fn sync(&self, store: &Store, job: &Job, slot: Timestamp) -> Handled {
        let name = job.name();
        tracing::info!(instance = %name, slot = %job.local(slot), "scheduled sync starting");
        let options = SyncOptions {
            observer: Some(Arc::new(LogProgress::start(name, LOG_EVERY))),
            ..SyncOptions::default()
        };
        let report = match run_sync(store, &job.instance, &options, self.stopped()).await {
            Ok(report) => report,
            Err(error) => {
                let error = inlet_engine::error_chain(&error);
                tracing::error!(instance = %name, error = %error, "scheduled sync could not start");
                return Handled::NotDone;
            }
        };
        let run = &report.run;
        log_finished(name, run, report.elapsed);
        let succeeded = run.outcome == RunOutcome::Succeeded;
        if !succeeded && self.stop.borrow().is_some() {
            return Handled::Stopped;
        }
        let saved = store
            .set_cursor(name, LAST_SLOT_CURSOR, &slot.to_string())
            .and_then(|()| store.flush());
        if let Err(error) = saved {
            let error = inlet_engine::error_chain(&error);
            tracing::error!(instance = %name, error = %error, "cannot record the handled slot");
        }
        Handled::Synced { succeeded }
    }

    /// Resolves with the signal's name once a stop is asked for.
    fn stopped(&self) -> impl std::future::Future<Output = &'static str> + 'static {
        let mut stop = self.stop.clone();
        async move {
            match stop.wait_for(Option::is_some).await {
                Ok(signal) => signal.unwrap_or("a stop request"),
                // The sender lives until every task has ended.
                Err(_) => "a stop request",
            }
        }
    }

    /// Sleeps `duration`; `false` when a stop came first.
    async fn nap(&self, duration: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(duration) => true,
            _ = self.stopped() => false,
        }
    }

    /// Sleeps until the wall clock reaches `target`; `false` when a stop came
    /// first.
    async fn sleep_until(&self, target: Timestamp) -> bool {
        loop {
            let remaining = target.duration_since(self.clock.now());
            let Ok(remaining) = Duration::try_from(remaining) else {
                return true;
            };
            if remaining.is_zero() {
                return true;
            }
            if !self.nap(remaining.min(LONGEST_NAP)).await {
                return false;
            }
        }
    }
}

/// The outcome of a scheduled sync, at the level it deserves: a held sync
/// waits for the operator, a failed one for the next slot.
fn log_finished(instance: &str, run: &RunRecord, elapsed: Duration) {
    let elapsed_ms = elapsed.as_millis() as u64;
    let outcome = run.outcome.as_str();
    match run.outcome {
        RunOutcome::Succeeded | RunOutcome::Running => {
            tracing::info!(
                instance = %instance,
                run_id = run.id,
                outcome,
                elapsed_ms,
                "scheduled sync finished"
            )
        }
        RunOutcome::Held => tracing::warn!(
            instance = %instance,
            run_id = run.id,
            outcome,
            held = run.held.as_deref().unwrap_or_default(),
            "scheduled sync held; apply it with `inlet sync NAME --confirm-removal`"
        ),
        RunOutcome::Failed => tracing::error!(
            instance = %instance,
            run_id = run.id,
            outcome,
            elapsed_ms,
            error = run.error.as_deref().unwrap_or_default(),
            "scheduled sync failed"
        ),
    }
}

/// The cursor of the last handled slot; an unreadable one reads as never.
fn last_handled(store: &Store, instance: &str) -> Option<Timestamp> {
    let text = match store.cursor(instance, LAST_SLOT_CURSOR) {
        Ok(text) => text?,
        Err(error) => {
            tracing::warn!(
                instance = %instance,
                error = %inlet_engine::error_chain(&error),
                "cannot read the last handled slot; treating it as never"
            );
            return None;
        }
    };
    text.parse().ok()
}

/// The data folder, opened while at least one sync holds it and closed (its
/// lock released) when the last one lets go.
struct SharedStore {
    path: PathBuf,
    open: Mutex<Weak<Store>>,
}

impl SharedStore {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            open: Mutex::new(Weak::new()),
        }
    }

    /// The open store, or a newly opened one.
    fn open(&self) -> Result<Arc<Store>, StoreError> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = open.upgrade() {
            return Ok(store);
        }
        let store = Arc::new(Store::open(&self.path)?);
        *open = Arc::downgrade(&store);
        Ok(store)
    }
}

/// Starts listening for SIGINT and SIGTERM now, before the daemon says it
/// started, so a signal sent right after that line cannot kill the process
/// the default way. The future resolves with the signal's name.
#[cfg(unix)]
fn listen_for_stop() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        }
    })
}

#[cfg(not(unix))]
fn listen_for_stop() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    Ok(crate::signals::shutdown_signal())
}

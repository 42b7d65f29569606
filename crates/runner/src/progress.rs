//! A sync's progress on stderr, as a [`SyncObserver`] the engine calls after
//! each stored batch: one indicatif line per stream (records, batches, rate)
//! on a terminal, or an info log line every few seconds elsewhere, so that
//! JSON logs and files never receive a progress bar.
//!
//! Bars and log lines share stderr. While bars are drawn, [`LogWriter`] (the
//! log writer) hides them for the moment it writes a line, or the next redraw
//! would overwrite the line.

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use inlet_engine::{Stream, SyncObserver};

use crate::cli::{GlobalArgs, LogFormat};

/// How often the log-line progress reports.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The bars being drawn, if any, for [`LogWriter`] to hide.
static ACTIVE_BARS: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// The observer for `inlet sync`: bars when stderr is a terminal and logs are
/// plain text, log lines otherwise (JSON logs, `-q`, a pipe or a file).
pub fn observer(global: &GlobalArgs, instance: &str) -> Arc<dyn SyncObserver> {
    let bars_fit = io::stderr().is_terminal() && global.log_format == LogFormat::Text;
    if bars_fit && !global.quiet {
        Arc::new(TerminalProgress::new(ProgressDrawTarget::stderr()))
    } else {
        Arc::new(LogProgress::start(instance, LOG_EVERY))
    }
}

/// Ignores a poisoned lock: the counters stay usable after a panic elsewhere.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One bar per stream, plus one for reconciliation once it starts.
pub struct TerminalProgress {
    bars: MultiProgress,
    /// Rates are averaged from here: a stream's first batch often comes
    /// whole, so its own start would give no rate at all.
    started: Instant,
    streams: Mutex<Vec<StreamBar>>,
    reconcile: Mutex<Option<ProgressBar>>,
}

struct StreamBar {
    stream: Stream,
    bar: ProgressBar,
    n_batches: u64,
}

const BAR_TEMPLATE: &str = "{spinner:.green} {prefix:<16} {pos:>10} {msg}  {elapsed}";
const TICK: Duration = Duration::from_millis(200);

impl TerminalProgress {
    pub fn new(target: ProgressDrawTarget) -> Self {
        let bars = MultiProgress::with_draw_target(target);
        *lock(&ACTIVE_BARS) = Some(bars.clone());
        Self {
            bars,
            started: Instant::now(),
            streams: Mutex::new(Vec::new()),
            reconcile: Mutex::new(None),
        }
    }

    /// Records of `stream` so far, if any arrived.
    #[cfg(test)]
    pub fn records(&self, stream: Stream) -> Option<u64> {
        let streams = lock(&self.streams);
        let found = streams.iter().find(|line| line.stream == stream);
        found.map(|line| line.bar.position())
    }

    /// Keys committed by reconciliation so far, once it started.
    #[cfg(test)]
    pub fn reconciled_keys(&self) -> Option<u64> {
        lock(&self.reconcile).as_ref().map(ProgressBar::position)
    }

    fn spinner(&self, prefix: &'static str) -> ProgressBar {
        let style = ProgressStyle::with_template(BAR_TEMPLATE)
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = self.bars.add(
            ProgressBar::new_spinner()
                .with_style(style)
                .with_prefix(prefix),
        );
        bar.enable_steady_tick(TICK);
        bar
    }

    fn finish_streams(&self) {
        for line in lock(&self.streams).iter() {
            line.bar.finish();
        }
    }
}

impl SyncObserver for TerminalProgress {
    fn batch_stored(&self, stream: Stream, n_records: usize) {
        let mut streams = lock(&self.streams);
        let index = match streams.iter().position(|line| line.stream == stream) {
            Some(index) => index,
            None => {
                let bar = self.spinner(stream.as_str());
                streams.push(StreamBar {
                    stream,
                    bar,
                    n_batches: 0,
                });
                streams.len() - 1
            }
        };
        let line = &mut streams[index];
        line.n_batches += 1;
        line.bar.inc(n_records as u64);
        let noun = if line.n_batches == 1 {
            "batch"
        } else {
            "batches"
        };
        let rate = per_second(line.bar.position(), self.started.elapsed());
        let message = format!("records in {} {noun}, {rate}", line.n_batches);
        line.bar.set_message(message);
    }

    fn reconciling(&self) {
        self.finish_streams();
        let bar = self.spinner("reconciling");
        bar.set_message("keys committed");
        *lock(&self.reconcile) = Some(bar);
    }

    fn reconcile_committed(&self, n_keys: u64) {
        if let Some(bar) = lock(&self.reconcile).as_ref() {
            bar.inc(n_keys);
        }
    }

    fn finished(&self) {
        self.finish_streams();
        if let Some(bar) = lock(&self.reconcile).as_ref() {
            bar.finish();
        }
        *lock(&ACTIVE_BARS) = None;
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        *lock(&ACTIVE_BARS) = None;
    }
}

/// A rate such as `12,345/s`; indicatif's own `{per_sec}` prints every
/// decimal of its estimate.
fn per_second(count: u64, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    if seconds < 0.001 {
        return "-/s".into();
    }
    let rate = (count as f64 / seconds).round() as u64;
    let digits = rate.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{grouped}/s")
}

/// What the log lines report: records per stream so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub n_assets: u64,
    pub n_findings: u64,
    pub n_finding_changes: u64,
    pub n_reference: u64,
    pub n_batches: u64,
    /// Keys committed by reconciliation; `None` while still fetching.
    pub n_reconciled_keys: Option<u64>,
}

impl Tally {
    fn add(&mut self, stream: Stream, n_records: u64) {
        let count = match stream {
            Stream::Assets => &mut self.n_assets,
            Stream::Findings => &mut self.n_findings,
            Stream::FindingChanges => &mut self.n_finding_changes,
            Stream::Reference => &mut self.n_reference,
        };
        *count += n_records;
        self.n_batches += 1;
    }
}

/// Progress as an info log line every `every`, from a task of its own so a
/// line comes even while a slow page is on its way.
pub struct LogProgress {
    tally: Arc<Mutex<Tally>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl LogProgress {
    /// Starts reporting; outside a tokio runtime it only counts.
    pub fn start(instance: &str, every: Duration) -> Self {
        let tally = Arc::new(Mutex::new(Tally::default()));
        // Times count from now, not from when the task first runs.
        let started = tokio::time::Instant::now();
        let ticker = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let ticks = tokio::time::interval_at(started + every, every);
            let instance = instance.to_string();
            runtime.spawn(report_every(instance, started, ticks, tally.clone()))
        });
        Self { tally, ticker }
    }

    #[cfg(test)]
    pub fn tally(&self) -> Tally {
        *lock(&self.tally)
    }

    fn stop(&self) {
        if let Some(ticker) = &self.ticker {
            ticker.abort();
        }
    }
}

async fn report_every(
    instance: String,
    started: tokio::time::Instant,
    mut ticks: tokio::time::Interval,
    tally: Arc<Mutex<Tally>>,
) {
    loop {
        ticks.tick().await;
        let now = *lock(&tally);
        let phase = match now.n_reconciled_keys {
            None => "fetching",
            Some(_) => "reconciling",
        };
        tracing::info!(
            instance = %instance,
            phase,
            n_assets = now.n_assets,
            n_findings = now.n_findings,
            n_finding_changes = now.n_finding_changes,
            n_reference = now.n_reference,
            n_batches = now.n_batches,
            n_reconciled_keys = now.n_reconciled_keys.unwrap_or(0),
            elapsed_secs = started.elapsed().as_secs(),
            "sync progress"
        );
    }
}

impl SyncObserver for LogProgress {
    fn batch_stored(&self, stream: Stream, n_records: usize) {
        lock(&self.tally).add(stream, n_records as u64);
    }

    fn reconciling(&self) {
        lock(&self.tally).n_reconciled_keys = Some(0);
    }

    fn reconcile_committed(&self, n_keys: u64) {
        let mut tally = lock(&self.tally);
        tally.n_reconciled_keys = Some(tally.n_reconciled_keys.unwrap_or(0) + n_keys);
    }

    fn finished(&self) {
        self.stop();
    }
}

impl Drop for LogProgress {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The log subscriber's writer: stderr, with any progress bars hidden while
/// a line is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let bars = lock(&ACTIVE_BARS).clone();
        match bars {
            Some(bars) => bars.suspend(|| io::stderr().write_all(buf))?,
            None => io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use serde_json::Value;

    use super::*;

    #[test]
    fn rates_read_as_whole_numbers_with_thousands_separators() {
        assert_eq!(per_second(4890, Duration::from_secs(1)), "4,890/s");
        assert_eq!(per_second(1_234_567, Duration::from_secs(1)), "1,234,567/s");
        assert_eq!(per_second(300, Duration::from_secs(2)), "150/s");
        assert_eq!(per_second(5, Duration::ZERO), "-/s");
    }

    #[test]
    fn terminal_bars_count_records_and_batches_per_stream() {
        let progress = TerminalProgress::new(ProgressDrawTarget::hidden());
        assert!(lock(&ACTIVE_BARS).is_some(), "log lines now hide the bars");
        progress.batch_stored(Stream::Assets, 200);
        progress.batch_stored(Stream::Assets, 50);
        progress.batch_stored(Stream::Findings, 1000);
        assert_eq!(progress.records(Stream::Assets), Some(250));
        assert_eq!(progress.records(Stream::Findings), Some(1000));
        assert_eq!(progress.records(Stream::Reference), None);
        assert_eq!(lock(&progress.streams)[0].n_batches, 2);

        assert_eq!(progress.reconciled_keys(), None);
        progress.reconciling();
        progress.reconcile_committed(64);
        progress.reconcile_committed(36);
        assert_eq!(progress.reconciled_keys(), Some(100));

        progress.finished();
        assert!(lock(&ACTIVE_BARS).is_none());
        assert!(lock(&progress.streams)
            .iter()
            .all(|line| line.bar.is_finished()));
    }

    /// Log lines captured as JSON, the way `--log-format json` writes them.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<Value> {
            let text = String::from_utf8(lock(&self.0).clone()).unwrap();
            text.lines()
                .map(|line| serde_json::from_str(line).expect("each log line is JSON"))
                .collect()
        }
    }

    /// Lets the ticker task run after the paused clock moved.
    async fn advance(seconds: u64) {
        tokio::time::advance(Duration::from_secs(seconds)).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn log_lines_report_records_per_stream_every_interval_until_finished() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let progress = LogProgress::start("lab", Duration::from_secs(10));
        progress.batch_stored(Stream::Assets, 3);
        progress.batch_stored(Stream::Findings, 4);
        progress.batch_stored(Stream::Findings, 5);
        advance(9).await;
        assert!(captured.lines().is_empty(), "nothing before the interval");

        advance(1).await;
        let lines = captured.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert_eq!(line["message"], "sync progress");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["instance"], "lab");
        assert_eq!(line["phase"], "fetching");
        assert_eq!(line["n_assets"], 3);
        assert_eq!(line["n_findings"], 9);
        assert_eq!(line["n_batches"], 3);
        assert_eq!(line["elapsed_secs"], 10);

        progress.reconciling();
        progress.reconcile_committed(12);
        advance(10).await;
        let lines = captured.lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["phase"], "reconciling");
        assert_eq!(lines[1]["n_reconciled_keys"], 12);

        progress.finished();
        advance(60).await;
        assert_eq!(captured.lines().len(), 2, "no line after the sync ended");
        assert_eq!(progress.tally().n_findings, 9);
    }

    #[test]
    fn outside_a_runtime_the_log_progress_only_counts() {
        let progress = LogProgress::start("lab", Duration::from_secs(10));
        progress.batch_stored(Stream::Reference, 7);
        progress.batch_stored(Stream::FindingChanges, 2);
        let tally = progress.tally();
        assert_eq!((tally.n_reference, tally.n_finding_changes), (7, 2));
        assert_eq!(tally.n_batches, 2);
        assert!(progress.ticker.is_none());
    }
}

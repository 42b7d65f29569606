//! Running one measured child process: its wall time, its peak resident
//! memory as the OS counts it (`VmHWM` of `/proc/PID/status`, polled while it
//! runs; the high-water mark only grows, so the last reading before exit is
//! the peak up to a few milliseconds), and its stdout.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// How often the child's memory is read.
const POLL_EVERY: Duration = Duration::from_millis(5);

/// What a child did.
#[derive(Debug)]
pub struct Measured {
    pub wall_secs: f64,
    pub peak_rss_bytes: u64,
    /// Its stdout, unless only lines were counted.
    pub stdout: String,
    pub n_lines: u64,
}

/// What to keep of the child's stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Keep,
    CountLines,
}

/// Runs `command` to the end, failing when it exits non-zero.
pub fn run(mut command: Command, output: Output) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let pid = child.id();
    let stdout = child.stdout.take().context("child stdout")?;
    let stderr = child.stderr.take().context("child stderr")?;
    let reader = thread::spawn(move || read_stdout(stdout, output));
    let errors = thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    });

    // Poll the high-water mark until the child exits.
    let mut peak_rss_bytes = 0;
    let status = loop {
        if let Some(hwm) = vm_hwm_bytes(pid) {
            peak_rss_bytes = peak_rss_bytes.max(hwm);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        thread::sleep(POLL_EVERY);
    };
    let wall_secs = started.elapsed().as_secs_f64();
    let (stdout, n_lines) = reader
        .join()
        .map_err(|_| anyhow::anyhow!("stdout reader panicked"))??;
    let stderr = errors.join().unwrap_or_default();
    if !status.success() {
        bail!("{command:?} failed with {status}:\n{stderr}");
    }
    Ok(Measured {
        wall_secs,
        peak_rss_bytes,
        stdout,
        n_lines,
    })
}

fn read_stdout(stdout: impl Read, output: Output) -> anyhow::Result<(String, u64)> {
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    match output {
        Output::Keep => {
            let mut text = String::new();
            reader.read_to_string(&mut text)?;
            let n_lines = text.lines().count() as u64;
            Ok((text, n_lines))
        }
        Output::CountLines => {
            let mut n_lines = 0;
            loop {
                let buffer = reader.fill_buf()?;
                if buffer.is_empty() {
                    return Ok((String::new(), n_lines));
                }
                n_lines += buffer.iter().filter(|&&byte| byte == b'\n').count() as u64;
                let consumed = buffer.len();
                reader.consume(consumed);
            }
        }
    }
}

/// `VmHWM` of a running process, in bytes.
pub fn vm_hwm_bytes(pid: u32) -> Option<u64> {
    inlet_engine::peak_rss_bytes_in(std::path::Path::new(&format!("/proc/{pid}/status")))
}

//! How a command fails: the exit code scripts rely on, and the whole error
//! chain printed once on stderr.

use std::process::ExitCode;

/// A command's failure with its exit code: 1 when the operation failed, 2 for
/// bad usage or bad config.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    /// The operation itself failed (a sync, a check, the store).
    pub fn failed(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: 1,
            error: error.into(),
        }
    }

    /// The command or the config was wrong.
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: 2,
            error: error.into(),
        }
    }

    /// Prints the error and its causes, and returns the exit code. A closed
    /// stdout (`inlet findings x | head`) is not an error: exit 0 quietly.
    pub fn report(self) -> ExitCode {
        if self.is_broken_pipe() {
            return ExitCode::SUCCESS;
        }
        eprintln!("error: {}", self.error);
        for cause in self.error.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        ExitCode::from(self.code)
    }
}

impl Failure {
    fn is_broken_pipe(&self) -> bool {
        self.error.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|error| error.kind() == std::io::ErrorKind::BrokenPipe)
        })
    }
}

/// Shorthand for a command's result.
pub type CommandResult = Result<ExitCode, Failure>;

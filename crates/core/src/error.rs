//! Errors and the process exit status.

/// How a run ended, as the process exit code. Data goes to stdout, messages to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Ran fine, events or not.
    Success = 0,
    /// Only with `--exit-code`: events were found.
    EventsFound = 1,
    /// Usage, configuration or fatal error.
    Fatal = 2,
    /// Finished, but input was incomplete (missing, corrupt or truncated files).
    IncompleteInput = 3,
}

impl ExitStatus {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// Errors that stop a run before it starts (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("{0}")]
    Invalid(String),
    #[error("no input files matched {0}")]
    NoInput(String),
}

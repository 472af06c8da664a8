//! Exit statuses are part of the interface: scripts and CI branch on them.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything checked passed.
    Success = 0,
    /// A check or gate said no: the normal "no".
    Failure = 1,
    /// Bad usage or bad input.
    Error = 2,
    /// An external service (LLM API, AWS, git remote) failed.
    External = 3,
    /// Stopped by SIGINT or SIGTERM; what finished is kept.
    Interrupted = 130,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status as u8)
    }
}

/// An error meant for the user: a message, what to do, and the exit status it maps to.
#[derive(Debug)]
pub struct UserError {
    pub status: ExitStatus,
    pub message: String,
    pub hint: Option<String>,
}

impl UserError {
    pub fn new(status: ExitStatus, message: impl Into<String>) -> Self {
        UserError {
            status,
            message: message.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

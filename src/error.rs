//! The one error type the command layer returns: a title, optional detail lines, hints, and the
//! exit code that scripts can rely on (documented in README.md, "Exit codes").

use std::fmt;

/// Process exit codes. Stable: scripts branch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success = 0,
    /// Anything not covered below (credentials file problems, internal errors).
    Failure = 1,
    /// Bad command line or environment variable; nothing was touched.
    Usage = 2,
    /// Not logged in, or the key is invalid, revoked or expired.
    Auth = 3,
    /// The key is valid but lacks a permission.
    Permission = 4,
    /// The platform could not be reached or answered with something unusable.
    Network = 5,
    /// The OS keychain is missing, locked or not answering.
    Keychain = 6,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// An error ready to show to a person: what went wrong, then what to do next.
#[derive(Debug)]
pub struct CliError {
    pub status: ExitStatus,
    pub title: String,
    pub details: Vec<String>,
    pub hints: Vec<String>,
    /// Machine-readable reason, used by `--json` output.
    pub code: &'static str,
}

impl CliError {
    pub fn new(status: ExitStatus, code: &'static str, title: impl Into<String>) -> Self {
        Self {
            status,
            title: title.into(),
            details: Vec::new(),
            hints: Vec::new(),
            code,
        }
    }

    pub fn usage(title: impl Into<String>) -> Self {
        Self::new(ExitStatus::Usage, "usage", title)
    }

    pub fn failure(title: impl Into<String>) -> Self {
        Self::new(ExitStatus::Failure, "failure", title)
    }

    pub fn detail(mut self, line: impl Into<String>) -> Self {
        self.details.push(line.into());
        self
    }

    pub fn hint(mut self, line: impl Into<String>) -> Self {
        self.hints.push(line.into());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.title)?;
        for d in &self.details {
            write!(f, "\n{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

pub type CliResult<T = ExitStatus> = Result<T, CliError>;

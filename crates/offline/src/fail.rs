//! The one error type of the offline binary: a message (the whole cause chain, once), an
//! optional hint with the fix, and the exit code. `main` prints it; nothing else exits.

use std::fmt;

/// Exit codes, documented in `--help` and docs/formats.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 1: the operation failed (bad input, I/O).
    Failed,
    /// 3: a check or verification did not hold (the request would be refused, the
    /// certificate does not match).
    Refused,
}

impl Exit {
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Failed => 1,
            Self::Refused => 3,
        }
    }
}

/// A failure to report to the operator.
pub(crate) struct Fail {
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
    pub(crate) exit: Exit,
}

pub(crate) type Result<T, E = Fail> = std::result::Result<T, E>;

impl Fail {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            exit: Exit::Failed,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn refused(mut self) -> Self {
        self.exit = Exit::Refused;
        self
    }
}

impl fmt::Debug for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

/// Builds the message of an error with its whole source chain, `a: b: c`.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut src = err.source();
    while let Some(e) = src {
        let part = e.to_string();
        if !s.contains(&part) {
            s.push_str(": ");
            s.push_str(&part);
        }
        src = e.source();
    }
    s
}

/// Adds "what we were doing" to any error.
pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: std::error::Error> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Fail::new(format!("{}: {}", what(), chain(&e))))
    }
}

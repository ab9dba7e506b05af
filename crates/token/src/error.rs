//! The token error: a message naming the token and the PKCS#11 reason, a hint with the fix,
//! and what kind of failure it is (the agent answers a missing token differently). Never a
//! PIN or key material.

use std::fmt;

use cryptoki::error::{Error as CkError, RvError};

/// The result of a token operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure a token operation had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The token (or its slot) is not there: removed, or never inserted.
    NotPresent,
    /// The PIN was refused or is locked.
    Pin,
    /// Anything else (module, URI, key object, mechanism).
    Other,
}

/// A failed token operation.
#[derive(Debug)]
pub struct Error {
    message: String,
    help: Option<String>,
    kind: ErrorKind,
}

impl Error {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            help: None,
            kind: ErrorKind::Other,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.help = Some(hint.into());
        self
    }

    pub(crate) fn kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// What failed, naming the token.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How to fix it, when there is a known fix.
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }

    /// What kind of failure this is.
    pub fn what(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// A PKCS#11 failure for the operator: what was being done, and the token's reason.
pub(crate) fn ck_fail(what: &str, e: &CkError) -> Error {
    let f = Error::new(format!("{what}: {}", ck_text(e)));
    match e {
        CkError::Pkcs11(
            RvError::TokenNotPresent | RvError::DeviceRemoved | RvError::SessionHandleInvalid,
            _,
        ) => f
            .kind(ErrorKind::NotPresent)
            .hint("insert the token and run kcsr again"),
        _ => f,
    }
}

/// The PKCS#11 return value by its CKR_ name and meaning, without the function list detail.
pub(crate) fn ck_text(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{function}: {rv}"),
        other => other.to_string(),
    }
}

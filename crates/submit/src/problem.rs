//! Why one request did not complete, as the operations report it: the [`Problem`] with its
//! exit-code kind and the server's answer behind it ([`Cause`]). A leaf below `ops` and `rbac`,
//! which both return it.

use serde::Serialize;

use kcsr_core::exit::Exit;

use crate::client::ClientError;

/// How a request ended badly; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// I/O, network, permissions (exit 1).
    Failed,
    /// Denied, Failed, a certificate that does not verify, a conflicting object (exit 3).
    Refused,
    /// Waited and it did not come (exit 4).
    TimedOut,
}

impl ProblemKind {
    /// The exit status it stands for.
    pub fn exit(self) -> Exit {
        match self {
            Self::Failed => Exit::Failed,
            Self::Refused => Exit::Refused,
            Self::TimedOut => Exit::Incomplete,
        }
    }
}

/// Why one request did not complete, with the fix.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// Which kind.
    pub kind: ProblemKind,
    /// What happened (server text already sanitised).
    pub message: String,
    /// What to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The same cause for every request of a trip (e.g. these credentials may not approve):
    /// said once per trip, with the requests it hit, instead of once per request.
    #[serde(skip)]
    pub trip: Option<String>,
    /// What the server answered, kept typed so that callers decide on it, not on the text.
    #[serde(skip)]
    pub cause: Cause,
}

/// The server's answer behind a [`Problem`], as far as callers act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cause {
    /// Anything else (not an answer from the server, or one no caller acts on).
    #[default]
    Other,
    /// The object does not exist (404 / `NotFound`).
    NotFound,
    /// These credentials may not do it (403).
    Forbidden,
}

impl Cause {
    /// The cause of a client error.
    pub fn of(e: &ClientError) -> Self {
        match e.as_api() {
            Some(a) if a.is_not_found() => Self::NotFound,
            Some(a) if a.is_forbidden() => Self::Forbidden,
            _ => Self::Other,
        }
    }
}

impl Problem {
    /// A problem of `kind`.
    pub fn new(kind: ProblemKind, message: impl Into<String>, hint: Option<&str>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: hint.map(str::to_owned),
            trip: None,
            cause: Cause::Other,
        }
    }
    /// Exit 1.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ProblemKind::Failed, message, None)
    }
    /// Exit 3.
    pub fn refused(message: impl Into<String>, hint: Option<&str>) -> Self {
        Self::new(ProblemKind::Refused, message, hint)
    }
    /// Attaches a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl From<ClientError> for Problem {
    fn from(e: ClientError) -> Self {
        Self {
            kind: ProblemKind::Failed,
            message: crate::sanitize::for_terminal(&e.to_string()),
            hint: e.hint(),
            trip: None,
            cause: Cause::of(&e),
        }
    }
}

/// The exit code for a set of outcomes: 3 if anything was refused, else 1 if anything failed,
/// else 4 if anything timed out, else 0 ([`Exit::worst`], the rule both binaries follow).
pub fn exit_code<'a>(problems: impl IntoIterator<Item = &'a Problem>) -> Exit {
    Exit::worst(problems.into_iter().map(|p| p.kind.exit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, body: &[u8]) -> ClientError {
        ClientError::from(crate::status::ApiError {
            method: "GET".into(),
            path: "/x".into(),
            status: crate::status::Status::from_response(code, body),
            attempts: 1,
        })
    }

    #[test]
    fn the_cause_comes_from_the_status_not_from_the_text() {
        // A 404 whose text never says "NotFound", and a 500 whose text does.
        let gone = api_error(
            404,
            br#"{"kind":"Status","message":"gone","reason":"Gone","code":404}"#,
        );
        assert_eq!(Problem::from(gone).cause, Cause::NotFound);
        let forbidden = api_error(403, b"no");
        assert_eq!(Problem::from(forbidden).cause, Cause::Forbidden);
        let text = api_error(500, b"NotFound and forbidden and not found");
        let p = Problem::from(text);
        assert!(p.message.contains("NotFound"), "{}", p.message);
        assert_eq!(p.cause, Cause::Other);
    }
}

//! The agent's start-up error: a message and a hint, printed once by `main` as
//! `error: …` / `hint: …`, exit 1. Never a PIN, a token or key material.

/// A failure to start.
pub(crate) struct Fail {
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

pub(crate) type Result<T, E = Fail> = std::result::Result<T, E>;

impl Fail {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl From<kcsr_token::Error> for Fail {
    fn from(e: kcsr_token::Error) -> Self {
        let fail = Self::new(e.message());
        match e.help() {
            Some(h) => fail.hint(h),
            None => fail,
        }
    }
}

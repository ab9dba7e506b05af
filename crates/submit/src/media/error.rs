//! Why the media cannot be used, with the fix.

/// Why the media cannot be used. Carries the fix.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct MediaError {
    /// What is wrong, naming the files.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
    /// Refused (exit 3: what the media asks for is not what the station wrote), rather than
    /// unreadable or damaged (exit 1).
    pub refused: bool,
}

impl MediaError {
    pub(super) fn new(message: impl Into<String>, hint: Option<&str>) -> Self {
        Self {
            message: message.into(),
            hint: hint.map(str::to_owned),
            refused: false,
        }
    }

    /// A refusal (exit 3).
    pub fn refusal(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: Some(hint.into()),
            refused: true,
        }
    }
}

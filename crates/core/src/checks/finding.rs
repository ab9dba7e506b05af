//! What the checks report, and how they add to it.

use serde::Serialize;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The cluster will refuse the request (or kcsr refuses it as unsafe).
    Error,
    /// It will go through but probably not as intended.
    Warning,
}

/// One result of the checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub level: Level,
    /// A stable identifier of the rule, e.g. `admission-system-masters`.
    pub rule: &'static str,
    /// What is wrong, naming the offending value.
    pub message: String,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// The findings as the checks add them.
pub(super) struct Out(pub(super) Vec<Finding>);

impl Out {
    pub(super) fn error(
        &mut self,
        rule: &'static str,
        message: impl Into<String>,
        hint: Option<&str>,
    ) {
        self.push(Level::Error, rule, message, hint);
    }
    pub(super) fn warn(
        &mut self,
        rule: &'static str,
        message: impl Into<String>,
        hint: Option<&str>,
    ) {
        self.push(Level::Warning, rule, message, hint);
    }
    fn push(
        &mut self,
        level: Level,
        rule: &'static str,
        message: impl Into<String>,
        hint: Option<&str>,
    ) {
        self.0.push(Finding {
            level,
            rule,
            message: message.into(),
            hint: hint.map(str::to_owned),
        });
    }
}

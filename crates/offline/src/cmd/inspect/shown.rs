//! How one file is shown: its verdict, its text and its JSON.

use serde_json::{Value, json};

use crate::report;

/// Largest file or standard input read.
pub(super) const MAX_INPUT: u64 = 4 << 20;

/// How one file fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Verdict {
    Ok,
    Refused,
    Unreadable,
}

/// One file as it is shown: its verdict, its text and its JSON.
pub(super) struct Shown {
    pub(super) verdict: Verdict,
    pub(super) text: String,
    pub(super) json: Value,
}

/// What cannot be read, said as such.
pub(super) fn unreadable_bytes(why: impl std::fmt::Display) -> Shown {
    Shown {
        verdict: Verdict::Unreadable,
        text: format!("{}\n", report::sanitize(&why.to_string())),
        json: json!({"error": why.to_string()}),
    }
}

/// One `name  value` line of a file's description.
pub(super) fn field(text: &mut String, name: &str, value: impl std::fmt::Display) {
    text.push_str(&format!(
        "  {name:<14}{}\n",
        report::sanitize(&value.to_string())
    ));
}

//! Printing: summaries and findings to stderr, data to stdout, strings from files sanitized.

use std::io::Write as _;

use kcsr_core::checks::{Finding, Level};
use kcsr_core::terminal;

use crate::fail::{Fail, Result};

/// One value from a file (media, bundle, kubeconfig) for the terminal: escape sequences,
/// control, bidi and invisible characters neutralised, length capped (`kcsr_core::terminal`,
/// shared with kcsr-submit).
pub(crate) fn sanitize(s: &str) -> String {
    terminal::for_terminal(s)
}

/// Writes a line to stderr (messages), ignoring a closed stderr. The line is cleaned once
/// more as a whole: whatever a caller forgot to sanitize cannot reach the terminal raw.
pub(crate) fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}", terminal::message(line));
}

/// Writes data to stdout. A reader that went away (`| head`) ends the output quietly, as
/// for any filter; any other failure (a full disk behind `>`) is an error, so a script never
/// takes a truncated completion file or man page for a good one.
pub(crate) fn data(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Fail::new(format!("cannot write to standard output: {e}"))
                .hint("check where the output is redirected (a full or read-only filesystem?)"))
        }
        _ => Ok(()),
    }
}

/// Writes human-readable text that shows values from files on stdout, cleaned as a whole
/// (a file name on the media may itself hold escape sequences).
pub(crate) fn text(text: &str) -> Result<()> {
    data(&terminal::message(text))
}

/// Prints a JSON value on stdout.
pub(crate) fn json(value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_owned());
    data(&format!("{}\n", terminal::json_safe(&text)))
}

/// Renders findings as indented lines: `error [rule]: message` plus `hint:` lines.
pub(crate) fn findings(findings: &[Finding], indent: &str) -> String {
    let mut out = String::new();
    for f in findings {
        let level = match f.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        out.push_str(&format!(
            "{indent}{level} [{}]: {}\n",
            f.rule,
            sanitize(&f.message)
        ));
        if let Some(h) = &f.hint {
            out.push_str(&format!("{indent}  hint: {}\n", sanitize(h)));
        }
    }
    out
}

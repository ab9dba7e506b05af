//! Printing: summaries and findings to stderr, data to stdout, strings from files sanitized.

use std::io::Write as _;

use kcsr_core::checks::{Finding, Level};

use crate::fail::{Fail, Result};

/// Replaces control characters (terminal escapes) in text that came from a file.
pub(crate) fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// Writes a line to stderr (messages), ignoring a closed stderr.
pub(crate) fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
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

/// Prints a JSON value on stdout.
pub(crate) fn json(value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_owned());
    data(&format!("{text}\n"))
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

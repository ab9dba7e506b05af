//! A finished run and what tests assert of it: its exit code, its error and hint lines, its
//! `--json` report. Every assertion prints the run's output when it fails.

use std::process::Output;

use serde_json::Value;

/// A finished command.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// The run `out` describes.
    pub fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with the output unless the exit code is `code`.
    pub fn expect(self, code: i32) -> Self {
        self.expect_code(code, "exit code")
    }

    /// [`Run::expect`], saying `what` ran when it fails.
    pub fn expect_code(self, code: i32, what: &str) -> Self {
        assert_eq!(
            self.code, code,
            "{what}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// [`Run::expect`], and no panic on the way.
    pub fn expect_no_panic(self, code: i32) -> Self {
        let run = self.expect(code);
        run.no_panic();
        run
    }

    /// Nothing on stderr says the program panicked.
    pub fn no_panic(&self) {
        assert!(
            !self.stderr.to_lowercase().contains("panicked"),
            "{}",
            self.stderr
        );
    }

    /// An `error:` line naming `path` and saying `says`, and a `hint:` mentioning `fix`.
    pub fn says(self, path: &str, says: &str, fix: &str) -> Self {
        let error = self
            .stderr
            .lines()
            .find(|l| l.starts_with("error: ") && l.contains(path));
        assert!(
            error.is_some_and(|l| l.to_lowercase().contains(&says.to_lowercase())),
            "wanted an error naming {path:?} saying {says:?}:\n{}",
            self.stderr
        );
        assert!(
            self.stderr
                .lines()
                .any(|l| l.starts_with("hint: ") && l.contains(fix)),
            "wanted a hint with {fix:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Failed with a clear message: exit code 1 or 3, an `error:` line, stderr naming `path`
    /// and saying `says` (in any case), a `hint:`, no panic.
    pub fn refused(&self, path: &str, says: &str) {
        let text = self.stderr.to_lowercase();
        assert!(
            self.code == 1 || self.code == 3,
            "exit {}: {}",
            self.code,
            self.stderr
        );
        assert!(
            self.stderr.lines().any(|l| l.starts_with("error: "))
                && self.stderr.contains(path)
                && text.contains(&says.to_lowercase())
                && self.stderr.contains("\nhint: "),
            "wanted an error naming {path:?} saying {says:?}, got:\n{}",
            self.stderr
        );
        assert!(!text.contains("panicked"), "{}", self.stderr);
    }

    /// Failed with exit `code`, stderr starting with `error: `, a `hint:` line, each of
    /// `says` on stderr, and no panic.
    pub fn refused_with(&self, code: i32, says: &[&str]) {
        assert_eq!(self.code, code, "{}", self.stderr);
        assert!(self.stderr.starts_with("error: "), "{}", self.stderr);
        assert!(self.stderr.contains("\nhint: "), "{}", self.stderr);
        for s in says {
            assert!(self.stderr.contains(s), "wanted {s:?} in:\n{}", self.stderr);
        }
        self.no_panic();
    }

    /// Stderr holds each of `lines`, in this order, each within one line.
    pub fn stderr_lines(&self, lines: &[&str]) {
        let mut rest = self.stderr.lines();
        for want in lines {
            assert!(
                rest.any(|l| l.contains(want)),
                "wanted a line with {want:?} (after the lines before it) in:\n{}",
                self.stderr
            );
        }
    }

    /// Stderr holds `text`, anywhere; fails showing stderr.
    pub fn stderr_has(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "wanted {text:?} on stderr:\n{}",
            self.stderr
        );
        self
    }

    /// Stdout holds `text`, anywhere; fails showing stdout.
    pub fn stdout_has(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "wanted {text:?} on stdout:\n{}",
            self.stdout
        );
        self
    }

    /// Stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// `--json` reports, at least one, every one `written`.
    pub fn all_written(&self) {
        let reports = self.json();
        let reports = reports.as_array().unwrap();
        assert!(!reports.is_empty());
        assert!(
            reports.iter().all(|r| r["state"] == "written"),
            "{}",
            self.stdout
        );
    }
}

/// One line of a table of refusals: the arguments, the exit code and the lines stderr holds.
/// A table of these reads like the manual's list of errors; [`Refusal::check`] runs one.
#[derive(Debug, Clone, Copy)]
pub struct Refusal<'a> {
    /// The arguments after the program's name.
    pub argv: &'a [&'a str],
    /// The exit code.
    pub code: i32,
    /// What stderr holds, in order, each within one line (see [`Run::stderr_lines`]).
    pub stderr: &'a [&'a str],
}

impl Refusal<'_> {
    /// `run(argv)` exits with the code, says the lines after an `error:` line, and does not
    /// panic.
    pub fn check(&self, run: impl FnOnce(&[&str]) -> Run) -> Run {
        let r = run(self.argv);
        assert_eq!(
            r.code, self.code,
            "{:?}: exit code\nstdout:\n{}\nstderr:\n{}",
            self.argv, r.stdout, r.stderr
        );
        assert!(
            r.stderr.lines().any(|l| l.starts_with("error: ")),
            "{:?}: no error line:\n{}",
            self.argv,
            r.stderr
        );
        r.stderr_lines(self.stderr);
        r.no_panic();
        r
    }
}

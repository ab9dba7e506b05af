//! The one error type of the offline binary: a message (the whole cause chain, once), an
//! optional hint with the fix, and the exit code. `main` prints it; nothing else exits.

use std::fmt;
use std::io;
use std::path::Path;

use kcsr_fs::DeviceFault;

/// Exit codes, documented in `--help` and docs/formats.md: the same type as kcsr-submit's.
pub(crate) use kcsr_core::exit::Exit;

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

    pub(crate) fn incomplete(mut self) -> Self {
        self.exit = Exit::Incomplete;
        self
    }
}

impl From<kcsr_token::Error> for Fail {
    fn from(e: kcsr_token::Error) -> Self {
        let fail = Self::new(e.message());
        match e.help() {
            Some(hint) => fail.hint(hint),
            None => fail,
        }
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

/// How a command resumes after the device is fixed: writes are atomic, so whatever a failed
/// run left is complete and is reused.
pub(crate) const RESUME: &str =
    "then run the same command again: it continues where this run stopped";

/// A write (or directory creation) at `path` that failed. The usual causes on removable media
/// are fixed on the device, not in kcsr: a full or read-only filesystem, or a symlink or
/// special file where kcsr writes. Those get a plain description and a hint; `elsewhere`
/// names the alternative ("other media", "another key directory") and `again` how to resume
/// (usually [`RESUME`]).
pub(crate) fn write_failed(
    what: &str,
    path: &Path,
    err: &io::Error,
    elsewhere: &str,
    again: &str,
) -> Fail {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match kcsr_fs::device_fault(err) {
        Some(DeviceFault::Full) => Fail::new(format!(
            "{what}: no space left on the device ({} is full)",
            dir.display()
        ))
        .hint(format!(
            "free space on {} or use {elsewhere}, {again}",
            dir.display()
        )),
        Some(DeviceFault::ReadOnly) => Fail::new(format!(
            "{what}: {} is on a read-only filesystem",
            dir.display()
        ))
        .hint(format!(
            "make {} writable (remount it read-write, or release the media's write-protect switch) or use {elsewhere}, {again}",
            dir.display()
        )),
        // Only secrets are refused: put on such media they would be readable by anyone.
        Some(DeviceFault::NoPermissions) => Fail::new(format!(
            "{what}: {} is on a filesystem that keeps no file permissions, like FAT32 or exFAT ({}), so the file would not stay private (mode 0600)",
            dir.display(),
            err.get_ref()
                .and_then(|e| e.downcast_ref::<kcsr_fs::ModesNotKept>())
                .map_or("its mode cannot be set", |m| m.why())
        ))
        .hint(format!(
            "keys, the station's files and kubeconfigs belong on the isolated machine's own disk: use {elsewhere} on a filesystem that keeps permissions (ext4, XFS, Btrfs)"
        )),
        None => {
            let fail = Fail::new(format!("{what}: {}", chain(err)));
            match not_regular_hint(path) {
                Some(hint) => fail.hint(hint),
                None => fail,
            }
        }
    }
}

/// The hint for a symlink, FIFO or device where kcsr expects a regular file, if that is what
/// `path` is: kcsr neither follows nor writes through them, so the operator must remove it.
pub(crate) fn not_regular_hint(path: &Path) -> Option<String> {
    let kind = std::fs::symlink_metadata(path).ok()?.file_type();
    let what = if kind.is_symlink() {
        "symbolic link"
    } else if kind.is_file() || kind.is_dir() {
        return None;
    } else {
        "special file (a FIFO, device or socket)"
    };
    Some(format!(
        "{} is a {what}; kcsr reads and writes only regular files: remove it and run the command again",
        path.display()
    ))
}

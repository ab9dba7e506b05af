//! Bounded scans of a directory kcsr does not trust (the media): entries and total bytes are
//! capped before any content is read, and every file is read through [`read_limited`].

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::read::read_limited;

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A symbolic link (never followed).
    Symlink,
    /// A directory.
    Dir,
    /// A device, FIFO or socket.
    Other,
}

/// One entry of a scanned directory.
#[derive(Debug)]
pub struct ScannedEntry {
    /// The name (lossily converted when not UTF-8).
    pub name: String,
    /// What it is.
    pub kind: EntryKind,
    /// The content of a regular file that could be read within the limit.
    pub data: Option<Vec<u8>>,
    /// Why a regular file could not be read.
    pub error: Option<String>,
}

/// Most entries [`scan_dir`] reads from one directory. A 10,000-user batch with bindings,
/// certificates and bundles holds 40,000 files and a few control files.
pub const MAX_SCAN_ENTRIES: usize = 50_000;

/// Most bytes [`scan_dir`] reads from one directory's files together. A 10,000-user batch
/// with RSA-4096 keys, bindings, certificates and bundles is about 90 MiB.
pub const MAX_SCAN_BYTES: u64 = 128 << 20;

/// A directory larger than a scan may read: refused before its content is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanLimitExceeded {
    /// More entries than [`MAX_SCAN_ENTRIES`].
    Entries {
        /// The directory.
        dir: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// More bytes in its files than [`MAX_SCAN_BYTES`].
    Bytes {
        /// The directory.
        dir: PathBuf,
        /// Bytes counted when the scan stopped (at least this many).
        found: u64,
        /// Files counted by then.
        files: usize,
        /// The limit.
        limit: u64,
    },
}

impl fmt::Display for ScanLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Entries { dir, limit } => write!(
                f,
                "{} holds more than {limit} entries, the most kcsr reads from a media directory; nothing on it was read",
                dir.display()
            ),
            Self::Bytes {
                dir,
                found,
                files,
                limit,
            } => write!(
                f,
                "the files in {} hold more than {limit} bytes ({} MiB), the most kcsr reads from a media directory: {files} files hold at least {found} bytes; nothing on it was read",
                dir.display(),
                limit >> 20
            ),
        }
    }
}

impl std::error::Error for ScanLimitExceeded {}

impl ScanLimitExceeded {
    /// The fix, for the operator.
    pub fn hint(&self) -> String {
        let dir = match self {
            Self::Entries { dir, .. } | Self::Bytes { dir, .. } => dir.display(),
        };
        format!(
            "remove what kcsr did not write from {dir} (kcsr writes only *.csr.yaml, *.binding.yaml, *.crt, *.bundle.yaml and the checksum files), or split a larger batch across several media directories"
        )
    }

    /// The limit behind a failed [`scan_dir`], if that is why it failed.
    pub fn of(err: &io::Error) -> Option<&Self> {
        err.get_ref().and_then(|e| e.downcast_ref::<Self>())
    }
}

/// Bounds of one scan.
#[derive(Debug, Clone, Copy)]
struct Limits {
    entries: usize,
    bytes: u64,
}

/// Lists `dir` without following links, reading each regular file of at most `max` bytes.
/// Names for which `skip` is true are left out (e.g. the checksum file itself). A directory
/// of more than [`MAX_SCAN_ENTRIES`] entries, or whose files hold more than
/// [`MAX_SCAN_BYTES`] (each counted up to `max + 1`), is refused with a
/// [`ScanLimitExceeded`] inside the error, before any file is read.
pub fn scan_dir(
    dir: &Path,
    max: impl Fn(&str) -> u64,
    skip: impl Fn(&str) -> bool,
) -> io::Result<Vec<ScannedEntry>> {
    scan_within(
        dir,
        max,
        Limits {
            entries: MAX_SCAN_ENTRIES,
            bytes: MAX_SCAN_BYTES,
        },
        skip,
    )
}

fn scan_within(
    dir: &Path,
    max: impl Fn(&str) -> u64,
    limits: Limits,
    skip: impl Fn(&str) -> bool,
) -> io::Result<Vec<ScannedEntry>> {
    let exceeded = |e: ScanLimitExceeded| io::Error::new(io::ErrorKind::FileTooLarge, e);
    // First the listing and the sizes, within the limits, so that a stick full of junk is
    // refused before its content is read.
    let mut listed = Vec::new();
    let mut bytes = 0u64;
    for (n, entry) in fs::read_dir(dir)?.enumerate() {
        if n >= limits.entries {
            return Err(exceeded(ScanLimitExceeded::Entries {
                dir: dir.to_owned(),
                limit: limits.entries,
            }));
        }
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if skip(&name) {
            continue;
        }
        let ft = entry.file_type()?;
        let kind = if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_file() {
            EntryKind::File
        } else if ft.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::Other
        };
        if kind == EntryKind::File {
            // A file that vanished is reported when it is read.
            bytes += entry.metadata().map_or(0, |m| m.len().min(max(&name) + 1));
        }
        listed.push((name, kind, entry.path()));
        if bytes > limits.bytes {
            return Err(exceeded(ScanLimitExceeded::Bytes {
                dir: dir.to_owned(),
                found: bytes,
                files: listed.len(),
                limit: limits.bytes,
            }));
        }
    }
    // Then the content; files that grow meanwhile count as read, against the same budget.
    let mut read = 0u64;
    let mut out = Vec::with_capacity(listed.len());
    for (name, kind, path) in listed {
        let (data, error) = if kind == EntryKind::File {
            match read_limited(&path, max(&name)) {
                Ok(d) => {
                    read += d.len() as u64;
                    if read > limits.bytes {
                        return Err(exceeded(ScanLimitExceeded::Bytes {
                            dir: dir.to_owned(),
                            found: read,
                            files: out.len() + 1,
                            limit: limits.bytes,
                        }));
                    }
                    (Some(d), None)
                }
                Err(e) => (None, Some(e.to_string())),
            }
        } else {
            (None, None)
        };
        out.push(ScannedEntry {
            name,
            kind,
            data,
            error,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // test fixtures
    fn files(dir: &Path, n: usize, size: usize) {
        for i in 0..n {
            fs::write(dir.join(format!("junk{i}")), vec![b'x'; size]).unwrap();
        }
    }

    #[test]
    fn scans_within_the_limits_and_refuses_beyond_them_naming_the_directory() {
        let d = tempfile::tempdir().unwrap();
        files(d.path(), 10, 100);
        let limits = Limits {
            entries: 10,
            bytes: 1000,
        };
        let all = scan_within(d.path(), |_| 200, limits, |_| false).unwrap();
        assert_eq!(all.len(), 10);
        assert!(
            all.iter()
                .all(|e| e.data.as_deref() == Some(&[b'x'; 100][..]))
        );

        files(d.path(), 11, 100);
        let err = scan_within(d.path(), |_| 200, limits, |_| false).unwrap_err();
        let limit = ScanLimitExceeded::of(&err).unwrap();
        assert_eq!(
            limit,
            &ScanLimitExceeded::Entries {
                dir: d.path().to_owned(),
                limit: 10
            }
        );
        let shown = err.to_string();
        assert!(
            shown.contains(&d.path().display().to_string()) && shown.contains("10"),
            "{shown}"
        );
        assert!(limit.hint().contains("remove what kcsr did not write"));

        let roomy = Limits {
            entries: 100,
            bytes: 1000,
        };
        let err = scan_within(d.path(), |_| 200, roomy, |_| false).unwrap_err();
        assert!(
            matches!(ScanLimitExceeded::of(&err), Some(ScanLimitExceeded::Bytes { found, limit: 1000, .. }) if *found > 1000),
            "{err}"
        );
        // Skipped names still count as entries, but not as bytes.
        let skipped = scan_within(d.path(), |_| 200, roomy, |n| n != "junk0").unwrap();
        assert_eq!(skipped.len(), 1);
    }

    #[test]
    fn large_files_count_only_up_to_what_would_be_read() {
        let d = tempfile::tempdir().unwrap();
        files(d.path(), 3, 10_000);
        let limits = Limits {
            entries: 10,
            bytes: 100,
        };
        let all = scan_within(d.path(), |_| 20, limits, |_| false).unwrap();
        assert!(all.iter().all(|e| e.data.is_none() && e.error.is_some()));
    }
}

//! One directory (the media, or the return directory) listed once, its files read within
//! their limits. What filesystems and operating systems put on removable media by themselves
//! is left alone, unread (decision 0010); the caller says so once.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

use kcsr_core::media as layout;
use kcsr_core::sums::Sums;
use kcsr_fs::{EntryKind, ScannedEntry};

use super::error::MediaError;

/// A directory as scanned.
pub(super) struct Scan {
    /// Every entry but the filesystem artifacts and what the caller skipped.
    pub(super) entries: Vec<ScannedEntry>,
    /// The filesystem artifacts left alone, sorted.
    pub(super) ignored: Vec<String>,
}

/// Lists `dir`, leaving alone the filesystem artifacts and the names `skip` says.
pub(super) fn scan(dir: &Path, skip: impl Fn(&str) -> bool) -> Result<Scan, MediaError> {
    let ignored = RefCell::new(Vec::new());
    let entries = kcsr_fs::scan_dir(dir, layout::max_file_bytes, |n| {
        if layout::is_filesystem_artifact(n) {
            ignored.borrow_mut().push(n.to_owned());
            return true;
        }
        skip(n)
    })
    .map_err(|e| match kcsr_fs::ScanLimitExceeded::of(&e) {
        Some(limit) => MediaError::new(limit.to_string(), Some(&limit.hint())),
        None => MediaError::new(format!("cannot list {}: {e}", dir.display()), None),
    })?;
    let mut ignored = ignored.into_inner();
    ignored.sort();
    Ok(Scan { entries, ignored })
}

impl Scan {
    /// The `RETURNED.SHA256SUMS` in the scanned directory `dir` (empty when there is none yet);
    /// a damaged one is refused with the fetch that writes it again (`fetch`: the command).
    pub(super) fn returned(&self, dir: &Path, fetch: &str) -> Result<Sums, MediaError> {
        match self.file(layout::RETURNED_SUMS_FILE) {
            None => Ok(Sums::default()),
            Some(data) => Sums::parse(data).map_err(|e| {
                MediaError::new(
                    format!("{}: {e}", dir.join(layout::RETURNED_SUMS_FILE).display()),
                    Some(&format!(
                        "kcsr-submit writes it; remove it and run {fetch} to write the results again"
                    )),
                )
            }),
        }
    }

    /// The content of the regular file `name`.
    pub(super) fn file(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|e| e.name == name && e.kind == EntryKind::File)
            .and_then(|e| e.data.as_deref())
    }

    /// The entries as the layout's audits take them.
    pub(super) fn found(&self) -> impl Iterator<Item = layout::Found<'_>> {
        self.entries.iter().map(|e| layout::Found {
            name: &e.name,
            regular: e.kind == EntryKind::File,
            data: e.data.as_deref(),
        })
    }

    /// The results `returned` lists, by name, as read.
    pub(super) fn into_results(self, returned: &Sums) -> BTreeMap<String, Vec<u8>> {
        self.entries
            .into_iter()
            .filter(|e| returned.get(&e.name).is_some())
            .filter_map(|e| e.data.map(|d| (e.name, d)))
            .collect()
    }
}

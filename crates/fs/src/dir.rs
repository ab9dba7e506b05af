//! Directories: creating them and making their entries durable.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::Path;

use crate::{errno, sys};

/// Makes a directory entry change durable. A filesystem that cannot sync a directory (EINVAL,
/// EOPNOTSUPP: some FUSE and network filesystems) makes its entries durable its own way, or
/// not at all; either way there is nothing more to ask of it, and the files' data was synced
/// before they got their names.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    match sys::sync_dir(&File::open(dir)?) {
        Err(e) if matches!(e.raw_os_error(), Some(errno::EINVAL | errno::EOPNOTSUPP)) => Ok(()),
        other => other,
    }
}

/// Creates `dir` (and parents) if missing; new directories get `mode`.
pub fn create_dir(dir: &Path, mode: u32) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)?;
    if let Some(parent) = dir.parent() {
        // The new entry must survive a crash too.
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        sync_dir(parent)?;
    }
    Ok(())
}

/// Removes a file kcsr wrote (used by `--force` replacement of stale media files).
pub fn remove_file(dir: &Path, name: &str) -> io::Result<()> {
    fs::remove_file(dir.join(name))?;
    sync_dir(dir)
}

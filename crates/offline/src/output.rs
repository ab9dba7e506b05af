//! The one audited module that creates files. Every file kcsr writes goes through
//! [`write_file`]: a temporary file in the target directory (mode 0600 from creation), the
//! content, `fsync`, the final mode, an atomic rename (or a no-clobber link for keys), and an
//! `fsync` of the directory, so a crash leaves either the old file or the new one, never a
//! torn one, and the operator's "done" means the bytes are on the device.
#![allow(clippy::disallowed_methods)] // This is the sanctioned place; see the module docs.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Who may read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// 0600: private keys, kubeconfigs.
    Secret,
    /// 0644: manifests, certificates, checksums.
    Public,
}

/// What to do when the target exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overwrite {
    /// Replace it atomically.
    Allow,
    /// Fail with `AlreadyExists` (the check and the creation are one atomic step).
    Deny,
}

/// Writes `content` to `dir/name` durably and atomically.
pub(crate) fn write_file(
    dir: &Path,
    name: &str,
    content: &[u8],
    mode: Mode,
    overwrite: Overwrite,
) -> io::Result<PathBuf> {
    let target = dir.join(name);
    if let Ok(meta) = fs::symlink_metadata(&target) {
        if meta.file_type().is_symlink() || !meta.file_type().is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} exists and is not a regular file (a symlink or special file); refusing to write through it",
                    target.display()
                ),
            ));
        }
        if overwrite == Overwrite::Deny {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists", target.display()),
            ));
        }
    }
    // tempfile creates the file O_EXCL with mode 0600, so a secret is never readable by
    // others, not even for a moment.
    let mut tmp = tempfile::Builder::new()
        .prefix(".kcsr-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(content)?;
    if mode == Mode::Public {
        tmp.as_file()
            .set_permissions(Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    match overwrite {
        Overwrite::Allow => {
            tmp.persist(&target).map_err(|e| e.error)?;
        }
        Overwrite::Deny => {
            tmp.persist_noclobber(&target).map_err(|e| e.error)?;
        }
    }
    sync_dir(dir)?;
    Ok(target)
}

/// Makes a directory entry change durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` (and parents) if missing; new directories get `mode`.
pub(crate) fn create_dir(dir: &Path, mode: u32) -> io::Result<()> {
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

/// Reads a regular file of at most `max` bytes. Refuses symlinks, devices and FIFOs, and
/// never reads more than `max + 1` bytes however large the file claims to be.
pub(crate) fn read_limited(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a symbolic link; kcsr reads only regular files",
        ));
    }
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is not a regular file",
        ));
    }
    let file = OpenOptions::new().read(true).open(path)?;
    let mut buf = Vec::new();
    file.take(max + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("is larger than {max} bytes"),
        ));
    }
    Ok(buf)
}

/// Removes a file kcsr wrote (used by `--force` replacement of stale media files).
pub(crate) fn remove_file(dir: &Path, name: &str) -> io::Result<()> {
    fs::remove_file(dir.join(name))?;
    sync_dir(dir)
}

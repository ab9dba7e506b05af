//! The temporary file both writers ([`crate::write_file`] and [`crate::group`]) start from.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::options::{Mode, Overwrite};

/// The temporary file both writers start from: created O_EXCL with mode 0600 by tempfile (a
/// secret is never readable by others, not even for a moment), then the content and the
/// final mode ([`crate::modes::apply`]: a secret is refused where the mode would not stay
/// 0600), and optionally `fsync`.
pub(crate) fn write_temp(
    dir: &Path,
    name: &str,
    content: &[u8],
    mode: Mode,
    overwrite: Overwrite,
    sync: bool,
) -> io::Result<(tempfile::NamedTempFile, PathBuf)> {
    let target = dir.join(name);
    refuse_non_regular(&target, overwrite)?;
    let tmp = tempfile::Builder::new()
        .prefix(".kcsr-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    // Before the content: a secret must not reach a device where it would be readable.
    crate::modes::apply(tmp.as_file(), &target, mode)?;
    crate::sys::write_all(tmp.as_file(), content)?;
    if sync {
        crate::sys::sync_file(tmp.as_file())?;
    }
    Ok((tmp, target))
}

/// Refuses to write through a symlink or special file, or over any file with `Deny`.
fn refuse_non_regular(target: &Path, overwrite: Overwrite) -> io::Result<()> {
    if let Ok(meta) = fs::symlink_metadata(target) {
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
    Ok(())
}

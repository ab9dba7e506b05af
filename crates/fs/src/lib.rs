//! The one audited module that creates files, shared by `kcsr` and `kcsr-submit`. Every file kcsr writes goes through
//! [`write_file`]: a temporary file in the target directory (mode 0600 from creation), the
//! content, `fsync`, the final mode, an atomic rename (or a no-clobber link for keys), and an
//! `fsync` of the directory, so a crash leaves either the old file or the new one, never a
//! torn one, and the operator's "done" means the bytes are on the device.
//!
//! Removable media are written as they are: on FAT32 and exFAT a public file's permission
//! change may fail and a directory may have no `fsync`; both are tolerated (the file's data is
//! still synced). A secret is never written where its mode would not stay 0600
//! ([`ModesNotKept`]).
#![allow(clippy::disallowed_methods)] // This is the sanctioned place; see the module docs.
#![warn(missing_docs)]

use std::io;
use std::path::{Path, PathBuf};

mod dir;
mod errno;
pub mod group;
mod modes;
mod options;
mod path;
mod process;
mod read;
mod scan;
mod sys;
mod temp;

pub use dir::{create_dir, remove_file, sync_dir};
pub use modes::ModesNotKept;
pub use options::{Mode, Overwrite};
pub use path::resolve;
pub use process::disable_core_dumps;
pub use read::{
    Links, NotOwnerOnly, open_regular, read_capped_into, read_limited, read_limited_following,
    read_owner_only, read_secret, read_secret_noting_owner,
};
pub use scan::{
    EntryKind, MAX_SCAN_BYTES, MAX_SCAN_ENTRIES, ScanLimitExceeded, ScannedEntry, scan_dir,
};

/// Writes `content` to `dir/name` durably and atomically.
pub fn write_file(
    dir: &Path,
    name: &str,
    content: &[u8],
    mode: Mode,
    overwrite: Overwrite,
) -> io::Result<PathBuf> {
    let (tmp, target) = temp::write_temp(dir, name, content, mode, overwrite, true)?;
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

/// Why a device refused a write, when the fix is on the device rather than in the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceFault {
    /// No space (or quota) left.
    Full,
    /// Mounted read-only.
    ReadOnly,
    /// A secret refused on a filesystem that keeps no file permissions (FAT32, exFAT).
    NoPermissions,
}

/// Classifies an error of [`write_file`] or [`create_dir`]. Looks through wrappers: tempfile
/// adds the temporary file's path to its errors, keeping the kind but not the errno.
pub fn device_fault(err: &io::Error) -> Option<DeviceFault> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.downcast_ref::<ModesNotKept>().is_some() {
            return Some(DeviceFault::NoPermissions);
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            match (io.kind(), io.raw_os_error()) {
                (io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded, _)
                | (_, Some(errno::ENOSPC | errno::EDQUOT)) => return Some(DeviceFault::Full),
                (io::ErrorKind::ReadOnlyFilesystem, _) | (_, Some(errno::EROFS)) => {
                    return Some(DeviceFault::ReadOnly);
                }
                _ => {}
            }
            if let Some(inner) = io.get_ref() {
                cur = Some(inner);
                continue;
            }
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod faults;

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt as _;

    pub(crate) fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn writes_atomically_with_exact_modes_and_refuses_links() {
        let d = tempfile::tempdir().unwrap();
        let p = write_file(d.path(), "k", b"secret", Mode::Secret, Overwrite::Deny).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let e = write_file(d.path(), "k", b"again", Mode::Secret, Overwrite::Deny).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&p).unwrap(), b"secret");
        let p = write_file(d.path(), "m", b"public", Mode::Public, Overwrite::Allow).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        write_file(d.path(), "m", b"public2", Mode::Public, Overwrite::Allow).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"public2");
        std::os::unix::fs::symlink(&p, d.path().join("l")).unwrap();
        assert!(write_file(d.path(), "l", b"x", Mode::Public, Overwrite::Allow).is_err());
        assert!(read_limited(&d.path().join("l"), 100).is_err());
        assert!(read_limited(&p, 3).is_err());
        assert_eq!(read_limited(&p, 7).unwrap(), b"public2");
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn device_faults_are_recognised_through_wrappers() {
        let wrapped = |e: io::Error| io::Error::other(e);
        for (err, want) in [
            (
                io::Error::from_raw_os_error(errno::ENOSPC),
                Some(DeviceFault::Full),
            ),
            (
                io::Error::from_raw_os_error(errno::EDQUOT),
                Some(DeviceFault::Full),
            ),
            (
                io::Error::from_raw_os_error(errno::EROFS),
                Some(DeviceFault::ReadOnly),
            ),
            (
                wrapped(io::Error::from_raw_os_error(errno::ENOSPC)),
                Some(DeviceFault::Full),
            ),
            (
                wrapped(io::Error::from_raw_os_error(errno::EROFS)),
                Some(DeviceFault::ReadOnly),
            ),
            (io::Error::from_raw_os_error(errno::ENOENT), None),
            (io::Error::other("no space left on device"), None),
        ] {
            assert_eq!(device_fault(&err), want, "{err}");
        }
    }
}

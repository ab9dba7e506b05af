//! Final permissions of a new file. Removable media are FAT32 or exFAT, which keep no
//! permissions: a permission change fails (EPERM, ENOSYS, EOPNOTSUPP) or is ignored. Public
//! files need none, so that is tolerated for them; a secret must stay 0600, so it is refused
//! on such a filesystem, before it gets its final name.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::options::Mode;
use crate::{errno, sys};

/// The errnos of a permission change a filesystem does not support.
const UNSUPPORTED: [i32; 3] = [
    errno::EPERM,      // the kernel's vfat and exfat without `quiet`
    errno::ENOSYS,     // fusefat
    errno::EOPNOTSUPP, // (= ENOTSUP on Linux)
];

/// A secret file refused because its filesystem does not keep file permissions.
#[derive(Debug)]
pub struct ModesNotKept {
    path: PathBuf,
    why: String,
}

impl ModesNotKept {
    /// The file that was not written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the filesystem did: "setting mode 0600 failed: …" or "a new file there is mode …".
    pub fn why(&self) -> &str {
        &self.why
    }
}

impl fmt::Display for ModesNotKept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} would not stay private (mode 0600): its filesystem keeps no file permissions ({})",
            self.path.display(),
            self.why
        )
    }
}

impl std::error::Error for ModesNotKept {}

/// Gives the temporary file of `target` its final mode. Public: 0644, or whatever the
/// filesystem gives when it cannot change it. Secret: exactly 0600, checked after the change
/// (which also undoes an unusual umask), else [`ModesNotKept`].
pub(crate) fn apply(file: &File, target: &Path, mode: Mode) -> io::Result<()> {
    let refuse = |why: String| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            ModesNotKept {
                path: target.to_owned(),
                why,
            },
        )
    };
    let unsupported = |e: &io::Error| e.raw_os_error().is_some_and(|n| UNSUPPORTED.contains(&n));
    match mode {
        Mode::Public => match sys::chmod(file, 0o644) {
            Err(e) if !unsupported(&e) => Err(e),
            _ => Ok(()),
        },
        Mode::Secret => {
            match sys::chmod(file, 0o600) {
                Err(e) if unsupported(&e) => {
                    return Err(refuse(format!("setting mode 0600 failed: {e}")));
                }
                other => other?,
            }
            match sys::mode(file)? {
                0o600 => Ok(()),
                found => Err(refuse(format!("a new file there is mode {found:04o}"))),
            }
        }
    }
}

//! Writing one owner-only file that holds a secret (a user's key, a kubeconfig holding one):
//! its directory created 0700, the file 0600, create-new unless the caller allows replacing
//! it, atomic and fsynced through kcsr-fs. Each kind of file words its failures its own way.

use std::path::{Path, PathBuf};

use crate::fail::{self, Fail, Result};
use kcsr_fs::{self as output, Mode, Overwrite};

/// How a kind of secret file is named in its failures, and how a failed run goes on.
pub(crate) struct Words {
    /// Before the file's path: "failed to write {file}{path}" ("key " or "").
    pub(crate) file: &'static str,
    /// Before the directory's path: "failed to create {dir}{path}".
    pub(crate) dir: &'static str,
    /// The hint when the file exists and may not be replaced.
    pub(crate) exists: &'static str,
    /// The alternative a device fault's hint names ("another key directory").
    pub(crate) elsewhere: &'static str,
    /// How to go on after a device fault is fixed (usually [`fail::RESUME`]).
    pub(crate) again: &'static str,
}

/// Writes `bytes` to `path` (0600), creating its directory (0700) first.
pub(crate) fn write(
    path: &Path,
    bytes: &[u8],
    overwrite: Overwrite,
    words: &Words,
) -> Result<PathBuf> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Fail::new(format!("{} is not a file path", path.display())))?;
    create_dir(dir, words)?;
    output::write_file(dir, name, bytes, Mode::Secret, overwrite).map_err(|e| {
        let what = format!("failed to write {}{}", words.file, path.display());
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Fail::new(format!("{what}: {e}")).hint(words.exists)
        } else {
            fail::write_failed(&what, path, &e, words.elsewhere, words.again)
        }
    })
}

/// Creates `dir` (0700) for secret files, if it is missing.
pub(crate) fn create_dir(dir: &Path, words: &Words) -> Result<()> {
    output::create_dir(dir, 0o700).map_err(|e| {
        fail::write_failed(
            &format!("failed to create {}{}", words.dir, dir.display()),
            dir,
            &e,
            words.elsewhere,
            words.again,
        )
    })
}

//! Group commit for many small files (`kcsr batch`). [`crate::write_file`] pays two `fsync`s
//! per file (its data, then its directory); for a thousand users that is four thousand
//! journal commits and dominates the run. Here files are first *staged* (temporary file,
//! content, final mode, no sync), then made durable together: one filesystem sync makes every
//! staged file's data durable, the renames publish them, and one `fsync` per directory makes
//! the new names durable. The guarantees are the same as `write_file`'s: a crash leaves the
//! old file, the complete new one, or an ignored `.kcsr-*.tmp`, never a torn file under the
//! final name; and nothing is published before its bytes are on the device.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::dir::sync_dir;
use crate::options::{Mode, Overwrite};
use crate::temp::write_temp;

/// A file written to a temporary name in its target directory, not yet durable or visible
/// under its final name. Dropping it removes the temporary file.
#[derive(Debug)]
pub struct Staged {
    temp: tempfile::TempPath,
    dir: PathBuf,
    target: PathBuf,
    overwrite: Overwrite,
}

impl Staged {
    /// The directory the file will appear in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }
}

/// Writes `content` to a temporary file in `dir` (0600 from creation, then `mode`), without
/// syncing. Refuses a target that is a symlink or special file, and an existing target when
/// `overwrite` is `Deny` (checked again, atomically, by [`publish`]).
pub fn stage(
    dir: &Path,
    name: &str,
    content: &[u8],
    mode: Mode,
    overwrite: Overwrite,
) -> io::Result<Staged> {
    // Where one syncfs(2) does not reach the files (no syncfs, or FUSE), each file's data is
    // synced on its own.
    let sync_each = !crate::sys::syncfs_covers_files(dir);
    let (tmp, target) = write_temp(dir, name, content, mode, overwrite, sync_each)?;
    Ok(Staged {
        temp: tmp.into_temp_path(),
        dir: dir.to_path_buf(),
        target,
        overwrite,
    })
}

/// Makes the data of every file staged in these directories durable: one `syncfs(2)` per
/// filesystem (directories on the same filesystem are synced once).
pub fn sync_data<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> io::Result<()> {
    let mut seen = BTreeSet::new();
    for dir in dirs {
        let handle = File::open(dir)?;
        if seen.insert(device_of(&handle)?) {
            sync_filesystem(&handle)?;
        }
    }
    Ok(())
}

/// Gives a staged file its final name (atomic replace, or no-clobber for `Deny`). The name is
/// durable only after [`sync_dir`] of its directory; call [`sync_data`] first.
pub fn publish(staged: Staged) -> io::Result<PathBuf> {
    let Staged {
        temp,
        target,
        overwrite,
        ..
    } = staged;
    match overwrite {
        Overwrite::Allow => temp.persist(&target).map_err(|e| e.error)?,
        Overwrite::Deny => temp.persist_noclobber(&target).map_err(|e| e.error)?,
    }
    Ok(target)
}

/// Makes the names given by [`publish`] in these directories durable (one `fsync` each).
pub fn sync_dirs<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> io::Result<()> {
    let unique: BTreeSet<&Path> = dirs.into_iter().collect();
    unique.into_iter().try_for_each(sync_dir)
}

fn device_of(handle: &File) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt as _;
    Ok(handle.metadata()?.dev())
}

#[cfg(target_os = "linux")]
fn sync_filesystem(handle: &File) -> io::Result<()> {
    rustix::fs::syncfs(handle).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn sync_filesystem(_: &File) -> io::Result<()> {
    Ok(()) // stage() synced each file already
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt as _;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn staged_files_are_invisible_until_published_and_exact_afterwards() {
        let d = tempfile::tempdir().unwrap();
        let a = stage(d.path(), "a.key", b"secret", Mode::Secret, Overwrite::Deny).unwrap();
        let b = stage(
            d.path(),
            "b.yaml",
            b"public",
            Mode::Public,
            Overwrite::Allow,
        )
        .unwrap();
        assert!(names(d.path()).iter().all(|n| n.starts_with(".kcsr-")));
        sync_data([d.path(), d.path()]).unwrap();
        let pa = publish(a).unwrap();
        let pb = publish(b).unwrap();
        sync_dirs([d.path(), d.path()]).unwrap();
        assert_eq!(names(d.path()), ["a.key", "b.yaml"]);
        assert_eq!(fs::read(&pa).unwrap(), b"secret");
        assert_eq!(
            fs::metadata(&pa).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(&pb).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }

    #[test]
    fn deny_refuses_an_existing_target_at_stage_and_at_publish_and_drop_cleans_up() {
        let d = tempfile::tempdir().unwrap();
        crate::write_file(d.path(), "k", b"old", Mode::Secret, Overwrite::Deny).unwrap();
        let e = stage(d.path(), "k", b"new", Mode::Secret, Overwrite::Deny).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        // Raced: the target appears between stage and publish.
        let s = stage(d.path(), "late", b"new", Mode::Secret, Overwrite::Deny).unwrap();
        crate::write_file(d.path(), "late", b"first", Mode::Secret, Overwrite::Deny).unwrap();
        assert!(publish(s).is_err());
        assert_eq!(fs::read(d.path().join("late")).unwrap(), b"first");
        assert_eq!(fs::read(d.path().join("k")).unwrap(), b"old");
        let dropped = stage(d.path(), "never", b"x", Mode::Public, Overwrite::Allow).unwrap();
        drop(dropped);
        assert_eq!(names(d.path()), ["k", "late"]);
    }

    #[test]
    fn symlinks_are_refused() {
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("l")).unwrap();
        assert!(stage(d.path(), "l", b"x", Mode::Public, Overwrite::Allow).is_err());
    }
}

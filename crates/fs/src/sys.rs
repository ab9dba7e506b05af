//! The system calls whose failure the writer tolerates or must notice, in one place so unit
//! tests can inject those failures at the writer's boundary: a permission change (FAT32 under
//! `fusefat` answers ENOSYS, the kernel's vfat EPERM), the mode a filesystem reports afterwards
//! (exFAT under `exfat-fuse` accepts the change and still reports 0777), a directory `fsync`
//! (EINVAL where a filesystem has none), and the kind of filesystem (FUSE, where `syncfs(2)`
//! does not reach the files).

use std::fs::{File, Permissions};
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// `fchmod(2)`.
pub(crate) fn chmod(file: &File, mode: u32) -> io::Result<()> {
    #[cfg(test)]
    if let Some(e) = fault::error(fault::Call::Chmod) {
        return Err(e);
    }
    file.set_permissions(Permissions::from_mode(mode))
}

/// The permission bits a file has now, as the filesystem reports them.
pub(crate) fn mode(file: &File) -> io::Result<u32> {
    #[cfg(test)]
    if let Some(mode) = fault::reported_mode() {
        return Ok(mode);
    }
    Ok(file.metadata()?.permissions().mode() & 0o7777)
}

/// The content of a new file.
pub(crate) fn write_all(mut file: &File, content: &[u8]) -> io::Result<()> {
    #[cfg(test)]
    fault::log(fault::Call::Write);
    file.write_all(content)
}

/// `fsync(2)` of a regular file.
pub(crate) fn sync_file(file: &File) -> io::Result<()> {
    #[cfg(test)]
    fault::log(fault::Call::SyncFile);
    file.sync_all()
}

/// `fsync(2)` of a directory.
pub(crate) fn sync_dir(dir: &File) -> io::Result<()> {
    #[cfg(test)]
    if let Some(e) = fault::error(fault::Call::SyncDir) {
        return Err(e);
    }
    dir.sync_all()
}

/// Whether one `syncfs(2)` of the filesystem holding `dir` makes the data of its files
/// durable. Not on FUSE (fusefat, exfat-fuse, ntfs-3g): the kernel flushes its cache to the
/// daemon but asks no daemon but virtiofs's to sync, so each file is synced on its own there.
/// When in doubt, no.
pub(crate) fn syncfs_covers_files(dir: &Path) -> bool {
    #[cfg(test)]
    if fault::fuse() {
        return false;
    }
    syncfs_covers_files_of(dir)
}

#[cfg(target_os = "linux")]
fn syncfs_covers_files_of(dir: &Path) -> bool {
    /// `FUSE_SUPER_MAGIC` (linux/magic.h), for `fuse` and `fuseblk` mounts alike.
    const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;
    #[allow(clippy::useless_conversion)] // f_type is narrower on 32-bit targets
    rustix::fs::statfs(dir).is_ok_and(|s| i64::from(s.f_type) != FUSE_SUPER_MAGIC)
}

#[cfg(not(target_os = "linux"))]
fn syncfs_covers_files_of(_: &Path) -> bool {
    false // no syncfs(2) at all
}

/// Injected failures, per test thread (each `#[test]` runs on its own thread).
#[cfg(test)]
pub(crate) mod fault {
    use std::cell::RefCell;
    use std::io;

    /// A call at the writer's boundary.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Call {
        Chmod,
        Write,
        SyncFile,
        SyncDir,
    }

    /// What the filesystem under a test does.
    #[derive(Debug, Clone, Default)]
    pub(crate) struct Faults {
        /// Every such call fails with this errno.
        pub(crate) errors: Vec<(Call, i32)>,
        /// Every file reports this mode (a permission change "succeeds" without effect).
        pub(crate) mode: Option<u32>,
        /// The filesystem is FUSE.
        pub(crate) fuse: bool,
    }

    #[derive(Default)]
    struct State {
        faults: Faults,
        calls: Vec<Call>,
    }

    thread_local! {
        static STATE: RefCell<State> = RefCell::default();
    }

    /// Runs `f` on a filesystem with `faults`; returns its result and the calls it made.
    pub(crate) fn with<T>(faults: Faults, f: impl FnOnce() -> T) -> (T, Vec<Call>) {
        STATE.with(|s| {
            *s.borrow_mut() = State {
                faults,
                calls: Vec::new(),
            }
        });
        let out = f();
        let calls = STATE.with(|s| std::mem::take(&mut *s.borrow_mut()).calls);
        (out, calls)
    }

    pub(super) fn error(call: Call) -> Option<io::Error> {
        log(call);
        STATE.with(|s| {
            s.borrow()
                .faults
                .errors
                .iter()
                .find(|(c, _)| *c == call)
                .map(|(_, errno)| io::Error::from_raw_os_error(*errno))
        })
    }

    pub(super) fn log(call: Call) {
        STATE.with(|s| s.borrow_mut().calls.push(call));
    }

    pub(super) fn reported_mode() -> Option<u32> {
        STATE.with(|s| s.borrow().faults.mode)
    }

    pub(super) fn fuse() -> bool {
        STATE.with(|s| s.borrow().faults.fuse)
    }
}

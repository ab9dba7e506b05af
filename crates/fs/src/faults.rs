//! Removable media's answers injected at the writer's boundary ([`crate::sys`]): permission
//! changes that fail with EPERM, ENOSYS or EOPNOTSUPP or have no effect, and directory syncs
//! that fail with EINVAL or EOPNOTSUPP. The same answers from real FAT32 and exFAT are tested
//! in tests/removable.rs.

use std::fs;
use std::io;
use std::path::Path;

use crate::sys::fault::{self, Call, Faults};
use crate::{DeviceFault, Mode, Overwrite, group, write_file};

use crate::errno::{EINVAL, EIO, ENOSYS, EOPNOTSUPP, EPERM};

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn failing(call: Call, errno: i32) -> Faults {
    Faults {
        errors: vec![(call, errno)],
        ..Faults::default()
    }
}

/// Writes `name` with `write_file`, or staged and published as `kcsr batch` does.
fn write(dir: &Path, name: &str, data: &[u8], mode: Mode, staged: bool) -> io::Result<()> {
    if staged {
        let s = group::stage(dir, name, data, mode, Overwrite::Allow)?;
        group::sync_data([dir])?;
        group::publish(s)?;
        group::sync_dirs([dir])
    } else {
        write_file(dir, name, data, mode, Overwrite::Allow).map(drop)
    }
}

#[test]
fn a_public_file_is_written_when_its_permission_change_is_not_supported() {
    for errno in [EPERM, ENOSYS, EOPNOTSUPP] {
        for staged in [false, true] {
            let d = tempfile::tempdir().unwrap();
            let (r, calls) = fault::with(failing(Call::Chmod, errno), || {
                write(d.path(), "a.csr.yaml", b"public", Mode::Public, staged)
            });
            r.unwrap_or_else(|e| panic!("errno {errno}, staged {staged}: {e}"));
            assert_eq!(fs::read(d.path().join("a.csr.yaml")).unwrap(), b"public");
            assert_eq!(names(d.path()), ["a.csr.yaml"], "a temporary file was left");
            assert!(calls.contains(&Call::Chmod), "{calls:?}");
            if !staged {
                assert!(
                    calls.contains(&Call::SyncFile),
                    "data not synced: {calls:?}"
                );
            }
        }
    }
}

#[test]
fn any_other_permission_failure_still_fails_a_public_file_and_leaves_nothing() {
    let d = tempfile::tempdir().unwrap();
    for staged in [false, true] {
        let (r, _) = fault::with(failing(Call::Chmod, EIO), || {
            write(d.path(), "a.csr.yaml", b"public", Mode::Public, staged)
        });
        assert_eq!(r.unwrap_err().raw_os_error(), Some(EIO));
        assert!(names(d.path()).is_empty(), "{:?}", names(d.path()));
    }
}

#[test]
fn a_secret_is_refused_where_its_mode_would_not_stay_0600_before_any_byte_is_written() {
    let chmod_fails = [EPERM, ENOSYS, EOPNOTSUPP].map(|e| failing(Call::Chmod, e));
    // The permission change "succeeds" and the file still is 0777 (exfat-fuse) or 0755 (vfat
    // with `quiet`).
    let mode_ignored = [0o777, 0o755, 0o700].map(|m| Faults {
        mode: Some(m),
        ..Faults::default()
    });
    for faults in chmod_fails.into_iter().chain(mode_ignored) {
        for staged in [false, true] {
            let d = tempfile::tempdir().unwrap();
            let (r, calls) = fault::with(faults.clone(), || {
                write(d.path(), "alice.key.pem", b"KEY", Mode::Secret, staged)
            });
            let e = r.expect_err("a secret was written");
            assert_eq!(
                crate::device_fault(&e),
                Some(DeviceFault::NoPermissions),
                "{e}"
            );
            let msg = e.to_string();
            assert!(
                msg.contains(&d.path().join("alice.key.pem").display().to_string())
                    && msg.contains("0600")
                    && msg.contains("keeps no file permissions"),
                "{msg}"
            );
            assert!(
                names(d.path()).is_empty(),
                "{faults:?}: {:?}",
                names(d.path())
            );
            assert!(
                !calls.contains(&Call::Write),
                "the secret was written: {calls:?}"
            );
        }
    }
}

#[test]
fn a_secret_is_written_0600_where_modes_are_kept() {
    for staged in [false, true] {
        let d = tempfile::tempdir().unwrap();
        let (r, calls) = fault::with(Faults::default(), || {
            write(d.path(), "alice.key.pem", b"KEY", Mode::Secret, staged)
        });
        r.unwrap();
        assert_eq!(
            crate::tests::mode_of(&d.path().join("alice.key.pem")),
            0o600
        );
        assert!(calls.contains(&Call::Chmod), "{calls:?}");
    }
}

#[test]
fn directory_syncs_a_filesystem_does_not_support_are_tolerated_and_file_data_stays_synced() {
    for errno in [EINVAL, EOPNOTSUPP] {
        let d = tempfile::tempdir().unwrap();
        let (r, calls) = fault::with(failing(Call::SyncDir, errno), || {
            write(d.path(), "a.crt", b"cert", Mode::Public, false)?;
            crate::create_dir(&d.path().join("sub"), 0o755)?;
            crate::remove_file(d.path(), "a.crt")?;
            write(d.path(), "b.crt", b"cert", Mode::Public, true)
        });
        r.unwrap_or_else(|e| panic!("errno {errno}: {e}"));
        let sync_file = calls.iter().position(|c| *c == Call::SyncFile);
        let sync_dir = calls.iter().position(|c| *c == Call::SyncDir);
        assert!(
            sync_file.is_some() && sync_file < sync_dir,
            "the file's data was not synced before its name: {calls:?}"
        );
        assert_eq!(names(d.path()), ["b.crt", "sub"]);
    }
    // A directory sync that fails for any other reason (the device) is an error.
    let d = tempfile::tempdir().unwrap();
    let (r, _) = fault::with(failing(Call::SyncDir, EIO), || {
        write(d.path(), "a.crt", b"cert", Mode::Public, false)
    });
    assert_eq!(r.unwrap_err().raw_os_error(), Some(EIO));
}

#[test]
fn on_fuse_each_staged_file_is_synced_on_its_own() {
    let d = tempfile::tempdir().unwrap();
    let fuse = Faults {
        fuse: true,
        ..Faults::default()
    };
    let (r, calls) = fault::with(fuse, || {
        write(d.path(), "a.csr.yaml", b"1", Mode::Public, true)?;
        write(d.path(), "b.csr.yaml", b"2", Mode::Public, true)
    });
    r.unwrap();
    let synced = calls.iter().filter(|c| **c == Call::SyncFile).count();
    assert_eq!(synced, 2, "{calls:?}");
    // Elsewhere on Linux one syncfs(2) covers them.
    let (r, calls) = fault::with(Faults::default(), || {
        write(d.path(), "c.csr.yaml", b"3", Mode::Public, true)
    });
    r.unwrap();
    assert_eq!(
        calls.contains(&Call::SyncFile),
        !cfg!(target_os = "linux"),
        "{calls:?}"
    );
}

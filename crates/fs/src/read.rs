//! Bounded reads of files kcsr does not trust: only regular files, opened without blocking (a
//! FIFO or device swapped in after a check cannot stall the process), never more bytes than
//! the limit. Media scans, bounded in entries and total bytes too, are [`crate::scan`]'s.

use std::fmt;
use std::fs::{self, File, FileType, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;
use zeroize::Zeroizing;

/// Whether the last component of a path may be a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Refuse a symlink (media files: kcsr never writes one).
    Refuse,
    /// Follow it (files a kubeconfig names: `/etc/kubernetes/pki/ca.crt` is often a link).
    Follow,
}

/// What a non-regular file is, for messages.
fn describe(ft: FileType) -> &'static str {
    if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() || ft.is_block_device() {
        "a device"
    } else {
        "a special file"
    }
}

fn not_regular(ft: FileType) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "it is {}, not a regular file; kcsr reads only regular files",
            describe(ft)
        ),
    )
}

/// Opens a regular file for reading. Refuses anything else before opening it (no open of a
/// device with side effects), opens with `O_NONBLOCK | O_NOCTTY` (and `O_NOFOLLOW` with
/// [`Links::Refuse`]) so that a FIFO swapped in meanwhile does not block, and checks the
/// opened handle again: what is read is the regular file that was checked.
pub fn open_regular(path: &Path, links: Links) -> io::Result<File> {
    let meta = match links {
        Links::Refuse => fs::symlink_metadata(path)?,
        Links::Follow => fs::metadata(path)?,
    };
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let mut flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
    if links == Links::Refuse {
        flags |= rustix::fs::OFlags::NOFOLLOW;
    }
    // open(2) flags are a C int; these bits fit.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)?;
    let ft = file.metadata()?.file_type();
    if !ft.is_file() {
        return Err(not_regular(ft));
    }
    Ok(file)
}

/// Reads at most `max` bytes from an opened file into `buf`; a longer file is an error, never
/// a truncated read.
pub fn read_capped_into(file: File, max: u64, buf: &mut Vec<u8>) -> io::Result<()> {
    // Sized from the file, so that 40,000 small media files do not each hold a grown buffer
    // (`read_to_end` on a `Take` cannot ask the file for its size).
    let expected = file.metadata().map_or(0, |m| m.len()).min(max);
    buf.reserve_exact(usize::try_from(expected).unwrap_or(0).saturating_add(1));
    file.take(max + 1).read_to_end(buf)?;
    if buf.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("is larger than {max} bytes"),
        ));
    }
    Ok(())
}

/// Reads a regular file of at most `max` bytes. Refuses symlinks, devices and FIFOs (without
/// blocking on them), and never reads more than `max + 1` bytes however large the file claims
/// to be.
pub fn read_limited(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path, Links::Refuse)?;
    let mut buf = Vec::new();
    read_capped_into(file, max, &mut buf)?;
    Ok(buf)
}

/// Like [`read_limited`], but follows symlinks: for files a kubeconfig names
/// (`/etc/kubernetes/pki/ca.crt` often is a link), never for media.
pub fn read_limited_following(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path, Links::Follow)?;
    let mut buf = Vec::new();
    read_capped_into(file, max, &mut buf)?;
    Ok(buf)
}

/// Reads a file that holds a secret (a private key, a passphrase, a token). The buffer is sized
/// from the file before the first byte is read and wiped on drop, so no grown copy of the
/// secret is left behind in freed memory.
pub fn read_secret(path: &Path, max: u64, links: Links) -> io::Result<Zeroizing<Vec<u8>>> {
    let file = open_regular(path, links)?;
    let mut buf = Zeroizing::new(Vec::new());
    read_capped_into(file, max, &mut buf)?;
    Ok(buf)
}

/// A file's permissions let others than its owner read it, or it belongs to someone else:
/// refused for files that hold a secret only their owner may know (a token's PIN).
#[derive(Debug)]
pub struct NotOwnerOnly {
    /// The file's permission bits.
    pub mode: u32,
    /// The file's owner, when it is not the caller.
    pub other_owner: Option<u32>,
}

impl fmt::Display for NotOwnerOnly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.other_owner {
            Some(uid) => write!(
                f,
                "is owned by uid {uid}, not by the user running kcsr (use a copy of your own: install -m 600 FILE COPY)"
            ),
            None => write!(
                f,
                "has mode {:04o}: others than its owner may read it (it must be 0600 or stricter: chmod 600)",
                self.mode
            ),
        }
    }
}

impl std::error::Error for NotOwnerOnly {}

/// [`read_secret`] for a file only its owner may read (mode 0600 or stricter, owned by the
/// caller), checked on the opened file so that no rename between check and read can swap it.
pub fn read_owner_only(path: &Path, max: u64) -> io::Result<Zeroizing<Vec<u8>>> {
    let file = open_regular(path, Links::Refuse)?;
    if let Some(why) = not_owner_only(&file)? {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, why));
    }
    let mut buf = Zeroizing::new(Vec::new());
    read_capped_into(file, max, &mut buf)?;
    Ok(buf)
}

/// [`read_secret`], and whether others than the caller could have read the file (the rule of
/// [`read_owner_only`], judged on the opened file): for a file that is read either way but
/// whose secrets are reused only when no one else could know them.
pub fn read_secret_noting_owner(
    path: &Path,
    max: u64,
) -> io::Result<(Zeroizing<Vec<u8>>, Option<NotOwnerOnly>)> {
    let file = open_regular(path, Links::Refuse)?;
    let verdict = not_owner_only(&file)?;
    let mut buf = Zeroizing::new(Vec::new());
    read_capped_into(file, max, &mut buf)?;
    Ok((buf, verdict))
}

fn not_owner_only(file: &File) -> io::Result<Option<NotOwnerOnly>> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = file.metadata()?;
    let me = rustix::process::getuid().as_raw();
    let mode = meta.mode() & 0o7777;
    Ok(if meta.uid() != me {
        Some(NotOwnerOnly {
            mode,
            other_owner: Some(meta.uid()),
        })
    } else if meta.mode() & 0o077 != 0 {
        Some(NotOwnerOnly {
            mode,
            other_owner: None,
        })
    } else {
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // test fixtures
    fn fifos_are_refused_without_blocking_and_symlinks_only_when_asked() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        for links in [Links::Refuse, Links::Follow] {
            let err = open_regular(&fifo, links).unwrap_err();
            assert!(err.to_string().contains("FIFO"), "{err}");
        }
        let real = d.path().join("real");
        fs::write(&real, b"data").unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(open_regular(&link, Links::Refuse).is_err());
        assert!(open_regular(&link, Links::Follow).is_ok());
        let to_fifo = d.path().join("to-fifo");
        std::os::unix::fs::symlink(&fifo, &to_fifo).unwrap();
        assert!(open_regular(&to_fifo, Links::Follow).is_err());
        assert!(read_limited(&fifo, 10).is_err());
        // The following and the secret readers keep the same rules.
        assert!(read_limited(&link, 10).is_err());
        assert_eq!(read_limited_following(&link, 10).unwrap(), b"data");
        assert!(read_limited_following(&to_fifo, 10).is_err());
        assert!(read_secret(&link, 10, Links::Refuse).is_err());
        assert_eq!(*read_secret(&link, 10, Links::Follow).unwrap(), b"data");
        assert!(read_secret(&fifo, 10, Links::Follow).is_err());
        let err = read_secret(&real, 3, Links::Refuse).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge, "{err}");
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // test fixtures
    fn an_owner_only_file_is_read_only_with_mode_0600_or_stricter() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().unwrap();
        let pin = d.path().join("pin");
        fs::write(&pin, b"123456\n").unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            fs::set_permissions(&pin, fs::Permissions::from_mode(mode)).unwrap();
            let err = read_owner_only(&pin, 100).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{mode:o}");
            assert!(
                err.to_string().contains(&format!("{mode:04o}"))
                    && err.to_string().contains("chmod 600"),
                "{err}"
            );
        }
        for mode in [0o600, 0o400] {
            fs::set_permissions(&pin, fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(*read_owner_only(&pin, 100).unwrap(), b"123456\n");
            let (data, verdict) = read_secret_noting_owner(&pin, 100).unwrap();
            assert!(*data == b"123456\n" && verdict.is_none(), "{mode:o}");
        }
        // Read either way, with the same verdict as read_owner_only's refusal.
        fs::set_permissions(&pin, fs::Permissions::from_mode(0o640)).unwrap();
        let (data, verdict) = read_secret_noting_owner(&pin, 100).unwrap();
        assert_eq!(*data, b"123456\n");
        assert_eq!(
            verdict.map(|v| (v.mode, v.other_owner)),
            Some((0o640, None))
        );
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&pin, &link).unwrap();
        assert!(read_owner_only(&link, 100).is_err());
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // test fixtures
    fn a_secret_is_read_into_one_buffer_sized_before_the_first_byte() {
        let d = tempfile::tempdir().unwrap();
        let key = d.path().join("key");
        let data = vec![b'k'; 100_000];
        fs::write(&key, &data).unwrap();
        let read = read_secret(&key, 1 << 20, Links::Refuse).unwrap();
        assert_eq!(*read, data);
        // Grown buffers leave copies behind in freed memory; this one was never grown.
        assert_eq!(read.capacity(), data.len() + 1);
    }
}

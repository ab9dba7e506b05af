//! Bounded reads of local files named by a kubeconfig (CA, certificate, key, token file).
//! Symlinks are followed (`/etc/kubernetes/pki/ca.crt` often is one), but only a regular file is
//! read: a FIFO or device is refused at once, never waited on (`kcsr_fs::open_regular`).

use std::io;
use std::path::Path;

use kcsr_fs::Links;
use zeroize::Zeroizing;

/// Largest kubeconfig, certificate or token file read. Real ones are a few KiB.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads at most `limit` bytes of a regular file; a larger file is an error (`FileTooLarge`)
/// rather than a truncated read, so a device or a huge file cannot exhaust memory.
pub fn read_capped(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = kcsr_fs::open_regular(path, Links::Follow)?;
    let mut data = Vec::new();
    kcsr_fs::read_capped_into(file, limit, &mut data)?;
    Ok(data)
}

/// Like [`read_capped`], for files holding secrets: the buffer is wiped on drop.
pub fn read_secret_capped(path: &Path, limit: u64) -> io::Result<Zeroizing<Vec<u8>>> {
    let file = kcsr_fs::open_regular(path, Links::Follow)?;
    let mut data = Zeroizing::new(Vec::with_capacity(8 << 10));
    kcsr_fs::read_capped_into(file, limit, &mut data)?;
    Ok(data)
}

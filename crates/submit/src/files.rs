//! Bounded reads of local files named by a kubeconfig (CA, certificate, key, token file).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use zeroize::Zeroizing;

/// Largest kubeconfig, certificate or token file read. Real ones are a few KiB.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads at most `limit` bytes; a larger file is an error (`FileTooLarge`) rather than a
/// truncated read, so a device or a huge file cannot exhaust memory.
pub fn read_capped(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut data = Vec::new();
    file.take(limit + 1).read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(data)
}

/// Like [`read_capped`], for files holding secrets: the buffer is wiped on drop.
pub fn read_secret_capped(path: &Path, limit: u64) -> io::Result<Zeroizing<Vec<u8>>> {
    let file = File::open(path)?;
    let mut data = Zeroizing::new(Vec::with_capacity(8 << 10));
    file.take(limit + 1).read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(data)
}

//! The only place this crate writes files (CA keys/certificates and kubeconfigs under the
//! server directory). Writes go to a temporary file in the same directory, are fsynced and
//! renamed into place, so a demo directory never holds a half-written key or kubeconfig.
//! Uses `tempfile` rather than `std::fs::write`/`File::create` (disallowed workspace-wide).

use std::io::Write as _;
use std::path::Path;

fn write_mode(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{}: no parent directory", path.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.error))?;
    Ok(())
}

/// Keys and kubeconfigs (which embed keys): 0600.
pub(crate) fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    write_mode(path, data, 0o600)
}

/// CA certificates: 0644.
pub(crate) fn write_public(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    write_mode(path, data, 0o644)
}

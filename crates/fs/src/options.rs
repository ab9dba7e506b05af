//! What the writers are asked for: who may read the new file, and whether it may replace one.

/// Who may read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 0600: private keys, kubeconfigs.
    Secret,
    /// 0644: manifests, certificates, checksums.
    Public,
}

/// What to do when the target exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Replace it atomically.
    Allow,
    /// Fail with `AlreadyExists` (the check and the creation are one atomic step).
    Deny,
}

//! The bound on local files named by a kubeconfig (CA, certificate, key, token file). They
//! are read with `kcsr_fs::read_limited_following` and `kcsr_fs::read_secret`: symlinks are
//! followed (`/etc/kubernetes/pki/ca.crt` often is one), but only a regular file is read, and a
//! FIFO or device is refused at once, never waited on.

/// Largest kubeconfig, certificate or token file read. Real ones are a few KiB.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

//! Why a signature cannot be used.

/// Why a signature or an `allowed_signers` line cannot be used. Messages quote no secret (there
/// is none here) and bound what they echo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SshSigError {
    /// Not an armored SSHSIG, or a blob that does not decode.
    #[error("not an SSH signature: {0}")]
    Format(String),
    /// A signature version other than 1.
    #[error("SSH signature version {0} is not supported (only version 1)")]
    Version(u32),
    /// A key or signature type other than Ed25519.
    #[error("key type {0:?} is not supported (the station signs with ssh-ed25519)")]
    KeyType(String),
    /// A hash other than sha256/sha512.
    #[error("hash algorithm {0:?} is not sha256 or sha512")]
    Hash(String),
    /// Signed for another purpose.
    #[error("the signature is for namespace {found:?}, not {expected:?}")]
    Namespace {
        /// In the signature.
        found: String,
        /// Asked for.
        expected: String,
    },
    /// The signature does not verify over the message with its key.
    #[error(
        "the signature does not match the signed file (it was changed after signing, or signed by another key)"
    )]
    BadSignature,
}

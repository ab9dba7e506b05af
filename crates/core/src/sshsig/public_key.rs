//! Ed25519 public keys in OpenSSH's forms.

use std::fmt;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

use super::error::SshSigError;
use super::wire::{ED25519_NAME, Reader, printable, put_string};

/// An Ed25519 public key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

impl PublicKey {
    /// From the 32 raw bytes.
    #[cfg(feature = "keys")]
    pub(super) fn from_raw(raw: [u8; 32]) -> Self {
        Self(raw)
    }

    /// The 32 raw bytes.
    pub(super) fn raw(&self) -> &[u8; 32] {
        &self.0
    }

    /// The SSH wire form: `string "ssh-ed25519"`, `string key`.
    pub fn wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(51);
        put_string(&mut out, ED25519_NAME.as_bytes());
        put_string(&mut out, &self.0);
        out
    }

    pub(super) fn from_wire(wire: &[u8]) -> Result<Self, SshSigError> {
        let mut r = Reader(wire);
        let kind = r.string()?;
        if kind != ED25519_NAME.as_bytes() {
            return Err(SshSigError::KeyType(printable(kind)));
        }
        let raw: [u8; 32] = r
            .string()?
            .try_into()
            .map_err(|_| SshSigError::Format("an Ed25519 key is 32 bytes".into()))?;
        r.end()?;
        Ok(Self(raw))
    }

    /// `ssh-ed25519 BASE64`, as in `authorized_keys` and `allowed_signers`.
    pub fn to_openssh(&self) -> String {
        format!("{ED25519_NAME} {}", STANDARD.encode(self.wire()))
    }

    /// From `ssh-ed25519 BASE64 [comment]`.
    pub fn from_openssh(line: &str) -> Result<Self, SshSigError> {
        let mut parts = line.split_whitespace();
        let (Some(kind), Some(b64)) = (parts.next(), parts.next()) else {
            return Err(SshSigError::Format(
                "expected `ssh-ed25519 BASE64 [comment]`".into(),
            ));
        };
        if kind != ED25519_NAME {
            return Err(SshSigError::KeyType(printable(kind.as_bytes())));
        }
        let wire = STANDARD
            .decode(b64)
            .map_err(|e| SshSigError::Format(format!("the key is not base64: {e}")))?;
        Self::from_wire(&wire)
    }

    /// OpenSSH's fingerprint: `SHA256:` + unpadded base64 of SHA-256 over the wire form, as
    /// `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        let d = digest::digest(&digest::SHA256, &self.wire());
        format!("SHA256:{}", STANDARD_NO_PAD.encode(d.as_ref()))
    }
}

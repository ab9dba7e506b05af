//! OpenSSH signatures (SSHSIG, `PROTOCOL.sshsig`) with Ed25519 keys, and `allowed_signers`
//! files: the station signs `SHA256SUMS` so that `ssh-keygen -Y verify` and kcsr-submit can
//! tell media the station wrote from media someone else wrote (decision 0009).
//!
//! Implemented here on aws-lc-rs rather than with the `ssh-key` crate, whose signing brings
//! a second crypto stack (`ed25519-dalek`). Only Ed25519 is signed or verified: it is the only
//! key type the station makes, and a line of another type in `allowed_signers` simply never
//! matches.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

mod allowed_signers;
mod error;
mod public_key;
mod wire;

pub use allowed_signers::{
    AllowedSigner, AllowedSigners, AllowedSignersError, NotAllowed, allowed_signers_line,
    format_time,
};
pub use error::SshSigError;
pub use public_key::PublicKey;
use wire::{ED25519_NAME, Reader, printable, put_string};

const MAGIC: &[u8; 6] = b"SSHSIG";
const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const END: &str = "-----END SSH SIGNATURE-----";
/// Largest armored signature read; an Ed25519 one is about 300 bytes.
const MAX_ARMORED: usize = 16 * 1024;

/// The digest a signature commits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// `sha256`.
    Sha256,
    /// `sha512`, what `ssh-keygen -Y sign` and kcsr write.
    Sha512,
}

impl HashAlg {
    fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    fn digest(self, message: &[u8]) -> Vec<u8> {
        let alg = match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, message).as_ref().to_vec()
    }
}

/// A parsed SSHSIG signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The key that made it (not yet trusted: see [`AllowedSigners::find`]).
    pub public_key: PublicKey,
    /// What it was made for.
    pub namespace: String,
    /// The digest it commits to.
    pub hash: HashAlg,
    signature: [u8; 64],
}

/// The bytes the key signs: magic, namespace, reserved, hash name, H(message).
fn signed_data(namespace: &str, hash: HashAlg, message: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    put_string(&mut out, namespace.as_bytes());
    put_string(&mut out, b"");
    put_string(&mut out, hash.name().as_bytes());
    put_string(&mut out, &hash.digest(message));
    out
}

impl Signature {
    /// Reads an armored signature (`-----BEGIN SSH SIGNATURE-----`). Refuses versions other
    /// than 1, key types other than Ed25519, a non-empty reserved field and trailing bytes.
    pub fn parse_armored(data: &[u8]) -> Result<Self, SshSigError> {
        if data.len() > MAX_ARMORED {
            return Err(SshSigError::Format(format!(
                "larger than {MAX_ARMORED} bytes"
            )));
        }
        let text = std::str::from_utf8(data).map_err(|_| SshSigError::Format("not text".into()))?;
        let mut lines = text.lines().map(str::trim_end);
        if lines.next() != Some(BEGIN) {
            return Err(SshSigError::Format(format!(
                "the first line is not {BEGIN}"
            )));
        }
        let mut b64 = String::new();
        let mut ended = false;
        for line in lines.by_ref() {
            if line == END {
                ended = true;
                break;
            }
            b64.push_str(line);
        }
        if !ended {
            return Err(SshSigError::Format(format!("no {END} line")));
        }
        if lines.any(|l| !l.is_empty()) {
            return Err(SshSigError::Format(format!("text after {END}")));
        }
        let blob = STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| SshSigError::Format(format!("the body is not base64: {e}")))?;
        Self::from_blob(&blob)
    }

    fn from_blob(blob: &[u8]) -> Result<Self, SshSigError> {
        let mut r = Reader(blob);
        if r.take(6)? != MAGIC {
            return Err(SshSigError::Format("missing the SSHSIG magic".into()));
        }
        let version = r.u32()?;
        if version != 1 {
            return Err(SshSigError::Version(version));
        }
        let public_key = PublicKey::from_wire(r.string()?)?;
        let namespace = String::from_utf8(r.string()?.to_vec())
            .map_err(|_| SshSigError::Format("the namespace is not UTF-8".into()))?;
        if namespace.is_empty() {
            return Err(SshSigError::Format("the namespace is empty".into()));
        }
        if !r.string()?.is_empty() {
            return Err(SshSigError::Format(
                "the reserved field is not empty".into(),
            ));
        }
        let hash = match r.string()? {
            b"sha256" => HashAlg::Sha256,
            b"sha512" => HashAlg::Sha512,
            other => return Err(SshSigError::Hash(printable(other))),
        };
        let mut sig = Reader(r.string()?);
        r.end()?;
        let kind = sig.string()?;
        if kind != ED25519_NAME.as_bytes() {
            return Err(SshSigError::KeyType(printable(kind)));
        }
        let signature: [u8; 64] = sig
            .string()?
            .try_into()
            .map_err(|_| SshSigError::Format("an Ed25519 signature is 64 bytes".into()))?;
        sig.end()?;
        Ok(Self {
            public_key,
            namespace,
            hash,
            signature,
        })
    }

    /// Checks the signature over `message` for `namespace`, with the key it names. Whether
    /// that key is trusted is [`AllowedSigners::find`]'s question.
    pub fn verify(&self, message: &[u8], namespace: &str) -> Result<(), SshSigError> {
        if self.namespace != namespace {
            return Err(SshSigError::Namespace {
                found: printable(self.namespace.as_bytes()),
                expected: namespace.to_owned(),
            });
        }
        let data = signed_data(&self.namespace, self.hash, message);
        UnparsedPublicKey::new(&ED25519, self.public_key.raw())
            .verify(&data, &self.signature)
            .map_err(|_| SshSigError::BadSignature)
    }

    fn blob(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&1u32.to_be_bytes());
        put_string(&mut out, &self.public_key.wire());
        put_string(&mut out, self.namespace.as_bytes());
        put_string(&mut out, b"");
        put_string(&mut out, self.hash.name().as_bytes());
        let mut sig = Vec::with_capacity(83);
        put_string(&mut sig, ED25519_NAME.as_bytes());
        put_string(&mut sig, &self.signature);
        put_string(&mut out, &sig);
        out
    }

    /// The armored form `ssh-keygen -Y verify -s` reads.
    pub fn to_armored(&self) -> String {
        let b64 = STANDARD.encode(self.blob());
        let mut out = String::with_capacity(b64.len() + 80);
        out.push_str(BEGIN);
        out.push('\n');
        for chunk in b64.as_bytes().chunks(76) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str(END);
        out.push('\n');
        out
    }
}

/// Signs `message` for `namespace` with an Ed25519 station key, sha512 as `ssh-keygen` does.
#[cfg(feature = "keys")]
pub fn sign(
    key: &crate::key::PrivateKey,
    message: &[u8],
    namespace: &str,
) -> Result<Signature, crate::key::KeyError> {
    let public_key = ed25519_public_key(key)?;
    let raw = key.sign_message(&signed_data(namespace, HashAlg::Sha512, message))?;
    let signature: [u8; 64] = raw
        .try_into()
        .map_err(|_| crate::key::KeyError::Sign("an Ed25519 signature is 64 bytes".into()))?;
    Ok(Signature {
        public_key,
        namespace: namespace.to_owned(),
        hash: HashAlg::Sha512,
        signature,
    })
}

/// The OpenSSH public key of an Ed25519 [`crate::key::PrivateKey`].
#[cfg(feature = "keys")]
pub fn ed25519_public_key(key: &crate::key::PrivateKey) -> Result<PublicKey, crate::key::KeyError> {
    if key.kind() != &crate::x509::KeyKind::Ed25519 {
        return Err(crate::key::KeyError::Unsupported(format!(
            "the station signs with Ed25519, this key is {}",
            key.kind()
        )));
    }
    // The SPKI of an Ed25519 key is a fixed 12-byte header followed by the 32-byte key.
    let spki = &key.public_key().spki_der;
    let raw: [u8; 32] = spki
        .get(spki.len().saturating_sub(32)..)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| crate::key::KeyError::Unsupported("malformed Ed25519 key".into()))?;
    Ok(PublicKey::from_raw(raw))
}

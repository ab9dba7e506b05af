//! Which key kcsr generates ([`KeyType`]) and why a key could not be generated, read, written
//! or used ([`KeyError`]); re-exported by [`crate::key`], used below it by the CSR encoder and
//! [`crate::external_key`].

use std::fmt;
use std::str::FromStr;

use crate::x509::KeyKind;

/// Which key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// Ed25519 (some FIPS-built or managed API servers reject it).
    Ed25519,
    /// ECDSA P-256 with SHA-256: the default, accepted everywhere.
    P256,
    /// ECDSA P-384 with SHA-384.
    P384,
    /// RSA 2048 with PKCS#1 v1.5 SHA-256 signatures.
    Rsa2048,
    /// RSA 3072.
    Rsa3072,
    /// RSA 4096.
    Rsa4096,
}

impl KeyType {
    /// Every key type, in the order `--help` lists them.
    pub const ALL: [Self; 6] = [
        Self::P256,
        Self::P384,
        Self::Ed25519,
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
    ];

    /// The command-line spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::P256 => "p256",
            Self::P384 => "p384",
            Self::Rsa2048 => "rsa2048",
            Self::Rsa3072 => "rsa3072",
            Self::Rsa4096 => "rsa4096",
        }
    }

    /// The key type of a public-key kind, if kcsr generates such keys.
    pub fn for_kind(kind: &KeyKind) -> Option<Self> {
        Self::ALL.into_iter().find(|t| &t.kind() == kind)
    }

    /// The public-key kind a key of this type has.
    pub fn kind(self) -> KeyKind {
        match self {
            Self::Ed25519 => KeyKind::Ed25519,
            Self::P256 => KeyKind::EcdsaP256,
            Self::P384 => KeyKind::EcdsaP384,
            Self::Rsa2048 => KeyKind::Rsa { bits: 2048 },
            Self::Rsa3072 => KeyKind::Rsa { bits: 3072 },
            Self::Rsa4096 => KeyKind::Rsa { bits: 4096 },
        }
    }
}

impl FromStr for KeyType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown key type {s:?}; choose one of {}",
                    Self::ALL.map(Self::as_str).join(", ")
                )
            })
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a key could not be generated, read or written. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Key generation failed in the crypto module.
    #[error("failed to generate a {0} key")]
    Generate(KeyType),
    /// The bytes are not a private key in a known format.
    #[error(
        "not a private key kcsr can read (expected PKCS#8, PKCS#1 RSA or SEC1 EC, PEM or DER){0}"
    )]
    Unreadable(String),
    /// An encrypted key without a passphrase.
    #[error("the key is encrypted and no passphrase was given")]
    NeedPassphrase,
    /// Wrong passphrase (or corrupt encrypted key).
    #[error("the passphrase does not decrypt the key (wrong passphrase, or the file is damaged)")]
    Decrypt,
    /// A legacy OpenSSL-encrypted PEM (Proc-Type/DEK-Info headers).
    #[error(
        "the key is encrypted in OpenSSL's legacy PEM format (Proc-Type/DEK-Info headers), which kcsr does not read"
    )]
    LegacyEncrypted,
    /// An RSA key below 2048 bits.
    #[error("the key is RSA {0}; RSA keys below 2048 bits are refused")]
    RsaTooSmall(usize),
    /// An RSA key whose public exponent is not 65537.
    #[error(
        "the key is RSA with public exponent {0}; kcsr accepts only RSA keys with exponent 65537"
    )]
    RsaExponent(String),
    /// An algorithm kcsr does not sign with.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// Encoding or encryption failed.
    #[error("failed to encode the key: {0}")]
    Encode(String),
    /// Signing failed.
    #[error("failed to sign: {0}")]
    Sign(String),
}

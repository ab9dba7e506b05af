//! Private keys: generation, reading (PKCS#8, PKCS#1, SEC1; PEM or DER; encrypted PKCS#8),
//! writing (PKCS#8, optionally encrypted with PBKDF2-SHA256 + AES-256-CBC), and CSR signing.
//!
//! A [`PrivateKey`] is not `Clone`, has no `Display` or `Serialize`, prints as
//! `PrivateKey { kind: .., .. }`, and leaves only through [`PrivateKey::to_pem`] and
//! [`PrivateKey::to_encrypted_pem`], which return zeroizing buffers.

use std::fmt;

use pkcs8::der::pem::LineEnding;
use rcgen::{KeyPair, PublicKeyData, RsaKeySize, SigningKey};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::csr::CsrInfo;
pub use crate::csr_build::CsrSigner;
// In a leaf module: the CSR encoder and the external keys use them too, and this module uses both.
pub use crate::key_type::{KeyError, KeyType};
use crate::names::{GroupName, UserName};
use crate::pem;
use crate::x509::{KeyKind, PublicKeyInfo};

/// Iterations of PBKDF2-HMAC-SHA256 for encrypted keys (OWASP 2023 guidance for SHA-256).
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// How a key was (or will be) stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// PKCS#8 `PRIVATE KEY`.
    Pkcs8,
    /// PKCS#8 `ENCRYPTED PRIVATE KEY`.
    EncryptedPkcs8,
    /// PKCS#1 `RSA PRIVATE KEY`.
    Pkcs1,
    /// SEC1 `EC PRIVATE KEY`.
    Sec1,
}

impl KeyFormat {
    /// A short description for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Pkcs8 => "PKCS#8",
            Self::EncryptedPkcs8 => "encrypted PKCS#8",
            Self::Pkcs1 => "PKCS#1",
            Self::Sec1 => "SEC1",
        }
    }
}

/// A private key in memory.
pub struct PrivateKey {
    pair: KeyPair,
    kind: KeyKind,
    format: KeyFormat,
    public: PublicKeyInfo,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("kind", &self.kind)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Generates a new key.
    pub fn generate(key_type: KeyType) -> Result<Self, KeyError> {
        let pair = match key_type {
            KeyType::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519),
            KeyType::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyType::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            KeyType::Rsa2048 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048)
            }
            KeyType::Rsa3072 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072)
            }
            KeyType::Rsa4096 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096)
            }
        }
        .map_err(|_| KeyError::Generate(key_type))?;
        // AWS-LC writes Ed25519 keys as PKCS#8 v2 (with the public key), which OpenSSL 3.0
        // and Go's ParsePKCS8PrivateKey do not read; kubectl must, so store v1.
        let pair = if key_type == KeyType::Ed25519 {
            let v1 = pkcs8_v1(pair.serialized_der()).ok_or(KeyError::Generate(key_type))?;
            KeyPair::try_from(v1.as_slice()).map_err(|_| KeyError::Generate(key_type))?
        } else {
            pair
        };
        Self::from_pair(pair, KeyFormat::Pkcs8)
    }

    /// Reads a key from PEM or DER. Encrypted PKCS#8 needs `passphrase`.
    pub fn from_bytes(data: &[u8], passphrase: Option<&SecretString>) -> Result<Self, KeyError> {
        if pem::looks_like_pem(data) {
            let blocks = pem::parse(data).map_err(|e| KeyError::Unreadable(format!(": {e}")))?;
            let block = blocks
                .into_iter()
                .find(|b| b.label.contains("PRIVATE KEY"))
                .ok_or_else(|| KeyError::Unreadable(": no PRIVATE KEY PEM block".to_owned()))?;
            if block.has_headers {
                return Err(KeyError::LegacyEncrypted);
            }
            match block.label.as_str() {
                "ENCRYPTED PRIVATE KEY" => Self::decrypt(&block.der, passphrase),
                "PRIVATE KEY" => Self::from_der(&block.der, KeyFormat::Pkcs8),
                "RSA PRIVATE KEY" => Self::from_der(&block.der, KeyFormat::Pkcs1),
                "EC PRIVATE KEY" => Self::from_der(&block.der, KeyFormat::Sec1),
                other => Err(KeyError::Unsupported(format!("PEM label {other:?}"))),
            }
        } else if pkcs8::EncryptedPrivateKeyInfoRef::try_from(data).is_ok() {
            Self::decrypt(data, passphrase)
        } else {
            let Some(format) = der_key_format(data) else {
                return Err(KeyError::Unreadable(String::new()));
            };
            Self::from_der(data, format)
        }
    }

    fn decrypt(der: &[u8], passphrase: Option<&SecretString>) -> Result<Self, KeyError> {
        let passphrase = passphrase.ok_or(KeyError::NeedPassphrase)?;
        let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der)
            .map_err(|e| KeyError::Unreadable(format!(": {e}")))?;
        let doc = info
            .decrypt(passphrase.expose_secret().as_bytes())
            .map_err(|_| KeyError::Decrypt)?;
        let mut key = Self::from_der(doc.as_bytes(), KeyFormat::Pkcs8)?;
        key.format = KeyFormat::EncryptedPkcs8;
        Ok(key)
    }

    fn from_der(der: &[u8], format: KeyFormat) -> Result<Self, KeyError> {
        let pair = KeyPair::try_from(der).map_err(|_| match rsa_modulus_bits(der, format) {
            Some(bits) if bits < 2048 => KeyError::RsaTooSmall(bits),
            _ => KeyError::Unreadable(format!(" ({} did not parse)", format.describe())),
        })?;
        Self::from_pair(pair, format)
    }

    fn from_pair(pair: KeyPair, format: KeyFormat) -> Result<Self, KeyError> {
        let spki = pair.subject_public_key_info();
        let parsed = crate::x509::public_key_kind_from_der(&spki);
        match parsed {
            KeyKind::EcdsaP256 | KeyKind::EcdsaP384 | KeyKind::Ed25519 | KeyKind::Rsa { .. } => {}
            other => return Err(KeyError::Unsupported(other.to_string())),
        }
        let public = PublicKeyInfo::new(parsed.clone(), spki);
        if let Some(exponent) = public.unexpected_rsa_exponent() {
            return Err(KeyError::RsaExponent(exponent));
        }
        Ok(Self {
            public,
            kind: parsed,
            format,
            pair,
        })
    }

    /// The key's kind and size.
    pub fn kind(&self) -> &KeyKind {
        &self.kind
    }

    /// How the key was stored when read (PKCS#8 for generated keys).
    pub fn format(&self) -> KeyFormat {
        self.format
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKeyInfo {
        &self.public
    }

    /// Signs `message` with the key's own scheme (Ed25519 for the station key's SSHSIG).
    pub fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.pair
            .sign(message)
            .map_err(|e| KeyError::Sign(e.to_string()))
    }

    /// The key as unencrypted PEM in the format it was read in (PKCS#8 for generated and
    /// decrypted keys), which kubectl's `client-key-data` accepts.
    pub fn to_pem(&self) -> Zeroizing<String> {
        let label = match self.format {
            KeyFormat::Pkcs8 | KeyFormat::EncryptedPkcs8 => "PRIVATE KEY",
            KeyFormat::Pkcs1 => "RSA PRIVATE KEY",
            KeyFormat::Sec1 => "EC PRIVATE KEY",
        };
        Zeroizing::new(pem::encode(label, self.pair.serialized_der()))
    }

    /// The key as encrypted PKCS#8 PEM: PBKDF2-HMAC-SHA256 ([`PBKDF2_ITERATIONS`]) and
    /// AES-256-CBC, which `openssl pkey -passin` reads. Only for PKCS#8 keys.
    pub fn to_encrypted_pem(
        &self,
        passphrase: &SecretString,
    ) -> Result<Zeroizing<String>, KeyError> {
        if !matches!(self.format, KeyFormat::Pkcs8 | KeyFormat::EncryptedPkcs8) {
            return Err(KeyError::Encode(format!(
                "only PKCS#8 keys can be encrypted, this one is {}",
                self.format.describe()
            )));
        }
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        aws_lc_rs::rand::fill(&mut salt).map_err(|_| KeyError::Encode("no randomness".into()))?;
        aws_lc_rs::rand::fill(&mut iv).map_err(|_| KeyError::Encode("no randomness".into()))?;
        let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(
            PBKDF2_ITERATIONS,
            &salt,
            iv,
        )
        .map_err(|e| KeyError::Encode(e.to_string()))?;
        let info = pkcs8::PrivateKeyInfoRef::try_from(self.pair.serialized_der())
            .map_err(|e| KeyError::Encode(e.to_string()))?;
        let doc = info
            .encrypt_with_params(params, passphrase.expose_secret().as_bytes())
            .map_err(|e| KeyError::Encode(e.to_string()))?;
        let pem = doc
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .map_err(|e| KeyError::Encode(e.to_string()))?;
        Ok(Zeroizing::new(pem.to_string()))
    }

    /// Builds and signs a PKCS#10 CSR: CN = user, one O per group (separate RDNs, as
    /// `openssl req -subj /CN=u/O=g1/O=g2` does), and a SAN extension request when `sans`
    /// has DNS names or IPs.
    pub fn sign_csr(
        &self,
        user: &UserName,
        groups: &[GroupName],
        dns: &[String],
        ips: &[std::net::IpAddr],
    ) -> Result<CsrInfo, KeyError> {
        CsrSigner::sign_csr(self, user, groups, dns, ips)
    }

    /// What [`Self::sign_csr`] would produce, without signing: the same encoding, read back by
    /// the same parser, with `signature` reported as [`crate::csr::SignatureCheck::Valid`] because
    /// the real request is signed by this same key. For checking every row of a roster
    /// against the cluster's rules before any key is generated; never for output.
    pub fn preview_csr(
        &self,
        user: &UserName,
        groups: &[GroupName],
        dns: &[String],
        ips: &[std::net::IpAddr],
    ) -> Result<CsrInfo, KeyError> {
        CsrSigner::preview_csr(self, user, groups, dns, ips)
    }
}

impl CsrSigner for PrivateKey {
    fn public_key(&self) -> &PublicKeyInfo {
        &self.public
    }

    fn sign_tbs(&self, tbs: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.sign_message(tbs)
    }
}

/// Re-encodes a PKCS#8 v2 (OneAsymmetricKey with public key) as v1.
fn pkcs8_v1(der: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    use pkcs8::der::Encode as _;
    let mut info = pkcs8::PrivateKeyInfoRef::try_from(der).ok()?;
    info.public_key = None;
    info.to_der().ok().map(Zeroizing::new)
}

/// Classifies a DER private key: PKCS#8, PKCS#1 or SEC1.
fn der_key_format(der: &[u8]) -> Option<KeyFormat> {
    use pkcs8::der::Decode as _;
    if pkcs8::PrivateKeyInfoRef::try_from(der).is_ok() {
        Some(KeyFormat::Pkcs8)
    } else if pkcs1::RsaPrivateKeyRef::from_der(der).is_ok() {
        Some(KeyFormat::Pkcs1)
    } else if sec1::EcPrivateKey::try_from(der).is_ok() {
        Some(KeyFormat::Sec1)
    } else {
        None
    }
}

/// The modulus size of an RSA private key (PKCS#1, or PKCS#8 wrapping PKCS#1), so that a
/// key the crypto module refuses as too small gets that reason rather than "unreadable".
fn rsa_modulus_bits(der: &[u8], format: KeyFormat) -> Option<usize> {
    use pkcs8::der::Decode as _;
    let pkcs1 = match format {
        KeyFormat::Pkcs1 => der,
        KeyFormat::Pkcs8 | KeyFormat::EncryptedPkcs8 => pkcs8::PrivateKeyInfoRef::try_from(der)
            .ok()?
            .private_key
            .as_bytes(),
        KeyFormat::Sec1 => return None,
    };
    let key = pkcs1::RsaPrivateKeyRef::from_der(pkcs1).ok()?;
    Some(key.modulus.as_bytes().len() * 8)
}

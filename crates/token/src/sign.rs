//! The raw signing mechanisms a caller may ask a token for: the input is always a digest (or a
//! DigestInfo) the caller made, so the data sent to the token stays small and every token has
//! the mechanism (a PIV applet has no hash-and-sign ECDSA).

use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
#[cfg(feature = "csr")]
use kcsr_core::external_key;
#[cfg(feature = "csr")]
use kcsr_core::x509::PublicKeyInfo;

#[cfg(feature = "csr")]
use crate::error::ck_text;
use crate::error::{Result, ck_fail};
use crate::key::TokenKey;

/// A raw signing mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawMechanism {
    /// `CKM_ECDSA` over a digest; the token answers `r || s`.
    Ecdsa,
    /// `CKM_RSA_PKCS` over a DigestInfo.
    RsaPkcs,
    /// `CKM_RSA_PKCS_PSS` over a SHA-256 digest, MGF1-SHA-256, salt of 32 bytes (TLS 1.3).
    RsaPssSha256,
    /// The same with SHA-384 (salt 48).
    RsaPssSha384,
    /// The same with SHA-512 (salt 64).
    RsaPssSha512,
}

impl RawMechanism {
    pub(crate) fn mechanism_type(self) -> MechanismType {
        match self {
            Self::Ecdsa => MechanismType::ECDSA,
            Self::RsaPkcs => MechanismType::RSA_PKCS,
            Self::RsaPssSha256 | Self::RsaPssSha384 | Self::RsaPssSha512 => {
                MechanismType::RSA_PKCS_PSS
            }
        }
    }

    pub(crate) fn mechanism(self) -> Mechanism<'static> {
        let pss = |hash_alg, mgf, len: u64| {
            Mechanism::RsaPkcsPss(PkcsPssParams {
                hash_alg,
                mgf,
                s_len: len.into(),
            })
        };
        match self {
            Self::Ecdsa => Mechanism::Ecdsa,
            Self::RsaPkcs => Mechanism::RsaPkcs,
            Self::RsaPssSha256 => pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32),
            Self::RsaPssSha384 => pss(MechanismType::SHA384, PkcsMgfType::MGF1_SHA384, 48),
            Self::RsaPssSha512 => pss(MechanismType::SHA512, PkcsMgfType::MGF1_SHA512, 64),
        }
    }
}

impl TokenKey {
    /// Whether the token offers `mechanism` for signing.
    pub fn offers(&self, mechanism: RawMechanism) -> bool {
        self.token
            .pkcs11
            .get_mechanism_list(self.token.slot)
            .is_ok_and(|list| list.contains(&mechanism.mechanism_type()))
    }

    /// Asks the token to sign `input` (a digest or DigestInfo the caller made) with `mechanism`.
    pub fn sign_raw(&self, mechanism: RawMechanism, input: &[u8]) -> Result<Vec<u8>> {
        self.token
            .session
            .sign(&mechanism.mechanism(), self.handle, input)
            .map_err(|e| ck_fail(&format!("token {:?} could not sign", self.token.label), &e))
    }
}

#[cfg(feature = "csr")]
impl external_key::CsrSigner for TokenKey {
    fn public_key(&self) -> &PublicKeyInfo {
        &self.public
    }

    fn sign_tbs(&self, tbs: &[u8]) -> std::result::Result<Vec<u8>, kcsr_core::key::KeyError> {
        use kcsr_core::external_key::RawScheme;
        use kcsr_core::key::KeyError;
        let (scheme, input) = external_key::raw_sign_input(&self.public.kind, tbs)?;
        let mechanism = match scheme {
            RawScheme::Ecdsa => Mechanism::Ecdsa,
            RawScheme::RsaPkcs1 => Mechanism::RsaPkcs,
        };
        let raw = self
            .token
            .session
            .sign(&mechanism, self.handle, &input)
            .map_err(|e| {
                KeyError::Sign(format!("token {:?}: {}", self.token.label, ck_text(&e)))
            })?;
        Ok(external_key::x509_signature(scheme, &raw)?)
    }
}

//! Keys kcsr signs with but does not hold: the [`CsrSigner`] a CSR is built with, and the
//! encodings between a PKCS#11 token's raw key parts and signatures and X.509's.
//!
//! A token never hands out its private key; it signs what it is given. The CSR is encoded here
//! exactly as for a key in memory (`csr_build`), and the caller's [`CsrSigner::sign_tbs`] does
//! the token call, so this crate stays free of I/O.

use yasna::models::ObjectIdentifier;

#[cfg(feature = "keys")]
pub use crate::csr_build::CsrSigner;
#[cfg(feature = "keys")]
use crate::key_type::KeyError;
use crate::x509::{self, KeyKind, PublicKeyInfo};

/// Why a token's key parts or signature cannot be used. Its own type (not `KeyError`) so that
/// the encodings are there without the `keys` feature: `kcsr-agent` signs TLS handshakes
/// through a token and links no key generation (decision 0012).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodingError {
    /// A key kind or curve kcsr does not sign with in a token.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// The token's key parts are malformed.
    #[error("the token's public key is unreadable{0}")]
    Unreadable(String),
    /// An RSA key below 2048 bits.
    #[error("the key is RSA {0}; RSA keys below 2048 bits are refused")]
    RsaTooSmall(usize),
    /// An RSA key whose public exponent is not 65537.
    #[error(
        "the key is RSA with public exponent {0}; kcsr accepts only RSA keys with exponent 65537"
    )]
    RsaExponent(String),
    /// The token's signature is malformed.
    #[error("failed to sign: {0}")]
    Sign(String),
}

#[cfg(feature = "keys")]
impl From<EncodingError> for KeyError {
    fn from(e: EncodingError) -> Self {
        match e {
            EncodingError::Unsupported(m) => Self::Unsupported(m),
            EncodingError::Unreadable(m) => Self::Unreadable(m),
            EncodingError::RsaTooSmall(b) => Self::RsaTooSmall(b),
            EncodingError::RsaExponent(x) => Self::RsaExponent(x),
            EncodingError::Sign(m) => Self::Sign(m),
        }
    }
}

const OID_EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10_045, 2, 1];
const OID_P256: &[u64] = &[1, 2, 840, 10_045, 3, 1, 7];
const OID_P384: &[u64] = &[1, 3, 132, 0, 34];
const OID_RSA_ENCRYPTION: &[u64] = &[1, 2, 840, 113_549, 1, 1, 1];
/// DigestInfo of SHA-256 up to the digest (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// The raw signing operation a token is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawScheme {
    /// `CKM_ECDSA` over a digest the caller made; the token answers `r || s`.
    Ecdsa,
    /// `CKM_RSA_PKCS` over a DigestInfo the caller made; the token answers the signature.
    RsaPkcs1,
}

/// What a token signs for `tbs` with a key of `kind`, and how: the digest (ECDSA) or the
/// DigestInfo (RSA) made here. Raw mechanisms are the ones every token has (a smart card's PIV
/// applet offers no hash-and-sign ECDSA), and hashing here keeps the data sent small.
pub fn raw_sign_input(kind: &KeyKind, tbs: &[u8]) -> Result<(RawScheme, Vec<u8>), EncodingError> {
    use aws_lc_rs::digest;
    match kind {
        KeyKind::EcdsaP256 => Ok((
            RawScheme::Ecdsa,
            digest::digest(&digest::SHA256, tbs).as_ref().to_vec(),
        )),
        KeyKind::EcdsaP384 => Ok((
            RawScheme::Ecdsa,
            digest::digest(&digest::SHA384, tbs).as_ref().to_vec(),
        )),
        KeyKind::Rsa { .. } => {
            let mut info = SHA256_DIGEST_INFO.to_vec();
            info.extend_from_slice(digest::digest(&digest::SHA256, tbs).as_ref());
            Ok((RawScheme::RsaPkcs1, info))
        }
        other => Err(EncodingError::Unsupported(format!(
            "{other} keys in a token (kcsr signs with ECDSA P-256/P-384 and RSA keys there)"
        ))),
    }
}

/// The token's answer as X.509 carries it: ECDSA's `r || s` as DER `Ecdsa-Sig-Value`.
pub fn x509_signature(scheme: RawScheme, raw: &[u8]) -> Result<Vec<u8>, EncodingError> {
    match scheme {
        RawScheme::RsaPkcs1 => Ok(raw.to_vec()),
        RawScheme::Ecdsa => {
            if raw.is_empty() || !raw.len().is_multiple_of(2) {
                return Err(EncodingError::Sign(format!(
                    "the token returned an ECDSA signature of {} bytes (expected r || s of equal halves)",
                    raw.len()
                )));
            }
            let (r, s) = raw.split_at(raw.len() / 2);
            Ok(yasna::construct_der(|w| {
                w.write_sequence(|w| {
                    w.next().write_bigint_bytes(r, true);
                    w.next().write_bigint_bytes(s, true);
                });
            }))
        }
    }
}

/// `CKA_EC_PARAMS` for generating a key of `kind`: the named curve's OID, DER.
pub fn ec_params(kind: &KeyKind) -> Option<Vec<u8>> {
    let oid = match kind {
        KeyKind::EcdsaP256 => OID_P256,
        KeyKind::EcdsaP384 => OID_P384,
        _ => return None,
    };
    Some(yasna::construct_der(|w| {
        w.write_oid(&ObjectIdentifier::from_slice(oid));
    }))
}

/// The public key of an EC key object from its `CKA_EC_PARAMS` (a named curve) and
/// `CKA_EC_POINT` (the uncompressed point, DER OCTET STRING as PKCS#11 specifies, or bare as
/// some tokens return it).
pub fn ec_public_key(params: &[u8], point: &[u8]) -> Result<PublicKeyInfo, EncodingError> {
    let (curve, len) = if Some(params) == ec_params(&KeyKind::EcdsaP256).as_deref() {
        (OID_P256, 65)
    } else if Some(params) == ec_params(&KeyKind::EcdsaP384).as_deref() {
        (OID_P384, 97)
    } else {
        return Err(EncodingError::Unsupported(
            "an EC key on a curve other than P-256 or P-384".to_owned(),
        ));
    };
    let bare = if point.len() == len {
        point.to_vec()
    } else {
        yasna::parse_der(point, |r| r.read_bytes()).map_err(|_| {
            EncodingError::Unreadable(
                ": the token's EC point is neither DER nor a bare point".into(),
            )
        })?
    };
    if bare.len() != len || bare.first() != Some(&0x04) {
        return Err(EncodingError::Unreadable(format!(
            ": the token's EC point has {} bytes; an uncompressed point of {len} was expected",
            bare.len()
        )));
    }
    let spki = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next()
                    .write_oid(&ObjectIdentifier::from_slice(OID_EC_PUBLIC_KEY));
                w.next().write_oid(&ObjectIdentifier::from_slice(curve));
            });
            w.next().write_bitvec_bytes(&bare, bare.len() * 8);
        });
    });
    checked(spki)
}

/// The public key of an RSA key object from its `CKA_MODULUS` and `CKA_PUBLIC_EXPONENT`.
pub fn rsa_public_key(modulus: &[u8], exponent: &[u8]) -> Result<PublicKeyInfo, EncodingError> {
    let rsa = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_bigint_bytes(modulus, true);
            w.next().write_bigint_bytes(exponent, true);
        });
    });
    let spki = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next()
                    .write_oid(&ObjectIdentifier::from_slice(OID_RSA_ENCRYPTION));
                w.next().write_null();
            });
            w.next().write_bitvec_bytes(&rsa, rsa.len() * 8);
        });
    });
    checked(spki)
}

/// The same rules as for a key read from a file: supported kinds, RSA of 2048 bits or more
/// with exponent 65537.
fn checked(spki: Vec<u8>) -> Result<PublicKeyInfo, EncodingError> {
    let kind = x509::public_key_kind_from_der(&spki);
    match kind {
        KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => {}
        KeyKind::Rsa { bits } if bits < 2048 => return Err(EncodingError::RsaTooSmall(bits)),
        KeyKind::Rsa { .. } => {}
        other => return Err(EncodingError::Unsupported(other.to_string())),
    }
    let public = PublicKeyInfo::new(kind, spki);
    if let Some(exponent) = public.unexpected_rsa_exponent() {
        return Err(EncodingError::RsaExponent(exponent));
    }
    Ok(public)
}

#[cfg(all(test, feature = "keys"))]
mod tests {
    use super::*;
    use crate::csr::SignatureCheck;
    use crate::key::{KeyType, PrivateKey};
    use crate::names::{GroupName, UserName};

    /// A key "held elsewhere": signs through the raw scheme a token uses, with a key in memory
    /// standing in for the token (ECDSA over the digest is what `CKM_ECDSA` does).
    type SignFn = Box<dyn Fn(&[u8]) -> Result<Vec<u8>, KeyError>>;

    struct Raw {
        public: PublicKeyInfo,
        sign: SignFn,
    }

    impl CsrSigner for Raw {
        fn public_key(&self) -> &PublicKeyInfo {
            &self.public
        }
        fn sign_tbs(&self, tbs: &[u8]) -> Result<Vec<u8>, KeyError> {
            (self.sign)(tbs)
        }
    }

    fn names() -> (UserName, Vec<GroupName>) {
        (
            "alice".parse().unwrap_or_else(|_| unreachable!()),
            vec!["dev".parse().unwrap_or_else(|_| unreachable!())],
        )
    }

    #[test]
    fn a_csr_signed_through_the_callback_verifies_and_matches_the_in_memory_encoding() {
        let key = PrivateKey::generate(KeyType::P256).unwrap_or_else(|e| panic!("{e}"));
        let (user, groups) = names();
        let public = key.public_key().clone();
        let raw = Raw {
            public: public.clone(),
            sign: Box::new(move |tbs| key.sign_tbs(tbs)),
        };
        let csr = raw
            .sign_csr(&user, &groups, &[], &[])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(csr.signature, SignatureCheck::Valid);
        assert_eq!(csr.public_key.fingerprint, public.fingerprint);
        assert_eq!(csr.subject.organizations, ["dev"]);
    }

    #[test]
    fn a_raw_ecdsa_signature_r_s_is_carried_as_x509_wants_it() {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .unwrap_or_else(|e| panic!("{e}"));
        let params = ec_params(&KeyKind::EcdsaP256).unwrap_or_default();
        let public =
            ec_public_key(&params, pair.public_key().as_ref()).unwrap_or_else(|e| panic!("{e}"));
        let raw = Raw {
            public,
            sign: Box::new(move |tbs| {
                // FIXED signing answers r || s, as CKM_ECDSA does.
                let sig = pair
                    .sign(&SystemRandom::new(), tbs)
                    .map_err(|_| KeyError::Sign("sign".into()))?;
                Ok(x509_signature(RawScheme::Ecdsa, sig.as_ref())?)
            }),
        };
        let (user, groups) = names();
        let csr = raw
            .sign_csr(&user, &groups, &[], &[])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(csr.signature, SignatureCheck::Valid);
    }

    #[test]
    fn a_signature_by_another_key_is_refused() {
        let key = PrivateKey::generate(KeyType::P256).unwrap_or_else(|e| panic!("{e}"));
        let other = PrivateKey::generate(KeyType::P256).unwrap_or_else(|e| panic!("{e}"));
        let (user, groups) = names();
        let raw = Raw {
            public: key.public_key().clone(),
            sign: Box::new(move |tbs| other.sign_tbs(tbs)),
        };
        let err = raw.sign_csr(&user, &groups, &[], &[]);
        assert!(
            matches!(&err, Err(KeyError::Sign(m)) if m.contains("do not belong together")),
            "{err:?}"
        );
    }

    #[test]
    fn ecdsa_r_s_becomes_der_with_sign_bytes_where_needed() {
        let mut raw = vec![0x80; 32];
        raw.extend(vec![0x01; 32]);
        let der = x509_signature(RawScheme::Ecdsa, &raw).unwrap_or_else(|e| panic!("{e}"));
        // SEQUENCE { INTEGER 00 80.. (33 bytes), INTEGER 01.. (32 bytes) }
        assert_eq!(&der[..5], &[0x30, 69, 0x02, 33, 0x00]);
        assert_eq!(der[37..39], [0x02, 32]);
        assert!(x509_signature(RawScheme::Ecdsa, &[1, 2, 3]).is_err());
    }

    #[test]
    fn public_keys_rebuilt_from_token_parts_equal_the_keys_own() {
        for t in [KeyType::P256, KeyType::P384] {
            let key = PrivateKey::generate(t).unwrap_or_else(|e| panic!("{e}"));
            let spki = &key.public_key().spki_der;
            let point = &spki[spki.len() - if t == KeyType::P256 { 65 } else { 97 }..];
            let params = ec_params(&t.kind()).unwrap_or_default();
            let wrapped = yasna::construct_der(|w| w.write_bytes(point));
            for p in [point.to_vec(), wrapped] {
                let rebuilt = ec_public_key(&params, &p).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(rebuilt, *key.public_key());
            }
        }
        let key = PrivateKey::generate(KeyType::Rsa2048).unwrap_or_else(|e| panic!("{e}"));
        let (n, e) = rsa_parts(&key.public_key().spki_der);
        let rebuilt = rsa_public_key(&n, &e).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rebuilt, *key.public_key());
        assert!(matches!(
            rsa_public_key(&n, &[3]),
            Err(EncodingError::RsaExponent(_))
        ));
        assert!(matches!(
            rsa_public_key(&n[..128], &e),
            Err(EncodingError::RsaTooSmall(_))
        ));
        assert!(ec_public_key(&[0x06, 0x01, 0x00], &[4; 65]).is_err());
    }

    fn rsa_parts(spki: &[u8]) -> (Vec<u8>, Vec<u8>) {
        use x509_parser::prelude::FromDer;
        use x509_parser::public_key::PublicKey;
        let (_, parsed) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki)
            .unwrap_or_else(|e| panic!("{e}"));
        match parsed.parsed() {
            Ok(PublicKey::RSA(rsa)) => (rsa.modulus.to_vec(), rsa.exponent.to_vec()),
            _ => panic!("not RSA"),
        }
    }

    #[test]
    fn rsa_input_is_the_sha256_digest_info() {
        let (scheme, input) =
            raw_sign_input(&KeyKind::Rsa { bits: 2048 }, b"tbs").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scheme, RawScheme::RsaPkcs1);
        assert_eq!(input.len(), 19 + 32);
        assert!(raw_sign_input(&KeyKind::Ed25519, b"tbs").is_err());
    }
}

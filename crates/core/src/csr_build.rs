//! The PKCS#10 encoder (RFC 2986). rcgen's `DistinguishedName` keeps one value per attribute
//! type, but Kubernetes groups are *repeated* O attributes, so kcsr encodes the request itself
//! (see docs/decisions/0003-csr-encoding.md) and signs it with the key's [`CsrSigner`]: rcgen's
//! key in memory, or a key held elsewhere (a PKCS#11 token) whose signing the caller does.

use std::net::IpAddr;

use yasna::Tag;
use yasna::models::ObjectIdentifier;

use crate::csr::{self, CsrInfo, SignatureCheck};
use crate::key_type::KeyError;
use crate::names::{GroupName, UserName};
use crate::x509::{KeyKind, PublicKeyInfo};

const OID_CN: &[u64] = &[2, 5, 4, 3];
const OID_O: &[u64] = &[2, 5, 4, 10];
const OID_EXTENSION_REQUEST: &[u64] = &[1, 2, 840, 113_549, 1, 9, 14];
const OID_SAN: &[u64] = &[2, 5, 29, 17];
const OID_ECDSA_SHA256: &[u64] = &[1, 2, 840, 10_045, 4, 3, 2];
const OID_ECDSA_SHA384: &[u64] = &[1, 2, 840, 10_045, 4, 3, 3];
const OID_ED25519: &[u64] = &[1, 3, 101, 112];
const OID_RSA_SHA256: &[u64] = &[1, 2, 840, 113_549, 1, 1, 11];

/// A key a CSR can be signed with: its public half, and a signature over the request's
/// `CertificationRequestInfo` in the form X.509 carries (DER `Ecdsa-Sig-Value` for ECDSA with
/// SHA-256 on P-256 and SHA-384 on P-384, PKCS#1 v1.5 with SHA-256 for RSA, plain Ed25519).
pub trait CsrSigner {
    /// The public half.
    fn public_key(&self) -> &PublicKeyInfo;

    /// Signs the DER `CertificationRequestInfo`.
    fn sign_tbs(&self, tbs: &[u8]) -> Result<Vec<u8>, KeyError>;

    /// The key's kind and size.
    fn kind(&self) -> &KeyKind {
        &self.public_key().kind
    }

    /// Builds and signs a PKCS#10 CSR: CN = user, one O per group (separate RDNs, as
    /// `openssl req -subj /CN=u/O=g1/O=g2` does), and a SAN extension request when there are
    /// DNS names or IPs. The signature is verified with the public key before the request is
    /// returned: a token whose key object and public key do not belong together is caught
    /// here, not by the API server.
    fn sign_csr(
        &self,
        user: &UserName,
        groups: &[GroupName],
        dns: &[String],
        ips: &[IpAddr],
    ) -> Result<CsrInfo, KeyError> {
        let der = build(self, user, groups, dns, ips, Signature::Sign)?;
        let info = csr::parse_der(&der, Some(csr::PEM_LABEL.to_owned()))
            .map_err(|e| KeyError::Sign(e.to_string()))?;
        if info.signature != SignatureCheck::Valid {
            return Err(KeyError::Sign(
                "the signature does not verify with the key's public key (the private key and the public key given for it do not belong together)".to_owned(),
            ));
        }
        Ok(info)
    }

    /// What [`Self::sign_csr`] would produce, without signing: the same encoding, read back by
    /// the same parser, with `signature` reported as [`SignatureCheck::Valid`] because the
    /// real request is signed by this same key. For checking a request against the cluster's
    /// rules before any key is made; never for output.
    fn preview_csr(
        &self,
        user: &UserName,
        groups: &[GroupName],
        dns: &[String],
        ips: &[IpAddr],
    ) -> Result<CsrInfo, KeyError> {
        let der = build(self, user, groups, dns, ips, Signature::Placeholder)?;
        csr::parse_der_assuming_signed(&der).map_err(|e| KeyError::Sign(e.to_string()))
    }
}

/// Whether the request is signed, or carries a placeholder signature (a preview of its
/// content, for checking a roster before any key is made; never written anywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signature {
    Sign,
    Placeholder,
}

pub(crate) fn build(
    key: &(impl CsrSigner + ?Sized),
    user: &UserName,
    groups: &[GroupName],
    dns: &[String],
    ips: &[IpAddr],
    signature: Signature,
) -> Result<Vec<u8>, KeyError> {
    // The scheme follows from the key: what `KeyType` generates, and what tokens sign with.
    let (sig_oid, rsa) = match &key.public_key().kind {
        KeyKind::EcdsaP256 => (OID_ECDSA_SHA256, false),
        KeyKind::EcdsaP384 => (OID_ECDSA_SHA384, false),
        KeyKind::Ed25519 => (OID_ED25519, false),
        KeyKind::Rsa { .. } => (OID_RSA_SHA256, true),
        other => return Err(KeyError::Unsupported(other.to_string())),
    };
    let san = (!dns.is_empty() || !ips.is_empty()).then(|| subject_alt_names(dns, ips));
    let tbs = request_info(&key.public_key().spki_der, user, groups, san.as_deref());

    let signature = match signature {
        Signature::Sign => key.sign_tbs(&tbs)?,
        Signature::Placeholder => vec![0],
    };
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(&tbs);
            w.next().write_sequence(|w| {
                w.next().write_oid(&ObjectIdentifier::from_slice(sig_oid));
                if rsa {
                    w.next().write_null();
                }
            });
            w.next().write_bitvec_bytes(&signature, signature.len() * 8);
        });
    }))
}

/// The subjectAltName extension's value: the DNS names, then the IP addresses.
fn subject_alt_names(dns: &[String], ips: &[IpAddr]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for d in dns {
                w.next()
                    .write_tagged_implicit(Tag::context(2), |w| w.write_ia5_string(d));
            }
            for ip in ips {
                let bytes = match ip {
                    IpAddr::V4(v4) => v4.octets().to_vec(),
                    IpAddr::V6(v6) => v6.octets().to_vec(),
                };
                w.next()
                    .write_tagged_implicit(Tag::context(7), |w| w.write_bytes(&bytes));
            }
        });
    })
}

/// The CertificationRequestInfo (RFC 2986) that is signed: version 0, the subject (CN = the
/// user, O = each group), the key, and an extension request holding the SANs, if any.
fn request_info(spki: &[u8], user: &UserName, groups: &[GroupName], san: Option<&[u8]>) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_u8(0);
            w.next().write_sequence(|w| {
                rdn(w.next(), OID_CN, user.as_str());
                for g in groups {
                    rdn(w.next(), OID_O, g.as_str());
                }
            });
            w.next().write_der(spki);
            w.next().write_tagged_implicit(Tag::context(0), |w| {
                w.write_set(|w| {
                    if let Some(san) = san {
                        w.next().write_sequence(|w| {
                            w.next()
                                .write_oid(&ObjectIdentifier::from_slice(OID_EXTENSION_REQUEST));
                            w.next().write_set(|w| {
                                w.next().write_sequence(|w| {
                                    w.next().write_sequence(|w| {
                                        w.next().write_oid(&ObjectIdentifier::from_slice(OID_SAN));
                                        w.next().write_bytes(san);
                                    });
                                });
                            });
                        });
                    }
                });
            });
        });
    })
}

fn rdn(w: yasna::DERWriter<'_>, oid: &[u64], value: &str) {
    w.write_set(|w| {
        w.next().write_sequence(|w| {
            w.next().write_oid(&ObjectIdentifier::from_slice(oid));
            w.next().write_utf8_string(value);
        });
    });
}

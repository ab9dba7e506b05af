//! Reading X.509 certificates: the issued certificate, the client CA, the server CA.

use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use crate::usage::Usage;
pub use crate::x509::{ExtensionSummary, PublicKeyInfo, Sans, Subject};
use crate::{pem, x509};

/// Everything kcsr needs from a certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    /// Subject: CN = user, O = groups.
    pub subject: Subject,
    /// Issuer, OpenSSL style.
    pub issuer: String,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// The public key.
    pub public_key: PublicKeyInfo,
    /// Signature algorithm short name.
    pub signature_algorithm: String,
    /// SANs.
    pub sans: Sans,
    /// Key usage bits and extended key usages, in the API's spelling where one exists
    /// (`digital signature`, `client auth`); others by OID name.
    pub usages: Vec<String>,
    /// BasicConstraints CA flag.
    pub is_ca: bool,
    /// SHA-256 of the certificate DER, lowercase hex.
    pub fingerprint: String,
    /// The DER.
    #[serde(skip)]
    pub der: Vec<u8>,
}

/// Why bytes are not a readable certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// PEM framing is broken.
    #[error(transparent)]
    Pem(#[from] pem::PemError),
    /// No CERTIFICATE block.
    #[error("no CERTIFICATE PEM block found")]
    NoBlock,
    /// A block with another label.
    #[error("only CERTIFICATE PEM blocks are allowed, found {0:?}")]
    WrongLabel(String),
    /// The DER does not parse.
    #[error("not an X.509 certificate: {0}")]
    Der(String),
}

/// Reads every certificate in PEM text (all blocks must be `CERTIFICATE`, as the API requires
/// of `status.certificate`, reference §5.2) or one DER certificate.
pub fn parse_all(data: &[u8]) -> Result<Vec<CertInfo>, CertError> {
    if pem::looks_like_pem(data) {
        let blocks = pem::parse(data)?;
        if blocks.is_empty() {
            return Err(CertError::NoBlock);
        }
        blocks
            .iter()
            .map(|b| {
                if b.label == "CERTIFICATE" {
                    parse_der(&b.der)
                } else {
                    Err(CertError::WrongLabel(b.label.clone()))
                }
            })
            .collect()
    } else {
        Ok(vec![parse_der(data)?])
    }
}

/// Reads the first certificate of `data` (the leaf of a bundle).
pub fn parse_first(data: &[u8]) -> Result<CertInfo, CertError> {
    parse_all(data)?
        .into_iter()
        .next()
        .ok_or(CertError::NoBlock)
}

/// Reads one DER certificate.
pub fn parse_der(der: &[u8]) -> Result<CertInfo, CertError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| CertError::Der(e.to_string()))?;
    let mut sans = Sans::default();
    let mut usages = Vec::new();
    let mut is_ca = false;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => sans.add(&san.general_names),
            ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
            ParsedExtension::KeyUsage(ku) => {
                let bits = [
                    (ku.digital_signature(), Usage::DigitalSignature),
                    (ku.non_repudiation(), Usage::ContentCommitment),
                    (ku.key_encipherment(), Usage::KeyEncipherment),
                    (ku.data_encipherment(), Usage::DataEncipherment),
                    (ku.key_agreement(), Usage::KeyAgreement),
                    (ku.key_cert_sign(), Usage::CertSign),
                    (ku.crl_sign(), Usage::CrlSign),
                    (ku.encipher_only(), Usage::EncipherOnly),
                    (ku.decipher_only(), Usage::DecipherOnly),
                ];
                usages.extend(
                    bits.iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, u)| u.as_str().to_owned()),
                );
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                let named = [
                    (eku.any, Usage::Any),
                    (eku.server_auth, Usage::ServerAuth),
                    (eku.client_auth, Usage::ClientAuth),
                    (eku.code_signing, Usage::CodeSigning),
                    (eku.email_protection, Usage::EmailProtection),
                    (eku.time_stamping, Usage::Timestamping),
                    (eku.ocsp_signing, Usage::OcspSigning),
                ];
                usages.extend(
                    named
                        .iter()
                        .filter(|(on, _)| *on)
                        .map(|(_, u)| u.as_str().to_owned()),
                );
                usages.extend(eku.other.iter().map(x509::oid_name));
            }
            _ => {}
        }
    }
    let validity = cert.validity();
    Ok(CertInfo {
        subject: Subject::from_name(cert.subject()),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string().replace(':', ""),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        public_key: PublicKeyInfo::from_spki(cert.public_key()),
        signature_algorithm: x509::oid_name(&cert.signature_algorithm.algorithm),
        sans,
        usages,
        is_ca,
        fingerprint: crate::digest::sha256_hex(der),
        der: der.to_vec(),
    })
}

impl CertInfo {
    /// The CA pin form, as kubeadm's `--discovery-token-ca-cert-hash`: `sha256:` + hex of
    /// SHA-256 over the DER SubjectPublicKeyInfo. Pinning the key (not the certificate)
    /// survives a CA certificate re-issued for the same key.
    pub fn ca_fingerprint(&self) -> String {
        format!("sha256:{}", self.public_key.fingerprint)
    }

    /// Whether this certificate's signature verifies with `issuer`'s public key and its
    /// issuer name equals `issuer`'s subject.
    pub fn is_signed_by(&self, issuer: &CertInfo) -> bool {
        let (Ok((_, leaf)), Ok((_, ca))) = (
            X509Certificate::from_der(&self.der),
            X509Certificate::from_der(&issuer.der),
        ) else {
            return false;
        };
        leaf.issuer() == ca.subject() && leaf.verify_signature(Some(ca.public_key())).is_ok()
    }

    /// Whether the certificate is valid at `now` (Unix seconds), allowing `skew` seconds of
    /// clock difference at both ends.
    pub fn is_valid_at(&self, now: i64, skew: i64) -> bool {
        self.not_before - skew <= now && now <= self.not_after + skew
    }

    /// Whether the usages include `usage` (in the API's spelling).
    pub fn has_usage(&self, usage: Usage) -> bool {
        self.usages.iter().any(|u| u == usage.as_str())
    }
}

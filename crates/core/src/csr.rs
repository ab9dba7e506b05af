//! Reading PKCS#10 CSRs (PEM or DER), as the API server does (reference §4.2 `ParseCSR`).

use serde::Serialize;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

pub use crate::x509::{ExtensionSummary, KeyKind, PublicKeyInfo, Sans, Subject};
use crate::{pem, x509};

/// The only PEM label the API server accepts for `spec.request`.
pub const PEM_LABEL: &str = "CERTIFICATE REQUEST";
/// OpenSSL's legacy label: readable, but the API server rejects it.
pub const LEGACY_PEM_LABEL: &str = "NEW CERTIFICATE REQUEST";

/// Whether the CSR's self-signature holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureCheck {
    /// It verifies with the CSR's own public key.
    Valid,
    /// It does not verify: the CSR was altered or built wrongly.
    Invalid,
    /// The algorithm cannot be verified here (e.g. DSA, SHA-1 ECDSA, MD5).
    Unsupported,
}

/// Everything kcsr needs from a CSR.
#[derive(Debug, Clone, Serialize)]
pub struct CsrInfo {
    /// The PEM label it came under, or `None` for DER input.
    pub pem_label: Option<String>,
    /// PKCS#10 version field (0 means v1, the only defined one).
    pub version: u32,
    /// Subject: CN = user, O = groups.
    pub subject: Subject,
    /// The public key.
    pub public_key: PublicKeyInfo,
    /// Signature algorithm short name, e.g. `ecdsa-with-SHA256`.
    pub signature_algorithm: String,
    /// Whether the self-signature verifies.
    pub signature: SignatureCheck,
    /// Requested SANs.
    pub sans: Sans,
    /// Requested extensions (the signer honours SAN and key usage and drops the rest).
    pub requested_extensions: Vec<ExtensionSummary>,
    /// The DER of the CSR.
    #[serde(skip)]
    pub der: Vec<u8>,
}

impl CsrInfo {
    /// The CSR as the PEM text that goes, base64-encoded, into `spec.request`.
    pub fn to_pem(&self) -> String {
        pem::encode(PEM_LABEL, &self.der)
    }
}

/// Why bytes are not a readable CSR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsrError {
    /// PEM framing is broken.
    #[error(transparent)]
    Pem(#[from] pem::PemError),
    /// PEM text with no CSR block.
    #[error("no PEM block found; a CSR starts with -----BEGIN CERTIFICATE REQUEST-----")]
    NoBlock,
    /// The first PEM block has another label.
    #[error("PEM block type must be CERTIFICATE REQUEST, found {0:?}")]
    WrongLabel(String),
    /// The DER does not parse as PKCS#10.
    #[error("not a PKCS#10 certificate request: {0}")]
    Der(String),
}

/// Reads a CSR from PEM text (first block must be a CSR; the legacy
/// `NEW CERTIFICATE REQUEST` label is read and reported by the checks) or from DER.
pub fn parse(data: &[u8]) -> Result<CsrInfo, CsrError> {
    if pem::looks_like_pem(data) {
        let blocks = pem::parse(data)?;
        let block = blocks.into_iter().next().ok_or(CsrError::NoBlock)?;
        if block.label != PEM_LABEL && block.label != LEGACY_PEM_LABEL {
            return Err(CsrError::WrongLabel(block.label));
        }
        parse_der(&block.der, Some(block.label))
    } else {
        parse_der(data, None)
    }
}

/// Reads a CSR from DER.
pub fn parse_der(der: &[u8], pem_label: Option<String>) -> Result<CsrInfo, CsrError> {
    read_der(der, pem_label, true)
}

/// Reads a preview built by `PrivateKey::preview_csr` (placeholder signature).
#[cfg(feature = "keys")]
pub(crate) fn parse_der_assuming_signed(der: &[u8]) -> Result<CsrInfo, CsrError> {
    read_der(der, Some(PEM_LABEL.to_owned()), false)
}

fn read_der(der: &[u8], pem_label: Option<String>, verify: bool) -> Result<CsrInfo, CsrError> {
    let (rest, req) =
        X509CertificationRequest::from_der(der).map_err(|e| CsrError::Der(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CsrError::Der(format!(
            "{} trailing bytes after the request",
            rest.len()
        )));
    }
    let info = &req.certification_request_info;
    let signature_algorithm = x509::oid_name(&req.signature_algorithm.algorithm);
    let verified = if verify {
        req.verify_signature()
    } else {
        Ok(())
    };
    let signature = match verified {
        Ok(()) => SignatureCheck::Valid,
        Err(x509_parser::error::X509Error::SignatureUnsupportedAlgorithm) => {
            SignatureCheck::Unsupported
        }
        Err(_) => SignatureCheck::Invalid,
    };
    let mut sans = Sans::default();
    let mut requested_extensions = Vec::new();
    for attr in info.iter_attributes() {
        if let ParsedCriAttribute::ExtensionRequest(req) = attr.parsed_attribute() {
            for ext in &req.extensions {
                if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
                    sans.add(&san.general_names);
                }
                requested_extensions.push(x509::summarize_extension(ext));
            }
        }
    }
    Ok(CsrInfo {
        pem_label,
        version: info.version.0,
        subject: Subject::from_name(&info.subject),
        public_key: PublicKeyInfo::from_spki(&info.subject_pki),
        signature_algorithm,
        signature,
        sans,
        requested_extensions,
        der: der.to_vec(),
    })
}

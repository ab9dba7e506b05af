//! One request on the media (`<stem>.csr.yaml` and its `<stem>.binding.yaml`): parsed, its
//! CSR decoded and checked as the offline side checked it, its bindings checked against its
//! signed grants.

use kcsr_core::checks::{self, Finding, Request};
use kcsr_core::csr::CsrInfo;
use kcsr_core::digest;
use kcsr_core::manifest::{self, ApiVersion, CsrManifest, Document};
use kcsr_core::media::{BINDING_SUFFIX, CSR_MANIFEST_SUFFIX};
use kcsr_core::signer::SignerName;
use kcsr_core::usage::Usage;

use crate::binding::{self, PlannedBinding};
use crate::sanitize;
use crate::station::StationNotes;

/// One CSR manifest on the media, parsed, decoded and checked.
#[derive(Debug, Clone)]
pub struct MediaRequest {
    /// File stem (`alice` for `alice.csr.yaml`).
    pub stem: String,
    /// The manifest as written.
    pub manifest: CsrManifest,
    /// SHA-256 of the manifest file.
    pub manifest_sha256: String,
    /// The CSR in `spec.request`.
    pub csr: CsrInfo,
    /// `spec.signerName`.
    pub signer: Option<SignerName>,
    /// `spec.usages`.
    pub usages: Vec<Usage>,
    /// The bindings travelling with it, checked against the request's grants, in grant
    /// order.
    pub bindings: Vec<PlannedBinding>,
    /// The station's annotations.
    pub notes: StationNotes,
    /// Warnings from the checks (errors stop [`super::Media::open`]).
    pub findings: Vec<Finding>,
}

impl MediaRequest {
    /// The object name.
    pub fn name(&self) -> &str {
        &self.manifest.metadata.name
    }
}

/// Why a request on the media cannot be used.
pub(super) enum Bad {
    /// Malformed, or the cluster would refuse it (exit 1).
    Unreadable(String),
    /// Its binding is not the one its grant asks for (exit 3).
    Refused(String),
}

impl From<String> for Bad {
    fn from(e: String) -> Self {
        Self::Unreadable(e)
    }
}

/// Reads `<stem>.csr.yaml` (`data`) with its binding file (`binding`, as scanned).
pub(super) fn read_request(
    stem: &str,
    data: &[u8],
    binding: Option<&[u8]>,
) -> Result<MediaRequest, Bad> {
    let file = format!("{stem}{CSR_MANIFEST_SUFFIX}");
    let fail = |e: String| format!("{file}: {}", sanitize::one_line(&e));
    let (manifest, version) = parse_manifest(data).map_err(fail)?;
    let csr = manifest.decode_request().map_err(|e| fail(e.to_string()))?;
    let signer = manifest.signer().map_err(|e| fail(e.to_string()))?;
    let usages = manifest.usages().map_err(|e| fail(e.to_string()))?;
    check_fingerprint(&manifest, &csr).map_err(fail)?;
    let notes = StationNotes::read(&manifest.metadata.annotations).map_err(fail)?;
    let findings = checks::check(&Request {
        api_version: version,
        signer: signer.as_ref(),
        usages: &usages,
        expiration_seconds: manifest.spec.expiration_seconds,
        csr: &csr,
    });
    if checks::has_errors(&findings) {
        let list: Vec<String> = findings
            .iter()
            .filter(|f| f.level == checks::Level::Error)
            .map(|f| format!("[{}] {}", f.rule, f.message))
            .collect();
        return Err(fail(list.join("; ")).into());
    }
    let bindings = read_bindings(stem, &file, &manifest, &csr, &notes, binding)?;
    Ok(MediaRequest {
        stem: stem.to_owned(),
        manifest_sha256: digest::sha256_hex(data),
        manifest,
        csr,
        signer,
        usages,
        bindings,
        notes,
        findings,
    })
}

/// The one CertificateSigningRequest of the file, with its API version and a valid name.
fn parse_manifest(data: &[u8]) -> Result<(CsrManifest, ApiVersion), String> {
    let docs = manifest::parse_documents(data).map_err(|e| e.to_string())?;
    let manifest = match docs.as_slice() {
        [Document::Csr(m)] => m.clone(),
        _ => return Err("must hold exactly one CertificateSigningRequest".to_owned()),
    };
    let version = manifest.version().ok_or_else(|| {
        format!(
            "apiVersion {:?} is not certificates.k8s.io/v1 or v1beta1",
            manifest.api_version
        )
    })?;
    if manifest
        .metadata
        .name
        .parse::<kcsr_core::names::ObjectName>()
        .is_err()
    {
        return Err(format!(
            "metadata.name {:?} is not a DNS-1123 subdomain",
            manifest.metadata.name
        ));
    }
    Ok((manifest, version))
}

/// The station's fingerprint annotation, when present, must be the request's key.
fn check_fingerprint(manifest: &CsrManifest, csr: &CsrInfo) -> Result<(), String> {
    match manifest
        .metadata
        .annotations
        .get(manifest::FINGERPRINT_ANNOTATION)
    {
        Some(fp) if fp != &csr.public_key.fingerprint => Err(format!(
            "annotation {} says {fp} but the request's key is {}: the manifest was altered",
            manifest::FINGERPRINT_ANNOTATION,
            csr.public_key.fingerprint
        )),
        _ => Ok(()),
    }
}

/// The request's bindings: exactly those of its grants, or none when it has no grant.
fn read_bindings(
    stem: &str,
    file: &str,
    manifest: &CsrManifest,
    csr: &CsrInfo,
    notes: &StationNotes,
    binding: Option<&[u8]>,
) -> Result<Vec<PlannedBinding>, Bad> {
    let binding_file = format!("{stem}{BINDING_SUFFIX}");
    let Some(data) = binding else {
        if notes.grants.is_empty() {
            return Ok(Vec::new());
        }
        return Err(Bad::Refused(format!(
            "{file}: its {} asks for {} binding(s), but the media holds no {binding_file}",
            manifest::GRANT_ANNOTATION,
            notes.grants.len()
        )));
    };
    let docs = manifest::parse_documents(data)
        .map_err(|e| format!("{binding_file}: {}", sanitize::one_line(&e.to_string())))?;
    let mut on_media = Vec::new();
    for doc in docs {
        match doc {
            Document::Binding(b) => on_media.push(b),
            Document::Csr(_) => {
                return Err(Bad::Refused(format!(
                    "{binding_file}: holds a CertificateSigningRequest; it may hold only the request's bindings"
                )));
            }
        }
    }
    binding::check(
        &manifest.metadata.name,
        csr.subject.user(),
        &notes.grants,
        &on_media,
    )
    .map_err(|e| Bad::Refused(format!("{binding_file}: {}", sanitize::one_line(&e))))
}

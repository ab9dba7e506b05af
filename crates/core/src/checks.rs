//! Every check the cluster will make, made before the media leaves: API validation
//! (reference §4.2), admission (§4.3), the built-in signers' rules (§9.1) and expiry bounds
//! (§9.2), plus kcsr's own policy on weak keys and signatures.

mod finding;
mod request;
mod signer;

pub use finding::{Finding, Level};
pub use request::Request;

use crate::csr::{CsrInfo, LEGACY_PEM_LABEL, SignatureCheck};
use crate::expiry::{Expiration, MIN_SECONDS};
use crate::manifest::ApiVersion;
use crate::names::{GroupName, UserName};
use crate::signer::{Builtin, SignerName};
use crate::usage::Usage;
use crate::x509::{KeyKind, PublicKeyInfo, RSA_PUBLIC_EXPONENT, is_weak_signature_algorithm};
use finding::Out;
use signer::check_signer;

/// Whether any finding is an error.
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.level == Level::Error)
}

/// The usages kcsr requests by default for a signer and key: what the signer requires, plus
/// `key encipherment` for RSA keys (only RSA keys can encipher).
pub fn default_usages(signer: Option<&SignerName>, key: &KeyKind) -> Vec<Usage> {
    let mut usages = vec![Usage::DigitalSignature];
    if matches!(key, KeyKind::Rsa { .. }) {
        usages.push(Usage::KeyEncipherment);
    }
    match signer.and_then(SignerName::builtin) {
        Some(Builtin::KubeletServing) => usages.push(Usage::ServerAuth),
        _ => usages.push(Usage::ClientAuth),
    }
    usages
}

/// Runs every check on `r`; errors first, then warnings, each in rule order.
pub fn check(r: &Request<'_>) -> Vec<Finding> {
    let mut out = Out(Vec::new());
    check_encoding(r.csr, &mut out);
    check_key(&r.csr.public_key.kind, &mut out);
    check_rsa_exponent(&r.csr.public_key, &mut out);
    check_subject(r.csr, &mut out);
    check_usages(r.usages, &mut out);
    check_signer(r, &mut out);
    check_system_masters(r.csr, &mut out);
    check_expiration(r, &mut out);
    check_extensions(r.csr, &mut out);
    let mut findings = out.0;
    findings.sort_by_key(|f| f.level);
    findings
}

fn check_encoding(csr: &CsrInfo, out: &mut Out) {
    if csr.pem_label.as_deref() == Some(LEGACY_PEM_LABEL) {
        out.error(
            "pem-label",
            "the PEM label is NEW CERTIFICATE REQUEST; the API server accepts only CERTIFICATE REQUEST (spec.request: PEM block type must be CERTIFICATE REQUEST)",
            Some("change the BEGIN/END lines to CERTIFICATE REQUEST (the content stays the same), or re-create the CSR with kcsr request --key"),
        );
    }
    if csr.version != 0 {
        out.error(
            "pkcs10-version",
            format!(
                "the CSR has version {} ; PKCS#10 defines only version 0 (v1)",
                csr.version
            ),
            Some("re-create the CSR with kcsr request --key or a current openssl req"),
        );
    }
    if is_weak_signature_algorithm(&csr.signature_algorithm) {
        out.error(
            "weak-signature",
            format!(
                "the CSR is signed with {}, a broken digest",
                csr.signature_algorithm
            ),
            Some("re-create the CSR with SHA-256 (kcsr request --key FILE does)"),
        );
    }
    match csr.signature {
        SignatureCheck::Valid => {}
        SignatureCheck::Invalid => out.error(
            "signature",
            "the CSR's signature does not verify with its own public key: it was altered after signing or built wrongly",
            Some("re-create the CSR from the key; do not edit CSR files by hand"),
        ),
        SignatureCheck::Unsupported => {
            if !is_weak_signature_algorithm(&csr.signature_algorithm) {
                out.error(
                    "signature",
                    format!(
                        "the CSR's signature algorithm {} cannot be verified; the API server (Go crypto/x509) will reject it",
                        csr.signature_algorithm
                    ),
                    Some("use an RSA (2048+), ECDSA P-256/P-384 or Ed25519 key"),
                );
            }
        }
    }
}

fn check_key(kind: &KeyKind, out: &mut Out) {
    match kind {
        KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => {}
        KeyKind::Rsa { bits } if *bits >= 2048 => {}
        KeyKind::Rsa { bits } => out.error(
            "key-size",
            format!("the key is RSA {bits}; RSA keys below 2048 bits are refused"),
            Some("generate a new key: kcsr request --key-type rsa2048 (or p256)"),
        ),
        KeyKind::Ed25519 => out.warn(
            "key-ed25519",
            "Ed25519 keys are rejected by some FIPS-built (BoringCrypto) and managed API servers",
            Some("use --key-type p256 unless you know the cluster accepts Ed25519"),
        ),
        KeyKind::EcdsaP521 => out.warn(
            "key-p521",
            "ECDSA P-521 keys are accepted by Go but not by every TLS stack in front of API servers",
            Some("use --key-type p256 or p384"),
        ),
        KeyKind::Dsa => out.error(
            "key-type",
            "DSA keys are not accepted by the API server for client certificates",
            Some("use an RSA (2048+), ECDSA P-256/P-384 or Ed25519 key"),
        ),
        other => out.error(
            "key-type",
            format!("unsupported key: {other}"),
            Some("use an RSA (2048+), ECDSA P-256/P-384 or Ed25519 key"),
        ),
    }
}

fn check_rsa_exponent(key: &PublicKeyInfo, out: &mut Out) {
    if let Some(exponent) = key.unexpected_rsa_exponent() {
        out.error(
            "key-exponent",
            format!(
                "the key is RSA with public exponent {exponent}; kcsr accepts only RSA keys with exponent {RSA_PUBLIC_EXPONENT}"
            ),
            Some(RSA_EXPONENT_HINT),
        );
    }
}

/// How to get a key kcsr accepts after an RSA key with another exponent was refused.
pub const RSA_EXPONENT_HINT: &str = "generate a new key: kcsr request --key-type rsa2048 (or p256); openssl genpkey -algorithm RSA also uses 65537 unless told otherwise";

fn check_subject(csr: &CsrInfo, out: &mut Out) {
    let s = &csr.subject;
    match s.common_names.as_slice() {
        [] => out.error(
            "subject-cn",
            "the CSR has no CN; Kubernetes takes the user name from the CN and refuses a certificate without one",
            Some("pass --user NAME"),
        ),
        [cn] => match cn.parse::<UserName>() {
            Ok(_) if cn.starts_with("system:") => out.warn(
                "user-system-prefix",
                format!("user {cn:?} starts with \"system:\", the prefix Kubernetes reserves for its own components"),
                Some("make sure this is the identity you mean to issue"),
            ),
            Ok(_) => {}
            Err(e) => out.error("user-name", e.to_string(), Some("choose a user name without control characters or surrounding spaces, at most 64 characters")),
        },
        many => out.error(
            "subject-cn",
            format!("the CSR has {} CNs ({many:?}); a client certificate names exactly one user", many.len()),
            Some("re-create the CSR with a single CN"),
        ),
    }
    let mut seen = std::collections::BTreeSet::new();
    for g in &s.organizations {
        match g.parse::<GroupName>() {
            Ok(_) => {}
            Err(e) => out.error(
                "group-name",
                e.to_string(),
                Some("choose group names without control characters or surrounding spaces"),
            ),
        }
        if !seen.insert(g) {
            out.warn(
                "group-duplicate",
                format!("group {g:?} is requested twice"),
                None,
            );
        }
        if g.starts_with("system:") && g != "system:masters" && g != "system:nodes" {
            out.warn(
                "group-system-prefix",
                format!("group {g:?} starts with \"system:\", the prefix Kubernetes reserves for its own groups"),
                Some("make sure this group is what you mean to grant"),
            );
        }
    }
    if !s.other.is_empty() {
        let attrs: Vec<String> = s.other.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.warn(
            "subject-extra",
            format!(
                "subject attributes other than CN and O ({}) do not affect the Kubernetes identity",
                attrs.join(", ")
            ),
            None,
        );
    }
}

fn check_usages(usages: &[Usage], out: &mut Out) {
    if usages.is_empty() {
        out.error(
            "usages-required",
            "spec.usages: Required value",
            Some("leave --usage out to get the signer's defaults"),
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, u) in usages.iter().enumerate() {
        if !seen.insert(u) {
            out.error(
                "usages-duplicate",
                format!("spec.usages[{i}]: Duplicate value: {:?}", u.as_str()),
                Some("list each usage once"),
            );
        }
    }
}

/// system:masters outside the v1 client signer (which admission refuses) still deserves the
/// loudest warning kcsr has.
fn check_system_masters(csr: &CsrInfo, out: &mut Out) {
    let masters = csr
        .subject
        .organizations
        .iter()
        .any(|o| o == "system:masters");
    let said = out.0.iter().any(|f| f.rule == "admission-system-masters");
    if masters && !said {
        out.warn(
            "system-masters",
            "WARNING: group system:masters bypasses all authorization (RBAC cannot restrict it) and this certificate cannot be revoked before it expires except by replacing the cluster CA",
            Some("prefer --clusterrole cluster-admin without system:masters"),
        );
    }
}

fn check_expiration(r: &Request<'_>, out: &mut Out) {
    let Some(seconds) = r.expiration_seconds else {
        return;
    };
    if r.api_version == ApiVersion::V1beta1 {
        out.warn(
            "expiration-v1beta1",
            "certificates.k8s.io/v1beta1 has no expirationSeconds; the cluster's --cluster-signing-duration (default 1 year) applies",
            None,
        );
        return;
    }
    if seconds < MIN_SECONDS {
        out.error(
            "expiration-min",
            format!("spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration less than 600 seconds (10 minutes)"),
            Some("pass --expiration 10m or longer"),
        );
    } else if seconds > 365 * 86_400 {
        out.warn(
            "expiration-capped",
            format!("{} is longer than the default cluster maximum (1 year, --cluster-signing-duration); the signer will shorten it", Expiration::from_seconds(seconds)),
            None,
        );
    }
}

fn check_extensions(csr: &CsrInfo, out: &mut Out) {
    for ext in &csr.requested_extensions {
        if ext.critical && !ext.known {
            out.error(
                "extension-critical",
                format!(
                    "the CSR requests an unknown critical extension {}",
                    ext.name
                ),
                Some("re-create the CSR without it; kcsr request builds only what the signer uses"),
            );
        } else if ext.name != "subjectAltName" {
            out.warn(
                "extension-ignored",
                format!("the CSR requests extension {}, which the signer ignores (key usage comes from spec.usages)", ext.name),
                None,
            );
        }
    }
}

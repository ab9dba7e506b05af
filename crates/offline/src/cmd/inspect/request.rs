//! A CSR, bare or in a manifest, shown and checked as the cluster would check it.

use kcsr_core::checks::{self, Finding, Request};
use kcsr_core::csr::{CsrInfo, SignatureCheck};
use kcsr_core::expiry::human_seconds;
use kcsr_core::manifest::{self, ApiVersion, Document};
use kcsr_core::rbac::BindingManifest;
use kcsr_core::signer::SignerName;
use kcsr_core::usage::Usage;
use serde_json::{Value, json};

use super::shown::{Shown, Verdict, field};
use crate::report;

fn csr_fields(text: &mut String, c: &CsrInfo) {
    field(text, "user", c.subject.common_names.join(", "));
    field(
        text,
        "groups",
        if c.subject.organizations.is_empty() {
            "none".to_owned()
        } else {
            c.subject.organizations.join(", ")
        },
    );
    field(
        text,
        "key",
        format!("{}, sha256 {}", c.public_key.kind, c.public_key.fingerprint),
    );
    let sig = match c.signature {
        SignatureCheck::Valid => "verifies",
        SignatureCheck::Invalid => "DOES NOT VERIFY",
        SignatureCheck::Unsupported => "cannot be verified (unsupported algorithm)",
    };
    field(
        text,
        "signature",
        format!("{}, {sig}", c.signature_algorithm),
    );
    let mut sans: Vec<String> = c.sans.dns.iter().map(|d| format!("DNS:{d}")).collect();
    sans.extend(c.sans.ip.iter().map(|i| format!("IP:{i}")));
    sans.extend(c.sans.email.iter().map(|e| format!("email:{e}")));
    sans.extend(c.sans.uri.iter().map(|u| format!("URI:{u}")));
    field(
        text,
        "SANs",
        if sans.is_empty() {
            "none".to_owned()
        } else {
            sans.join(", ")
        },
    );
}

fn checks_text(text: &mut String, findings: &[Finding]) {
    if findings.is_empty() {
        field(text, "checks", "ok");
    } else {
        text.push_str("  checks\n");
        text.push_str(&report::findings(findings, "    "));
    }
}

fn verdict_of(c: &CsrInfo, findings: &[Finding]) -> Verdict {
    if c.signature != SignatureCheck::Valid || checks::has_errors(findings) {
        Verdict::Refused
    } else {
        Verdict::Ok
    }
}

pub(super) fn show_csr(c: &CsrInfo) -> Shown {
    // A bare CSR is checked as a v1 request to the default client signer.
    let signer = SignerName::client();
    let usages = checks::default_usages(Some(&signer), &c.public_key.kind);
    let findings = checks::check(&Request {
        api_version: ApiVersion::V1,
        signer: Some(&signer),
        usages: &usages,
        expiration_seconds: None,
        csr: c,
    });
    let mut text = format!(
        "PKCS#10 CSR ({})\n",
        c.pem_label
            .as_deref()
            .map(|l| format!("PEM {l}"))
            .unwrap_or_else(|| "DER".to_owned())
    );
    csr_fields(&mut text, c);
    text.push_str(
        "  (checked as a certificates.k8s.io/v1 request to kubernetes.io/kube-apiserver-client)\n",
    );
    checks_text(&mut text, &findings);
    Shown {
        verdict: verdict_of(c, &findings),
        text,
        json: json!({"kind": "csr", "csr": c, "findings": findings}),
    }
}

pub(super) fn show_documents(docs: &[Document]) -> Shown {
    let mut text = String::new();
    let mut verdict = Verdict::Ok;
    let mut out = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        if docs.len() > 1 {
            text.push_str(&format!("\n  --- document {}\n", i + 1));
        }
        match d {
            Document::Csr(m) => {
                let (v, t, j) = show_csr_manifest(m);
                verdict = verdict.max(v);
                text.push_str(&t);
                out.push(j);
            }
            Document::Binding(b) => {
                text.push_str(&binding_text(b));
                out.push(json!({"kind": b.kind, "binding": b}));
            }
        }
    }
    if docs.len() == 1 {
        text = text.trim_start().to_owned();
    } else {
        text = format!("{} documents{text}", docs.len());
    }
    Shown {
        verdict,
        text,
        json: json!({"kind": "manifest", "documents": out}),
    }
}

fn binding_text(b: &BindingManifest) -> String {
    let mut text = format!("{} {}\n", b.kind, report::sanitize(&b.metadata.name));
    if let Some(ns) = &b.metadata.namespace {
        field(&mut text, "namespace", ns);
    }
    for s in &b.subjects {
        field(&mut text, "subject", format!("{} {}", s.kind, s.name));
    }
    field(
        &mut text,
        "role",
        format!("{} {}", b.role_ref.kind, b.role_ref.name),
    );
    text
}

/// A CSR manifest: its request, signer, usages and expiration, checked as the cluster would.
fn show_csr_manifest(m: &manifest::CsrManifest) -> (Verdict, String, Value) {
    let mut text = format!(
        "CertificateSigningRequest {} ({})\n",
        report::sanitize(&m.metadata.name),
        report::sanitize(&m.api_version)
    );
    let (version, csr, signer, usages) = match decode(m) {
        Ok(d) => d,
        Err((verdict, line, json)) => {
            text.push_str(&line);
            return (verdict, text, json);
        }
    };
    csr_fields(&mut text, &csr);
    field(
        &mut text,
        "signer",
        signer
            .as_ref()
            .map(SignerName::as_str)
            .unwrap_or("(none: the server picks one)"),
    );
    field(&mut text, "usages", m.spec.usages.join(", "));
    field(
        &mut text,
        "expiration",
        m.spec
            .expiration_seconds
            .map(|s| format!("{} ({s} s)", human_seconds(s)))
            .unwrap_or_else(|| "cluster default".to_owned()),
    );
    let findings = manifest_findings(m, version, signer.as_ref(), &usages, &csr);
    checks_text(&mut text, &findings);
    let verdict = verdict_of(&csr, &findings);
    (
        verdict,
        text,
        json!({"kind": "CertificateSigningRequest", "manifest": m, "csr": csr, "findings": findings}),
    )
}

/// What a manifest asks for.
type Decoded = (ApiVersion, CsrInfo, Option<SignerName>, Vec<Usage>);

/// What a manifest asks for, or why it cannot be read: the verdict, the error line and JSON.
fn decode(m: &manifest::CsrManifest) -> Result<Decoded, (Verdict, String, Value)> {
    let Some(version) = m.version() else {
        return Err((
            Verdict::Unreadable,
            format!(
                "  error: apiVersion {:?} is not certificates.k8s.io/v1 or v1beta1\n",
                m.api_version
            ),
            json!({"error": "unknown apiVersion"}),
        ));
    };
    let error_line = |e: &str| format!("  error: {}\n", report::sanitize(e));
    let csr = m.decode_request().map_err(|e| {
        (
            Verdict::Unreadable,
            error_line(&e.to_string()),
            json!({"error": e.to_string()}),
        )
    })?;
    match (m.signer(), m.usages()) {
        (Ok(s), Ok(u)) => Ok((version, csr, s, u)),
        (Err(e), _) | (_, Err(e)) => Err((
            Verdict::Refused,
            error_line(&e.to_string()),
            json!({"error": e.to_string()}),
        )),
    }
}

/// The cluster's rules, and what only a manifest can get wrong: server-set fields, and a
/// fingerprint annotation that is not the request's key.
fn manifest_findings(
    m: &manifest::CsrManifest,
    version: ApiVersion,
    signer: Option<&SignerName>,
    usages: &[Usage],
    csr: &CsrInfo,
) -> Vec<Finding> {
    let mut findings = checks::check(&Request {
        api_version: version,
        signer,
        usages,
        expiration_seconds: m.spec.expiration_seconds,
        csr,
    });
    if m.spec.username.is_some()
        || m.spec.groups.is_some()
        || m.spec.uid.is_some()
        || m.spec.extra.is_some()
    {
        findings.push(Finding {
            level: checks::Level::Warning,
            rule: "server-fields",
            message: "spec.username/groups/uid/extra are set; the API server replaces them with the identity of whoever creates the object".to_owned(),
            hint: Some("remove them; the certificate's user and groups come from the CSR subject".to_owned()),
        });
    }
    if let Some(fp) = m.metadata.annotations.get(manifest::FINGERPRINT_ANNOTATION)
        && fp != &csr.public_key.fingerprint
    {
        findings.insert(
                0,
                Finding {
                    level: checks::Level::Error,
                    rule: "fingerprint-annotation",
                    message: format!(
                        "annotation {} says {fp} but the request's public key is {}: the manifest was altered",
                        manifest::FINGERPRINT_ANNOTATION,
                        csr.public_key.fingerprint
                    ),
                    hint: Some("re-create the request with kcsr request".to_owned()),
                },
            );
    }
    findings
}

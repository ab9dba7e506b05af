//! `kcsr inspect`: what a CSR, CSR manifest, certificate, key, binding or bundle holds.
//! Private keys are described (type, size, public-key fingerprint), never printed.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use kcsr_core::bundle::Bundle;
use kcsr_core::cert::{self, CertInfo};
use kcsr_core::checks::{self, Finding, Request};
use kcsr_core::csr::{self, CsrInfo, SignatureCheck};
use kcsr_core::expiry::human_seconds;
use kcsr_core::key::{KeyError, PrivateKey};
use kcsr_core::manifest::{self, ApiVersion, Document};
use kcsr_core::rbac::BindingManifest;
use kcsr_core::signer::SignerName;
use kcsr_core::{pem, time};
use secrecy::SecretString;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cli::InspectArgs;
use crate::cmd::verify::unix_now;
use crate::fail::{Fail, Result};
use crate::kubeconfig::{self, UserCertificate};
use crate::passphrase::{self, Purpose};
use crate::report;
use kcsr_fs as output;

const MAX_INPUT: u64 = 4 << 20;

/// How one file fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Ok,
    Refused,
    Unreadable,
}

struct Shown {
    verdict: Verdict,
    text: String,
    json: Value,
}

pub(crate) fn run(args: InspectArgs) -> Result<()> {
    let passphrase = match &args.passphrase_file {
        Some(p) => Some(passphrase::obtain(Some(p), Purpose::Existing, "the key")?),
        None => None,
    };
    let mut worst = Verdict::Ok;
    let mut all = Vec::new();
    let mut failed = Vec::new();
    for path in &args.files {
        let shown = inspect_file(path, passphrase.as_ref());
        worst = worst.max(shown.verdict);
        if shown.verdict != Verdict::Ok {
            failed.push(path.display().to_string());
        }
        if !args.output.json && !args.output.quiet {
            report::text(&shown.text)?;
        }
        all.push(json!({"file": path.display().to_string(), "verdict": verdict_name(shown.verdict), "content": shown.json}));
    }
    if args.output.json {
        report::json(&Value::Array(all))?;
    }
    match worst {
        Verdict::Ok => Ok(()),
        Verdict::Refused => Err(Fail::new(format!(
            "{}: a signature or check failed",
            failed.join(", ")
        ))
        .refused()),
        Verdict::Unreadable => Err(Fail::new(format!(
            "{}: unreadable or malformed",
            failed.join(", ")
        ))),
    }
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "ok",
        Verdict::Refused => "refused",
        Verdict::Unreadable => "unreadable",
    }
}

fn unreadable(path: &Path, why: impl std::fmt::Display) -> Shown {
    Shown {
        verdict: Verdict::Unreadable,
        text: format!(
            "{}: {}\n",
            path.display(),
            report::sanitize(&why.to_string())
        ),
        json: json!({"error": why.to_string()}),
    }
}

fn inspect_file(path: &Path, passphrase: Option<&SecretString>) -> Shown {
    let data = if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        match std::io::stdin().take(MAX_INPUT + 1).read_to_end(&mut buf) {
            Ok(_) if buf.len() as u64 > MAX_INPUT => {
                return unreadable(path, "standard input is larger than 4 MiB");
            }
            Ok(_) => Zeroizing::new(buf),
            Err(e) => return unreadable(path, e),
        }
    } else {
        match output::read_limited(path, MAX_INPUT) {
            Ok(d) => Zeroizing::new(d),
            Err(e) => return unreadable(path, e),
        }
    };
    let mut shown = if kubeconfig::looks_like_kubeconfig(&data) {
        show_kubeconfig(&data, path.parent().unwrap_or(Path::new(".")))
    } else {
        inspect_bytes(&data, passphrase)
    };
    shown.text = format!("{}: {}", path.display(), shown.text);
    if shown.json.get("kind").and_then(Value::as_str) == Some("private key")
        && path.as_os_str() != "-"
        && let Ok(meta) = std::fs::metadata(path)
    {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            shown.text.push_str(&format!(
                "  warning: the key file has mode {mode:03o}; others can read it (chmod 600 {})\n",
                path.display()
            ));
        }
    }
    shown
}

fn inspect_bytes(data: &[u8], passphrase: Option<&SecretString>) -> Shown {
    // A bundle carries its certificates as PEM text inside YAML: recognise it before the PEM
    // readers take it for a certificate file.
    if std::str::from_utf8(data).is_ok_and(|t| t.contains("CertificateBundle"))
        && let Ok(b) = Bundle::parse(data)
    {
        return show_bundle(&b);
    }
    if pem::looks_like_pem(data) {
        let blocks = match pem::parse(data) {
            Ok(b) => b,
            Err(e) => return unreadable_bytes(e),
        };
        let label = blocks.first().map(|b| b.label.clone()).unwrap_or_default();
        return match label.as_str() {
            csr::PEM_LABEL | csr::LEGACY_PEM_LABEL => match csr::parse(data) {
                Ok(c) => show_csr(&c),
                Err(e) => unreadable_bytes(e),
            },
            "CERTIFICATE" => match cert::parse_all(data) {
                Ok(certs) => show_certs(&certs),
                Err(e) => unreadable_bytes(e),
            },
            l if l.contains("PRIVATE KEY") => show_key(data, passphrase),
            other => unreadable_bytes(format!(
                "PEM label {other:?} is not a CSR, certificate or private key"
            )),
        };
    }
    let looks_textual = std::str::from_utf8(data)
        .is_ok_and(|t| t.contains("kind") || t.trim_start().starts_with('{'));
    if looks_textual {
        if let Ok(b) = Bundle::parse(data) {
            return show_bundle(&b);
        }
        return match manifest::parse_documents(data) {
            Ok(docs) if docs.is_empty() => unreadable_bytes("no documents"),
            Ok(docs) => show_documents(&docs),
            Err(e) => unreadable_bytes(e),
        };
    }
    let csr_error = match csr::parse_der(data, None) {
        Ok(c) => return show_csr(&c),
        Err(e) => e,
    };
    if let Ok(c) = cert::parse_der(data) {
        return show_certs(&[c]);
    }
    match PrivateKey::from_bytes(data, passphrase) {
        Err(KeyError::Unreadable(_)) => unreadable_bytes(format!(
            "not a certificate or private key, and as a CSR: {csr_error}"
        )),
        _ => show_key(data, passphrase),
    }
}

fn unreadable_bytes(why: impl std::fmt::Display) -> Shown {
    Shown {
        verdict: Verdict::Unreadable,
        text: format!("{}\n", report::sanitize(&why.to_string())),
        json: json!({"error": why.to_string()}),
    }
}

fn field(text: &mut String, name: &str, value: impl std::fmt::Display) {
    text.push_str(&format!(
        "  {name:<14}{}\n",
        report::sanitize(&value.to_string())
    ));
}

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

fn show_csr(c: &CsrInfo) -> Shown {
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

/// A kubeconfig: each user entry's client certificate (embedded, or the file it names); keys
/// and tokens are never shown, and the parsed document is wiped.
fn show_kubeconfig(data: &[u8], dir: &Path) -> Shown {
    let users = match kubeconfig::user_certificates(data) {
        Ok(u) => u,
        Err(e) => return unreadable_bytes(format!("not a kubeconfig kcsr can read: {e}")),
    };
    let mut text = format!(
        "kubeconfig, {} user(s) with a client certificate (keys and tokens not shown)\n",
        users.len()
    );
    let mut verdict = Verdict::Ok;
    let mut out = Vec::new();
    for (user, c) in users {
        text.push_str(&format!("  user {}\n", report::sanitize(&user)));
        let pem = match c {
            UserCertificate::Data(pem) => Ok(pem),
            UserCertificate::File(f) => output::read_limited(&dir.join(&f), MAX_INPUT)
                .map_err(|e| format!("client-certificate {f}: {e}")),
        };
        match pem.and_then(|p| cert::parse_all(&p).map_err(|e| e.to_string())) {
            Ok(certs) => {
                for c in certs.iter().take(1) {
                    cert_fields(&mut text, c, "    ");
                }
                out.push(json!({"user": user, "certificates": certs, "expired": certs.first().map(|c| c.not_after <= unix_now())}));
            }
            Err(e) => {
                verdict = Verdict::Unreadable;
                text.push_str(&format!("    error: {}\n", report::sanitize(&e)));
                out.push(json!({"user": user, "error": e}));
            }
        }
    }
    Shown {
        verdict,
        text,
        json: json!({"kind": "kubeconfig", "users": out}),
    }
}

/// How a certificate's end compares with now: "expired … ago" or "in …".
fn expiry(c: &CertInfo) -> String {
    let left = c.not_after - unix_now();
    if left <= 0 {
        format!("EXPIRED {} ago", human_seconds(-left))
    } else {
        format!("in {}", human_seconds(left))
    }
}

fn cert_fields(text: &mut String, c: &CertInfo, indent: &str) {
    let mut f = |name: &str, value: String| {
        text.push_str(&format!("{indent}{name:<14}{}\n", report::sanitize(&value)));
    };
    f("user", c.subject.common_names.join(", "));
    f("groups", c.subject.organizations.join(", "));
    f("issuer", c.issuer.clone());
    f("serial", c.serial.clone());
    f(
        "not after",
        format!("{} ({})", time::format_rfc3339(c.not_after), expiry(c)),
    );
    f(
        "key",
        format!("{}, sha256 {}", c.public_key.kind, c.public_key.fingerprint),
    );
}

fn show_certs(certs: &[CertInfo]) -> Shown {
    let mut text = format!("{} certificate(s)\n", certs.len());
    for (i, c) in certs.iter().enumerate() {
        if certs.len() > 1 {
            text.push_str(&format!("  [{i}]\n"));
        }
        field(&mut text, "subject", &c.subject.display);
        field(&mut text, "user", c.subject.common_names.join(", "));
        field(&mut text, "groups", c.subject.organizations.join(", "));
        field(&mut text, "issuer", &c.issuer);
        field(&mut text, "serial", &c.serial);
        field(&mut text, "not before", time::format_rfc3339(c.not_before));
        field(
            &mut text,
            "not after",
            format!(
                "{} (lifetime {}; {})",
                time::format_rfc3339(c.not_after),
                human_seconds(c.not_after - c.not_before),
                expiry(c)
            ),
        );
        field(
            &mut text,
            "key",
            format!("{}, sha256 {}", c.public_key.kind, c.public_key.fingerprint),
        );
        field(&mut text, "usages", c.usages.join(", "));
        field(&mut text, "CA", c.is_ca);
        field(&mut text, "sha256", &c.fingerprint);
    }
    Shown {
        verdict: Verdict::Ok,
        text,
        json: json!({"kind": "certificates", "certificates": certs}),
    }
}

fn show_key(data: &[u8], passphrase: Option<&SecretString>) -> Shown {
    match PrivateKey::from_bytes(data, passphrase) {
        Ok(k) => {
            let mut text = "private key (not shown)\n".to_owned();
            field(&mut text, "key", k.kind());
            field(&mut text, "format", k.format().describe());
            field(&mut text, "public sha256", &k.public_key().fingerprint);
            Shown {
                verdict: Verdict::Ok,
                text,
                json: json!({"kind": "private key", "type": k.kind().to_string(), "format": k.format().describe(), "publicKeySha256": k.public_key().fingerprint}),
            }
        }
        Err(KeyError::NeedPassphrase) => Shown {
            verdict: Verdict::Ok,
            text: "private key (not shown)\n  format        encrypted PKCS#8; pass --passphrase-file to show its public key\n".to_owned(),
            json: json!({"kind": "private key", "format": "encrypted PKCS#8"}),
        },
        Err(e) => unreadable_bytes(format!("not a CSR, certificate, manifest or key kcsr can read: {e}")),
    }
}

fn show_documents(docs: &[Document]) -> Shown {
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

fn show_csr_manifest(m: &manifest::CsrManifest) -> (Verdict, String, Value) {
    let mut text = format!(
        "CertificateSigningRequest {} ({})\n",
        report::sanitize(&m.metadata.name),
        report::sanitize(&m.api_version)
    );
    let Some(version) = m.version() else {
        text.push_str(&format!(
            "  error: apiVersion {:?} is not certificates.k8s.io/v1 or v1beta1\n",
            m.api_version
        ));
        return (
            Verdict::Unreadable,
            text,
            json!({"error": "unknown apiVersion"}),
        );
    };
    let csr = match m.decode_request() {
        Ok(c) => c,
        Err(e) => {
            text.push_str(&format!("  error: {}\n", report::sanitize(&e.to_string())));
            return (Verdict::Unreadable, text, json!({"error": e.to_string()}));
        }
    };
    let (signer, usages) = match (m.signer(), m.usages()) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(e), _) | (_, Err(e)) => {
            text.push_str(&format!("  error: {}\n", report::sanitize(&e.to_string())));
            return (Verdict::Refused, text, json!({"error": e.to_string()}));
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
    let mut findings = checks::check(&Request {
        api_version: version,
        signer: signer.as_ref(),
        usages: &usages,
        expiration_seconds: m.spec.expiration_seconds,
        csr: &csr,
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
    checks_text(&mut text, &findings);
    let verdict = verdict_of(&csr, &findings);
    (
        verdict,
        text,
        json!({"kind": "CertificateSigningRequest", "manifest": m, "csr": csr, "findings": findings}),
    )
}

fn show_bundle(b: &Bundle) -> Shown {
    let mut text = format!(
        "certificate bundle {} for user {}\n",
        report::sanitize(&b.name),
        report::sanitize(&b.user)
    );
    field(
        &mut text,
        "cluster",
        format!("{} ({})", b.cluster.name, b.cluster.server),
    );
    field(&mut text, "signer", &b.signer_name);
    field(&mut text, "not after", &b.audit.not_after);
    field(&mut text, "serial", &b.audit.serial);
    let verdict = match cert::parse_first(b.certificate.as_bytes()) {
        Ok(c) => {
            field(
                &mut text,
                "key",
                format!("{}, sha256 {}", c.public_key.kind, c.public_key.fingerprint),
            );
            field(&mut text, "certificate", format!("ends {}", expiry(&c)));
            if c.public_key.fingerprint == b.audit.public_key_sha256 {
                Verdict::Ok
            } else {
                text.push_str(
                    "  error: the certificate's public key differs from the audit record's\n",
                );
                Verdict::Refused
            }
        }
        Err(e) => {
            text.push_str(&format!("  error: certificate: {e}\n"));
            Verdict::Unreadable
        }
    };
    Shown {
        verdict,
        text,
        json: json!({"kind": "CertificateBundle", "bundle": b}),
    }
}

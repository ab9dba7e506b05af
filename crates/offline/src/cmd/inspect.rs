//! `kcsr inspect`: what a CSR, CSR manifest, certificate, key, binding or bundle holds.
//! Private keys are described (type, size, public-key fingerprint), never printed.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use kcsr_core::bundle::Bundle;
use kcsr_core::cert;
use kcsr_core::csr;
use kcsr_core::key::{KeyError, PrivateKey};
use kcsr_core::manifest;
use kcsr_core::pem;
use secrecy::SecretString;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cli::InspectArgs;
use crate::fail::{Fail, Result};
use crate::kubeconfig;
use crate::passphrase::{self, Purpose};
use crate::report;
use certs::{show_bundle, show_certs, show_kubeconfig};
use kcsr_fs as output;
use request::{show_csr, show_documents};
use shown::{MAX_INPUT, Shown, Verdict, field, unreadable_bytes};

mod certs;
mod request;
mod shown;

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
        match output::read_secret(path, MAX_INPUT, output::Links::Refuse) {
            Ok(d) => d,
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

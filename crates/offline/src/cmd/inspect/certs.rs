//! Certificates: bare, in a kubeconfig's user entries, or in a bundle.

use std::path::Path;

use kcsr_core::bundle::Bundle;
use kcsr_core::cert::{self, CertInfo};
use kcsr_core::expiry::human_seconds;
use kcsr_core::time;
use serde_json::json;

use super::shown::{MAX_INPUT, Shown, Verdict, field, unreadable_bytes};
use crate::cmd::verify::unix_now;
use crate::kubeconfig::{self, UserCertificate};
use crate::report;
use kcsr_fs as output;

/// A kubeconfig: each user entry's client certificate (embedded, or the file it names); keys
/// and tokens are never shown, and the parsed document is wiped.
pub(super) fn show_kubeconfig(data: &[u8], dir: &Path) -> Shown {
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

pub(super) fn show_certs(certs: &[CertInfo]) -> Shown {
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

pub(super) fn show_bundle(b: &Bundle) -> Shown {
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

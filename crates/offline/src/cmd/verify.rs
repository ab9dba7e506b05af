//! `kcsr verify`: does an issued certificate match its key or request, and chain to the CA?

use std::collections::BTreeSet;

use kcsr_core::cert::{self, CertInfo};
use kcsr_core::csr;
use kcsr_core::key::{KeyError, PrivateKey};
use kcsr_core::manifest::{self, Document};
use kcsr_core::time;
use kcsr_core::usage::Usage;
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::VerifyArgs;
use crate::fail::{Context as _, Fail, Result};
use crate::passphrase::{self, Purpose};
use crate::{output, report};

const MAX_INPUT: u64 = 4 << 20;

/// What the certificate must match.
struct Expected {
    fingerprint: String,
    user: Option<String>,
    groups: Option<Vec<String>>,
    usages: Vec<String>,
    expiration_seconds: Option<i64>,
}

/// One verification step.
#[derive(serde::Serialize)]
pub(crate) struct Step {
    pub(crate) check: &'static str,
    pub(crate) ok: bool,
    pub(crate) detail: String,
}

pub(crate) fn run(args: VerifyArgs) -> Result<()> {
    let cert_data = output::read_limited(&args.cert, MAX_INPUT)
        .context(|| format!("failed to read certificate {}", args.cert.display()))?;
    let leaf = cert::parse_first(&cert_data)
        .map_err(|e| Fail::new(format!("{}: {e}", args.cert.display())))?;
    let expected = expected(&args)?;
    let cas = match &args.ca {
        Some(p) => {
            let data = output::read_limited(p, MAX_INPUT)
                .context(|| format!("failed to read CA {}", p.display()))?;
            Some(cert::parse_all(&data).map_err(|e| Fail::new(format!("{}: {e}", p.display())))?)
        }
        None => None,
    };
    let now = args.at.unwrap_or_else(unix_now);
    let steps = verify(&leaf, &expected, cas.as_deref(), now, 0);

    let failed = steps.iter().filter(|s| !s.ok).count();
    if args.output.json {
        report::json(
            &json!({"certificate": args.cert.display().to_string(), "ok": failed == 0, "checks": steps}),
        );
    } else if !args.output.quiet {
        let mut text = format!(
            "{}: certificate for {:?}\n",
            args.cert.display(),
            report::sanitize(&leaf.subject.display)
        );
        for s in &steps {
            text.push_str(&format!(
                "  {:<5} {:<11} {}\n",
                if s.ok { "ok" } else { "FAIL" },
                s.check,
                report::sanitize(&s.detail)
            ));
        }
        report::data(&text);
    }
    if failed > 0 {
        return Err(Fail::new(format!(
            "verification failed: {failed} of {} checks did not hold for {}",
            steps.len(),
            args.cert.display()
        ))
        .refused());
    }
    Ok(())
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn expected(args: &VerifyArgs) -> Result<Expected> {
    let mut e = if let Some(p) = &args.key {
        let data = Zeroizing::new(
            output::read_limited(p, MAX_INPUT)
                .context(|| format!("failed to read key {}", p.display()))?,
        );
        let key = match PrivateKey::from_bytes(&data, None) {
            Err(KeyError::NeedPassphrase) => {
                let pass = passphrase::obtain(
                    args.passphrase_file.as_deref(),
                    Purpose::Existing,
                    &p.display().to_string(),
                )?;
                PrivateKey::from_bytes(&data, Some(&pass))
            }
            other => other,
        }
        .map_err(|e| Fail::new(format!("{}: {e}", p.display())))?;
        Expected {
            fingerprint: key.public_key().fingerprint.clone(),
            user: None,
            groups: None,
            usages: vec![Usage::ClientAuth.as_str().to_owned()],
            expiration_seconds: None,
        }
    } else if let Some(p) = &args.csr {
        let data = output::read_limited(p, MAX_INPUT)
            .context(|| format!("failed to read CSR {}", p.display()))?;
        let c = csr::parse(&data).map_err(|e| Fail::new(format!("{}: {e}", p.display())))?;
        Expected {
            fingerprint: c.public_key.fingerprint.clone(),
            user: c.subject.user().map(str::to_owned),
            groups: Some(c.subject.organizations.clone()),
            usages: vec![Usage::ClientAuth.as_str().to_owned()],
            expiration_seconds: None,
        }
    } else if let Some(p) = &args.manifest {
        let data = output::read_limited(p, MAX_INPUT)
            .context(|| format!("failed to read manifest {}", p.display()))?;
        let docs = manifest::parse_documents(&data)
            .map_err(|e| Fail::new(format!("{}: {e}", p.display())))?;
        let m = docs
            .iter()
            .find_map(|d| match d {
                Document::Csr(m) => Some(m),
                Document::Binding(_) => None,
            })
            .ok_or_else(|| {
                Fail::new(format!(
                    "{}: no CertificateSigningRequest in the file",
                    p.display()
                ))
            })?;
        let c = m
            .decode_request()
            .map_err(|e| Fail::new(format!("{}: {e}", p.display())))?;
        Expected {
            fingerprint: c.public_key.fingerprint.clone(),
            user: c.subject.user().map(str::to_owned),
            groups: Some(c.subject.organizations.clone()),
            usages: m.spec.usages.clone(),
            expiration_seconds: m.spec.expiration_seconds,
        }
    } else {
        return Err(Fail::new("one of --key, --csr or --manifest is required"));
    };
    if let Some(u) = &args.user {
        e.user = Some(u.as_str().to_owned());
    }
    if !args.groups.is_empty() {
        e.groups = Some(args.groups.iter().map(|g| g.as_str().to_owned()).collect());
    }
    Ok(e)
}

/// Runs every check of a certificate against what it must match.
fn verify(
    leaf: &CertInfo,
    e: &Expected,
    cas: Option<&[CertInfo]>,
    now: i64,
    skew: i64,
) -> Vec<Step> {
    let mut steps = Vec::new();
    steps.push(Step {
        check: "public key",
        ok: leaf.public_key.fingerprint == e.fingerprint,
        detail: if leaf.public_key.fingerprint == e.fingerprint {
            format!("matches (sha256 {})", e.fingerprint)
        } else {
            format!(
                "certificate has sha256 {}, expected {}",
                leaf.public_key.fingerprint, e.fingerprint
            )
        },
    });
    if let Some(user) = &e.user {
        let ok = leaf.subject.user() == Some(user.as_str());
        steps.push(Step {
            check: "user",
            ok,
            detail: if ok {
                format!("{user:?}")
            } else {
                format!(
                    "certificate names {:?}, expected {user:?}",
                    leaf.subject.common_names
                )
            },
        });
    }
    if let Some(groups) = &e.groups {
        let want: BTreeSet<&String> = groups.iter().collect();
        let have: BTreeSet<&String> = leaf.subject.organizations.iter().collect();
        steps.push(Step {
            check: "groups",
            ok: want == have,
            detail: if want == have {
                format!("{:?}", leaf.subject.organizations)
            } else {
                format!(
                    "certificate has {:?}, expected {groups:?}",
                    leaf.subject.organizations
                )
            },
        });
    }
    let missing: Vec<&String> = e
        .usages
        .iter()
        .filter(|u| !leaf.usages.contains(u))
        .collect();
    steps.push(Step {
        check: "usages",
        ok: missing.is_empty(),
        detail: if missing.is_empty() {
            leaf.usages.join(", ")
        } else {
            format!("certificate lacks {missing:?} (it has {:?})", leaf.usages)
        },
    });
    steps.push(Step {
        check: "not a CA",
        ok: !leaf.is_ca,
        detail: if leaf.is_ca {
            "the certificate is a CA (BasicConstraints CA:TRUE)".to_owned()
        } else {
            "CA:FALSE".to_owned()
        },
    });
    let valid = leaf.is_valid_at(now, skew);
    steps.push(Step {
        check: "validity",
        ok: valid,
        detail: format!(
            "{} to {} ({} at {})",
            time::format_rfc3339(leaf.not_before),
            time::format_rfc3339(leaf.not_after),
            if valid {
                "valid"
            } else if now < leaf.not_before {
                "not yet valid"
            } else {
                "expired"
            },
            time::format_rfc3339(now)
        ),
    });
    if let Some(requested) = e.expiration_seconds {
        let lifetime = leaf.not_after - leaf.not_before;
        // The signer backdates NotBefore by 5 minutes (reference §9.2).
        let detail = if lifetime + 600 < requested {
            format!(
                "requested {}, issued {}: the cluster capped it",
                kcsr_core::expiry::human_seconds(requested),
                kcsr_core::expiry::human_seconds(lifetime)
            )
        } else {
            format!(
                "requested {}, issued {}",
                kcsr_core::expiry::human_seconds(requested),
                kcsr_core::expiry::human_seconds(lifetime)
            )
        };
        steps.push(Step {
            check: "lifetime",
            ok: true,
            detail,
        });
    }
    if let Some(cas) = cas {
        let issuer = cas.iter().find(|ca| leaf.is_signed_by(ca));
        let (ok, detail) = match issuer {
            Some(ca) if !ca.is_ca => (
                false,
                format!("signed by {:?}, which is not a CA", ca.subject.display),
            ),
            Some(ca) if !ca.is_valid_at(now, skew) => (
                false,
                format!(
                    "signed by {:?}, which is not valid at that time",
                    ca.subject.display
                ),
            ),
            Some(ca) => (true, format!("signed by {:?}", ca.subject.display)),
            None => (
                false,
                format!(
                    "not signed by any of the {} CA certificate(s) given (issuer {:?})",
                    cas.len(),
                    leaf.issuer
                ),
            ),
        };
        steps.push(Step {
            check: "chain",
            ok,
            detail,
        });
    }
    steps
}

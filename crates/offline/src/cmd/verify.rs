//! `kcsr verify`: does an issued certificate match its key or request, and chain to the CA?

use kcsr_core::cert;
use kcsr_core::csr;

use kcsr_core::manifest::{self, Document};
use kcsr_core::usage::Usage;
use kcsr_core::verify::{self as check, Expected};
use serde_json::json;

use crate::cli::VerifyArgs;
use crate::fail::{Context as _, Fail, Result};
use crate::passphrase;
use crate::plan;
use crate::report;
use kcsr_fs as output;

const MAX_INPUT: u64 = 4 << 20;

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
    let steps = check::certificate(&leaf, &expected, cas.as_deref(), now, 0);

    let failed = steps.iter().filter(|s| !s.ok).count();
    if args.output.json {
        report::json(
            &json!({"certificate": args.cert.display().to_string(), "ok": failed == 0, "chainChecked": cas.is_some(), "checks": steps}),
        )?;
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
        if cas.is_none() {
            // "ok" above is not "issued by the cluster": anyone can sign a certificate for a
            // public key that travelled on the media.
            text.push_str(&format!(
                "  {:<5} {:<11} not checked: no --ca given, so who issued it is not verified\n",
                "--", "chain"
            ));
        }
        report::text(&text)?;
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

pub(crate) use kcsr_core::time::now_unix as unix_now;

fn expected(args: &VerifyArgs) -> Result<Expected> {
    let mut e = if let Some(p) = &args.key {
        let key = plan::read_key(p, &passphrase::Source::new(args.passphrase_file.as_deref()))?;
        Expected {
            fingerprint: key.public_key().fingerprint.clone(),
            user: None,
            groups: None,
            usages: vec![Usage::ClientAuth],
            expiration_seconds: None,
        }
    } else if let Some(uri) = &args.pkcs11 {
        let key = crate::user_key::existing(uri)?;
        Expected {
            fingerprint: kcsr_core::key::CsrSigner::public_key(&key)
                .fingerprint
                .clone(),
            user: None,
            groups: None,
            usages: vec![Usage::ClientAuth],
            expiration_seconds: None,
        }
    } else if let Some(p) = &args.csr {
        let data = output::read_limited(p, MAX_INPUT)
            .context(|| format!("failed to read CSR {}", p.display()))?;
        let c = csr::parse(&data).map_err(|e| Fail::new(format!("{}: {e}", p.display())))?;
        Expected {
            fingerprint: c.public_key.fingerprint.clone(),
            user: c.subject.user().map(str::parse).transpose().map_err(
                |e: kcsr_core::names::NameError| Fail::new(format!("{}: {e}", p.display())),
            )?,
            groups: Some(c.subject.organizations.clone()),
            usages: vec![Usage::ClientAuth],
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
            user: c.subject.user().map(str::parse).transpose().map_err(
                |e: kcsr_core::names::NameError| Fail::new(format!("{}: {e}", p.display())),
            )?,
            groups: Some(c.subject.organizations.clone()),
            usages: m
                .usages()
                .map_err(|e| Fail::new(format!("{}: {e}", p.display())))?,
            expiration_seconds: m.spec.expiration_seconds,
        }
    } else {
        return Err(Fail::new(
            "one of --key, --pkcs11, --csr or --manifest is required",
        ));
    };
    if let Some(u) = &args.user {
        e.user = Some(u.clone());
    }
    if !args.groups.is_empty() {
        e.groups = Some(args.groups.iter().map(|g| g.as_str().to_owned()).collect());
    }
    Ok(e)
}

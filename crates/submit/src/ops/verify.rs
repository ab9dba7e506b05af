//! Checking an issued certificate against the request it answers.

use kcsr_core::cert::{self, CertInfo};
use kcsr_core::names::UserName;
use kcsr_core::time::now_unix;
use kcsr_core::verify::{self, Expected, Step};

use crate::media::MediaRequest;
use crate::problem::Problem;
use crate::sanitize::one_line;

/// What a request must be matched against. Its CN was checked as a user name when the media
/// was read; a CN that is not one is refused here too.
pub fn expected(req: &MediaRequest) -> Result<Expected, Problem> {
    let csr = &req.csr;
    let user = csr
        .subject
        .user()
        .map(str::parse::<UserName>)
        .transpose()
        .map_err(|e| Problem::refused(format!("{}: {e}", req.name()), None))?;
    Ok(Expected {
        fingerprint: csr.public_key.fingerprint.clone(),
        user,
        groups: Some(csr.subject.organizations.clone()),
        usages: req.usages.clone(),
        expiration_seconds: req.manifest.spec.expiration_seconds,
    })
}

/// Runs the shared checks on a certificate PEM; a failing check is a refusal.
pub fn verify_pem(
    req: &MediaRequest,
    pem: &[u8],
    client_ca: Option<&[CertInfo]>,
) -> Result<(CertInfo, Vec<Step>), Problem> {
    let certs = cert::parse_all(pem).map_err(|e| {
        Problem::refused(
            format!(
                "the certificate issued for {} cannot be read: {e}",
                req.name()
            ),
            None,
        )
    })?;
    let Some(leaf) = certs.into_iter().next() else {
        return Err(Problem::refused(
            format!("the certificate issued for {} is empty", req.name()),
            None,
        ));
    };
    let steps = verify::certificate(
        &leaf,
        &expected(req)?,
        client_ca,
        now_unix(),
        verify::DEFAULT_SKEW_SECONDS,
    );
    if !verify::all_ok(&steps) {
        let failed: Vec<String> = steps
            .iter()
            .filter(|s| !s.ok)
            .map(|s| format!("{}: {}", s.check, one_line(&s.detail)))
            .collect();
        return Err(Problem::refused(
            format!(
                "the certificate issued for {} does not match the request; nothing was written: {}",
                req.name(),
                failed.join("; ")
            ),
            Some(
                "do not use this certificate: ask the cluster admins which signer issued it; check --client-ca",
            ),
        ));
    }
    Ok((leaf, steps))
}

//! The request built and checked in memory: the CSR, every check, and the manifests.

use kcsr_core::checks::{self, Finding, Request};
use kcsr_core::csr::CsrInfo;
use kcsr_core::expiry::Expiration;
use kcsr_core::key::CsrSigner;
use kcsr_core::manifest::{
    self, CLUSTER_ANNOTATION, CLUSTER_CA_ANNOTATION, CREATED_ANNOTATION, CsrManifest,
    GRANT_ANNOTATION, NOT_AFTER_ANNOTATION, NameInputs, NewCsrManifest, OPERATOR_ANNOTATION,
    TICKET_ANNOTATION,
};
use kcsr_core::media::{BINDING_SUFFIX, CSR_MANIFEST_SUFFIX};
use kcsr_core::names::ObjectName;
use kcsr_core::rbac::{self, Grant};
use kcsr_core::time;
use kcsr_core::usage::Usage;

use super::spec::{Spec, Stamp, expiration};
use crate::fail::{Fail, Result};
use crate::report;

/// The request built and checked in memory; nothing written yet.
pub(crate) struct Built {
    pub(crate) name: ObjectName,
    pub(crate) csr: CsrInfo,
    pub(crate) manifest: CsrManifest,
    /// `kcsr.dev/created` and `kcsr.dev/not-after`.
    pub(crate) created: String,
    pub(crate) not_after: String,
    pub(crate) usages: Vec<Usage>,
    pub(crate) expiration: Option<Expiration>,
    pub(crate) manifest_file: String,
    pub(crate) manifest_yaml: String,
    pub(crate) binding_file: String,
    pub(crate) binding_yaml: Option<String>,
    pub(crate) findings: Vec<Finding>,
}

/// Builds the CSR, runs every check, and renders the manifests. Error-level findings fail
/// with exit 3 and the findings in the message.
pub(crate) fn build(spec: &Spec, key: &dyn CsrSigner, stamp: &Stamp) -> Result<Built> {
    let csr = key
        .sign_csr(&spec.user, &spec.groups, &spec.dns, &spec.ips)
        .map_err(|e| Fail::new(format!("failed to build the CSR: {e}")))?;
    render(spec, csr, stamp)
}

/// [`build`] for a CSR the user made with their own key (`kcsr request --csr`): it must ask
/// for exactly the user and groups the operator named, and then passes the same checks
/// (signature, key strength, RSA exponent, subject) as one kcsr signs.
pub(crate) fn build_from_csr(spec: &Spec, csr: CsrInfo, stamp: &Stamp) -> Result<Built> {
    let mismatch = |what: String| {
        Fail::new(format!(
            "the CSR does not ask for what was given: {what}; nothing was written"
        ))
        .hint("name the user and every group the CSR asks for (--user, --group), or have the user make a new CSR: openssl req -new -key KEY -subj \"/CN=USER/O=GROUP\" -out USER.csr")
        .refused()
    };
    let shown = |v: &[String]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.iter()
                .map(|s| report::sanitize(s))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let user = spec.user.as_str().to_owned();
    if csr.subject.common_names != [user.clone()] {
        return Err(mismatch(format!(
            "its CN is {}, not {:?}",
            shown(&csr.subject.common_names),
            report::sanitize(&user)
        )));
    }
    let mut given: Vec<String> = spec.groups.iter().map(|g| g.as_str().to_owned()).collect();
    let mut asked = csr.subject.organizations.clone();
    given.sort();
    asked.sort();
    if given != asked {
        return Err(mismatch(format!(
            "its groups (O) are {}, not {}",
            shown(&csr.subject.organizations),
            shown(&given)
        )));
    }
    render(spec, csr, stamp)
}

/// The checks and the manifests of a signed CSR.
fn render(spec: &Spec, csr: CsrInfo, stamp: &Stamp) -> Result<Built> {
    let stem = spec.stem();
    let (usages, expiration, findings) = judge(spec, &csr)?;
    let mut subject = vec![spec.user.as_str().to_owned()];
    subject.extend(spec.groups.iter().map(|g| format!("O={g}")));
    subject.extend(spec.dns.iter().map(|d| format!("DNS={d}")));
    subject.extend(spec.ips.iter().map(|i| format!("IP={i}")));
    let name = match &spec.name {
        Some(n) => n.clone(),
        None => manifest::default_object_name(&NameInputs {
            user_slug: &stem,
            spki_der: &csr.public_key.spki_der,
            subject: &subject,
            signer: spec.signer.as_ref(),
            usages: &usages,
            expiration,
            api_version: spec.api_version,
            cluster: stamp.cluster.as_ref().map(|p| p.name.as_str()),
        }),
    };
    let mut manifest = CsrManifest::new(&NewCsrManifest {
        api_version: spec.api_version,
        name: &name,
        csr: &csr,
        signer: spec.signer.as_ref(),
        usages: &usages,
        expiration,
    });
    let created = time::format_rfc3339(stamp.created);
    let not_after = time::format_rfc3339(stamp.not_after);
    let annotations = &mut manifest.metadata.annotations;
    annotations.insert(CREATED_ANNOTATION.to_owned(), created.clone());
    annotations.insert(NOT_AFTER_ANNOTATION.to_owned(), not_after.clone());
    if !spec.grants.is_empty() {
        annotations.insert(GRANT_ANNOTATION.to_owned(), Grant::join(&spec.grants));
    }
    if let Some(t) = &spec.ticket {
        annotations.insert(TICKET_ANNOTATION.to_owned(), t.to_string());
    }
    annotations.insert(OPERATOR_ANNOTATION.to_owned(), stamp.operator.to_string());
    if let Some(pin) = &stamp.cluster {
        annotations.insert(CLUSTER_ANNOTATION.to_owned(), pin.name.to_string());
        annotations.insert(
            CLUSTER_CA_ANNOTATION.to_owned(),
            stamp.cluster_cas.join(","),
        );
    }
    let manifest_yaml = manifest
        .to_yaml()
        .map_err(|e| Fail::new(format!("failed to encode the manifest: {e}")))?;
    let binding_yaml = rbac::bindings_yaml(&name, &spec.user, &spec.grants).map_err(|e| {
        Fail::new(format!("failed to encode the bindings of {name}: {e}"))
            .hint("choose a shorter --name: the bindings are named NAME, NAME-2, …")
    })?;
    Ok(Built {
        manifest_file: format!("{stem}{CSR_MANIFEST_SUFFIX}"),
        binding_file: format!("{stem}{BINDING_SUFFIX}"),
        name,
        csr,
        manifest,
        created,
        not_after,
        usages,
        expiration,
        manifest_yaml,
        binding_yaml,
        findings,
    })
}

/// [`build`]'s checks without signing or rendering anything: a preview of the request
/// (`CsrSigner::preview_csr`) against every rule. `kcsr batch` runs it on every row before
/// any key is made; each request is checked again, signed, when it is built.
pub(crate) fn precheck(spec: &Spec, key: &dyn CsrSigner) -> Result<()> {
    let csr = key
        .preview_csr(&spec.user, &spec.groups, &spec.dns, &spec.ips)
        .map_err(|e| Fail::new(format!("failed to build the CSR: {e}")))?;
    judge(spec, &csr).map(drop)
}

/// The request's usages and lifetime, and its findings against the cluster's rules;
/// error-level findings fail with exit 3.
fn judge(spec: &Spec, csr: &CsrInfo) -> Result<(Vec<Usage>, Option<Expiration>, Vec<Finding>)> {
    let usages = if spec.usages.is_empty() {
        checks::default_usages(spec.signer.as_ref(), &csr.public_key.kind)
    } else {
        spec.usages.clone()
    };
    let expiration = expiration(spec.api_version, spec.expiration);
    let findings = checks::check(&Request {
        api_version: spec.api_version,
        signer: spec.signer.as_ref(),
        usages: &usages,
        expiration_seconds: expiration.map(Expiration::seconds),
        csr,
    });
    if checks::has_errors(&findings) {
        let mut message = format!(
            "the request for user {:?} would be refused by the cluster; nothing was written\n",
            report::sanitize(spec.user.as_str())
        );
        message.push_str(report::findings(&findings, "  ").trim_end());
        return Err(Fail::new(message)
            .hint("fix what the findings above name and run kcsr again")
            .refused());
    }
    Ok((usages, expiration, findings))
}

//! One user's request, shared by `kcsr request` and `kcsr batch`: the parsed spec, the key,
//! the CSR and its checks, the manifests, and how they compare with what the media holds.

use std::net::IpAddr;

use kcsr_core::checks::{self, Finding, Request};
use kcsr_core::csr::CsrInfo;
use kcsr_core::expiry::Expiration;
use kcsr_core::key::{CsrSigner, KeyType};
use kcsr_core::manifest::{
    self, ApiVersion, CLUSTER_ANNOTATION, CLUSTER_CA_ANNOTATION, CREATED_ANNOTATION, CsrManifest,
    GRANT_ANNOTATION, NOT_AFTER_ANNOTATION, NameInputs, NewCsrManifest, OPERATOR_ANNOTATION,
    Operator, TICKET_ANNOTATION, Ticket,
};
use kcsr_core::media::{BINDING_SUFFIX, CSR_MANIFEST_SUFFIX};
use kcsr_core::names::{GroupName, ObjectName, UserName, is_dns1123_label, is_dns1123_subdomain};
use kcsr_core::rbac::{self, Grant};
use kcsr_core::signer::SignerName;
use kcsr_core::station::{self, ClusterPin};
use kcsr_core::time;
use kcsr_core::usage::Usage;

use crate::fail::{Fail, Result};
use crate::report;

/// Default lifetime when none is given (v1).
pub(crate) const DEFAULT_EXPIRATION_SECONDS: i64 = 30 * 86_400;

/// What one user asks for, fully parsed.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) user: UserName,
    pub(crate) groups: Vec<GroupName>,
    pub(crate) key_type: KeyType,
    pub(crate) signer: Option<SignerName>,
    pub(crate) usages: Vec<Usage>,
    pub(crate) dns: Vec<String>,
    pub(crate) ips: Vec<IpAddr>,
    pub(crate) expiration: Option<Expiration>,
    pub(crate) api_version: ApiVersion,
    /// The bindings asked for, in order (decision 0010).
    pub(crate) grants: Vec<Grant>,
    /// The change ticket (`kcsr.dev/ticket`).
    pub(crate) ticket: Option<Ticket>,
    pub(crate) name: Option<ObjectName>,
    /// File stem when it is neither the object name nor the user's slug (renewals).
    pub(crate) stem: Option<String>,
}

impl Spec {
    /// The file stem: set explicitly, else `--name`, else the user's slug.
    pub(crate) fn stem(&self) -> String {
        match (&self.stem, &self.name) {
            (Some(s), _) => s.clone(),
            (None, Some(n)) => n.as_str().to_owned(),
            (None, None) => self.user.slug(),
        }
    }
}

/// The stem a renewal was made from: `alice` for `alice-renew-20261129` and
/// `alice-renew-20261129-samekey` (and for `alice`). Renewals name their key and media files
/// with the date, so the current key stays in place until the new certificate is assembled,
/// but their kubeconfig keeps the first name.
pub(crate) fn base_stem(stem: &str) -> &str {
    let mut base = stem;
    let dated = stem.strip_suffix("-samekey").unwrap_or(stem);
    // A renewal of a renewal is named from the first stem already; strip one date only.
    if let Some((head, day)) = dated.rsplit_once("-renew-")
        && day.len() == 8
        && day.bytes().all(|b| b.is_ascii_digit())
        && !head.is_empty()
    {
        base = head;
    }
    base
}

/// `--clusterrole`/`--role` (each repeatable) and `--namespace` into grants, with the names
/// checked: ClusterRoles first, then Roles, each in the order given. A value `NS/ROLE` names
/// its namespace; a bare `ROLE` takes `--namespace` (for a ClusterRole: a RoleBinding in that
/// namespace instead of a ClusterRoleBinding; a Role needs one).
pub(crate) fn grants(
    clusterroles: &[String],
    roles: &[String],
    namespace: Option<&str>,
) -> Result<Vec<Grant>> {
    if namespace.is_some() && clusterroles.is_empty() && roles.is_empty() {
        return Err(Fail::new("--namespace needs --role or --clusterrole")
            .hint("add --role ROLE or --clusterrole ROLE, or drop --namespace"));
    }
    let split = |v: &str| match v.split_once('/') {
        Some((ns, r)) => (r.to_owned(), Some(ns.to_owned())),
        None => (v.to_owned(), namespace.map(str::to_owned)),
    };
    let mut out: Vec<Grant> = Vec::new();
    for v in clusterroles {
        let g = match split(v) {
            (r, Some(ns)) => Grant::ClusterRoleInNamespace(r, ns),
            (r, None) => Grant::ClusterRole(r),
        };
        out.push(g);
    }
    for v in roles {
        let g = match split(v) {
            (r, Some(ns)) => Grant::Role(r, ns),
            (_, None) => {
                return Err(
                    Fail::new(format!("the Role binding {v:?} needs a namespace"))
                        .hint(format!("write NAMESPACE/{v}, or add --namespace NS")),
                );
            }
        };
        out.push(g);
    }
    for (i, g) in out.iter().enumerate() {
        check_grant(g)?;
        if out[..i].contains(g) {
            return Err(
                Fail::new(format!("the grant {g} is asked for twice")).hint("list each role once")
            );
        }
    }
    Ok(out)
}

/// The role and namespace names of a grant are names Kubernetes accepts, and travel in the
/// `,`-separated annotation.
fn check_grant(g: &Grant) -> Result<()> {
    let (role, ns) = (g.role(), g.namespace());
    // Role names are path segments; RBAC allows ':' (e.g. system:aggregate-to-view).
    if role.is_empty()
        || role.contains('/')
        || role.contains('%')
        || role.contains(',')
        || role.chars().any(char::is_control)
        || (!is_dns1123_subdomain(role) && !role.contains(':'))
    {
        return Err(Fail::new(format!(
            "role name {:?} is not a valid Kubernetes role name",
            report::sanitize(role)
        ))
        .hint("use the role's name as kubectl get clusterroles (or roles -n NS) shows it"));
    }
    if let Some(ns) = ns
        && !is_dns1123_label(ns)
    {
        return Err(Fail::new(format!(
            "namespace {:?} is not a DNS-1123 label (lowercase letters, digits and '-')",
            report::sanitize(ns)
        )));
    }
    Ok(())
}

/// Who runs kcsr (`kcsr.dev/operator`): `--operator`, else the login name (`$LOGNAME`,
/// `$USER`), else the numeric user id, so that every request names someone.
pub(crate) fn operator(given: Option<&Operator>) -> Operator {
    if let Some(o) = given {
        return o.clone();
    }
    for var in ["LOGNAME", "USER"] {
        if let Some(o) = std::env::var_os(var)
            .and_then(|v| v.into_string().ok())
            .and_then(|v| Operator::sanitized(&v))
        {
            return o;
        }
    }
    use std::os::unix::fs::MetadataExt as _;
    // The owner of /proc/self is this process's user: no libc call needed.
    Operator::uid(std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid()))
}

/// The signer, or none for a v1beta1 request that lets the server choose.
pub(crate) fn signer(
    signer: &SignerName,
    no_signer: bool,
    api: ApiVersion,
) -> Result<Option<SignerName>> {
    if !no_signer {
        return Ok(Some(signer.clone()));
    }
    if api == ApiVersion::V1 {
        return Err(Fail::new(
            "--no-signer needs --api-version v1beta1: v1 requires spec.signerName",
        )
        .hint("drop --no-signer, or add --api-version v1beta1 for a cluster older than 1.22"));
    }
    Ok(None)
}

/// The lifetime: as given, else 30 days for v1 (v1beta1 has none).
pub(crate) fn expiration(api: ApiVersion, given: Option<Expiration>) -> Option<Expiration> {
    match (api, given) {
        (ApiVersion::V1, None) => Some(Expiration::from_seconds(DEFAULT_EXPIRATION_SECONDS)),
        (_, e) => e,
    }
}

/// What the station stamps on every request of one run (decision 0009): when it was written,
/// until when the connected side accepts it, and the cluster it is for.
#[derive(Debug, Clone)]
pub(crate) struct Stamp {
    pub(crate) created: i64,
    pub(crate) not_after: i64,
    pub(crate) cluster: Option<ClusterPin>,
    /// The pin's server CA fingerprints (`sha256:HEX`).
    pub(crate) cluster_cas: Vec<String>,
    /// The station signing key's `SHA256:` fingerprint (empty before the station signs).
    pub(crate) station: String,
    /// Who runs kcsr (`kcsr.dev/operator`).
    pub(crate) operator: Operator,
}

impl Stamp {
    pub(crate) fn new(
        now: i64,
        valid_for: Expiration,
        cluster: Option<ClusterPin>,
        station: String,
        operator: Operator,
    ) -> Result<Self> {
        let cluster_cas = match &cluster {
            Some(pin) => pin.server_fingerprints().map_err(|e| {
                Fail::new(format!("the pin of cluster {:?}: {e}", pin.name.as_str()))
                    .hint("pin it again with kcsr cluster add --force")
            })?,
            None => Vec::new(),
        };
        Ok(Self {
            created: now,
            not_after: now.saturating_add(valid_for.seconds()),
            cluster,
            cluster_cas,
            station,
            operator,
        })
    }

    /// The pinned CA fingerprints of `signer` (none when it has no pinned CA).
    pub(crate) fn signer_cas(&self, signer: Option<&SignerName>) -> Vec<String> {
        match (&self.cluster, signer) {
            (Some(pin), Some(s)) => pin
                .signer_cas(s.as_str())
                .ok()
                .flatten()
                .map(|cas| station::fingerprints(&cas))
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

/// Where the key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// Generated now.
    New,
    /// Found in the key directory from an earlier (possibly interrupted) run.
    Reused,
    /// Given with --key.
    External,
    /// None here: the user made the key and handed in a CSR (`--csr`).
    Csr,
}

/// The record's `keyFile` for a request made from the user's own CSR: the key never was on
/// the station (decision 0010; `kcsr assemble` writes the certificate alone, or a
/// kubeconfig that names the user's key file with `--key-path`).
pub(crate) const EXTERNAL_CSR: &str = "external-csr";

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

pub(crate) use keys::{key_file, key_pem, obtain_key, read_key, write_key};
pub(crate) use media::{Existing, MediaState, media_state, refuse_other_request, write_media};
pub(crate) use record::record;

mod keys;
mod media;
mod record;

#[cfg(test)]
mod tests {
    use super::base_stem;

    #[test]
    fn a_renewal_keeps_the_first_stem_with_a_new_key_or_the_same() {
        assert_eq!(base_stem("alice"), "alice");
        assert_eq!(base_stem("alice-renew-20261129"), "alice");
        assert_eq!(base_stem("alice-renew-20261129-samekey"), "alice");
        assert_eq!(
            base_stem("dana-chg1234-renew-20261129-samekey"),
            "dana-chg1234"
        );
        // Not a renewal's date: left as it is.
        assert_eq!(base_stem("alice-renew-2026"), "alice-renew-2026");
        assert_eq!(base_stem("alice-samekey"), "alice-samekey");
        assert_eq!(base_stem("-renew-20261129"), "-renew-20261129");
    }
}

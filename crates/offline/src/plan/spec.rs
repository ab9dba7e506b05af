//! What one user asks for, fully parsed, and what the station stamps on every request of a
//! run.

use std::net::IpAddr;

use kcsr_core::expiry::Expiration;
use kcsr_core::key::KeyType;
use kcsr_core::manifest::{ApiVersion, Operator, Ticket};
use kcsr_core::names::{GroupName, ObjectName, UserName, is_dns1123_label, is_dns1123_subdomain};
use kcsr_core::rbac::Grant;
use kcsr_core::signer::SignerName;
use kcsr_core::station::{self, ClusterPin};
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

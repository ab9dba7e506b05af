//! The station's site policy as it travels with the requests (`station-policy.yaml`, listed in
//! the signed `SHA256SUMS`; decision 0010): shown in the review, and every request checked
//! against it again before anything is sent. The station enforced it already; this catches a
//! request the station should have refused (an older kcsr, a policy changed in between) and
//! shows the approver the rules the requests were made under.

use serde::Deserialize;

use kcsr_core::expiry::{Expiration, human_seconds};
use kcsr_core::rbac::Grant;

use crate::media::MediaRequest;
use crate::sanitize::one_line;

/// `apiVersion`.
pub const API_VERSION: &str = "kcsr.dev/v1";
/// `kind`.
pub const KIND: &str = "StationPolicy";

/// The policy. A field this kcsr-submit does not know is refused: it could be a rule that
/// would go unenforced.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StationPolicy {
    /// [`API_VERSION`].
    pub api_version: String,
    /// [`KIND`].
    pub kind: String,
    /// Longest lifetime a request may ask for (`30d`, `12h`, …).
    #[serde(default)]
    pub max_lifetime: Option<String>,
    /// When given, every grant's role must match one of these patterns.
    #[serde(default)]
    pub allowed_roles: Option<Vec<String>>,
    /// No grant's role may match one of these.
    #[serde(default)]
    pub forbidden_roles: Vec<String>,
    /// A grant matching one of these needs a `kcsr.dev/ticket`.
    #[serde(default)]
    pub ticket_required_for: Vec<String>,
    /// When given, every group must match one of these patterns.
    #[serde(default)]
    pub allowed_groups: Option<Vec<String>>,
    /// User and group names starting with `system:` are refused (default true).
    #[serde(default)]
    pub refuse_system_names: Option<bool>,
}

/// Whether `value` matches `pattern`: equal, or a prefix before a trailing `*`.
fn glob(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

/// Whether a role pattern (`NAME`, `ClusterRole/NAME`, `Role/NAME`, each with an optional
/// trailing `*`) matches the role a grant binds.
pub fn role_matches(pattern: &str, grant: &Grant) -> bool {
    let kind = match grant {
        Grant::ClusterRole(_) | Grant::ClusterRoleInNamespace(..) => "ClusterRole",
        Grant::Role(..) => "Role",
    };
    match pattern.split_once('/') {
        Some((k, name)) => k == kind && glob(name, grant.role()),
        None => glob(pattern, grant.role()),
    }
}

impl StationPolicy {
    /// Reads `station-policy.yaml`.
    pub fn parse(data: &[u8]) -> Result<Self, String> {
        let p: Self = kcsr_core::yaml::parse_one(data, kcsr_core::yaml::Snippets::Show)
            .map_err(|e| e.to_string())?;
        if p.api_version != API_VERSION || p.kind != KIND {
            return Err(format!(
                "apiVersion {:?} kind {:?} is not a kcsr station policy ({API_VERSION} {KIND})",
                one_line(&p.api_version),
                one_line(&p.kind)
            ));
        }
        p.max_lifetime()?;
        Ok(p)
    }

    fn max_lifetime(&self) -> Result<Option<i64>, String> {
        self.max_lifetime
            .as_deref()
            .map(|v| {
                v.parse::<Expiration>()
                    .map(Expiration::seconds)
                    .map_err(|e| format!("maxLifetime: {e}"))
            })
            .transpose()
    }

    fn refuses_system_names(&self) -> bool {
        self.refuse_system_names.unwrap_or(true)
    }

    /// Every rule `req` breaks, each naming the rule and the offending value.
    pub fn violations(&self, req: &MediaRequest) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(Some(max)) = self.max_lifetime() {
            match req.manifest.spec.expiration_seconds {
                Some(s) if s > max => out.push(format!(
                    "maxLifetime {}: the request asks for {}",
                    human_seconds(max),
                    human_seconds(s)
                )),
                Some(_) => {}
                None => out.push(format!(
                    "maxLifetime {}: the request sets no expirationSeconds (the signer's default lifetime, often a year)",
                    human_seconds(max)
                )),
            }
        }
        let grants = &req.notes.grants;
        if let Some(allowed) = &self.allowed_roles {
            for g in grants {
                if !allowed.iter().any(|p| role_matches(p, g)) {
                    out.push(format!(
                        "allowedRoles [{}]: grant {g} is not among them",
                        allowed.join(", ")
                    ));
                }
            }
        }
        for g in grants {
            if let Some(p) = self.forbidden_roles.iter().find(|p| role_matches(p, g)) {
                out.push(format!("forbiddenRoles {p}: grant {g}"));
            }
            if req.notes.ticket.is_none()
                && let Some(p) = self.ticket_required_for.iter().find(|p| role_matches(p, g))
            {
                out.push(format!(
                    "ticketRequiredFor {p}: grant {g} has no {}",
                    kcsr_core::manifest::TICKET_ANNOTATION
                ));
            }
        }
        let groups = &req.csr.subject.organizations;
        if let Some(allowed) = &self.allowed_groups {
            for g in groups {
                if !allowed.iter().any(|p| glob(p, g)) {
                    out.push(format!(
                        "allowedGroups [{}]: group {:?} is not among them",
                        allowed.join(", "),
                        one_line(g)
                    ));
                }
            }
        }
        if self.refuses_system_names() {
            if let Some(u) = req.csr.subject.user().filter(|u| u.starts_with("system:")) {
                out.push(format!("refuseSystemNames: user {:?}", one_line(u)));
            }
            for g in groups.iter().filter(|g| g.starts_with("system:")) {
                out.push(format!("refuseSystemNames: group {:?}", one_line(g)));
            }
        }
        out.into_iter().map(|v| one_line(&v)).collect()
    }

    /// The policy for the review, one rule per line.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "Station policy ({}, signed with the media):\n",
            kcsr_core::media::POLICY_FILE
        );
        let mut line = |key: &str, value: String| {
            out.push_str(&format!(
                "  {:<18} {}\n",
                format!("{key}:"),
                one_line(&value)
            ));
        };
        if let Ok(Some(max)) = self.max_lifetime() {
            line("maxLifetime", human_seconds(max));
        }
        if let Some(a) = &self.allowed_roles {
            line("allowedRoles", a.join(", "));
        }
        if !self.forbidden_roles.is_empty() {
            line("forbiddenRoles", self.forbidden_roles.join(", "));
        }
        if !self.ticket_required_for.is_empty() {
            line("ticketRequiredFor", self.ticket_required_for.join(", "));
        }
        if let Some(a) = &self.allowed_groups {
            line("allowedGroups", a.join(", "));
        }
        line("refuseSystemNames", self.refuses_system_names().to_string());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_patterns() {
        let view = Grant::ClusterRole("view".into());
        let ns_edit = Grant::ClusterRoleInNamespace("edit".into(), "a".into());
        let role = Grant::Role("deployer".into(), "a".into());
        assert!(role_matches("view", &view));
        assert!(role_matches("ClusterRole/view", &view));
        assert!(!role_matches("Role/view", &view));
        assert!(role_matches("ClusterRole/ed*", &ns_edit));
        assert!(role_matches("Role/*", &role) && !role_matches("Role/*", &view));
        assert!(role_matches("*", &role));
        assert!(!role_matches("cluster-admin", &view));
    }

    #[test]
    fn parse_refuses_unknown_rules_and_bad_durations() {
        let ok = "apiVersion: kcsr.dev/v1\nkind: StationPolicy\nmaxLifetime: 30d\nforbiddenRoles: [cluster-admin]\n";
        let p = StationPolicy::parse(ok.as_bytes()).unwrap();
        assert!(
            p.describe().contains("maxLifetime:       30d"),
            "{}",
            p.describe()
        );
        assert!(p.describe().contains("refuseSystemNames: true"));
        let unknown = format!("{ok}maxGroups: 3\n");
        assert!(
            StationPolicy::parse(unknown.as_bytes())
                .unwrap_err()
                .contains("maxGroups")
        );
        let bad = ok.replace("30d", "a month");
        assert!(
            StationPolicy::parse(bad.as_bytes())
                .unwrap_err()
                .contains("maxLifetime")
        );
        let other = ok.replace("StationPolicy", "Policy");
        assert!(StationPolicy::parse(other.as_bytes()).is_err());
    }
}

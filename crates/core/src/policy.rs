//! The site's policy for what the station may request (decision 0010):
//! `KEY_DIR/station/policy.yaml`, copied onto the media as `station-policy.yaml` (listed in
//! `SHA256SUMS`, so signed). `kcsr request`, `batch` and `renew` refuse a request that breaks
//! it before anything is written; the connected side shows it and checks each request again.
//!
//! ```yaml
//! apiVersion: kcsr.dev/v1
//! kind: StationPolicy
//! maxLifetime: 90d
//! allowedRoles: [view, edit, "Role/*"]
//! forbiddenRoles: ["system:*"]
//! ticketRequiredFor: [cluster-admin, "ClusterRole/admin*"]
//! allowedGroups: [dev, "team-*"]
//! refuseSystemNames: true
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::expiry::{Expiration, human_seconds};
use crate::rbac::Grant;
use crate::yaml;

mod pattern;

pub use pattern::{NamePattern, RolePattern};

/// `apiVersion` of the policy.
pub const API_VERSION: &str = "kcsr.dev/v1";
/// `kind` of the policy.
pub const KIND: &str = "StationPolicy";
/// Its file in the station's directory of the key directory.
pub const FILE_NAME: &str = "policy.yaml";
/// The prefix Kubernetes keeps for its own users and groups.
pub const SYSTEM_PREFIX: &str = "system:";

/// Why a policy file cannot be used: the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Raw {
    api_version: String,
    kind: String,
    #[serde(default)]
    max_lifetime: Option<String>,
    #[serde(default)]
    allowed_roles: Option<Vec<String>>,
    #[serde(default)]
    forbidden_roles: Vec<String>,
    #[serde(default)]
    ticket_required_for: Vec<String>,
    #[serde(default)]
    allowed_groups: Option<Vec<String>>,
    #[serde(default)]
    refuse_system_names: Option<bool>,
}

/// The site's policy, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StationPolicy {
    /// The longest certificate lifetime a request may ask for, in seconds.
    pub max_lifetime: Option<i64>,
    /// When set, every grant must match one of these.
    pub allowed_roles: Option<Vec<RolePattern>>,
    /// No grant may match one of these.
    pub forbidden_roles: Vec<RolePattern>,
    /// A grant that matches one of these needs a ticket.
    pub ticket_required_for: Vec<RolePattern>,
    /// When set, every group must match one of these.
    pub allowed_groups: Option<Vec<NamePattern>>,
    /// Refuse user and group names that start with `system:` (default true).
    pub refuse_system_names: bool,
}

/// What one request asks for, as the policy judges it.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    /// The user (CN).
    pub user: &'a str,
    /// The groups (O).
    pub groups: &'a [&'a str],
    /// The bindings.
    pub grants: &'a [Grant],
    /// The change ticket, if any.
    pub ticket: Option<&'a str>,
    /// `spec.expirationSeconds` (none for v1beta1).
    pub expiration_seconds: Option<i64>,
}

/// One rule a request breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The policy field (`maxLifetime`, `forbiddenRoles`, …).
    pub rule: &'static str,
    /// The value of the request that breaks it.
    pub value: String,
    /// What is wrong, naming the rule's value.
    pub message: String,
    /// How to make a request that holds.
    pub fix: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.message)
    }
}

fn patterns<T: std::str::FromStr<Err = String>>(
    field: &str,
    items: &[String],
) -> Result<Vec<T>, PolicyError> {
    items
        .iter()
        .map(|s| s.parse().map_err(|e| PolicyError(format!("{field}: {e}"))))
        .collect()
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn push(out: &mut Vec<Violation>, rule: &'static str, value: String, message: String, fix: String) {
    out.push(Violation {
        rule,
        value,
        message,
        fix,
    });
}

/// `maxLifetime` against the requested lifetime (none for v1beta1).
fn check_lifetime(max: i64, expiration_seconds: Option<i64>, out: &mut Vec<Violation>) {
    match expiration_seconds {
        Some(s) if s > max => push(
            out,
            "maxLifetime",
            human_seconds(s),
            format!(
                "the lifetime {} is longer than maxLifetime {}",
                human_seconds(s),
                human_seconds(max)
            ),
            format!("ask for --expiration {} or less", human_seconds(max)),
        ),
        Some(_) => {}
        None => push(
            out,
            "maxLifetime",
            "none".to_owned(),
            format!(
                "the request carries no lifetime (certificates.k8s.io/v1beta1), so the cluster's signing duration applies, which maxLifetime {} cannot bound",
                human_seconds(max)
            ),
            "ask for certificates.k8s.io/v1 with --expiration".to_owned(),
        ),
    }
}

impl StationPolicy {
    /// Reads a policy file (YAML or JSON); every field is checked, unknown fields refused.
    pub fn parse(data: &[u8]) -> Result<Self, PolicyError> {
        let raw: Raw = yaml::parse_one(data, yaml::Snippets::Show)
            .map_err(|e| PolicyError(format!("not a station policy: {e}")))?;
        if raw.api_version != API_VERSION || raw.kind != KIND {
            return Err(PolicyError(format!(
                "apiVersion {:?} kind {:?} is not a {API_VERSION} {KIND}",
                raw.api_version, raw.kind
            )));
        }
        let max_lifetime = raw
            .max_lifetime
            .as_deref()
            .map(|s| {
                s.parse::<Expiration>()
                    .map(Expiration::seconds)
                    .map_err(|e| PolicyError(format!("maxLifetime: {e}")))
            })
            .transpose()?;
        Ok(Self {
            max_lifetime,
            allowed_roles: raw
                .allowed_roles
                .as_deref()
                .map(|r| patterns("allowedRoles", r))
                .transpose()?,
            forbidden_roles: patterns("forbiddenRoles", &raw.forbidden_roles)?,
            ticket_required_for: patterns("ticketRequiredFor", &raw.ticket_required_for)?,
            allowed_groups: raw
                .allowed_groups
                .as_deref()
                .map(|g| patterns("allowedGroups", g))
                .transpose()?,
            refuse_system_names: raw.refuse_system_names.unwrap_or(true),
        })
    }

    /// Every rule `asked` breaks, in the order of the fields; empty when it holds.
    pub fn check(&self, asked: &Asked<'_>) -> Vec<Violation> {
        let mut out = Vec::new();
        if let Some(max) = self.max_lifetime {
            check_lifetime(max, asked.expiration_seconds, &mut out);
        }
        for g in asked.grants {
            self.check_grant(g, asked.ticket, &mut out);
        }
        self.check_user(asked.user, &mut out);
        for g in asked.groups {
            self.check_group(g, &mut out);
        }
        out
    }

    /// `forbiddenRoles`, `allowedRoles` and `ticketRequiredFor` for one grant.
    fn check_grant(&self, g: &Grant, ticket: Option<&str>, out: &mut Vec<Violation>) {
        if let Some(p) = self.forbidden_roles.iter().find(|p| p.matches(g)) {
            push(
                out,
                "forbiddenRoles",
                g.to_string(),
                format!("the grant {g} matches the forbidden role {p}"),
                "ask for another role; only a change of the station's policy allows this one"
                    .to_owned(),
            );
        }
        if let Some(allowed) = &self.allowed_roles
            && !allowed.iter().any(|p| p.matches(g))
        {
            push(
                out,
                "allowedRoles",
                g.to_string(),
                format!(
                    "the grant {g} matches none of allowedRoles ({})",
                    if allowed.is_empty() {
                        "empty: no bindings".to_owned()
                    } else {
                        list(allowed)
                    }
                ),
                "ask for an allowed role".to_owned(),
            );
        }
        if ticket.is_none()
            && let Some(p) = self.ticket_required_for.iter().find(|p| p.matches(g))
        {
            push(
                out,
                "ticketRequiredFor",
                g.to_string(),
                format!("the grant {g} needs a change ticket (ticketRequiredFor {p})"),
                "give the change ticket: --ticket ID (roster column ticket)".to_owned(),
            );
        }
    }

    /// `refuseSystemNames` for the user.
    fn check_user(&self, user: &str, out: &mut Vec<Violation>) {
        if self.refuse_system_names && user.starts_with(SYSTEM_PREFIX) {
            push(
                out,
                "refuseSystemNames",
                user.to_owned(),
                format!(
                    "the user name {:?} starts with {SYSTEM_PREFIX:?}, which Kubernetes keeps for its own identities",
                    crate::terminal::one_line(user)
                ),
                "choose another user name; a site that issues such certificates sets refuseSystemNames: false".to_owned(),
            );
        }
    }

    /// `refuseSystemNames` and `allowedGroups` for one group.
    fn check_group(&self, g: &str, out: &mut Vec<Violation>) {
        if self.refuse_system_names && g.starts_with(SYSTEM_PREFIX) {
            push(
                out,
                "refuseSystemNames",
                g.to_owned(),
                format!(
                    "the group {:?} starts with {SYSTEM_PREFIX:?}, which Kubernetes keeps for its own groups",
                    crate::terminal::one_line(g)
                ),
                "drop the group; a site that issues such certificates sets refuseSystemNames: false".to_owned(),
            );
        } else if let Some(allowed) = &self.allowed_groups
            && !allowed.iter().any(|p| p.matches(g))
        {
            push(
                out,
                "allowedGroups",
                g.to_owned(),
                format!(
                    "the group {:?} matches none of allowedGroups ({})",
                    crate::terminal::one_line(g),
                    list(allowed)
                ),
                "drop the group or ask for an allowed one".to_owned(),
            );
        }
    }

    /// The rules, one `field: value` line each, for the operator and the approver's review.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let opt = |v: &Option<Vec<RolePattern>>| match v {
            Some(v) if v.is_empty() => "none (no bindings)".to_owned(),
            Some(v) => list(v),
            None => "any".to_owned(),
        };
        lines.push(format!(
            "maxLifetime: {}",
            self.max_lifetime
                .map_or_else(|| "any".to_owned(), human_seconds)
        ));
        lines.push(format!("allowedRoles: {}", opt(&self.allowed_roles)));
        lines.push(format!(
            "forbiddenRoles: {}",
            if self.forbidden_roles.is_empty() {
                "none".to_owned()
            } else {
                list(&self.forbidden_roles)
            }
        ));
        lines.push(format!(
            "ticketRequiredFor: {}",
            if self.ticket_required_for.is_empty() {
                "none".to_owned()
            } else {
                list(&self.ticket_required_for)
            }
        ));
        lines.push(format!(
            "allowedGroups: {}",
            match &self.allowed_groups {
                Some(g) if g.is_empty() => "none (no groups)".to_owned(),
                Some(g) => list(g),
                None => "any".to_owned(),
            }
        ));
        lines.push(format!("refuseSystemNames: {}", self.refuse_system_names));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = "apiVersion: kcsr.dev/v1\nkind: StationPolicy\nmaxLifetime: 30d\nallowedRoles: [view, edit, \"Role/*\", \"ClusterRole/admin*\", cluster-admin]\nforbiddenRoles: [\"ClusterRole/admin-danger\"]\nticketRequiredFor: [cluster-admin, \"ClusterRole/admin*\"]\nallowedGroups: [dev, \"team-*\"]\n";

    fn asked<'a>(user: &'a str, groups: &'a [&'a str], grants: &'a [Grant]) -> Asked<'a> {
        Asked {
            user,
            groups,
            grants,
            ticket: None,
            expiration_seconds: Some(86_400),
        }
    }

    fn rules(v: &[Violation]) -> Vec<&'static str> {
        v.iter().map(|v| v.rule).collect()
    }

    #[test]
    fn a_request_within_the_policy_holds() {
        let p = StationPolicy::parse(SITE.as_bytes()).unwrap();
        let grants = [
            Grant::ClusterRole("view".into()),
            Grant::Role("deployer".into(), "team-a".into()),
        ];
        assert_eq!(
            p.check(&asked("alice", &["dev", "team-x"], &grants)),
            vec![]
        );
        assert!(p.refuse_system_names, "default true");
    }

    #[test]
    fn every_rule_names_itself_the_value_and_the_fix() {
        let p = StationPolicy::parse(SITE.as_bytes()).unwrap();
        let grants = [
            Grant::ClusterRole("cluster-admin".into()),
            Grant::ClusterRole("admin-danger".into()),
            Grant::ClusterRoleInNamespace("deployer".into(), "ns".into()),
        ];
        let mut a = asked("system:bob", &["ops", "system:masters"], &grants);
        a.expiration_seconds = Some(90 * 86_400);
        let v = p.check(&a);
        assert_eq!(
            rules(&v),
            vec![
                "maxLifetime",
                "ticketRequiredFor",
                "forbiddenRoles",
                "ticketRequiredFor",
                "allowedRoles",
                "refuseSystemNames",
                "allowedGroups",
                "refuseSystemNames"
            ]
        );
        assert_eq!(v[0].value, "90d");
        assert!(v[0].message.contains("maxLifetime 30d"), "{}", v[0]);
        assert!(v[0].fix.contains("--expiration 30d"), "{}", v[0].fix);
        assert_eq!(v[1].value, "ClusterRole/cluster-admin");
        assert!(v[1].fix.contains("--ticket"), "{}", v[1].fix);
        // A RoleBinding to a ClusterRole is a ClusterRole grant: Role/* does not allow it.
        assert_eq!(v[4].value, "ClusterRole/ns/deployer");
        a.ticket = Some("CHG-1");
        a.expiration_seconds = None;
        let v = p.check(&a);
        assert_eq!(v[0].rule, "maxLifetime");
        assert_eq!(v[0].value, "none");
        assert!(!rules(&v).contains(&"ticketRequiredFor"));
    }

    #[test]
    fn an_empty_allowed_list_allows_nothing_and_an_absent_one_everything() {
        let none = "apiVersion: kcsr.dev/v1\nkind: StationPolicy\nallowedRoles: []\nrefuseSystemNames: false\n";
        let p = StationPolicy::parse(none.as_bytes()).unwrap();
        let g = [Grant::ClusterRole("view".into())];
        assert_eq!(
            rules(&p.check(&asked("system:x", &["system:y"], &g))),
            vec!["allowedRoles"]
        );
        let any = StationPolicy::parse(b"apiVersion: kcsr.dev/v1\nkind: StationPolicy\n").unwrap();
        assert_eq!(any.check(&asked("u", &["g"], &g)), vec![]);
        assert_eq!(
            rules(&any.check(&asked("system:u", &[], &g))),
            vec!["refuseSystemNames"]
        );
    }

    #[test]
    fn patterns_and_files_that_cannot_be_a_policy_are_refused_naming_the_field() {
        for (text, says) in [
            ("apiVersion: kcsr.dev/v1\nkind: Other\n", "kind"),
            (
                "apiVersion: kcsr.dev/v1\nkind: StationPolicy\nmaxLifetime: 30\n",
                "maxLifetime",
            ),
            (
                "apiVersion: kcsr.dev/v1\nkind: StationPolicy\nallowedRoles: [\"a*b\"]\n",
                "allowedRoles",
            ),
            (
                "apiVersion: kcsr.dev/v1\nkind: StationPolicy\nforbiddenRoles: [\"Group/x\"]\n",
                "forbiddenRoles",
            ),
            (
                "apiVersion: kcsr.dev/v1\nkind: StationPolicy\nallowedGroups: [\"\"]\n",
                "allowedGroups",
            ),
            (
                "apiVersion: kcsr.dev/v1\nkind: StationPolicy\nmaxLifeTime: 30d\n",
                "maxLifeTime",
            ),
        ] {
            let e = StationPolicy::parse(text.as_bytes()).unwrap_err();
            assert!(e.0.contains(says), "{text:?}: {e}");
        }
        let p: RolePattern = "ClusterRole/*".parse().unwrap();
        assert!(p.matches(&Grant::ClusterRole("anything".into())));
        assert!(!p.matches(&Grant::Role("anything".into(), "ns".into())));
        let n: NamePattern = "team-*".parse().unwrap();
        assert!(n.matches("team-") && n.matches("team-a") && !n.matches("team"));
    }
}

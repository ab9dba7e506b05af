//! Authorization (reference §14 "AuthZ", §5.3), as kube-apiserver's authorizer chain:
//!
//! 1. the privileged-group authorizer: `system:masters` may do everything
//!    (`pkg/kubeapiserver/authorizer/reload.go: newForConfig` puts
//!    `authorizerfactory.NewPrivilegedGroups(user.SystemPrivilegedGroup)` first, whatever the
//!    RBAC objects say — deleting the `cluster-admin` binding changes nothing for it);
//! 2. the test's rule table ([`Rule`]), standing in for any other authorizer (a webhook);
//! 3. RBAC over the stored objects: a ClusterRoleBinding or RoleBinding whose subjects match
//!    binds a ClusterRole or Role, whose rules decide (`rbac/rbac.go`,
//!    `rbac/v1/evaluation_helpers.go`). The bootstrap roles and bindings are objects like any
//!    other ([`crate::bootstrap`]): deleted, they grant nothing. RoleBindings only grant
//!    namespaced resources in their namespace, so they never grant CSR access (CSRs are
//!    cluster-scoped).
//!
//! Admission plugins ask the same chain, except in legacy (1.19–1.21) mode: there the
//! privileged group was only added around the request authorizer
//! (`apiserver pkg/server/config.go: AuthorizeClientBearerToken`), not around the one given
//! to admission, so `approve`/`sign` on `signers` for `system:masters` needed the
//! `cluster-admin` binding (kubernetes/kubernetes#109211, fixed in 1.26 by #111558).

use serde_json::Value;

use crate::csr::{s, strings};
use crate::state::{Store, UserInfo};

/// Whom a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A user name (certificate CN or token user).
    User(String),
    /// A group (certificate O, token group, or `system:authenticated`).
    Group(String),
}

/// One RBAC rule: `verbs` on `resources` (`certificatesigningrequests`,
/// `certificatesigningrequests/approval`, `signers`, …) in `api_groups`, optionally limited
/// to `resource_names` (for `signers`: a signer name or `domain/*`). `"*"` matches anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub subject: Subject,
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

impl Rule {
    /// An empty rule for a user, in API group `certificates.k8s.io`.
    pub fn user(name: &str) -> Rule {
        Rule {
            subject: Subject::User(name.to_string()),
            verbs: Vec::new(),
            api_groups: vec!["certificates.k8s.io".into()],
            resources: Vec::new(),
            resource_names: Vec::new(),
        }
    }
    /// An empty rule for a group, in API group `certificates.k8s.io`.
    pub fn group(name: &str) -> Rule {
        Rule {
            subject: Subject::Group(name.to_string()),
            ..Rule::user("")
        }
    }
    /// The verbs (`create`, `get`, `list`, `watch`, `update`, `patch`, `delete`, `approve`,
    /// `sign`, or `*`).
    pub fn verbs(mut self, verbs: &[&str]) -> Rule {
        self.verbs = owned(verbs);
        self
    }
    /// The resources, with subresources as `resource/sub`.
    pub fn resources(mut self, resources: &[&str]) -> Rule {
        self.resources = owned(resources);
        self
    }
    /// Limits the rule to these object (or signer) names.
    pub fn names(mut self, names: &[&str]) -> Rule {
        self.resource_names = owned(names);
        self
    }
    /// Replaces the API groups (default `certificates.k8s.io`; `""` is the core group).
    pub fn api_groups(mut self, groups: &[&str]) -> Rule {
        self.api_groups = owned(groups);
        self
    }
    /// What a requester needs (reference §5.3): create/get/list/watch on CSRs.
    pub fn requester(subject: Subject) -> Rule {
        Rule {
            subject,
            ..Rule::user("")
        }
        .verbs(&["create", "get", "list", "watch"])
        .resources(&["certificatesigningrequests"])
    }
    /// What an approver for `signer` needs (reference §5.3): get/list/watch CSRs, update
    /// `/approval`, and `approve` on `signers` named `signer` (a name or `domain/*`). Returns
    /// the three rules.
    pub fn approver(subject: Subject, signer: &str) -> Vec<Rule> {
        let base = Rule {
            subject,
            ..Rule::user("")
        };
        vec![
            base.clone()
                .verbs(&["get", "list", "watch"])
                .resources(&["certificatesigningrequests"]),
            base.clone()
                .verbs(&["update", "patch"])
                .resources(&["certificatesigningrequests/approval"]),
            base.verbs(&["approve"])
                .resources(&["signers"])
                .names(&[signer]),
        ]
    }
}

/// What a request wants to do.
#[derive(Debug, Clone)]
pub(crate) struct Attrs<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub name: &'a str,
    pub namespace: &'a str,
}

fn matches_list(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

/// `rbac/v1/evaluation_helpers.go: ResourceMatches`.
fn resource_matches(list: &[String], resource: &str, sub: &str) -> bool {
    let combined = if sub.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}/{sub}")
    };
    list.iter()
        .any(|r| r == "*" || *r == combined || (!sub.is_empty() && *r == format!("*/{sub}")))
}

fn rule_allows(
    verbs: &[String],
    groups: &[String],
    resources: &[String],
    names: &[String],
    a: &Attrs<'_>,
) -> bool {
    matches_list(verbs, a.verb)
        && matches_list(groups, a.group)
        && resource_matches(resources, a.resource, a.subresource)
        && (names.is_empty() || names.iter().any(|n| n == a.name))
}

fn json_rules_allow(rules: &Value, a: &Attrs<'_>) -> bool {
    rules.as_array().is_some_and(|rs| {
        rs.iter().any(|r| {
            rule_allows(
                &strings(r, "/verbs"),
                &strings(r, "/apiGroups"),
                &strings(r, "/resources"),
                &strings(r, "/resourceNames"),
                a,
            )
        })
    })
}

fn subject_matches(subject: &Value, user: &UserInfo) -> bool {
    match s(subject, "/kind") {
        "User" => s(subject, "/name") == user.name,
        "Group" => user.in_group(s(subject, "/name")),
        _ => false,
    }
}

fn role_rules(store: &Store, kind: &str, name: &str, ns: &str) -> Option<Value> {
    match kind {
        "ClusterRole" => store
            .objects
            .get(&("clusterroles", String::new(), name.to_string()))
            .and_then(|r| r.get("rules").cloned()),
        "Role" => store
            .objects
            .get(&("roles", ns.to_string(), name.to_string()))
            .and_then(|r| r.get("rules").cloned()),
        _ => None,
    }
}

/// The request authorizer: privileged group, rule table, RBAC objects.
pub(crate) fn authorize(store: &Store, table: &[Rule], user: &UserInfo, a: &Attrs<'_>) -> bool {
    user.in_group("system:masters") || authorize_without_superuser(store, table, user, a)
}

/// The chain without the privileged-group authorizer: rule table, then RBAC objects.
fn authorize_without_superuser(
    store: &Store,
    table: &[Rule],
    user: &UserInfo,
    a: &Attrs<'_>,
) -> bool {
    for r in table {
        let applies = match &r.subject {
            Subject::User(u) => *u == user.name,
            Subject::Group(g) => user.in_group(g),
        };
        if applies && rule_allows(&r.verbs, &r.api_groups, &r.resources, &r.resource_names, a) {
            return true;
        }
    }
    for ((resource, ns, _), b) in &store.objects {
        let ok_scope = match *resource {
            "clusterrolebindings" => true,
            "rolebindings" => !a.namespace.is_empty() && *ns == a.namespace,
            _ => false,
        };
        if !ok_scope {
            continue;
        }
        let bound = b
            .get("subjects")
            .and_then(Value::as_array)
            .is_some_and(|subs| subs.iter().any(|sub| subject_matches(sub, user)));
        if !bound {
            continue;
        }
        if let Some(rules) = role_rules(store, s(b, "/roleRef/kind"), s(b, "/roleRef/name"), ns)
            && json_rules_allow(&rules, a)
        {
            return true;
        }
    }
    false
}

/// §5.3 `IsAuthorizedForSignerName`: the exact signer name, or `<domain>/*`, asked of the
/// authorizer admission plugins get (`legacy`: without the privileged group, see above).
pub(crate) fn authorized_for_signer(
    store: &Store,
    table: &[Rule],
    user: &UserInfo,
    verb: &str,
    signer: &str,
    legacy: bool,
) -> bool {
    let ask = |a: &Attrs<'_>| {
        if legacy {
            authorize_without_superuser(store, table, user, a)
        } else {
            authorize(store, table, user, a)
        }
    };
    let mut a = Attrs {
        verb,
        group: "certificates.k8s.io",
        resource: "signers",
        subresource: "",
        name: signer,
        namespace: "",
    };
    if ask(&a) {
        return true;
    }
    let wildcard = format!("{}/*", signer.split('/').next().unwrap_or(""));
    a.name = &wildcard;
    ask(&a)
}

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

use crate::fields::{str_at, strings_at};
use crate::identity::UserInfo;
use crate::rule::{Rule, Subject};
use crate::store::Store;

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
                &strings_at(r, "/verbs"),
                &strings_at(r, "/apiGroups"),
                &strings_at(r, "/resources"),
                &strings_at(r, "/resourceNames"),
                a,
            )
        })
    })
}

fn subject_matches(subject: &Value, user: &UserInfo) -> bool {
    match str_at(subject, "/kind") {
        "User" => str_at(subject, "/name") == user.name,
        "Group" => user.in_group(str_at(subject, "/name")),
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
        if let Some(rules) = role_rules(
            store,
            str_at(b, "/roleRef/kind"),
            str_at(b, "/roleRef/name"),
            ns,
        ) && json_rules_allow(&rules, a)
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

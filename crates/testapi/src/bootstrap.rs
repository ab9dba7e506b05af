//! The bootstrap RBAC policy a real cluster starts with, as objects: the ClusterRoles
//! `cluster-admin`, `admin`, `edit`, `view` (aggregated), the `system:aggregate-to-*` roles
//! they aggregate, `system:basic-user`, `system:discovery`, `system:public-info-viewer`,
//! `system:node-bootstrapper` and the `system:certificates.k8s.io:*` roles, and the
//! ClusterRoleBindings `cluster-admin` → Group `system:masters`, `system:basic-user` and
//! `system:discovery` → `system:authenticated`, `system:public-info-viewer` →
//! `system:authenticated` + `system:unauthenticated`.
//!
//! Rules, labels and annotations are those of upstream's
//! `plugin/pkg/auth/authorizer/rbac/bootstrappolicy/testdata/cluster-roles.yaml` and
//! `cluster-role-bindings.yaml` (kubernetes/kubernetes), which `policy.go` must reproduce.
//! kube-apiserver's `rbac/bootstrap-roles` post-start hook creates what is missing at every
//! start and adds missing rules/subjects to objects annotated
//! `rbac.authorization.kubernetes.io/autoupdate: "true"` (`reconciliation/`); the
//! `clusterrole-aggregation` controller of kube-controller-manager fills the rules of
//! `admin`, `edit` and `view` from the roles their `aggregationRule` selects
//! (`pkg/controller/clusterroleaggregation`). Both are done here: [`ensure`] at start and
//! after a restart, [`aggregate`] after every ClusterRole write.

use serde_json::{Value, json};

use crate::bootstrap_policy::{AUTOUPDATE, cluster_role_bindings, cluster_roles};
use crate::fields::{str_at, strings_at};
use crate::store::{ObjectKey, Store};

fn key(resource: &'static str, name: &str) -> ObjectKey {
    (resource, String::new(), name.to_string())
}

fn autoupdate(obj: &Value) -> bool {
    // Reconciliation skips objects whose annotation is "false" (`reconciliation/
    // clusterrole_interfaces.go: IsProtected`).
    obj.pointer(&format!(
        "/metadata/annotations/{}",
        AUTOUPDATE.replace('/', "~1")
    ))
    .and_then(Value::as_str)
        != Some("false")
}

/// kube-apiserver's `rbac/bootstrap-roles` post-start hook (`storage_rbac.go:
/// ensureRBACPolicy` with `reconciliation.ReconcileRoleOptions{Confirm: true,
/// RemoveExtraPermissions: false}`): missing objects are created; existing ones that allow
/// auto-update get the missing rules (roles) or subjects (bindings), and a binding whose
/// roleRef differs is re-created. Returns whether anything was written.
pub(crate) fn ensure(store: &mut Store, now: &str) -> bool {
    let mut wrote = false;
    for want in cluster_roles() {
        let k = key("clusterroles", str_at(&want, "/metadata/name"));
        match store.objects.get(&k).cloned() {
            None => {
                store.write(k, created(want, now), "ADDED");
                wrote = true;
            }
            Some(have) if autoupdate(&have) => {
                let mut next = have.clone();
                let mut rules = have
                    .get("rules")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for r in want["rules"].as_array().cloned().unwrap_or_default() {
                    if !rules.iter().any(|x| covers(x, &r)) {
                        rules.push(r);
                    }
                }
                next["rules"] = Value::Array(rules);
                if have.get("aggregationRule").is_none()
                    && let Some(a) = want.get("aggregationRule")
                {
                    next["aggregationRule"] = a.clone();
                }
                if next != have {
                    store.write(k, next, "MODIFIED");
                    wrote = true;
                }
            }
            Some(_) => {}
        }
    }
    for want in cluster_role_bindings() {
        let k = key("clusterrolebindings", str_at(&want, "/metadata/name"));
        match store.objects.get(&k).cloned() {
            None => {
                store.write(k, created(want, now), "ADDED");
                wrote = true;
            }
            Some(have) if autoupdate(&have) => {
                if have.get("roleRef") != want.get("roleRef") {
                    store.write(k.clone(), have, "DELETED");
                    store.write(k, created(want, now), "ADDED");
                    wrote = true;
                    continue;
                }
                let mut subjects = have
                    .get("subjects")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let before = subjects.len();
                for sub in want["subjects"].as_array().cloned().unwrap_or_default() {
                    if !subjects.iter().any(|x| {
                        str_at(x, "/kind") == str_at(&sub, "/kind")
                            && str_at(x, "/name") == str_at(&sub, "/name")
                    }) {
                        subjects.push(sub);
                    }
                }
                if subjects.len() != before {
                    let mut next = have;
                    next["subjects"] = Value::Array(subjects);
                    store.write(k, next, "MODIFIED");
                    wrote = true;
                }
            }
            Some(_) => {}
        }
    }
    aggregate(store) || wrote
}

fn created(mut obj: Value, now: &str) -> Value {
    obj["metadata"]["uid"] = json!(crate::ids::uuid());
    obj["metadata"]["creationTimestamp"] = json!(now);
    obj
}

/// Whether rule `have` grants at least what `want` does (same shape, each list a superset);
/// enough for reconciliation, which compares rule coverage (`validation.Covers`).
fn covers(have: &Value, want: &Value) -> bool {
    [
        "/apiGroups",
        "/resources",
        "/resourceNames",
        "/nonResourceURLs",
        "/verbs",
    ]
    .iter()
    .all(|p| {
        let h = strings_at(have, p);
        strings_at(want, p)
            .iter()
            .all(|w| h.iter().any(|x| x == w || x == "*"))
    })
}

/// `metav1.LabelSelector` matching: `matchLabels` and `matchExpressions` (In, NotIn,
/// Exists, DoesNotExist).
pub(crate) fn selector_matches(selector: &Value, labels: Option<&Value>) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let by_labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| get(k) == v.as_str()));
    let by_expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_none_or(|es| {
            es.iter().all(|e| {
                let k = str_at(e, "/key");
                let values = strings_at(e, "/values");
                match str_at(e, "/operator") {
                    "In" => get(k).is_some_and(|v| values.iter().any(|x| x == v)),
                    "NotIn" => get(k).is_none_or(|v| values.iter().all(|x| x != v)),
                    "Exists" => get(k).is_some(),
                    "DoesNotExist" => get(k).is_none(),
                    _ => false,
                }
            })
        });
    by_labels && by_expressions
}

/// The `clusterrole-aggregation` controller (`clusterroleaggregation_controller.go:
/// syncClusterRole`): for each ClusterRole with an `aggregationRule`, the rules of every
/// other ClusterRole its selectors match, selector by selector, roles sorted by name,
/// without repeating an equal rule. Aggregated roles feed each other (`view` → `edit` →
/// `admin`), so the controller's passes are run to their fixed point in memory and only the
/// final rules are written. Returns whether anything was written.
pub(crate) fn aggregate(store: &mut Store) -> bool {
    // Name order, as the controller sorts (a BTreeMap walk already is).
    let mut roles: Vec<(String, Value)> = store
        .objects
        .iter()
        .filter(|((r, _, _), _)| *r == "clusterroles")
        .map(|((_, _, n), v)| (n.clone(), v.clone()))
        .collect();
    for _ in 0..16 {
        let mut changed = false;
        for i in 0..roles.len() {
            let Some(selectors) = roles[i]
                .1
                .pointer("/aggregationRule/clusterRoleSelectors")
                .and_then(Value::as_array)
                .cloned()
            else {
                continue;
            };
            let mut rules: Vec<Value> = Vec::new();
            for sel in &selectors {
                for (j, (_, other)) in roles.iter().enumerate() {
                    if j == i || !selector_matches(sel, other.pointer("/metadata/labels")) {
                        continue;
                    }
                    for r in other
                        .get("rules")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if !rules.contains(r) {
                            rules.push(r.clone());
                        }
                    }
                }
            }
            if roles[i].1.get("rules") != Some(&Value::Array(rules.clone())) {
                roles[i].1["rules"] = Value::Array(rules);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut wrote = false;
    for (name, role) in roles {
        let k = key("clusterroles", &name);
        if store.objects.get(&k) != Some(&role) {
            store.write(k, role, "MODIFIED");
            wrote = true;
        }
    }
    wrote
}

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

use crate::fields::{str_at, strings_at};
use crate::store::{ObjectKey, Store};

const GROUP: &str = "rbac.authorization.k8s.io";
const AUTOUPDATE: &str = "rbac.authorization.kubernetes.io/autoupdate";

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

fn named_rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "resourceNames": names, "verbs": verbs})
}

fn url_rule(urls: &[&str], verbs: &[&str]) -> Value {
    json!({"nonResourceURLs": urls, "verbs": verbs})
}

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const ALL: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn role(name: &str, extra_labels: &[(&str, &str)], rules: Vec<Value>) -> Value {
    let mut labels = serde_json::Map::new();
    labels.insert("kubernetes.io/bootstrapping".into(), json!("rbac-defaults"));
    for (k, v) in extra_labels {
        labels.insert((*k).into(), json!(v));
    }
    json!({"kind":"ClusterRole","apiVersion":format!("{GROUP}/v1"),
        "metadata":{"name":name,"labels":labels,"annotations":{AUTOUPDATE:"true"}},
        "rules":rules})
}

fn aggregated(name: &str, extra_labels: &[(&str, &str)], selector_label: &str) -> Value {
    let mut r = role(name, extra_labels, Vec::new());
    r["aggregationRule"] =
        json!({"clusterRoleSelectors":[{"matchLabels":{selector_label:"true"}}]});
    r
}

fn binding(name: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"apiGroup":GROUP,"kind":"Group","name":g}))
        .collect();
    json!({"kind":"ClusterRoleBinding","apiVersion":format!("{GROUP}/v1"),
        "metadata":{"name":name,"labels":{"kubernetes.io/bootstrapping":"rbac-defaults"},
            "annotations":{AUTOUPDATE:"true"}},
        "roleRef":{"apiGroup":GROUP,"kind":"ClusterRole","name":name},
        "subjects":subjects})
}

const TO_ADMIN: &str = "rbac.authorization.k8s.io/aggregate-to-admin";
const TO_EDIT: &str = "rbac.authorization.k8s.io/aggregate-to-edit";
const TO_VIEW: &str = "rbac.authorization.k8s.io/aggregate-to-view";

fn approver(signer_role: &str, signer: &str) -> Value {
    role(
        &format!("system:certificates.k8s.io:{signer_role}"),
        &[],
        vec![named_rule(
            &["certificates.k8s.io"],
            &["signers"],
            &[signer],
            &["approve"],
        )],
    )
}

/// The bootstrap ClusterRoles (testdata `cluster-roles.yaml`; rules of aggregated roles are
/// filled by [`aggregate`]).
pub(crate) fn cluster_roles() -> Vec<Value> {
    vec![
        aggregated("admin", &[], TO_ADMIN),
        role(
            "cluster-admin",
            &[],
            vec![rule(&["*"], &["*"], &["*"]), url_rule(&["*"], &["*"])],
        ),
        aggregated("edit", &[(TO_ADMIN, "true")], TO_EDIT),
        role(
            "system:aggregate-to-admin",
            &[(TO_ADMIN, "true")],
            vec![
                rule(
                    &["authorization.k8s.io"],
                    &["localsubjectaccessreviews"],
                    &["create"],
                ),
                rule(&[GROUP], &["rolebindings", "roles"], ALL),
            ],
        ),
        role(
            "system:aggregate-to-edit",
            &[(TO_EDIT, "true")],
            vec![
                rule(
                    &[""],
                    &[
                        "pods/attach",
                        "pods/exec",
                        "pods/portforward",
                        "pods/proxy",
                        "secrets",
                        "services/proxy",
                    ],
                    READ,
                ),
                rule(&[""], &["serviceaccounts"], &["impersonate"]),
                rule(
                    &[""],
                    &[
                        "pods",
                        "pods/attach",
                        "pods/exec",
                        "pods/portforward",
                        "pods/proxy",
                    ],
                    WRITE,
                ),
                rule(&[""], &["pods/eviction"], &["create"]),
                rule(
                    &[""],
                    &[
                        "configmaps",
                        "events",
                        "persistentvolumeclaims",
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "secrets",
                        "serviceaccounts",
                        "services",
                        "services/proxy",
                    ],
                    WRITE,
                ),
                rule(&[""], &["serviceaccounts/token"], &["create"]),
                rule(
                    &["apps"],
                    &[
                        "daemonsets",
                        "deployments",
                        "deployments/rollback",
                        "deployments/scale",
                        "replicasets",
                        "replicasets/scale",
                        "statefulsets",
                        "statefulsets/scale",
                    ],
                    WRITE,
                ),
                rule(&["autoscaling"], &["horizontalpodautoscalers"], WRITE),
                rule(&["batch"], &["cronjobs", "jobs"], WRITE),
                rule(
                    &["extensions"],
                    &[
                        "daemonsets",
                        "deployments",
                        "deployments/rollback",
                        "deployments/scale",
                        "ingresses",
                        "networkpolicies",
                        "replicasets",
                        "replicasets/scale",
                        "replicationcontrollers/scale",
                    ],
                    WRITE,
                ),
                rule(&["policy"], &["poddisruptionbudgets"], WRITE),
                rule(
                    &["networking.k8s.io"],
                    &["ingresses", "networkpolicies"],
                    WRITE,
                ),
                rule(&["coordination.k8s.io"], &["leases"], ALL),
            ],
        ),
        role(
            "system:aggregate-to-view",
            &[(TO_VIEW, "true")],
            vec![
                rule(
                    &[""],
                    &[
                        "configmaps",
                        "endpoints",
                        "persistentvolumeclaims",
                        "persistentvolumeclaims/status",
                        "pods",
                        "replicationcontrollers",
                        "replicationcontrollers/scale",
                        "serviceaccounts",
                        "services",
                        "services/status",
                    ],
                    READ,
                ),
                rule(
                    &[""],
                    &[
                        "bindings",
                        "events",
                        "limitranges",
                        "namespaces/status",
                        "pods/log",
                        "pods/status",
                        "replicationcontrollers/status",
                        "resourcequotas",
                        "resourcequotas/status",
                    ],
                    READ,
                ),
                rule(&[""], &["namespaces"], READ),
                rule(&["discovery.k8s.io"], &["endpointslices"], READ),
                rule(
                    &["apps"],
                    &[
                        "controllerrevisions",
                        "daemonsets",
                        "daemonsets/status",
                        "deployments",
                        "deployments/scale",
                        "deployments/status",
                        "replicasets",
                        "replicasets/scale",
                        "replicasets/status",
                        "statefulsets",
                        "statefulsets/scale",
                        "statefulsets/status",
                    ],
                    READ,
                ),
                rule(
                    &["autoscaling"],
                    &[
                        "horizontalpodautoscalers",
                        "horizontalpodautoscalers/status",
                    ],
                    READ,
                ),
                rule(
                    &["batch"],
                    &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
                    READ,
                ),
                rule(
                    &["extensions"],
                    &[
                        "daemonsets",
                        "daemonsets/status",
                        "deployments",
                        "deployments/scale",
                        "deployments/status",
                        "ingresses",
                        "ingresses/status",
                        "networkpolicies",
                        "replicasets",
                        "replicasets/scale",
                        "replicasets/status",
                        "replicationcontrollers/scale",
                    ],
                    READ,
                ),
                rule(
                    &["policy"],
                    &["poddisruptionbudgets", "poddisruptionbudgets/status"],
                    READ,
                ),
                rule(
                    &["networking.k8s.io"],
                    &["ingresses", "ingresses/status", "networkpolicies"],
                    READ,
                ),
            ],
        ),
        role(
            "system:basic-user",
            &[],
            vec![
                rule(
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &["create"],
                ),
                rule(
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                    &["create"],
                ),
            ],
        ),
        role(
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            &[],
            vec![rule(
                &["certificates.k8s.io"],
                &["certificatesigningrequests/nodeclient"],
                &["create"],
            )],
        ),
        role(
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            &[],
            vec![rule(
                &["certificates.k8s.io"],
                &["certificatesigningrequests/selfnodeclient"],
                &["create"],
            )],
        ),
        approver(
            "kube-apiserver-client-approver",
            "kubernetes.io/kube-apiserver-client",
        ),
        approver(
            "kube-apiserver-client-kubelet-approver",
            "kubernetes.io/kube-apiserver-client-kubelet",
        ),
        approver("kubelet-serving-approver", "kubernetes.io/kubelet-serving"),
        approver("legacy-unknown-approver", "kubernetes.io/legacy-unknown"),
        role(
            "system:discovery",
            &[],
            vec![url_rule(
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
                &["get"],
            )],
        ),
        role(
            "system:node-bootstrapper",
            &[],
            vec![rule(
                &["certificates.k8s.io"],
                &["certificatesigningrequests"],
                &["create", "get", "list", "watch"],
            )],
        ),
        role(
            "system:public-info-viewer",
            &[],
            vec![url_rule(
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
                &["get"],
            )],
        ),
        aggregated("view", &[(TO_EDIT, "true")], TO_VIEW),
    ]
}

/// The bootstrap ClusterRoleBindings (testdata `cluster-role-bindings.yaml`, the ones for
/// roles served here).
pub(crate) fn cluster_role_bindings() -> Vec<Value> {
    vec![
        binding("cluster-admin", &["system:masters"]),
        binding("system:basic-user", &["system:authenticated"]),
        binding("system:discovery", &["system:authenticated"]),
        binding(
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
    ]
}

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

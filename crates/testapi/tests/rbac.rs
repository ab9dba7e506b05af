//! Issue 13 part 1: the bootstrap RBAC policy is served as objects with upstream's rules, and
//! the authorizer goes by what the objects say.
//!
//! Upstream sources of the expectations (kubernetes/kubernetes):
//! - `plugin/pkg/auth/authorizer/rbac/bootstrappolicy/testdata/cluster-roles.yaml` and
//!   `cluster-role-bindings.yaml`: names, rules, labels, annotations of the bootstrap objects;
//! - `pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go`: the rules of
//!   `admin`, `edit`, `view` are those of the roles their `aggregationRule` selects;
//! - `pkg/registry/rbac/rest/storage_rbac.go` (`rbac/bootstrap-roles` post-start hook): what is
//!   missing is re-created at every apiserver start;
//! - `pkg/kubeapiserver/authorizer/reload.go: newForConfig`: the privileged-group authorizer
//!   (`system:masters`) comes first in the chain, so RBAC objects cannot take its rights away;
//! - kubernetes/kubernetes#109211 (1.21) and its fix #111558 (1.26): before the fix, admission
//!   plugins got an authorizer without that privileged group.

// Helpers outside #[test] functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use kcsr_testapi::{Config, TestServer};
use serde_json::{Value, json};

const CR: &str = "/apis/rbac.authorization.k8s.io/v1/clusterroles";
const CRB: &str = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
const CLIENT: &str = "kubernetes.io/kube-apiserver-client";

fn server(legacy: bool) -> TestServer {
    TestServer::start(Config {
        legacy,
        users: vec!["alice:dev".parse().unwrap(), "bob".parse().unwrap()],
        ..Config::default()
    })
    .unwrap()
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn has_rule(role: &Value, group: &str, resource: &str, verb: &str) -> bool {
    role["rules"].as_array().unwrap().iter().any(|r| {
        let has = |k: &str, v: &str| r[k].as_array().is_some_and(|a| a.iter().any(|x| x == v));
        has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
    })
}

fn binding(name: &str, role: &str, user: &str) -> Value {
    json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":name},
        "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":role},
        "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":user}]})
}

fn cluster_role(name: &str, labels: Value, rules: Value) -> Value {
    json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole",
        "metadata":{"name":name,"labels":labels},"rules":rules})
}

// testdata/cluster-roles.yaml and cluster-role-bindings.yaml: the objects, their rules,
// labels and annotations.
#[test]
fn bootstrap_roles_and_bindings_are_objects_with_upstream_rules() {
    let s = server(false);
    let adm = admin(&s);
    let r = adm.get(&format!("{CR}/cluster-admin"));
    assert_eq!(r.code, 200, "{}", r.body);
    let ca = r.json();
    assert_eq!(
        ca["rules"],
        json!([{"apiGroups":["*"],"resources":["*"],"verbs":["*"]},{"nonResourceURLs":["*"],"verbs":["*"]}])
    );
    assert_eq!(
        ca["metadata"]["labels"]["kubernetes.io/bootstrapping"],
        "rbac-defaults"
    );
    assert_eq!(
        ca["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"],
        "true"
    );
    assert!(
        ca["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| !u.is_empty())
    );
    assert!(
        ca["metadata"]["resourceVersion"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );

    let b = adm.get(&format!("{CRB}/cluster-admin")).json();
    assert_eq!(
        b["roleRef"],
        json!({"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"})
    );
    assert_eq!(
        b["subjects"],
        json!([{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"system:masters"}])
    );
    let pub_info = adm.get(&format!("{CRB}/system:public-info-viewer")).json();
    assert_eq!(pub_info["subjects"][1]["name"], "system:unauthenticated");

    for (role, signer) in [
        ("kube-apiserver-client-approver", CLIENT),
        (
            "kube-apiserver-client-kubelet-approver",
            "kubernetes.io/kube-apiserver-client-kubelet",
        ),
        ("kubelet-serving-approver", "kubernetes.io/kubelet-serving"),
        ("legacy-unknown-approver", "kubernetes.io/legacy-unknown"),
    ] {
        let r = adm
            .get(&format!("{CR}/system:certificates.k8s.io:{role}"))
            .json();
        assert_eq!(
            r["rules"],
            json!([{"apiGroups":["certificates.k8s.io"],"resources":["signers"],"resourceNames":[signer],"verbs":["approve"]}]),
            "{role}"
        );
    }
    let nodeclient = adm
        .get(&format!(
            "{CR}/system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"
        ))
        .json();
    assert_eq!(
        nodeclient["rules"],
        json!([{"apiGroups":["certificates.k8s.io"],"resources":["certificatesigningrequests/selfnodeclient"],"verbs":["create"]}])
    );

    // admin ⊇ edit ⊇ view, through the aggregation controller.
    let get = |n: &str| adm.get(&format!("{CR}/{n}")).json();
    let (admin_role, edit, view) = (get("admin"), get("edit"), get("view"));
    assert_eq!(
        view["aggregationRule"],
        json!({"clusterRoleSelectors":[{"matchLabels":{"rbac.authorization.k8s.io/aggregate-to-view":"true"}}]})
    );
    assert_eq!(view["rules"], get("system:aggregate-to-view")["rules"]);
    assert!(has_rule(
        &view,
        "discovery.k8s.io",
        "endpointslices",
        "list"
    ));
    assert!(!has_rule(&view, "", "secrets", "get"));
    assert!(has_rule(&edit, "", "secrets", "update"));
    assert!(has_rule(
        &edit,
        "discovery.k8s.io",
        "endpointslices",
        "list"
    ));
    assert!(has_rule(
        &admin_role,
        "rbac.authorization.k8s.io",
        "rolebindings",
        "create"
    ));
    assert!(has_rule(&admin_role, "", "pods", "delete"));
    assert!(!has_rule(
        &edit,
        "rbac.authorization.k8s.io",
        "rolebindings",
        "create"
    ));
    // None of them grants anything on CSRs (cluster-scoped, not in the aggregated rules).
    for r in [&admin_role, &edit, &view] {
        assert!(!has_rule(
            r,
            "certificates.k8s.io",
            "certificatesigningrequests",
            "list"
        ));
    }

    let roles = names(&adm.get(CR).json());
    for want in [
        "admin",
        "cluster-admin",
        "edit",
        "view",
        "system:basic-user",
        "system:node-bootstrapper",
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        "system:certificates.k8s.io:kube-apiserver-client-approver",
    ] {
        assert!(roles.iter().any(|r| r == want), "{want} not in {roles:?}");
    }
    let bindings = names(&adm.get(CRB).json());
    assert_eq!(
        bindings,
        [
            "cluster-admin",
            "system:basic-user",
            "system:discovery",
            "system:public-info-viewer"
        ]
    );
}

// The objects can be deleted (404 afterwards) and re-created by hand; a restart re-creates
// what is missing (storage_rbac.go: the rbac/bootstrap-roles post-start hook).
#[test]
fn bootstrap_objects_are_deletable_re_creatable_and_reconciled_at_start() {
    let s = server(false);
    let adm = admin(&s);
    let gone = adm.delete(&format!("{CRB}/cluster-admin"));
    assert_eq!(gone.code, 200, "{}", gone.body);
    assert_eq!(gone.json()["details"]["kind"], "clusterrolebindings");
    assert_eq!(adm.get(&format!("{CRB}/cluster-admin")).code, 404);
    assert_eq!(adm.delete(&format!("{CRB}/cluster-admin")).code, 404);
    let again = json!({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",
        "metadata":{"name":"cluster-admin"},
        "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},
        "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"system:masters"}]});
    assert_eq!(adm.post(CRB, &again).code, 201);
    assert_eq!(adm.post(CRB, &again).code, 409);

    assert_eq!(adm.delete(&format!("{CR}/view")).code, 200);
    assert_eq!(adm.delete(&format!("{CRB}/system:basic-user")).code, 200);
    assert_eq!(adm.get(&format!("{CR}/view")).code, 404);
    s.restart(Duration::from_millis(100)).unwrap();
    let adm = admin(&s);
    let view = adm.get(&format!("{CR}/view"));
    assert_eq!(view.code, 200, "re-created at start");
    assert!(has_rule(&view.json(), "", "pods", "list"), "and aggregated");
    assert_eq!(adm.get(&format!("{CRB}/system:basic-user")).code, 200);
}

// rbac/rbac.go + evaluation_helpers.go: bindings to the bootstrap roles grant what their
// rules say, and nothing once the role or binding is gone or changed.
#[test]
fn the_authorizer_goes_by_the_objects() {
    let s = server(false);
    let adm = admin(&s);
    let alice = user(&s, "alice");
    assert_eq!(adm.post(CSRS, &client_csr("one")).code, 201);
    // A reviewer role of our own + the bootstrap approver role for the client signer.
    let reviewer = cluster_role(
        "csr-reviewer",
        json!({}),
        json!([{"apiGroups":["certificates.k8s.io"],"resources":["certificatesigningrequests/approval"],"verbs":["update"]}]),
    );
    assert_eq!(adm.post(CR, &reviewer).code, 201);
    assert_eq!(
        adm.post(CRB, &binding("alice-review", "csr-reviewer", "alice"))
            .code,
        201
    );
    let denied = alice.approve("one");
    assert_eq!(denied.code, 403, "{}", denied.body);
    assert_eq!(
        denied.json()["message"],
        "certificatesigningrequests.certificates.k8s.io \"one\" is forbidden: user not permitted to approve requests with signerName \"kubernetes.io/kube-apiserver-client\""
    );
    assert_eq!(
        adm.post(
            CRB,
            &binding(
                "alice-approve",
                "system:certificates.k8s.io:kube-apiserver-client-approver",
                "alice"
            )
        )
        .code,
        201
    );
    assert_eq!(alice.approve("one").code, 200);

    // Deleting the bootstrap approver role takes the right away.
    assert_eq!(adm.post(CSRS, &client_csr("two")).code, 201);
    assert_eq!(
        adm.delete(&format!(
            "{CR}/system:certificates.k8s.io:kube-apiserver-client-approver"
        ))
        .code,
        200
    );
    assert_eq!(alice.approve("two").code, 403);

    // A binding to cluster-admin grants everything, until the role itself is gone.
    let bob = user(&s, "bob");
    assert_eq!(bob.delete(&format!("{CSRS}/two")).code, 403);
    assert_eq!(
        adm.post(CRB, &binding("bob-admin", "cluster-admin", "bob"))
            .code,
        201
    );
    assert_eq!(bob.get(&format!("{CR}/cluster-admin")).code, 200);
    assert_eq!(adm.delete(&format!("{CR}/cluster-admin")).code, 200);
    assert_eq!(bob.get(&format!("{CR}/edit")).code, 403);

    // Aggregation: a role labelled aggregate-to-view extends `view` (and `edit`, `admin`).
    assert_eq!(adm.post(CRB, &binding("bob-view", "view", "bob")).code, 201);
    let r = bob.delete(&format!("{CSRS}/two"));
    assert_eq!(r.code, 403, "{}", r.body);
    let extra = cluster_role(
        "csr-deleters",
        json!({"rbac.authorization.k8s.io/aggregate-to-view":"true"}),
        json!([{"apiGroups":["certificates.k8s.io"],"resources":["certificatesigningrequests"],"verbs":["delete"]}]),
    );
    assert_eq!(adm.post(CR, &extra).code, 201);
    let admin_role = adm.get(&format!("{CR}/admin")).json();
    assert!(has_rule(
        &admin_role,
        "certificates.k8s.io",
        "certificatesigningrequests",
        "delete"
    ));
    assert_eq!(bob.delete(&format!("{CSRS}/two")).code, 200);
    assert_eq!(adm.delete(&format!("{CR}/csr-deleters")).code, 200);
    assert_eq!(bob.delete(&format!("{CSRS}/one")).code, 403);
    assert!(!has_rule(
        &adm.get(&format!("{CR}/view")).json(),
        "certificates.k8s.io",
        "certificatesigningrequests",
        "delete"
    ));
}

// reload.go: the privileged-group authorizer comes before RBAC; admission gets the same chain
// since 1.26 (#111558, whose integration test is test/integration/certificates/
// admission_sign_test.go). Deleting the cluster-admin binding changes nothing for
// system:masters on a current cluster.
#[test]
fn system_masters_keeps_its_rights_without_the_cluster_admin_binding() {
    let s = server(false);
    let adm = admin(&s);
    assert_eq!(adm.delete(&format!("{CRB}/cluster-admin")).code, 200);
    assert_eq!(adm.delete(&format!("{CR}/cluster-admin")).code, 200);
    assert_eq!(adm.post(CSRS, &client_csr("m")).code, 201);
    let r = adm.approve("m");
    assert_eq!(r.code, 200, "{}", r.body);
    wait_for(&s, "m", issued);
    assert_eq!(adm.get(CRB).code, 200);
}

// #109211 (reported on 1.21.5): with the cluster-admin binding deleted, system:masters may
// still make the request (the request authorizer has the privileged group) but the
// CertificateApproval admission plugin, asking an authorizer without it, refuses.
#[test]
fn legacy_admission_needs_the_cluster_admin_binding_for_system_masters() {
    let s = server(true);
    let adm = admin(&s);
    assert_eq!(adm.post(CSRS, &client_csr("l")).code, 201);
    assert_eq!(adm.delete(&format!("{CRB}/cluster-admin")).code, 200);
    let r = adm.approve("l");
    assert_eq!(r.code, 403, "{}", r.body);
    assert_eq!(
        r.json()["message"],
        "certificatesigningrequests.certificates.k8s.io \"l\" is forbidden: user not permitted to approve requests with signerName \"kubernetes.io/kube-apiserver-client\""
    );
    assert_eq!(
        adm.get(&format!("{CSRS}/l")).code,
        200,
        "requests still pass"
    );
    // The binding is back after a restart (bootstrap reconciliation), and so is approval.
    s.restart(Duration::from_millis(100)).unwrap();
    let adm = admin(&s);
    assert_eq!(adm.approve("l").code, 200);
}

// system:basic-user (create selfsubjectreviews) is bound to system:authenticated only.
#[test]
fn self_subject_review_goes_by_the_basic_user_binding() {
    let s = server(false);
    let body = json!({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"});
    let path = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
    assert_eq!(user(&s, "alice").post(path, &body).code, 201);
    let anon = client_with(&s, None, None).post(path, &body);
    assert_eq!(anon.code, 403, "{}", anon.body);
    assert_eq!(
        admin(&s).delete(&format!("{CRB}/system:basic-user")).code,
        200
    );
    assert_eq!(user(&s, "alice").post(path, &body).code, 403);
    assert_eq!(admin(&s).post(path, &body).code, 201, "system:masters");
}

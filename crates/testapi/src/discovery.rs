//! What kubectl needs before it sends a request (reference §17): `/version`, legacy
//! discovery (`/api`, `/apis`, group and group/version resource lists) and `meta.k8s.io/v1`
//! Table responses for `kubectl get csr`. The OpenAPI documents are in [`crate::openapi`].

use serde_json::{Value, json};

use crate::clock::{human_duration, parse_rfc3339};
use crate::csr::condition_column;
use crate::fields::str_at;

pub(crate) fn version(legacy: bool) -> Value {
    let (minor, git) = if legacy {
        ("21", "v1.21.14")
    } else {
        ("32", "v1.32.4")
    };
    json!({"major":"1","minor":minor,"gitVersion":git,"gitCommit":"0000000000000000000000000000000000000000",
        "gitTreeState":"clean","buildDate":"2025-01-01T00:00:00Z","goVersion":"go1.23.8","compiler":"gc",
        "platform":"linux/amd64"})
}

pub(crate) fn api_versions(port: u16) -> Value {
    json!({"kind":"APIVersions","versions":["v1"],
        "serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":format!("127.0.0.1:{port}")}]})
}

/// (group, versions with the preferred one first).
pub(crate) fn groups(legacy: bool) -> Vec<(&'static str, Vec<&'static str>)> {
    let certs = if legacy {
        vec!["v1", "v1beta1"]
    } else {
        vec!["v1"]
    };
    vec![
        ("certificates.k8s.io", certs),
        ("rbac.authorization.k8s.io", vec!["v1"]),
        ("authentication.k8s.io", vec!["v1"]),
    ]
}

fn group_json(name: &str, versions: &[&str]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

pub(crate) fn api_group_list(legacy: bool) -> Value {
    let gs: Vec<Value> = groups(legacy)
        .iter()
        .map(|(g, v)| group_json(g, v))
        .collect();
    json!({"kind":"APIGroupList","apiVersion":"v1","groups":gs})
}

pub(crate) fn api_group(legacy: bool, name: &str) -> Option<Value> {
    groups(legacy)
        .iter()
        .find(|(g, _)| *g == name)
        .map(|(g, v)| {
            let mut j = group_json(g, v);
            j["kind"] = json!("APIGroup");
            j["apiVersion"] = json!("v1");
            j
        })
}

fn res(
    name: &str,
    singular: &str,
    namespaced: bool,
    kind: &str,
    verbs: &[&str],
    short: &[&str],
) -> Value {
    let mut r = json!({"name":name,"singularName":singular,"namespaced":namespaced,"kind":kind,"verbs":verbs});
    if !short.is_empty() {
        r["shortNames"] = json!(short);
    }
    r
}

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub(crate) fn resource_list(legacy: bool, group: &str, version: &str) -> Option<Value> {
    let served = groups(legacy)
        .iter()
        .any(|(g, vs)| *g == group && vs.contains(&version));
    if !served {
        return None;
    }
    let resources = match group {
        "certificates.k8s.io" => vec![
            res(
                "certificatesigningrequests",
                "certificatesigningrequest",
                false,
                "CertificateSigningRequest",
                ALL_VERBS,
                &["csr"],
            ),
            res(
                "certificatesigningrequests/approval",
                "",
                false,
                "CertificateSigningRequest",
                &["get", "patch", "update"],
                &[],
            ),
            res(
                "certificatesigningrequests/status",
                "",
                false,
                "CertificateSigningRequest",
                &["get", "patch", "update"],
                &[],
            ),
        ],
        "rbac.authorization.k8s.io" => vec![
            res(
                "clusterrolebindings",
                "clusterrolebinding",
                false,
                "ClusterRoleBinding",
                ALL_VERBS,
                &[],
            ),
            res(
                "clusterroles",
                "clusterrole",
                false,
                "ClusterRole",
                ALL_VERBS,
                &[],
            ),
            res(
                "rolebindings",
                "rolebinding",
                true,
                "RoleBinding",
                ALL_VERBS,
                &[],
            ),
            res("roles", "role", true, "Role", ALL_VERBS, &[]),
        ],
        "authentication.k8s.io" => vec![res(
            "selfsubjectreviews",
            "selfsubjectreview",
            false,
            "SelfSubjectReview",
            &["create"],
            &[],
        )],
        _ => return None,
    };
    Some(
        json!({"kind":"APIResourceList","apiVersion":"v1","groupVersion":format!("{group}/{version}"),"resources":resources}),
    )
}

pub(crate) fn core_resource_list() -> Value {
    json!({"kind":"APIResourceList","groupVersion":"v1","resources":[
        res("namespaces", "namespace", false, "Namespace", &["get", "list"], &["ns"])]})
}

/// Does the Accept header ask for a Table (`application/json;as=Table;v=v1;g=meta.k8s.io`)?
pub(crate) fn wants_table(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').next().is_some_and(|first| {
            let first = first.replace(' ', "");
            first.contains("as=Table") && first.starts_with("application/json")
        })
    })
}

fn age(o: &Value, now: i64) -> String {
    parse_rfc3339(str_at(o, "/metadata/creationTimestamp"))
        .map_or_else(|| "<unknown>".to_string(), |t| human_duration(now - t))
}

fn partial(o: &Value) -> Value {
    json!({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":o.get("metadata").cloned().unwrap_or(Value::Null)})
}

/// A `meta.k8s.io/v1` Table for any served resource (server-side printing, §17).
/// `columns = false` leaves out the column definitions (watch events after the first).
pub(crate) fn table(resource: &str, objs: &[Value], rv: &str, now: i64, columns: bool) -> Value {
    let mut t = match resource {
        "certificatesigningrequests" => csr_table(objs, rv, now),
        "clusterrolebindings" | "rolebindings" => {
            let rows: Vec<Value> = objs
                .iter()
                .map(|o| {
                    let role = format!("{}/{}", str_at(o, "/roleRef/kind"), str_at(o, "/roleRef/name"));
                    json!({"cells":[str_at(o,"/metadata/name"), role, age(o, now)], "object": partial(o)})
                })
                .collect();
            json!({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":rv},
                "columnDefinitions":[
                    {"name":"Name","type":"string","format":"name","description":"Name must be unique within a namespace.","priority":0},
                    {"name":"Role","type":"string","format":"","description":"RoleRef is the reference to the role.","priority":0},
                    {"name":"Age","type":"string","format":"","description":"CreationTimestamp is a timestamp representing the server time when this object was created.","priority":0}],
                "rows":rows})
        }
        _ => {
            let rows: Vec<Value> = objs
                .iter()
                .map(|o| json!({"cells":[str_at(o,"/metadata/name"), str_at(o,"/metadata/creationTimestamp")], "object": partial(o)}))
                .collect();
            json!({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":rv},
                "columnDefinitions":[
                    {"name":"Name","type":"string","format":"name","description":"Name must be unique within a namespace.","priority":0},
                    {"name":"Created At","type":"date","format":"","description":"CreationTimestamp is a timestamp representing the server time when this object was created.","priority":0}],
                "rows":rows})
        }
    };
    if !columns && let Some(m) = t.as_object_mut() {
        m.remove("columnDefinitions");
    }
    t
}

/// The CSR Table of `printers.go` (reference §8, §17): NAME, AGE, SIGNERNAME, REQUESTOR,
/// REQUESTEDDURATION, CONDITION.
fn csr_table(objs: &[Value], rv: &str, now: i64) -> Value {
    let col = |name: &str, format: &str, desc: &str| json!({"name":name,"type":"string","format":format,"description":desc,"priority":0});
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| {
            let age = age(o, now);
            let dur = o
                .pointer("/spec/expirationSeconds")
                .and_then(Value::as_i64)
                .map_or_else(|| "<none>".to_string(), human_duration);
            json!({"cells":[str_at(o,"/metadata/name"), age, str_at(o,"/spec/signerName"), str_at(o,"/spec/username"), dur, condition_column(o)],
                "object":partial(o)})
        })
        .collect();
    json!({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":rv},
        "columnDefinitions":[
            col("Name","name","Name must be unique within a namespace."),
            col("Age","","CreationTimestamp is a timestamp representing the server time when this object was created."),
            col("SignerName","","Requested signer for the request."),
            col("Requestor","","Name of the user which created the request."),
            col("RequestedDuration","","The requested duration of validity of the issued certificate."),
            col("Condition","","Current condition of the request.")],
        "rows":rows})
}

//! What kubectl needs before it sends a request (reference §17): `/version`, legacy
//! discovery (`/api`, `/apis`, group and group/version resource lists), the OpenAPI v3 index
//! and per-group documents (with the item PATCH operation carrying `fieldValidation`), and
//! `meta.k8s.io/v1` Table responses for `kubectl get csr`.

use serde_json::{Value, json};

use crate::clock::{human_duration, parse_rfc3339};
use crate::csr::{condition_column, s};

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

const HASH: &str = "4B3C0E6F5D1A2B3C";

/// `GET /openapi/v3`: the index of per-group-version documents.
pub(crate) fn openapi_index(legacy: bool) -> Value {
    let mut paths = serde_json::Map::new();
    for (g, vs) in groups(legacy) {
        for v in vs {
            paths.insert(
                format!("apis/{g}/{v}"),
                json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/{v}?hash={HASH}")}),
            );
        }
    }
    json!({ "paths": paths })
}

fn string_schema() -> Value {
    json!({"type":"string","default":""})
}

fn kinds_for(group: &str) -> Vec<(&'static str, &'static str, bool, Value)> {
    let meta =
        json!({"$ref":"#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"});
    match group {
        "certificates.k8s.io" => vec![(
            "CertificateSigningRequest",
            "certificatesigningrequests",
            false,
            json!({"type":"object","required":["spec"],"properties":{
                "apiVersion":{"type":"string"},"kind":{"type":"string"},"metadata":meta,
                "spec":{"type":"object","required":["request","signerName"],"properties":{
                    "request":{"type":"string","format":"byte","x-kubernetes-list-type":"atomic"},
                    "signerName":string_schema(),"expirationSeconds":{"type":"integer","format":"int32"},
                    "usages":{"type":"array","items":string_schema(),"x-kubernetes-list-type":"atomic"},
                    "username":{"type":"string"},"uid":{"type":"string"},
                    "groups":{"type":"array","items":string_schema(),"x-kubernetes-list-type":"atomic"},
                    "extra":{"type":"object","additionalProperties":{"type":"array","items":string_schema()}}}},
                "status":{"type":"object","properties":{
                    "conditions":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["type"],
                        "items":{"type":"object","required":["type","status"],"properties":{
                            "type":string_schema(),"status":string_schema(),"reason":{"type":"string"},"message":{"type":"string"},
                            "lastUpdateTime":{"type":"string","format":"date-time"},"lastTransitionTime":{"type":"string","format":"date-time"}}}},
                    "certificate":{"type":"string","format":"byte","x-kubernetes-list-type":"atomic"}}}}}),
        )],
        "rbac.authorization.k8s.io" => {
            let subjects = json!({"type":"array","items":{"type":"object","required":["kind","name"],"properties":{
                "kind":string_schema(),"apiGroup":{"type":"string"},"name":string_schema(),"namespace":{"type":"string"}}}});
            let role_ref = json!({"type":"object","required":["apiGroup","kind","name"],"properties":{
                "apiGroup":string_schema(),"kind":string_schema(),"name":string_schema()}});
            let rules = json!({"type":"array","items":{"type":"object","required":["verbs"],"properties":{
                "verbs":{"type":"array","items":string_schema()},"apiGroups":{"type":"array","items":string_schema()},
                "resources":{"type":"array","items":string_schema()},"resourceNames":{"type":"array","items":string_schema()},
                "nonResourceURLs":{"type":"array","items":string_schema()}}}});
            let binding = json!({"type":"object","required":["roleRef"],"properties":{
                "apiVersion":{"type":"string"},"kind":{"type":"string"},"metadata":meta,"subjects":subjects,"roleRef":role_ref}});
            let role = json!({"type":"object","properties":{
                "apiVersion":{"type":"string"},"kind":{"type":"string"},"metadata":meta,"rules":rules}});
            vec![
                (
                    "ClusterRoleBinding",
                    "clusterrolebindings",
                    false,
                    binding.clone(),
                ),
                ("ClusterRole", "clusterroles", false, role.clone()),
                ("RoleBinding", "rolebindings", true, binding),
                ("Role", "roles", true, role),
            ]
        }
        "authentication.k8s.io" => vec![(
            "SelfSubjectReview",
            "selfsubjectreviews",
            false,
            json!({"type":"object","properties":{"apiVersion":{"type":"string"},"kind":{"type":"string"},"metadata":meta,"status":{"type":"object"}}}),
        )],
        _ => Vec::new(),
    }
}

/// `GET /openapi/v3/apis/<group>/<version>`: enough for kubectl's field-validation check
/// (reference §17: schema GVK as an array, item PATCH with GVK as an object and a
/// `fieldValidation` parameter).
pub(crate) fn openapi_doc(legacy: bool, group: &str, version: &str) -> Option<Value> {
    groups(legacy)
        .iter()
        .find(|(g, vs)| *g == group && vs.contains(&version))?;
    let short = group.split('.').next().unwrap_or(group);
    let mut schemas = serde_json::Map::new();
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta".into(),
        json!({"type":"object","properties":{
            "name":{"type":"string"},"generateName":{"type":"string"},"namespace":{"type":"string"},
            "uid":{"type":"string"},"resourceVersion":{"type":"string"},"generation":{"type":"integer","format":"int64"},
            "creationTimestamp":{"type":"string","format":"date-time"},
            "labels":{"type":"object","additionalProperties":string_schema()},
            "annotations":{"type":"object","additionalProperties":string_schema()},
            "finalizers":{"type":"array","items":string_schema()},
            "managedFields":{"type":"array","items":{"type":"object"}},
            "ownerReferences":{"type":"array","items":{"type":"object"}}}}),
    );
    let mut paths = serde_json::Map::new();
    for (kind, plural, namespaced, mut schema) in kinds_for(group) {
        let gvk = json!({"group": group, "version": version, "kind": kind});
        schema["x-kubernetes-group-version-kind"] = json!([gvk]);
        let schema_name = format!("io.k8s.api.{short}.{version}.{kind}");
        schemas.insert(schema_name.clone(), schema);
        let ref_ = json!({"$ref": format!("#/components/schemas/{schema_name}")});
        let ok = json!({"description":"OK","content":{"application/json":{"schema":ref_}}});
        let params = json!([
            {"name":"dryRun","in":"query","schema":{"type":"string","uniqueItems":true}},
            {"name":"fieldManager","in":"query","schema":{"type":"string","uniqueItems":true}},
            {"name":"fieldValidation","in":"query","schema":{"type":"string","uniqueItems":true}}
        ]);
        let prefix = if namespaced {
            format!("/apis/{group}/{version}/namespaces/{{namespace}}/{plural}")
        } else {
            format!("/apis/{group}/{version}/{plural}")
        };
        paths.insert(
            prefix.clone(),
            json!({
                "post":{"operationId":format!("create{kind}"),"parameters":params,"responses":{"201":ok,"200":ok},
                    "x-kubernetes-action":"post","x-kubernetes-group-version-kind":gvk},
                "get":{"operationId":format!("list{kind}"),"responses":{"200":{"description":"OK"}},
                    "x-kubernetes-action":"list","x-kubernetes-group-version-kind":gvk}
            }),
        );
        paths.insert(
            format!("{prefix}/{{name}}"),
            json!({
                "get":{"operationId":format!("read{kind}"),"responses":{"200":ok},"x-kubernetes-action":"get","x-kubernetes-group-version-kind":gvk},
                "put":{"operationId":format!("replace{kind}"),"parameters":params,"responses":{"200":ok},"x-kubernetes-action":"put","x-kubernetes-group-version-kind":gvk},
                "patch":{"operationId":format!("patch{kind}"),"parameters":params,"responses":{"200":ok},"x-kubernetes-action":"patch","x-kubernetes-group-version-kind":gvk},
                "delete":{"operationId":format!("delete{kind}"),"responses":{"200":{"description":"OK"}},"x-kubernetes-action":"delete","x-kubernetes-group-version-kind":gvk}
            }),
        );
    }
    Some(
        json!({"openapi":"3.0.0","info":{"title":"Kubernetes","version":"v1.32.4"},
        "paths":paths,"components":{"schemas":schemas}}),
    )
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
    parse_rfc3339(s(o, "/metadata/creationTimestamp"))
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
                    let role = format!("{}/{}", s(o, "/roleRef/kind"), s(o, "/roleRef/name"));
                    json!({"cells":[s(o,"/metadata/name"), role, age(o, now)], "object": partial(o)})
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
                .map(|o| json!({"cells":[s(o,"/metadata/name"), s(o,"/metadata/creationTimestamp")], "object": partial(o)}))
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
            json!({"cells":[s(o,"/metadata/name"), age, s(o,"/spec/signerName"), s(o,"/spec/username"), dur, condition_column(o)],
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

//! The OpenAPI documents kubectl asks for (reference §15, §17):
//!
//! - `GET /openapi/v3` and `/openapi/v3/apis/<group>/<version>?hash=…`: field validation
//!   (the item PATCH with a `fieldValidation` parameter), and `kubectl apply`'s patch of an
//!   existing object, which kubectl 1.32 computes from the v3 schema when the PATCH operation
//!   accepts `application/strategic-merge-patch+json` (`kubectl/pkg/cmd/apply/patcher.go:
//!   gvkSupportsPatchOpenAPIV3`), otherwise it falls back to `/openapi/v2`;
//! - `GET /openapi/v2`: the single Swagger 2.0 document, as JSON or — what kubectl and
//!   client-go ask for (`discovery_client.go: OpenAPISchema`, `Accept:
//!   application/com.github.proto-openapi.spec.v2@v1.0+protobuf`) — as the gnostic protobuf
//!   ([`crate::openapi_pb`]); `kubectl explain --output plaintext-openapiv2` and the v2
//!   fallbacks read it.
//!
//! Both describe the kinds this server serves, with the schema details kubectl's patch and
//! validation code look at (`x-kubernetes-group-version-kind`, list types, map keys).

use serde_json::{Map, Value, json};

use crate::discovery::groups;

const VERSION: &str = "v1.32.4";
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
/// `PATCH` bodies kube-apiserver accepts for built-in kinds (`handlers/patch.go`).
const PATCH_TYPES: [&str; 4] = [
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];
const PRODUCES: [&str; 3] = [
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

fn string_schema() -> Value {
    json!({"type":"string","default":""})
}

/// A served kind: name, plural, namespaced, schema (references use `#/components/schemas/`),
/// subresources with their own PATCH.
struct Kind {
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    schema: Value,
    subresources: &'static [&'static str],
}

fn object_meta() -> Value {
    json!({"type":"object","properties":{
        "name":{"type":"string"},"generateName":{"type":"string"},"namespace":{"type":"string"},
        "uid":{"type":"string"},"resourceVersion":{"type":"string"},"generation":{"type":"integer","format":"int64"},
        "creationTimestamp":{"type":"string","format":"date-time"},
        "labels":{"type":"object","additionalProperties":string_schema()},
        "annotations":{"type":"object","additionalProperties":string_schema()},
        "finalizers":{"type":"array","items":string_schema(),"x-kubernetes-patch-strategy":"merge","x-kubernetes-list-type":"set"},
        "managedFields":{"type":"array","items":{"type":"object"},"x-kubernetes-list-type":"atomic"},
        "ownerReferences":{"type":"array","items":{"type":"object"},"x-kubernetes-patch-merge-key":"uid",
            "x-kubernetes-patch-strategy":"merge","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["uid"]}}})
}

fn kinds_for(group: &str, version: &str) -> Vec<Kind> {
    let meta = json!({"$ref": format!("#/components/schemas/{OBJECT_META}")});
    match group {
        "certificates.k8s.io" => vec![csr_kind(version, meta)],
        "rbac.authorization.k8s.io" => rbac_kinds(&meta),
        "authentication.k8s.io" => vec![self_review_kind(meta)],
        _ => Vec::new(),
    }
}

fn csr_kind(version: &str, meta: Value) -> Kind {
    // v1beta1 (1.19–1.21): signerName optional (defaulted), no expirationSeconds.
    let mut spec_props = json!({
                "request":{"type":"string","format":"byte","x-kubernetes-list-type":"atomic"},
                "signerName":string_schema(),"expirationSeconds":{"type":"integer","format":"int32"},
                "usages":{"type":"array","items":string_schema(),"x-kubernetes-list-type":"atomic"},
                "username":{"type":"string"},"uid":{"type":"string"},
                "groups":{"type":"array","items":string_schema(),"x-kubernetes-list-type":"atomic"},
                "extra":{"type":"object","additionalProperties":{"type":"array","items":string_schema()}}});
    let required = if version == "v1beta1" {
        if let Some(m) = spec_props.as_object_mut() {
            m.remove("expirationSeconds");
        }
        json!(["request"])
    } else {
        json!(["request", "signerName"])
    };
    Kind {
        kind: "CertificateSigningRequest",
        plural: "certificatesigningrequests",
        namespaced: false,
        schema: json!({"type":"object","required":["spec"],"properties":{
                    "apiVersion":{"type":"string"},"kind":{"type":"string"},"metadata":meta,
                    "spec":{"type":"object","required":required,"properties":spec_props},
                    "status":{"type":"object","properties":{
                        "conditions":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["type"],
                            "items":{"type":"object","required":["type","status"],"properties":{
                                "type":string_schema(),"status":string_schema(),"reason":{"type":"string"},"message":{"type":"string"},
                                "lastUpdateTime":{"type":"string","format":"date-time"},"lastTransitionTime":{"type":"string","format":"date-time"}}}},
                        "certificate":{"type":"string","format":"byte","x-kubernetes-list-type":"atomic"}}}}}),
        subresources: &["approval", "status"],
    }
}

fn rbac_kinds(meta: &Value) -> Vec<Kind> {
    let subjects = json!({"type":"array","x-kubernetes-list-type":"atomic","items":{"type":"object","required":["kind","name"],"properties":{
                "kind":string_schema(),"apiGroup":{"type":"string"},"name":string_schema(),"namespace":{"type":"string"}}}});
    let role_ref = json!({"type":"object","required":["apiGroup","kind","name"],"properties":{
                "apiGroup":string_schema(),"kind":string_schema(),"name":string_schema()}});
    let list = json!({"type":"array","items":string_schema(),"x-kubernetes-list-type":"atomic"});
    let rules = json!({"type":"array","x-kubernetes-list-type":"atomic","items":{"type":"object","required":["verbs"],"properties":{
                "verbs":list,"apiGroups":list,"resources":list,"resourceNames":list,"nonResourceURLs":list}}});
    let selectors = json!({"type":"array","x-kubernetes-list-type":"atomic","items":{"type":"object","properties":{
                "matchLabels":{"type":"object","additionalProperties":string_schema()},
                "matchExpressions":{"type":"array","x-kubernetes-list-type":"atomic","items":{"type":"object",
                    "required":["key","operator"],"properties":{"key":string_schema(),"operator":string_schema(),"values":list}}}}}});
    let binding = json!({"type":"object","required":["roleRef"],"properties":{
                "apiVersion":{"type":"string"},"kind":{"type":"string"},"metadata":meta,"subjects":subjects,"roleRef":role_ref}});
    let role = json!({"type":"object","properties":{
                "apiVersion":{"type":"string"},"kind":{"type":"string"},"metadata":meta,"rules":rules}});
    let mut cluster_role = role.clone();
    cluster_role["properties"]["aggregationRule"] =
        json!({"type":"object","properties":{"clusterRoleSelectors":selectors}});
    let k = |kind, plural, namespaced, schema| Kind {
        kind,
        plural,
        namespaced,
        schema,
        subresources: &[],
    };
    vec![
        k(
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
            binding.clone(),
        ),
        k("ClusterRole", "clusterroles", false, cluster_role),
        k("RoleBinding", "rolebindings", true, binding),
        k("Role", "roles", true, role),
    ]
}

fn self_review_kind(meta: Value) -> Kind {
    Kind {
        kind: "SelfSubjectReview",
        plural: "selfsubjectreviews",
        namespaced: false,
        schema: json!({"type":"object","properties":{"apiVersion":{"type":"string"},"kind":{"type":"string"},"metadata":meta,
                "status":{"type":"object","properties":{"userInfo":{"type":"object","properties":{
                    "username":{"type":"string"},"uid":{"type":"string"},
                    "groups":{"type":"array","items":string_schema(),"x-kubernetes-list-type":"atomic"},
                    "extra":{"type":"object","additionalProperties":{"type":"array","items":string_schema()}}}}}}}}),
        subresources: &[],
    }
}

fn schema_name(group: &str, version: &str, kind: &str) -> String {
    let short = group.split('.').next().unwrap_or(group);
    format!("io.k8s.api.{short}.{version}.{kind}")
}

fn served(legacy: bool, group: &str, version: &str) -> bool {
    groups(legacy)
        .iter()
        .any(|(g, vs)| *g == group && vs.contains(&version))
}

/// The v3 document of one group/version.
fn v3_doc(legacy: bool, group: &str, version: &str) -> Option<Value> {
    if !served(legacy, group, version) {
        return None;
    }
    let mut schemas = Map::new();
    schemas.insert(OBJECT_META.into(), object_meta());
    schemas.insert(
        PATCH.into(),
        json!({"description":"Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.","type":"object"}),
    );
    let mut paths = Map::new();
    let query = |name: &str| json!({"name":name,"in":"query","schema":{"type":"string","uniqueItems":true}});
    let params = json!([
        query("dryRun"),
        query("fieldManager"),
        query("fieldValidation")
    ]);
    let patch_body = {
        let mut content = Map::new();
        for t in PATCH_TYPES {
            content.insert(
                t.into(),
                json!({"schema":{"$ref":format!("#/components/schemas/{PATCH}")}}),
            );
        }
        json!({"content":content,"required":true})
    };
    for k in kinds_for(group, version) {
        let name = schema_name(group, version, k.kind);
        let gvk = json!({"group": group, "version": version, "kind": k.kind});
        let mut schema = k.schema.clone();
        schema["x-kubernetes-group-version-kind"] = json!([gvk]);
        schemas.insert(name.clone(), schema);
        let ops = KindOps {
            kind: &k,
            gvk,
            ref_: json!({"$ref": format!("#/components/schemas/{name}")}),
            params: &params,
            patch_body: &patch_body,
        };
        ops.add_paths(&mut paths, group, version);
    }
    Some(
        json!({"openapi":"3.0.0","info":{"title":"Kubernetes","version":VERSION},
        "paths":paths,"components":{"schemas":schemas}}),
    )
}

/// The operations of one kind in a v3 document.
struct KindOps<'a> {
    kind: &'a Kind,
    /// Its `x-kubernetes-group-version-kind`.
    gvk: Value,
    /// A reference to its schema.
    ref_: Value,
    /// The query parameters of a write.
    params: &'a Value,
    /// The request body of a PATCH.
    patch_body: &'a Value,
}

impl KindOps<'_> {
    /// The collection's path, its item's and each subresource's, with their operations.
    fn add_paths(&self, paths: &mut Map<String, Value>, group: &str, version: &str) {
        let k = self.kind;
        let prefix = if k.namespaced {
            format!(
                "/apis/{group}/{version}/namespaces/{{namespace}}/{}",
                k.plural
            )
        } else {
            format!("/apis/{group}/{version}/{}", k.plural)
        };
        let ok = self.ok();
        let mut post = self.op("post", &format!("create{}", k.kind));
        post["parameters"] = self.params.clone();
        post["requestBody"] = self.body();
        post["responses"] = json!({"200":ok,"201":ok,"202":ok});
        let mut list = self.op("list", &format!("list{}", k.kind));
        list["responses"] = json!({"200":{"description":"OK"}});
        paths.insert(prefix.clone(), json!({"post":post,"get":list}));
        paths.insert(format!("{prefix}/{{name}}"), self.item("", ""));
        for sub in k.subresources {
            let mut id = String::new();
            let mut chars = sub.chars();
            if let Some(c) = chars.next() {
                id.push(c.to_ascii_uppercase());
                id.extend(chars);
            }
            paths.insert(format!("{prefix}/{{name}}/{sub}"), self.item(sub, &id));
        }
    }

    fn op(&self, action: &str, id: &str) -> Value {
        json!({"operationId":id,"x-kubernetes-action":action,"x-kubernetes-group-version-kind":self.gvk})
    }

    fn ok(&self) -> Value {
        json!({"description":"OK","content":{"application/json":{"schema":self.ref_}}})
    }

    fn body(&self) -> Value {
        json!({"content":{"*/*":{"schema":self.ref_}},"required":true})
    }

    /// GET, PUT and PATCH of an item (`suffix` empty) or a subresource, and DELETE of an item.
    fn item(&self, suffix: &str, id_suffix: &str) -> Value {
        let kind = self.kind.kind;
        let ok = self.ok();
        let mut get = self.op("get", &format!("read{kind}{id_suffix}"));
        get["responses"] = json!({"200":ok});
        let mut put = self.op("put", &format!("replace{kind}{id_suffix}"));
        put["parameters"] = self.params.clone();
        put["requestBody"] = self.body();
        put["responses"] = json!({"200":ok,"201":ok});
        let mut patch = self.op("patch", &format!("patch{kind}{id_suffix}"));
        patch["parameters"] = self.params.clone();
        patch["requestBody"] = self.patch_body.clone();
        patch["responses"] = json!({"200":ok,"201":ok});
        let mut ops = json!({"get":get,"put":put,"patch":patch});
        if suffix.is_empty() {
            let mut delete = self.op("delete", &format!("delete{kind}"));
            delete["responses"] = json!({"200":{"description":"OK"}});
            ops["delete"] = delete;
        }
        ops
    }
}

/// The `hash` of a v3 document's URL: SHA-512 of its bytes, upper-case hex, as
/// kube-apiserver's `openapi/handler3` computes it (so caches see a changed document).
fn hash(doc: &Value) -> String {
    let bytes = serde_json::to_vec(doc).unwrap_or_default();
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, &bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// `GET /openapi/v3`: the index of per-group-version documents.
pub(crate) fn v3_index(legacy: bool) -> Value {
    let mut paths = Map::new();
    for (g, vs) in groups(legacy) {
        for v in vs {
            if let Some(doc) = v3_doc(legacy, g, v) {
                paths.insert(
                    format!("apis/{g}/{v}"),
                    json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/{v}?hash={}", hash(&doc))}),
                );
            }
        }
    }
    json!({ "paths": paths })
}

/// `GET /openapi/v3/apis/<group>/<version>`.
pub(crate) fn v3_group_version(legacy: bool, group: &str, version: &str) -> Option<Value> {
    v3_doc(legacy, group, version)
}

/// Rewrites `#/components/schemas/` references to Swagger 2.0's `#/definitions/`.
fn v2_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "$ref"
                    && let Value::String(s) = x
                {
                    *s = s.replace("#/components/schemas/", "#/definitions/");
                } else {
                    v2_refs(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(v2_refs),
        _ => {}
    }
}

/// `GET /openapi/v2` as JSON: every served group/version in one Swagger 2.0 document.
pub(crate) fn v2_doc(legacy: bool) -> Value {
    let mut definitions = Map::new();
    definitions.insert(OBJECT_META.into(), object_meta());
    definitions.insert(
        PATCH.into(),
        json!({"description":"Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.","type":"object"}),
    );
    let mut paths = Map::new();
    for (group, versions) in groups(legacy) {
        for version in versions {
            for k in kinds_for(group, version) {
                let gvk = json!({"group": group, "kind": k.kind, "version": version});
                let name = schema_name(group, version, k.kind);
                let mut schema = k.schema.clone();
                schema["x-kubernetes-group-version-kind"] = json!([gvk]);
                definitions.insert(name.clone(), schema);
                let ref_ = json!({"$ref": format!("#/definitions/{name}")});
                let ok = json!({"200":{"description":"OK","schema":ref_}});
                let body = json!({"name":"body","in":"body","required":true,"schema":ref_});
                let query =
                    |n: &str| json!({"uniqueItems":true,"type":"string","name":n,"in":"query"});
                // `fieldValidation` came in 1.23: without it in the PATCH operation kubectl
                // validates on its side (cli-runtime `QueryParamVerifier`, the fallback of
                // `QueryParamVerifierV3` when /openapi/v3 is missing).
                let mut params = json!([body, query("dryRun"), query("fieldManager")]);
                if !legacy && let Some(a) = params.as_array_mut() {
                    a.push(query("fieldValidation"));
                }
                let op = |action: &str, id: &str, consumes: &[&str]| {
                    json!({"consumes":consumes,"produces":PRODUCES,"schemes":["https"],"operationId":id,
                        "responses":ok,"x-kubernetes-action":action,"x-kubernetes-group-version-kind":gvk})
                };
                let prefix = if k.namespaced {
                    format!(
                        "/apis/{group}/{version}/namespaces/{{namespace}}/{}",
                        k.plural
                    )
                } else {
                    format!("/apis/{group}/{version}/{}", k.plural)
                };
                let mut post = op("post", &format!("create{}", k.kind), &["*/*"]);
                post["parameters"] = params.clone();
                paths.insert(
                    prefix.clone(),
                    json!({"get":op("list", &format!("list{}", k.kind), &["*/*"]),"post":post}),
                );
                let mut put = op("put", &format!("replace{}", k.kind), &["*/*"]);
                put["parameters"] = params.clone();
                let mut patch = op("patch", &format!("patch{}", k.kind), &PATCH_TYPES);
                patch["parameters"] = params.clone();
                paths.insert(
                    format!("{prefix}/{{name}}"),
                    json!({"get":op("get", &format!("read{}", k.kind), &["*/*"]),"put":put,"patch":patch,
                        "delete":op("delete", &format!("delete{}", k.kind), &["*/*"])}),
                );
            }
        }
    }
    let mut doc = json!({"swagger":"2.0","info":{"title":"Kubernetes","version":VERSION},
        "paths":paths,"definitions":definitions});
    v2_refs(&mut doc);
    doc
}

/// Whether an Accept header asks for the protobuf form of `/openapi/v2` (the media type
/// with `@` and the older one with `.`, `openapi/handler/handler.go`).
pub(crate) fn wants_v2_protobuf(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|t| {
            let t = t.split(';').next().unwrap_or("").trim();
            t == "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
                || t == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        })
    })
}

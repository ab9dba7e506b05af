//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`, reference §16, §17):
//! `kubectl certificate approve|deny`, `auth whoami` and `create clusterrolebinding` send them.
//! The wire format is the 4-byte magic `k8s\0` followed by a `runtime.Unknown` whose `raw`
//! holds the typed message. We decode into the same JSON shape a JSON client would send, so
//! the rest of the server has one code path.
//!
//! Pitfall: Go encodes a zero `metav1.Time` as an empty embedded message (no seconds field),
//! and a zero `time.Time` that went through `ProtoTime()` as seconds = -62135596800; both mean
//! "unset" (kubectl leaves `lastTransitionTime` zero for the server to fill, §5.1).

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_pb::api::certificates::v1 as certs;
use k8s_pb::api::rbac::v1 as rbac;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message as _;
use serde_json::{Map, Value, json};

use crate::clock::rfc3339;

const MAGIC: &[u8] = b"k8s\x00";
const GO_ZERO_UNIX: i64 = -62_135_596_800;

/// Which message type the endpoint expects.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Csr,
    ClusterRoleBinding,
    RoleBinding,
    ClusterRole,
    Role,
    /// Only the envelope is checked (SelfSubjectReview, DeleteOptions).
    Opaque,
}

fn put_str(m: &mut Map<String, Value>, k: &str, v: Option<String>) {
    if let Some(v) = v.filter(|v| !v.is_empty()) {
        m.insert(k.into(), Value::String(v));
    }
}

fn put_list(m: &mut Map<String, Value>, k: &str, v: Vec<String>) {
    if !v.is_empty() {
        m.insert(k.into(), json!(v));
    }
}

fn time(t: Option<meta::Time>) -> Option<String> {
    let t = t?;
    let secs = t.seconds?;
    (secs > GO_ZERO_UNIX).then(|| rfc3339(secs))
}

fn b64(v: Option<Vec<u8>>) -> Option<String> {
    v.filter(|b| !b.is_empty())
        .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
}

fn object_meta(m: Option<meta::ObjectMeta>) -> Value {
    let mut out = Map::new();
    let Some(m) = m else {
        return Value::Object(out);
    };
    put_str(&mut out, "name", m.name);
    put_str(&mut out, "generateName", m.generate_name);
    put_str(&mut out, "namespace", m.namespace);
    put_str(&mut out, "uid", m.uid);
    put_str(&mut out, "resourceVersion", m.resource_version);
    put_str(&mut out, "creationTimestamp", time(m.creation_timestamp));
    if !m.labels.is_empty() {
        out.insert("labels".into(), json!(m.labels));
    }
    if !m.annotations.is_empty() {
        out.insert("annotations".into(), json!(m.annotations));
    }
    Value::Object(out)
}

fn typed(kind: &str, api_version: &str, mut fields: Map<String, Value>) -> Value {
    fields.insert("kind".into(), json!(kind));
    fields.insert("apiVersion".into(), json!(api_version));
    Value::Object(fields)
}

fn csr(c: certs::CertificateSigningRequest, api_version: &str) -> Value {
    let mut top = Map::new();
    top.insert("metadata".into(), object_meta(c.metadata));
    let mut spec = Map::new();
    if let Some(sp) = c.spec {
        put_str(&mut spec, "request", b64(sp.request));
        put_str(&mut spec, "signerName", sp.signer_name);
        if let Some(e) = sp.expiration_seconds {
            spec.insert("expirationSeconds".into(), json!(e));
        }
        put_list(&mut spec, "usages", sp.usages);
        put_str(&mut spec, "username", sp.username);
        put_str(&mut spec, "uid", sp.uid);
        put_list(&mut spec, "groups", sp.groups);
        if !sp.extra.is_empty() {
            let extra: BTreeMap<String, Vec<String>> =
                sp.extra.into_iter().map(|(k, v)| (k, v.items)).collect();
            spec.insert("extra".into(), json!(extra));
        }
    }
    top.insert("spec".into(), Value::Object(spec));
    let mut status = Map::new();
    if let Some(st) = c.status {
        let conds: Vec<Value> = st
            .conditions
            .into_iter()
            .map(|c| {
                let mut m = Map::new();
                put_str(&mut m, "type", c.r#type);
                put_str(&mut m, "status", c.status);
                put_str(&mut m, "reason", c.reason);
                put_str(&mut m, "message", c.message);
                put_str(&mut m, "lastUpdateTime", time(c.last_update_time));
                put_str(&mut m, "lastTransitionTime", time(c.last_transition_time));
                Value::Object(m)
            })
            .collect();
        if !conds.is_empty() {
            status.insert("conditions".into(), Value::Array(conds));
        }
        put_str(&mut status, "certificate", b64(st.certificate));
    }
    top.insert("status".into(), Value::Object(status));
    typed("CertificateSigningRequest", api_version, top)
}

fn subjects(v: Vec<rbac::Subject>) -> Value {
    Value::Array(
        v.into_iter()
            .map(|s| {
                let mut m = Map::new();
                put_str(&mut m, "kind", s.kind);
                put_str(&mut m, "apiGroup", s.api_group);
                put_str(&mut m, "name", s.name);
                put_str(&mut m, "namespace", s.namespace);
                Value::Object(m)
            })
            .collect(),
    )
}

fn role_ref(r: Option<rbac::RoleRef>) -> Value {
    let mut m = Map::new();
    if let Some(r) = r {
        put_str(&mut m, "apiGroup", r.api_group);
        put_str(&mut m, "kind", r.kind);
        put_str(&mut m, "name", r.name);
    }
    Value::Object(m)
}

fn rules(v: Vec<rbac::PolicyRule>) -> Value {
    Value::Array(
        v.into_iter()
            .map(|r| {
                let mut m = Map::new();
                put_list(&mut m, "verbs", r.verbs);
                put_list(&mut m, "apiGroups", r.api_groups);
                put_list(&mut m, "resources", r.resources);
                put_list(&mut m, "resourceNames", r.resource_names);
                put_list(&mut m, "nonResourceURLs", r.non_resource_ur_ls);
                Value::Object(m)
            })
            .collect(),
    )
}

/// Decodes a protobuf body into JSON. Errors are 400 texts.
pub(crate) fn decode(body: &[u8], kind: Kind) -> Result<Value, String> {
    let Some(rest) = body.strip_prefix(MAGIC) else {
        return Err("provided object is not a protobuf message: missing the k8s\\0 prefix".into());
    };
    let unknown =
        Unknown::decode(rest).map_err(|e| format!("unable to decode protobuf envelope: {e}"))?;
    let tm = unknown.type_meta.unwrap_or_default();
    let api_version = tm.api_version.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let bad = |e: prost::DecodeError| format!("unable to decode protobuf body: {e}");
    Ok(match kind {
        Kind::Csr => csr(
            certs::CertificateSigningRequest::decode(raw.as_slice()).map_err(bad)?,
            &api_version,
        ),
        Kind::ClusterRoleBinding => {
            let b = rbac::ClusterRoleBinding::decode(raw.as_slice()).map_err(bad)?;
            let mut m = Map::new();
            m.insert("metadata".into(), object_meta(b.metadata));
            m.insert("subjects".into(), subjects(b.subjects));
            m.insert("roleRef".into(), role_ref(b.role_ref));
            typed("ClusterRoleBinding", &api_version, m)
        }
        Kind::RoleBinding => {
            let b = rbac::RoleBinding::decode(raw.as_slice()).map_err(bad)?;
            let mut m = Map::new();
            m.insert("metadata".into(), object_meta(b.metadata));
            m.insert("subjects".into(), subjects(b.subjects));
            m.insert("roleRef".into(), role_ref(b.role_ref));
            typed("RoleBinding", &api_version, m)
        }
        Kind::ClusterRole => {
            let r = rbac::ClusterRole::decode(raw.as_slice()).map_err(bad)?;
            let mut m = Map::new();
            m.insert("metadata".into(), object_meta(r.metadata));
            m.insert("rules".into(), rules(r.rules));
            typed("ClusterRole", &api_version, m)
        }
        Kind::Role => {
            let r = rbac::Role::decode(raw.as_slice()).map_err(bad)?;
            let mut m = Map::new();
            m.insert("metadata".into(), object_meta(r.metadata));
            m.insert("rules".into(), rules(r.rules));
            typed("Role", &api_version, m)
        }
        Kind::Opaque => json!({"kind": tm.kind.unwrap_or_default(), "apiVersion": api_version}),
    })
}

/// A `metav1.Time` from an RFC 3339 string; Go's zero time (an empty embedded message) for
/// anything else.
fn pb_time(v: Option<&Value>) -> Option<meta::Time> {
    let secs = v
        .and_then(Value::as_str)
        .and_then(crate::clock::parse_rfc3339);
    Some(meta::Time {
        seconds: secs,
        nanos: secs.map(|_| 0),
    })
}

/// One of a CSR's `status.conditions`, for [`encode_csr_for_tests`].
fn condition(c: &Value) -> certs::CertificateSigningRequestCondition {
    let cs = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
    certs::CertificateSigningRequestCondition {
        r#type: cs("type"),
        status: cs("status"),
        reason: cs("reason"),
        message: cs("message"),
        last_update_time: pb_time(c.get("lastUpdateTime")),
        last_transition_time: pb_time(c.get("lastTransitionTime")),
    }
}

/// Encodes a CSR the way client-go does (used by tests to mimic kubectl).
pub fn encode_csr_for_tests(obj: &Value) -> Vec<u8> {
    let text = |p: &str| obj.pointer(p).and_then(Value::as_str).map(str::to_string);
    let t = |p: &str| pb_time(obj.pointer(p));
    let dec =
        |p: &str| text(p).and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok());
    let list = |p: &str| -> Vec<String> {
        obj.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let conds = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let msg = certs::CertificateSigningRequest {
        metadata: Some(meta::ObjectMeta {
            name: text("/metadata/name"),
            resource_version: text("/metadata/resourceVersion"),
            uid: text("/metadata/uid"),
            creation_timestamp: t("/metadata/creationTimestamp"),
            ..Default::default()
        }),
        spec: Some(certs::CertificateSigningRequestSpec {
            request: dec("/spec/request"),
            signer_name: text("/spec/signerName"),
            usages: list("/spec/usages"),
            username: text("/spec/username"),
            groups: list("/spec/groups"),
            ..Default::default()
        }),
        status: Some(certs::CertificateSigningRequestStatus {
            conditions: conds.iter().map(condition).collect(),
            certificate: dec("/status/certificate"),
        }),
    };
    let env = Unknown {
        type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta {
            api_version: Some("certificates.k8s.io/v1".into()),
            kind: Some("CertificateSigningRequest".into()),
        }),
        raw: Some(msg.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&env.encode_to_vec());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_round_trips_through_protobuf() {
        let obj = json!({"metadata":{"name":"a","resourceVersion":"7"},
            "spec":{"request":"aGVsbG8=","signerName":"x.io/y","usages":["client auth"]},
            "status":{"conditions":[{"type":"Approved","status":"True","reason":"KubectlApprove","lastUpdateTime":"2025-01-01T10:00:00Z"}]}});
        let v = decode(&encode_csr_for_tests(&obj), Kind::Csr).unwrap();
        assert_eq!(v["metadata"]["resourceVersion"], "7");
        assert_eq!(v["spec"]["request"], "aGVsbG8=");
        assert_eq!(
            v["status"]["conditions"][0]["lastUpdateTime"],
            "2025-01-01T10:00:00Z"
        );
        assert!(
            v["status"]["conditions"][0]
                .get("lastTransitionTime")
                .is_none()
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for body in [&b""[..], b"k8s\x00", b"k8s\x00\xff\xff\xff", b"{}"] {
            let _ = decode(body, Kind::Csr);
            let _ = decode(body, Kind::ClusterRoleBinding);
        }
        assert!(decode(b"{}", Kind::Csr).is_err());
    }

    #[test]
    fn every_single_byte_mutation_decodes_or_errors() {
        let obj = json!({"metadata":{"name":"a","resourceVersion":"7"},
            "spec":{"request":"aGVsbG8=","signerName":"x.io/y","usages":["client auth"]},
            "status":{"conditions":[{"type":"Approved","status":"True","lastUpdateTime":"2025-01-01T10:00:00Z"}]}});
        let good = encode_csr_for_tests(&obj);
        for i in 4..good.len() {
            for b in [0x00, 0xff, 0x80, 0x12] {
                let mut m = good.clone();
                m[i] = b;
                for k in [
                    Kind::Csr,
                    Kind::ClusterRoleBinding,
                    Kind::Role,
                    Kind::Opaque,
                ] {
                    let _ = decode(&m, k);
                }
            }
            let _ = decode(&good[..i], Kind::Csr);
        }
    }
}

//! Decoding request bodies against the API types: type errors are 400 BadRequest, unknown
//! fields are dropped, reported as `Warning: 299` under `fieldValidation=Warn` (the default)
//! and refused under `Strict` with `strict decoding error: unknown field "spec.bogus"`
//! (reference §1 query parameters, §3 step 4, §17).

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::clock::{parse_rfc3339, rfc3339};

#[derive(Debug)]
pub(crate) enum Schema {
    Str,
    Int,
    /// `[]byte`: a base64 string in JSON.
    Bytes,
    /// `metav1.Time`: RFC 3339, stored with second precision.
    Time,
    Any,
    Obj(&'static [(&'static str, Schema)]),
    Arr(&'static Schema),
    Map(&'static Schema),
}

pub(crate) static META: &[(&str, Schema)] = &[
    ("name", Schema::Str),
    ("generateName", Schema::Str),
    ("namespace", Schema::Str),
    ("selfLink", Schema::Str),
    ("uid", Schema::Str),
    ("resourceVersion", Schema::Str),
    ("generation", Schema::Int),
    ("creationTimestamp", Schema::Time),
    ("deletionTimestamp", Schema::Time),
    ("deletionGracePeriodSeconds", Schema::Int),
    ("labels", Schema::Map(&Schema::Str)),
    ("annotations", Schema::Map(&Schema::Str)),
    ("ownerReferences", Schema::Any),
    ("finalizers", Schema::Arr(&Schema::Str)),
    ("managedFields", Schema::Any),
];

static CONDITION: &[(&str, Schema)] = &[
    ("type", Schema::Str),
    ("status", Schema::Str),
    ("reason", Schema::Str),
    ("message", Schema::Str),
    ("lastUpdateTime", Schema::Time),
    ("lastTransitionTime", Schema::Time),
];

static CSR_SPEC: &[(&str, Schema)] = &[
    ("request", Schema::Bytes),
    ("signerName", Schema::Str),
    ("expirationSeconds", Schema::Int),
    ("usages", Schema::Arr(&Schema::Str)),
    ("username", Schema::Str),
    ("uid", Schema::Str),
    ("groups", Schema::Arr(&Schema::Str)),
    ("extra", Schema::Map(&Schema::Arr(&Schema::Str))),
];

/// v1beta1 as served until 1.21: `expirationSeconds` came in 1.22 (KEP-2784), after v1beta1
/// stopped being served, so through v1beta1 it is an unknown field.
static CSR_SPEC_V1BETA1: &[(&str, Schema)] = &[
    ("request", Schema::Bytes),
    ("signerName", Schema::Str),
    ("usages", Schema::Arr(&Schema::Str)),
    ("username", Schema::Str),
    ("uid", Schema::Str),
    ("groups", Schema::Arr(&Schema::Str)),
    ("extra", Schema::Map(&Schema::Arr(&Schema::Str))),
];

static CSR_STATUS: &[(&str, Schema)] = &[
    ("conditions", Schema::Arr(&Schema::Obj(CONDITION))),
    ("certificate", Schema::Bytes),
];

pub(crate) static CSR: Schema = Schema::Obj(&[
    ("kind", Schema::Str),
    ("apiVersion", Schema::Str),
    ("metadata", Schema::Obj(META)),
    ("spec", Schema::Obj(CSR_SPEC)),
    ("status", Schema::Obj(CSR_STATUS)),
]);

static CSR_V1BETA1: Schema = Schema::Obj(&[
    ("kind", Schema::Str),
    ("apiVersion", Schema::Str),
    ("metadata", Schema::Obj(META)),
    ("spec", Schema::Obj(CSR_SPEC_V1BETA1)),
    ("status", Schema::Obj(CSR_STATUS)),
]);

/// The CSR schema of an API version.
pub(crate) fn csr(version: &str) -> &'static Schema {
    if version == "v1beta1" {
        &CSR_V1BETA1
    } else {
        &CSR
    }
}

static SUBJECT: &[(&str, Schema)] = &[
    ("kind", Schema::Str),
    ("apiGroup", Schema::Str),
    ("name", Schema::Str),
    ("namespace", Schema::Str),
];
static ROLE_REF: &[(&str, Schema)] = &[
    ("apiGroup", Schema::Str),
    ("kind", Schema::Str),
    ("name", Schema::Str),
];
static POLICY_RULE: &[(&str, Schema)] = &[
    ("verbs", Schema::Arr(&Schema::Str)),
    ("apiGroups", Schema::Arr(&Schema::Str)),
    ("resources", Schema::Arr(&Schema::Str)),
    ("resourceNames", Schema::Arr(&Schema::Str)),
    ("nonResourceURLs", Schema::Arr(&Schema::Str)),
];

pub(crate) static BINDING: Schema = Schema::Obj(&[
    ("kind", Schema::Str),
    ("apiVersion", Schema::Str),
    ("metadata", Schema::Obj(META)),
    ("subjects", Schema::Arr(&Schema::Obj(SUBJECT))),
    ("roleRef", Schema::Obj(ROLE_REF)),
]);

pub(crate) static ROLE: Schema = Schema::Obj(&[
    ("kind", Schema::Str),
    ("apiVersion", Schema::Str),
    ("metadata", Schema::Obj(META)),
    ("rules", Schema::Arr(&Schema::Obj(POLICY_RULE))),
    ("aggregationRule", Schema::Any),
]);

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn mismatch(v: &Value, path: &str, want: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go struct field .{path} of type {want}",
        type_name(v)
    )
}

/// Walks `v` along `sch`, returning a cleaned copy (unknown fields and nulls dropped) or the
/// decode error text. Unknown field paths are appended to `unknown`.
pub(crate) fn decode(
    v: &Value,
    sch: &Schema,
    path: &str,
    unknown: &mut Vec<String>,
) -> Result<Option<Value>, String> {
    if v.is_null() {
        return Ok(None);
    }
    Ok(Some(match sch {
        Schema::Any => v.clone(),
        Schema::Str => match v {
            Value::String(_) => v.clone(),
            _ => return Err(mismatch(v, path, "string")),
        },
        Schema::Int => match v.as_i64() {
            Some(n) if i32::try_from(n).is_ok() || path.ends_with("generation") => v.clone(),
            _ => return Err(mismatch(v, path, "int32")),
        },
        Schema::Bytes => bytes(v, path)?,
        Schema::Time => time(v, path)?,
        Schema::Arr(item) => match v {
            Value::Array(items) => array(items, item, path, unknown)?,
            _ => return Err(mismatch(v, path, "array")),
        },
        Schema::Map(item) => match v {
            Value::Object(m) => map(m, item, path, unknown)?,
            _ => return Err(mismatch(v, path, "map")),
        },
        Schema::Obj(fields) => match v {
            Value::Object(m) => object(m, fields, path, unknown)?,
            _ => return Err(mismatch(v, path, "object")),
        },
    }))
}

/// `path.k`, or `k` at the top.
fn join(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

/// `[]byte`: a base64 string.
fn bytes(v: &Value, path: &str) -> Result<Value, String> {
    match v {
        Value::String(s) => {
            if let Err(e) = base64::engine::general_purpose::STANDARD.decode(s.as_bytes()) {
                return Err(format!("{path}: {e}"));
            }
            Ok(v.clone())
        }
        _ => Err(mismatch(v, path, "[]uint8")),
    }
}

/// `metav1.Time`, re-rendered in RFC 3339 as Go does.
fn time(v: &Value, path: &str) -> Result<Value, String> {
    match v {
        Value::String(s) => match parse_rfc3339(s) {
            Some(t) => Ok(Value::String(rfc3339(t))),
            None => Err(format!(
                "parsing time {s:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse"
            )),
        },
        _ => Err(mismatch(v, path, "v1.Time")),
    }
}

fn array(
    items: &[Value],
    item: &Schema,
    path: &str,
    unknown: &mut Vec<String>,
) -> Result<Value, String> {
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        // A null inside a list decodes to the zero value, it is not dropped.
        let cleaned = decode(it, item, &p, unknown)?;
        out.push(cleaned.unwrap_or_else(|| zero(item)));
    }
    Ok(Value::Array(out))
}

fn map(
    m: &Map<String, Value>,
    item: &Schema,
    path: &str,
    unknown: &mut Vec<String>,
) -> Result<Value, String> {
    let mut out = Map::new();
    for (k, it) in m {
        if let Some(c) = decode(it, item, &join(path, k), unknown)? {
            out.insert(k.clone(), c);
        }
    }
    Ok(Value::Object(out))
}

fn object(
    m: &Map<String, Value>,
    fields: &[(&str, Schema)],
    path: &str,
    unknown: &mut Vec<String>,
) -> Result<Value, String> {
    let mut out = Map::new();
    for (k, it) in m {
        match fields.iter().find(|(name, _)| name == k) {
            Some((_, s)) => {
                if let Some(c) = decode(it, s, &join(path, k), unknown)? {
                    out.insert(k.clone(), c);
                }
            }
            None => unknown.push(join(path, k)),
        }
    }
    Ok(Value::Object(out))
}

fn zero(sch: &Schema) -> Value {
    match sch {
        Schema::Str | Schema::Bytes => Value::String(String::new()),
        Schema::Int => Value::from(0),
        Schema::Obj(_) | Schema::Map(_) => Value::Object(Map::new()),
        Schema::Arr(_) => Value::Array(Vec::new()),
        Schema::Time | Schema::Any => Value::Null,
    }
}

/// `strict decoding error: unknown field "a", unknown field "b"`.
pub(crate) fn strict_error(unknown: &[String]) -> String {
    let parts: Vec<String> = unknown
        .iter()
        .map(|u| format!("unknown field \"{u}\""))
        .collect();
    format!("strict decoding error: {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_collected_and_dropped() {
        let mut unknown = Vec::new();
        let v = json!({"kind":"CertificateSigningRequest","spec":{"bogus":1,"usages":["a"],"signerName":null},"x":{}});
        let out = decode(&v, &CSR, "", &mut unknown).unwrap().unwrap();
        assert_eq!(unknown, ["spec.bogus", "x"]);
        assert_eq!(
            out,
            json!({"kind":"CertificateSigningRequest","spec":{"usages":["a"]}})
        );
        assert_eq!(
            strict_error(&unknown),
            "strict decoding error: unknown field \"spec.bogus\", unknown field \"x\""
        );
    }

    #[test]
    fn type_errors_are_reported() {
        let mut unknown = Vec::new();
        assert!(decode(&json!({"spec":{"usages":"x"}}), &CSR, "", &mut unknown).is_err());
        assert!(decode(&json!({"spec":{"request":"!!"}}), &CSR, "", &mut unknown).is_err());
        assert!(
            decode(
                &json!({"spec":{"expirationSeconds":1e20}}),
                &CSR,
                "",
                &mut unknown
            )
            .is_err()
        );
        assert!(decode(&json!([]), &CSR, "", &mut unknown).is_err());
    }
}

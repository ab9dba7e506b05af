//! Decoding request bodies against the API types: type errors are 400 BadRequest, unknown
//! fields are dropped, reported as `Warning: 299` under `fieldValidation=Warn` (the default)
//! and refused under `Strict` with `strict decoding error: unknown field "spec.bogus"`
//! (reference §1 query parameters, §3 step 4, §17).

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::clock::{parse_rfc3339, rfc3339};

#[derive(Debug)]
pub(crate) enum Sch {
    Str,
    Int,
    /// `[]byte`: a base64 string in JSON.
    Bytes,
    /// `metav1.Time`: RFC 3339, stored with second precision.
    Time,
    Any,
    Obj(&'static [(&'static str, Sch)]),
    Arr(&'static Sch),
    Map(&'static Sch),
}

pub(crate) static META: &[(&str, Sch)] = &[
    ("name", Sch::Str),
    ("generateName", Sch::Str),
    ("namespace", Sch::Str),
    ("selfLink", Sch::Str),
    ("uid", Sch::Str),
    ("resourceVersion", Sch::Str),
    ("generation", Sch::Int),
    ("creationTimestamp", Sch::Time),
    ("deletionTimestamp", Sch::Time),
    ("deletionGracePeriodSeconds", Sch::Int),
    ("labels", Sch::Map(&Sch::Str)),
    ("annotations", Sch::Map(&Sch::Str)),
    ("ownerReferences", Sch::Any),
    ("finalizers", Sch::Arr(&Sch::Str)),
    ("managedFields", Sch::Any),
];

static CONDITION: &[(&str, Sch)] = &[
    ("type", Sch::Str),
    ("status", Sch::Str),
    ("reason", Sch::Str),
    ("message", Sch::Str),
    ("lastUpdateTime", Sch::Time),
    ("lastTransitionTime", Sch::Time),
];

static CSR_SPEC: &[(&str, Sch)] = &[
    ("request", Sch::Bytes),
    ("signerName", Sch::Str),
    ("expirationSeconds", Sch::Int),
    ("usages", Sch::Arr(&Sch::Str)),
    ("username", Sch::Str),
    ("uid", Sch::Str),
    ("groups", Sch::Arr(&Sch::Str)),
    ("extra", Sch::Map(&Sch::Arr(&Sch::Str))),
];

/// v1beta1 as served until 1.21: `expirationSeconds` came in 1.22 (KEP-2784), after v1beta1
/// stopped being served, so through v1beta1 it is an unknown field.
static CSR_SPEC_V1BETA1: &[(&str, Sch)] = &[
    ("request", Sch::Bytes),
    ("signerName", Sch::Str),
    ("usages", Sch::Arr(&Sch::Str)),
    ("username", Sch::Str),
    ("uid", Sch::Str),
    ("groups", Sch::Arr(&Sch::Str)),
    ("extra", Sch::Map(&Sch::Arr(&Sch::Str))),
];

static CSR_STATUS: &[(&str, Sch)] = &[
    ("conditions", Sch::Arr(&Sch::Obj(CONDITION))),
    ("certificate", Sch::Bytes),
];

pub(crate) static CSR: Sch = Sch::Obj(&[
    ("kind", Sch::Str),
    ("apiVersion", Sch::Str),
    ("metadata", Sch::Obj(META)),
    ("spec", Sch::Obj(CSR_SPEC)),
    ("status", Sch::Obj(CSR_STATUS)),
]);

static CSR_V1BETA1: Sch = Sch::Obj(&[
    ("kind", Sch::Str),
    ("apiVersion", Sch::Str),
    ("metadata", Sch::Obj(META)),
    ("spec", Sch::Obj(CSR_SPEC_V1BETA1)),
    ("status", Sch::Obj(CSR_STATUS)),
]);

/// The CSR schema of an API version.
pub(crate) fn csr(version: &str) -> &'static Sch {
    if version == "v1beta1" {
        &CSR_V1BETA1
    } else {
        &CSR
    }
}

static SUBJECT: &[(&str, Sch)] = &[
    ("kind", Sch::Str),
    ("apiGroup", Sch::Str),
    ("name", Sch::Str),
    ("namespace", Sch::Str),
];
static ROLE_REF: &[(&str, Sch)] = &[
    ("apiGroup", Sch::Str),
    ("kind", Sch::Str),
    ("name", Sch::Str),
];
static POLICY_RULE: &[(&str, Sch)] = &[
    ("verbs", Sch::Arr(&Sch::Str)),
    ("apiGroups", Sch::Arr(&Sch::Str)),
    ("resources", Sch::Arr(&Sch::Str)),
    ("resourceNames", Sch::Arr(&Sch::Str)),
    ("nonResourceURLs", Sch::Arr(&Sch::Str)),
];

pub(crate) static BINDING: Sch = Sch::Obj(&[
    ("kind", Sch::Str),
    ("apiVersion", Sch::Str),
    ("metadata", Sch::Obj(META)),
    ("subjects", Sch::Arr(&Sch::Obj(SUBJECT))),
    ("roleRef", Sch::Obj(ROLE_REF)),
]);

pub(crate) static ROLE: Sch = Sch::Obj(&[
    ("kind", Sch::Str),
    ("apiVersion", Sch::Str),
    ("metadata", Sch::Obj(META)),
    ("rules", Sch::Arr(&Sch::Obj(POLICY_RULE))),
    ("aggregationRule", Sch::Any),
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
    sch: &Sch,
    path: &str,
    unknown: &mut Vec<String>,
) -> Result<Option<Value>, String> {
    if v.is_null() {
        return Ok(None);
    }
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    Ok(Some(match sch {
        Sch::Any => v.clone(),
        Sch::Str => match v {
            Value::String(_) => v.clone(),
            _ => return Err(mismatch(v, path, "string")),
        },
        Sch::Int => match v.as_i64() {
            Some(n) if i32::try_from(n).is_ok() || path.ends_with("generation") => v.clone(),
            _ => return Err(mismatch(v, path, "int32")),
        },
        Sch::Bytes => match v {
            Value::String(s) => {
                if let Err(e) = base64::engine::general_purpose::STANDARD.decode(s.as_bytes()) {
                    return Err(format!("{path}: {e}"));
                }
                v.clone()
            }
            _ => return Err(mismatch(v, path, "[]uint8")),
        },
        Sch::Time => match v {
            Value::String(s) => match parse_rfc3339(s) {
                Some(t) => Value::String(rfc3339(t)),
                None => {
                    return Err(format!(
                        "parsing time {s:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse"
                    ));
                }
            },
            _ => return Err(mismatch(v, path, "v1.Time")),
        },
        Sch::Arr(item) => match v {
            Value::Array(items) => {
                let mut out = Vec::new();
                for (i, it) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    // A null inside a list decodes to the zero value, it is not dropped.
                    let cleaned = decode(it, item, &p, unknown)?;
                    out.push(cleaned.unwrap_or_else(|| zero(item)));
                }
                Value::Array(out)
            }
            _ => return Err(mismatch(v, path, "array")),
        },
        Sch::Map(item) => match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, it) in m {
                    if let Some(c) = decode(it, item, &join(k), unknown)? {
                        out.insert(k.clone(), c);
                    }
                }
                Value::Object(out)
            }
            _ => return Err(mismatch(v, path, "map")),
        },
        Sch::Obj(fields) => match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, it) in m {
                    match fields.iter().find(|(name, _)| name == k) {
                        Some((_, s)) => {
                            if let Some(c) = decode(it, s, &join(k), unknown)? {
                                out.insert(k.clone(), c);
                            }
                        }
                        None => unknown.push(join(k)),
                    }
                }
                Value::Object(out)
            }
            _ => return Err(mismatch(v, path, "object")),
        },
    }))
}

fn zero(sch: &Sch) -> Value {
    match sch {
        Sch::Str | Sch::Bytes => Value::String(String::new()),
        Sch::Int => Value::from(0),
        Sch::Obj(_) | Sch::Map(_) => Value::Object(Map::new()),
        Sch::Arr(_) => Value::Array(Vec::new()),
        Sch::Time | Sch::Any => Value::Null,
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

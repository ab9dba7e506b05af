//! Reading fields of the JSON objects the server stores and receives: absent or mistyped
//! fields read as empty, as Go's zero values do.

use base64::Engine as _;
use serde_json::Value;

pub(crate) fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn strings_at(v: &Value, ptr: &str) -> Vec<String> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn conditions(v: &Value) -> Vec<Value> {
    v.pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

pub(crate) fn has_condition(v: &Value, ty: &str) -> bool {
    conditions(v).iter().any(|c| str_at(c, "/type") == ty)
}

/// base64-decoded `[]byte` field (`spec.request`, `status.certificate`).
pub(crate) fn bytes_at(v: &Value, ptr: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(str_at(v, ptr).as_bytes())
        .unwrap_or_default()
}

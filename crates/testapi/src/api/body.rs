//! Reading a write's request: its options (`dryRun`, `fieldManager`, `fieldValidation`) and
//! its body, decoded from JSON or protobuf and checked against the kind's schema (reference
//! §3 steps 3–4).

use serde_json::{Value, json};

use crate::field_error::{FieldError, quote};
use crate::fields::str_at;
use crate::http::Request;
use crate::proto;
use crate::schema::{self, Schema};
use crate::status::ApiError;

use super::response::ApiResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Validation {
    Ignore,
    Warn,
    Strict,
}

pub(super) struct WriteOptions {
    pub(super) dry_run: bool,
    pub(super) validation: Validation,
}

/// §3 step 3, §4.5, §4.6: `dryRun`, `fieldManager`, `fieldValidation` → 422 `<Kind>Options`.
/// `legacy`: a 1.19–1.21 server had no server-side field validation (the `fieldValidation`
/// parameter came in 1.23): the parameter is not looked at and unknown fields are dropped
/// without a word, as the JSON decoder of the time did.
pub(super) fn write_opts(
    req: &Request,
    kind: &'static str,
    legacy: bool,
) -> ApiResult<WriteOptions> {
    let mut errs = Vec::new();
    let dry: Vec<&str> = req
        .query
        .iter()
        .filter(|(k, _)| k == "dryRun")
        .map(|(_, v)| v.as_str())
        .collect();
    if dry.iter().any(|d| *d != "All") {
        errs.push(FieldError::not_supported(
            "dryRun",
            serde_json::to_string(&dry).unwrap_or_default(),
            &["All"],
        ));
    }
    if let Some(fm) = req.param("fieldManager") {
        if fm.len() > 128 {
            errs.push(FieldError::too_long("fieldManager", 128));
        } else if let Some((i, c)) = fm.char_indices().find(|(_, c)| c.is_control()) {
            errs.push(FieldError::invalid(
                "fieldManager",
                quote(fm),
                &format!("invalid character {c:?} (at position {i})"),
            ));
        }
    }
    let field_validation = if legacy {
        "Ignore"
    } else {
        req.param("fieldValidation").unwrap_or("")
    };
    let validation = match field_validation {
        "" | "Warn" => Validation::Warn,
        "Ignore" => Validation::Ignore,
        "Strict" => Validation::Strict,
        other => {
            errs.push(FieldError::not_supported(
                "fieldValidation",
                quote(other),
                &["", "Ignore", "Strict", "Warn"],
            ));
            Validation::Warn
        }
    };
    if !errs.is_empty() {
        return Err(ApiError::invalid_options(kind, &errs));
    }
    Ok(WriteOptions {
        dry_run: !dry.is_empty(),
        validation,
    })
}

pub(super) fn media_type(req: &Request) -> String {
    req.header("content-type")
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Raw body → JSON value (JSON or protobuf; §3 step 4).
pub(super) fn raw_body(req: &Request, kind: proto::Kind) -> ApiResult<Value> {
    match media_type(req).as_str() {
        "application/json" | "" | "*/*" => {
            serde_json::from_slice::<Value>(&req.body).map_err(|e| {
                ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
            })
        }
        "application/vnd.kubernetes.protobuf" => {
            proto::decode(&req.body, kind).map_err(ApiError::bad_request)
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// Decodes against a schema, applying field validation. Returns the cleaned object and the
/// warnings for the `Warning` header.
pub(super) fn typed_body(
    value: &Value,
    sch: &Schema,
    kind: &str,
    api_versions: &[String],
    validation: Validation,
) -> ApiResult<(Value, Vec<String>)> {
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
            if value.is_array() { "array" } else { "value" }
        )));
    }
    let k = str_at(value, "/kind");
    if !k.is_empty() && k != kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({kind})"
        )));
    }
    let av = str_at(value, "/apiVersion");
    if !av.is_empty() && !api_versions.iter().any(|x| x == av) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            api_versions.first().map_or("", String::as_str)
        )));
    }
    let mut unknown = Vec::new();
    let cleaned = schema::decode(value, sch, "", &mut unknown)
        .map_err(ApiError::bad_request)?
        .unwrap_or_else(|| json!({}));
    let mut warnings = Vec::new();
    if !unknown.is_empty() {
        match validation {
            Validation::Strict => {
                return Err(ApiError::bad_request(schema::strict_error(&unknown)));
            }
            Validation::Warn => {
                warnings = unknown
                    .iter()
                    .map(|u| format!("unknown field \"{u}\""))
                    .collect();
            }
            Validation::Ignore => {}
        }
    }
    Ok((cleaned, warnings))
}

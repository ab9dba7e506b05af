//! `fieldSelector` and `labelSelector` (reference §1): parsed once per request, matched
//! against stored objects by LIST, DELETE collection and watches.

use serde_json::Value;

use crate::fields::str_at;
use crate::http::Request;
use crate::status::ApiError;

/// A parsed `fieldSelector` / `labelSelector`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Selector {
    fields: Vec<(String, bool, String)>,
    labels: Vec<(String, LabelOp)>,
}

#[derive(Debug, Clone)]
enum LabelOp {
    Eq(String),
    Ne(String),
    Exists,
    NotExists,
}

impl Selector {
    /// No field or label selector (etcd's `Predicate.Empty()`).
    pub(crate) fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.labels.is_empty()
    }
    /// Adds `metadata.name=<name>` (a watch of one object by its URL).
    pub(crate) fn with_name(mut self, name: &str) -> Selector {
        if !name.is_empty() {
            self.fields
                .push(("metadata.name".into(), true, name.to_string()));
        }
        self
    }
    pub(crate) fn matches(&self, obj: &Value) -> bool {
        self.fields.iter().all(|(k, eq, v)| {
            let actual = match k.as_str() {
                "metadata.name" => str_at(obj, "/metadata/name"),
                "metadata.namespace" => str_at(obj, "/metadata/namespace"),
                "spec.signerName" => str_at(obj, "/spec/signerName"),
                _ => "",
            };
            (actual == v) == *eq
        }) && self.labels.iter().all(|(k, op)| {
            let actual = obj
                .pointer("/metadata/labels")
                .and_then(|l| l.get(k))
                .and_then(Value::as_str);
            match op {
                LabelOp::Eq(v) => actual == Some(v.as_str()),
                LabelOp::Ne(v) => actual != Some(v.as_str()),
                LabelOp::Exists => actual.is_some(),
                LabelOp::NotExists => actual.is_none(),
            }
        })
    }
}

/// §1: only `metadata.name` and `spec.signerName` for CSRs; anything else → 400
/// `field label not supported: <label>`.
impl Selector {
    /// Parses the request's selectors; `allowed`: the field labels the resource supports.
    pub(crate) fn from_request(req: &Request, allowed: &[&str]) -> Result<Selector, ApiError> {
        let mut sel = Selector::default();
        if let Some(fs) = req.param("fieldSelector") {
            for term in fs.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                let (k, eq, v) = if let Some((k, v)) = term.split_once("!=") {
                    (k, false, v)
                } else if let Some((k, v)) = term.split_once("==") {
                    (k, true, v)
                } else if let Some((k, v)) = term.split_once('=') {
                    (k, true, v)
                } else {
                    return Err(ApiError::bad_request(format!(
                        "invalid selector: '{fs}'; can't understand '{term}'"
                    )));
                };
                let k = k.trim();
                if !allowed.contains(&k) {
                    return Err(ApiError::bad_request(format!(
                        "field label not supported: {k}"
                    )));
                }
                sel.fields.push((k.to_string(), eq, v.trim().to_string()));
            }
        }
        if let Some(ls) = req.param("labelSelector") {
            for term in ls.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if term.contains('(') || term.contains(' ') {
                    return Err(ApiError::bad_request(format!(
                        "unable to parse requirement: set-based selectors are not supported by this test server: {term}"
                    )));
                }
                let req = if let Some((k, v)) = term.split_once("!=") {
                    (k.to_string(), LabelOp::Ne(v.to_string()))
                } else if let Some((k, v)) = term.split_once("==") {
                    (k.to_string(), LabelOp::Eq(v.to_string()))
                } else if let Some((k, v)) = term.split_once('=') {
                    (k.to_string(), LabelOp::Eq(v.to_string()))
                } else if let Some(k) = term.strip_prefix('!') {
                    (k.to_string(), LabelOp::NotExists)
                } else {
                    (term.to_string(), LabelOp::Exists)
                };
                sel.labels.push(req);
            }
        }
        Ok(sel)
    }
}

//! Field errors exactly as kube-apiserver renders them (reference §6,
//! `apimachinery/pkg/util/validation/field/errors.go`), and Go's `%q` they quote values with.

use serde::Serialize;

/// A Status `details.causes` entry: one field error.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub(crate) struct Cause {
    pub reason: String,
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub field: String,
}

/// Field error types of `apimachinery/pkg/util/validation/field/errors.go`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum FieldKind {
    Required,
    Invalid(String),
    NotSupported(String, Vec<String>),
    Duplicate(String),
    Forbidden,
    TooLong(usize),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FieldError {
    pub field: String,
    pub kind: FieldKind,
    pub detail: String,
}

impl FieldError {
    pub(crate) fn required(field: impl Into<String>, detail: &str) -> Self {
        Self {
            field: field.into(),
            kind: FieldKind::Required,
            detail: detail.into(),
        }
    }
    /// `value` is already rendered (strings quoted, ints bare; §6).
    pub(crate) fn invalid(field: impl Into<String>, value: String, detail: &str) -> Self {
        Self {
            field: field.into(),
            kind: FieldKind::Invalid(value),
            detail: detail.into(),
        }
    }
    pub(crate) fn not_supported(
        field: impl Into<String>,
        value: String,
        supported: &[&str],
    ) -> Self {
        Self {
            field: field.into(),
            kind: FieldKind::NotSupported(value, supported.iter().map(|s| quote(s)).collect()),
            detail: String::new(),
        }
    }
    pub(crate) fn duplicate(field: impl Into<String>, value: String) -> Self {
        Self {
            field: field.into(),
            kind: FieldKind::Duplicate(value),
            detail: String::new(),
        }
    }
    pub(crate) fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self {
            field: field.into(),
            kind: FieldKind::Forbidden,
            detail: detail.into(),
        }
    }
    pub(crate) fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self {
            field: field.into(),
            kind: FieldKind::TooLong(max),
            detail: String::new(),
        }
    }

    fn reason(&self) -> &'static str {
        match self.kind {
            FieldKind::Required => "FieldValueRequired",
            FieldKind::Invalid(_) => "FieldValueInvalid",
            FieldKind::NotSupported(..) => "FieldValueNotSupported",
            FieldKind::Duplicate(_) => "FieldValueDuplicate",
            FieldKind::Forbidden => "FieldValueForbidden",
            FieldKind::TooLong(_) => "FieldValueTooLong",
        }
    }

    /// `ErrorBody()`: the message without the field path.
    pub(crate) fn body(&self) -> String {
        let mut s = match &self.kind {
            FieldKind::Required => "Required value".to_string(),
            FieldKind::Invalid(v) => format!("Invalid value: {v}"),
            FieldKind::NotSupported(v, sup) => {
                format!(
                    "Unsupported value: {v}: supported values: {}",
                    sup.join(", ")
                )
            }
            FieldKind::Duplicate(v) => format!("Duplicate value: {v}"),
            FieldKind::Forbidden => "Forbidden".to_string(),
            FieldKind::TooLong(n) => format!("Too long: may not be more than {n} bytes"),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    pub(crate) fn cause(&self) -> Cause {
        Cause {
            reason: self.reason().to_string(),
            message: self.body(),
            field: self.field.clone(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Go's `%q` for the ASCII strings we meet (JSON escaping is the same for them).
pub(crate) fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

//! Kubernetes `Status` objects (reference §6) and the typed error for a non-2xx answer.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::sanitize;

/// `meta/v1 Status`, as returned with every API error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Status {
    /// `Success` or `Failure`.
    #[serde(default)]
    pub status: String,
    /// Human-readable message (from the server: sanitise before printing).
    #[serde(default)]
    pub message: String,
    /// Machine-readable reason (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, …).
    #[serde(default)]
    pub reason: String,
    /// Details about the object concerned.
    #[serde(default)]
    pub details: Option<StatusDetails>,
    /// HTTP status code.
    #[serde(default)]
    pub code: u16,
}

/// `Status.details`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StatusDetails {
    /// Object name.
    #[serde(default)]
    pub name: String,
    /// API group.
    #[serde(default)]
    pub group: String,
    /// Resource or kind.
    #[serde(default)]
    pub kind: String,
    /// Object UID.
    #[serde(default)]
    pub uid: String,
    /// Field-level causes (validation).
    #[serde(default)]
    pub causes: Vec<StatusCause>,
    /// Seconds the client should wait before retrying.
    #[serde(default)]
    pub retry_after_seconds: Option<u32>,
}

/// `Status.details.causes[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusCause {
    /// `FieldValueRequired`, `FieldValueInvalid`, …
    #[serde(default)]
    pub reason: String,
    /// Message without the field path.
    #[serde(default)]
    pub message: String,
    /// Field path, e.g. `spec.usages`.
    #[serde(default)]
    pub field: String,
}

impl Status {
    /// The Status of an error body: the server's Status object, or one made up from the HTTP
    /// code and the first line of a non-Status body (e.g. `404 page not found`).
    pub fn from_response(code: u16, body: &[u8]) -> Self {
        if let Ok(status) = serde_json::from_slice::<StatusEnvelope>(body)
            && status.kind == "Status"
        {
            let mut status = status.status;
            if status.code == 0 {
                status.code = code;
            }
            if status.reason.is_empty() {
                status.reason = default_reason(code).to_owned();
            }
            return status;
        }
        let text = String::from_utf8_lossy(body);
        let first = text.lines().next().unwrap_or("").trim();
        let message: String = first.chars().take(300).collect();
        Self {
            status: "Failure".into(),
            message: if message.is_empty() {
                format!("the server answered HTTP {code} with no explanation")
            } else {
                message
            },
            reason: default_reason(code).into(),
            details: None,
            code,
        }
    }

    /// The causes, if any.
    pub fn causes(&self) -> &[StatusCause] {
        self.details.as_ref().map_or(&[], |d| d.causes.as_slice())
    }
}

#[derive(Deserialize)]
struct StatusEnvelope {
    #[serde(default)]
    kind: String,
    #[serde(flatten)]
    status: Status,
}

/// client-go's reason for a bare HTTP code (`errors.go: NewGenericServerResponse`).
fn default_reason(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Expired",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        300..=399 => "Redirect",
        _ => "Unknown",
    }
}

/// The server answered a request with an error Status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP method.
    pub method: String,
    /// Request path (with query).
    pub path: String,
    /// The Status.
    pub status: Status,
    /// Attempts made (more than 1 when 429/5xx answers were retried).
    pub attempts: u32,
}

impl ApiError {
    /// HTTP status code.
    pub fn code(&self) -> u16 {
        self.status.code
    }
    /// Status reason.
    pub fn reason(&self) -> &str {
        &self.status.reason
    }
    /// 404 / NotFound.
    pub fn is_not_found(&self) -> bool {
        self.status.reason == "NotFound" || self.code() == 404
    }
    /// 409 / AlreadyExists.
    pub fn is_already_exists(&self) -> bool {
        self.status.reason == "AlreadyExists"
    }
    /// 409 / Conflict (stale resourceVersion).
    pub fn is_conflict(&self) -> bool {
        self.status.reason == "Conflict"
    }
    /// 403.
    pub fn is_forbidden(&self) -> bool {
        self.code() == 403
    }
    /// 401.
    pub fn is_unauthorized(&self) -> bool {
        self.code() == 401
    }
    /// 422 / Invalid.
    pub fn is_invalid(&self) -> bool {
        self.status.reason == "Invalid" || self.code() == 422
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {} ({}, HTTP {})",
            self.method,
            sanitize::one_line(&self.path),
            sanitize::for_terminal(&self.status.message),
            sanitize::one_line(&self.status.reason),
            self.status.code
        )?;
        if self.attempts > 1 {
            write!(f, ", after {} attempts", self.attempts)?;
        }
        for cause in self.status.causes() {
            write!(
                f,
                "\n  - {}: {} ({})",
                sanitize::one_line(&cause.field),
                sanitize::one_line(&cause.message),
                sanitize::one_line(&cause.reason)
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_validation_status_with_causes() {
        let body = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"CertificateSigningRequest.certificates.k8s.io \"alice\" is invalid: [spec.usages: Required value, spec.signerName: Required value]","reason":"Invalid","details":{"name":"alice","group":"certificates.k8s.io","kind":"CertificateSigningRequest","causes":[{"reason":"FieldValueRequired","message":"Required value","field":"spec.usages"},{"reason":"FieldValueRequired","message":"Required value","field":"spec.signerName"}]},"code":422}"#;
        let status = Status::from_response(422, body);
        assert_eq!(status.reason, "Invalid");
        assert_eq!(status.causes().len(), 2);
        let err = ApiError {
            method: "POST".into(),
            path: "/apis/certificates.k8s.io/v1/certificatesigningrequests".into(),
            status,
            attempts: 1,
        };
        assert!(err.is_invalid());
        let text = err.to_string();
        assert!(
            text.contains(
                "(Invalid, HTTP 422)\n  - spec.usages: Required value (FieldValueRequired)"
            ),
            "{text}"
        );
    }

    #[test]
    fn non_status_bodies_get_a_reason_from_the_code() {
        let status = Status::from_response(404, b"404 page not found\n");
        assert_eq!(status.reason, "NotFound");
        assert_eq!(status.message, "404 page not found");
        let status = Status::from_response(503, b"");
        assert_eq!(status.reason, "ServiceUnavailable");
    }

    #[test]
    fn display_sanitises_server_text() {
        let body = br#"{"kind":"Status","status":"Failure","message":"bad \u001b[31mred\u001b[0m","reason":"Forbidden","code":403}"#;
        let err = ApiError {
            method: "GET".into(),
            path: "/x".into(),
            status: Status::from_response(403, body),
            attempts: 3,
        };
        assert_eq!(
            err.to_string(),
            "GET /x: bad red (Forbidden, HTTP 403), after 3 attempts"
        );
    }
}

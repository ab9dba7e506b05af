//! `Status` objects and field errors exactly as kube-apiserver renders them (reference §6).
//! Struct field order is the JSON key order (`kind, apiVersion, metadata, status, message,
//! reason, details, code`), which derive(Serialize) preserves.

use serde::Serialize;

use crate::field_error::{Cause, FieldError};

/// A resource as it appears in messages: `certificatesigningrequests.certificates.k8s.io`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resource {
    pub group: &'static str,
    pub resource: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
}

impl Resource {
    pub(crate) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
    fn kind_qualified(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }
}

pub(crate) const CSR: Resource = Resource {
    group: "certificates.k8s.io",
    resource: "certificatesigningrequests",
    kind: "CertificateSigningRequest",
    namespaced: false,
};

/// `metav1.ListMeta` of a Status: empty, except the `continue` token of a 410 for a stale
/// LIST continuation.
#[derive(Serialize, Debug, Default)]
pub(crate) struct Empty {
    #[serde(rename = "continue", skip_serializing_if = "String::is_empty")]
    pub continue_token: String,
}

#[derive(Serialize, Debug, Default)]
pub(crate) struct Details {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
    #[serde(rename = "retryAfterSeconds", skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
}

#[derive(Serialize, Debug)]
pub(crate) struct Status {
    pub kind: &'static str,
    #[serde(rename = "apiVersion")]
    pub api_version: &'static str,
    pub metadata: Empty,
    pub status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Details>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

impl Status {
    pub(crate) fn failure(
        code: u16,
        reason: &str,
        message: String,
        details: Option<Details>,
    ) -> Self {
        Status {
            kind: "Status",
            api_version: "v1",
            metadata: Empty::default(),
            status: "Failure",
            message,
            reason: reason.to_string(),
            details,
            code: Some(code),
        }
    }
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// An error answer: a Status plus extra response headers (e.g. `Retry-After`).
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: Box<Status>,
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    pub(crate) fn code(&self) -> u16 {
        self.status.code.unwrap_or(500)
    }
    fn new(code: u16, reason: &str, message: String, details: Option<Details>) -> Self {
        ApiError {
            status: Box::new(Status::failure(code, reason, message, details)),
            headers: Vec::new(),
        }
    }
    fn details(res: &Resource, name: &str) -> Details {
        Details {
            name: (!name.is_empty()).then(|| name.to_string()),
            group: Some(res.group.to_string()),
            kind: Some(res.resource.to_string()),
            ..Details::default()
        }
    }

    /// §6 row 1: bad credentials; no details.
    pub(crate) fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized".into(), None)
    }

    /// §6: `NewForbidden(resource, name, err)`.
    pub(crate) fn forbidden(res: &Resource, name: &str, why: &str) -> Self {
        let message = if name.is_empty() {
            format!("{} is forbidden: {why}", res.qualified())
        } else {
            format!("{} \"{name}\" is forbidden: {why}", res.qualified())
        };
        Self::new(403, "Forbidden", message, Some(Self::details(res, name)))
    }

    /// §6 RBAC deny: `User "<user>" cannot <verb> resource "<resource>[/<sub>]" in API group
    /// "<group>" at the cluster scope` (or `in the namespace "<ns>"`).
    pub(crate) fn rbac(
        res: &Resource,
        sub: &str,
        name: &str,
        user: &str,
        verb: &str,
        ns: &str,
    ) -> Self {
        let resource = if sub.is_empty() {
            res.resource.to_string()
        } else {
            format!("{}/{sub}", res.resource)
        };
        let scope = if ns.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace \"{ns}\"")
        };
        let why = format!(
            "User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{}\" {scope}",
            res.group
        );
        Self::forbidden(res, name, &why)
    }

    pub(crate) fn not_found(res: &Resource, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", res.qualified()),
            Some(Self::details(res, name)),
        )
    }

    /// 404 for an unknown resource inside a served group/version.
    pub(crate) fn no_resource() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            Some(Details::default()),
        )
    }

    pub(crate) fn already_exists(res: &Resource, name: &str, generated: bool) -> Self {
        let mut details = Self::details(res, name);
        let mut message = format!("{} \"{name}\" already exists", res.qualified());
        if generated {
            // §4.4: NewGenerateNameConflict.
            message.push_str(", the server was not able to generate a unique name for the object");
            details.retry_after_seconds = Some(1);
        }
        Self::new(409, "AlreadyExists", message, Some(details))
    }

    /// A uid precondition that does not hold (`storage.NewInvalidObjError` from
    /// `etcd3/store.go` preconditions, mapped by `storeerr.InterpretUpdateError` to a
    /// Conflict).
    pub(crate) fn uid_precondition(
        res: &Resource,
        ns: &str,
        name: &str,
        want: &str,
        have: &str,
    ) -> Self {
        let storage_key = if ns.is_empty() {
            format!("/registry/{}/{name}", res.resource)
        } else {
            format!("/registry/{}/{ns}/{name}", res.resource)
        };
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": StorageError: invalid object, Code: 4, Key: {storage_key}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: {want}, UID in object meta: {have}",
                res.qualified()
            ),
            Some(Self::details(res, name)),
        )
    }

    pub(crate) fn conflict(res: &Resource, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                res.qualified()
            ),
            Some(Self::details(res, name)),
        )
    }

    /// §6 validation row: kind in details is the Kind, message lists `<field>: <body>`.
    pub(crate) fn invalid(res: &Resource, name: &str, errs: &[FieldError]) -> Self {
        Self::invalid_kind(&res.kind_qualified(), res.group, res.kind, name, errs)
    }

    /// Query-option errors: `CreateOptions.meta.k8s.io "" is invalid: …` (§4.5, §4.6).
    pub(crate) fn invalid_options(kind: &'static str, errs: &[FieldError]) -> Self {
        Self::invalid_kind(
            &format!("{kind}.meta.k8s.io"),
            "meta.k8s.io",
            kind,
            "",
            errs,
        )
    }

    fn invalid_kind(
        qualified: &str,
        group: &str,
        kind: &str,
        name: &str,
        errs: &[FieldError],
    ) -> Self {
        let mut texts: Vec<String> = Vec::new();
        for e in errs {
            let t = e.to_string();
            if !texts.contains(&t) {
                texts.push(t);
            }
        }
        let joined = if texts.len() == 1 {
            texts.remove(0)
        } else {
            format!("[{}]", texts.join(", "))
        };
        let details = Details {
            name: (!name.is_empty()).then(|| name.to_string()),
            group: Some(group.to_string()),
            kind: Some(kind.to_string()),
            causes: errs.iter().map(FieldError::cause).collect(),
            ..Details::default()
        };
        Self::new(
            422,
            "Invalid",
            format!("{qualified} \"{name}\" is invalid: {joined}"),
            Some(details),
        )
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into(), None)
    }

    /// Storage errors that are not API errors: 500, no reason (reference §3 step 8, §6).
    pub(crate) fn internal_plain(message: impl Into<String>) -> Self {
        Self::new(500, "", message.into(), None)
    }

    pub(crate) fn internal(message: &str) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
            Some(Details {
                causes: vec![Cause {
                    reason: String::new(),
                    message: message.to_string(),
                    field: String::new(),
                }],
                ..Details::default()
            }),
        )
    }

    pub(crate) fn too_many_requests(retry_after: u32) -> Self {
        let mut e = Self::new(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.".into(),
            Some(Details {
                retry_after_seconds: Some(retry_after),
                ..Details::default()
            }),
        );
        e.headers
            .push(("Retry-After".into(), retry_after.to_string()));
        e
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".into(),
            Some(Details::default()),
        )
    }

    pub(crate) fn unsupported_media_type(ct: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {ct:?})"
            ),
            None,
        )
    }

    /// Bodies over kube-apiserver's 3 MiB request limit.
    pub(crate) fn too_large() -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728".into(),
            None,
        )
    }

    /// A LIST continued from a compacted revision (`etcd3/store.go:
    /// handleCompactedErrorForPaging`): 410 with a token that continues at the latest
    /// revision (`rv: -1`).
    pub(crate) fn expired_continue(token: String) -> Self {
        let mut e = Self::new(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.".into(),
            None,
        );
        e.status.metadata.continue_token = token;
        e
    }

    /// A LIST at a compacted `resourceVersion` (`etcd3/store.go: interpretListError`).
    pub(crate) fn expired_list() -> Self {
        Self::new(
            410,
            "Expired",
            "The resourceVersion for the provided list is too old.".into(),
            None,
        )
    }

    /// §8: too old resource version (410 Expired).
    pub(crate) fn expired(rv: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {rv} ({oldest})"),
            None,
        )
    }
}

/// A Status as a watch ERROR event object.
pub(crate) fn status_value(st: &Status) -> serde_json::Value {
    serde_json::to_value(st).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_status_matches_reference_example() {
        let errs = vec![
            FieldError::required("spec.usages", ""),
            FieldError::required("spec.signerName", ""),
        ];
        let json =
            String::from_utf8(ApiError::invalid(&CSR, "alice", &errs).status.to_json()).unwrap();
        assert_eq!(
            json.trim_end(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"CertificateSigningRequest.certificates.k8s.io \"alice\" is invalid: [spec.usages: Required value, spec.signerName: Required value]","reason":"Invalid","details":{"name":"alice","group":"certificates.k8s.io","kind":"CertificateSigningRequest","causes":[{"reason":"FieldValueRequired","message":"Required value","field":"spec.usages"},{"reason":"FieldValueRequired","message":"Required value","field":"spec.signerName"}]},"code":422}"#
        );
    }
}

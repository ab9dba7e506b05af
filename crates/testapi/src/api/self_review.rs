//! authentication.k8s.io: `kubectl auth whoami`.

use serde_json::json;

use crate::http::{Request, Response};
use crate::identity::UserInfo;
use crate::proto;
use crate::rbac::Attrs;
use crate::state::Shared;
use crate::status::{ApiError, Resource};

use super::authz::check;
use super::body::{raw_body, write_opts};
use super::response::{ApiResult, json_response};

const SSR: Resource = Resource {
    group: "authentication.k8s.io",
    resource: "selfsubjectreviews",
    kind: "SelfSubjectReview",
    namespaced: false,
};

/// `kubectl auth whoami` (reference §16, §17): POST SelfSubjectReview → 201 with userInfo.
pub(super) fn self_subject_review(
    sh: &Shared,
    user: &UserInfo,
    req: &Request,
) -> ApiResult<Response> {
    if req.method != "POST" {
        return Err(ApiError::method_not_allowed());
    }
    // Allowed by the bootstrap binding `system:basic-user` → `system:authenticated`.
    check(
        sh,
        user,
        &Attrs {
            verb: "create",
            group: SSR.group,
            resource: SSR.resource,
            subresource: "",
            name: "",
            namespace: "",
        },
        &SSR,
    )?;
    let _ = write_opts(req, "CreateOptions", sh.legacy)?;
    let raw = raw_body(req, proto::Kind::Opaque)?;
    if !raw.is_object() {
        return Err(ApiError::bad_request(
            "couldn't get version/kind; json parse error: expected an object",
        ));
    }
    let mut info = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        info["uid"] = json!(user.uid);
    }
    if !user.extra.is_empty() {
        info["extra"] = json!(user.extra);
    }
    Ok(json_response(
        201,
        &json!({"kind":"SelfSubjectReview","apiVersion":"authentication.k8s.io/v1",
            "metadata":{"creationTimestamp":sh.now_rfc3339()},"status":{"userInfo":info}}),
    ))
}

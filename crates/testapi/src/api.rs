//! Routing (reference §1 REST surface): the path picks the handler; each API group's
//! handlers run the request pipeline (§3 ordering of failures) in their own module.

mod authz;
mod body;
mod csr;
mod csr_write;
mod namespaces;
mod rbac;
mod registry;
mod response;
mod self_review;

use serde_json::Value;

use crate::discovery;
use crate::http::{Request, Response};
use crate::identity::UserInfo;
use crate::openapi;
use crate::openapi_pb;
use crate::state::Shared;

use rbac::RBAC_GROUP;
use response::{ApiResult, json_response};
pub(crate) use response::{Outcome, error_response};

/// Entry point: authentication has already produced `user`.
pub(crate) fn route(sh: &Shared, user: &UserInfo, req: &Request) -> Outcome {
    match route_inner(sh, user, req) {
        Ok(o) => o,
        Err(e) => Outcome::Resp(error_response(&e)),
    }
}

fn route_inner(sh: &Shared, user: &UserInfo, req: &Request) -> ApiResult<Outcome> {
    let path = req.path.trim_end_matches('/');
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let get = req.method == "GET";
    let resp = |v: Value| Ok(Outcome::Resp(json_response(200, &v)));
    match parts.as_slice() {
        ["version"] if get => return resp(discovery::version(sh.legacy)),
        ["healthz" | "livez" | "readyz"] if get => {
            return Ok(Outcome::Resp(Response {
                code: 200,
                content_type: "text/plain; charset=utf-8",
                headers: Vec::new(),
                body: b"ok".to_vec(),
            }));
        }
        ["api"] if get => return resp(discovery::api_versions(sh.port)),
        ["api", "v1"] if get => return resp(discovery::core_resource_list()),
        ["api", "v1", "namespaces", rest @ ..] if get && rest.len() <= 1 => {
            return namespaces::namespaces(sh, user, req, rest.first().copied().unwrap_or(""));
        }
        ["apis"] if get => return resp(discovery::api_group_list(sh.legacy)),
        ["apis", g] if get => {
            if let Some(v) = discovery::api_group(sh.legacy, g) {
                return resp(v);
            }
        }
        ["apis", g, v] if get => {
            if let Some(l) = discovery::resource_list(sh.legacy, g, v) {
                return resp(l);
            }
        }
        ["openapi", "v2"] if get => {
            let doc = openapi::v2_doc(sh.legacy);
            if openapi::wants_v2_protobuf(req.header("accept")) {
                return Ok(Outcome::Resp(Response {
                    code: 200,
                    // The `@` form is asked for but not a valid media type to answer with
                    // (Go's mime.ParseMediaType refuses it); kube-openapi answers with the dotted one.
                    content_type: "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                    headers: Vec::new(),
                    body: openapi_pb::encode(&doc),
                }));
            }
            return resp(doc);
        }
        // OpenAPI v3 came in 1.23 (beta 1.24): a 1.19–1.21 server answers 404, and kubectl
        // falls back to /openapi/v2 (and to client-side validation).
        ["openapi", "v3"] if get && !sh.legacy => return resp(openapi::v3_index(sh.legacy)),
        ["openapi", "v3", "apis", g, v] if get && !sh.legacy => {
            if let Some(d) = openapi::v3_group_version(sh.legacy, g, v) {
                return resp(d);
            }
        }
        [
            "apis",
            "certificates.k8s.io",
            ver @ ("v1" | "v1beta1"),
            rest @ ..,
        ] => {
            return csr::route(sh, user, req, ver, rest);
        }
        ["apis", "authentication.k8s.io", "v1", "selfsubjectreviews"] => {
            return self_review::self_subject_review(sh, user, req).map(Outcome::Resp);
        }
        ["apis", RBAC_GROUP, "v1", rest @ ..] => return rbac::route(sh, user, req, rest),
        _ => {}
    }
    Ok(Outcome::Resp(Response::plain_not_found()))
}

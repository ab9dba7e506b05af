//! certificates.k8s.io: which CSR endpoint a request is for (reference §1), its RBAC check, and
//! the reads; the writes are in [`super::csr_write`].

use crate::csr_update::Subresource;
use crate::discovery;
use crate::http::{Request, Response};
use crate::identity::UserInfo;
use crate::rbac::Attrs;
use crate::state::Shared;
use crate::status::{ApiError, CSR};

use super::authz::{check, verb};
use super::csr_write::{create, update};
use super::registry::{delete_collection, delete_one, list_collection, watch};
use super::response::{ApiResult, Outcome, as_version, json_response};

const FIELD_LABELS: &[&str] = &["metadata.name", "spec.signerName"];

/// `/apis/certificates.k8s.io/<ver>/<rest>`.
pub(super) fn route(
    sh: &Shared,
    user: &UserInfo,
    req: &Request,
    ver: &str,
    rest: &[&str],
) -> ApiResult<Outcome> {
    // `/watch/certificatesigningrequests[/name]` is the deprecated watch path (§1).
    let (legacy_watch, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let (name, sub) = match rest {
        ["certificatesigningrequests"] => ("", ""),
        ["certificatesigningrequests", n] => (*n, ""),
        [
            "certificatesigningrequests",
            n,
            sub @ ("approval" | "status"),
        ] if !legacy_watch => (*n, *sub),
        [] if !legacy_watch => {
            if req.method == "GET"
                && let Some(l) = discovery::resource_list(sh.legacy, "certificates.k8s.io", ver)
            {
                return Ok(Outcome::Resp(json_response(200, &l)));
            }
            return Ok(Outcome::Resp(Response::plain_not_found()));
        }
        _ => {
            if ver == "v1beta1" && !sh.legacy {
                return Ok(Outcome::Resp(Response::plain_not_found()));
            }
            return Err(ApiError::no_resource());
        }
    };
    let verb = if legacy_watch && req.method == "GET" {
        "watch".to_string()
    } else {
        verb(req, !name.is_empty())
    };
    let allowed_method = match (req.method.as_str(), name.is_empty(), sub.is_empty()) {
        ("GET", _, _) => true,
        ("POST", true, true) | ("DELETE", _, true) => !legacy_watch,
        ("PUT" | "PATCH", false, _) => !legacy_watch,
        _ => false,
    };
    if !allowed_method {
        return Err(ApiError::method_not_allowed());
    }
    // Authn ran already; RBAC next (§3 step 2), also for v1beta1 paths (§1).
    check(
        sh,
        user,
        &Attrs {
            verb: &verb,
            group: CSR.group,
            resource: CSR.resource,
            subresource: sub,
            name,
            namespace: "",
        },
        &CSR,
    )?;
    if ver == "v1beta1" && !sh.legacy {
        // §1: removed in 1.22; the final not-found handler answers in plain text.
        return Ok(Outcome::Resp(Response::plain_not_found()));
    }
    dispatch(sh, user, req, ver, &verb, name, sub)
}

/// The handler for an authorized request.
fn dispatch(
    sh: &Shared,
    user: &UserInfo,
    req: &Request,
    ver: &str,
    verb: &str,
    name: &str,
    sub: &str,
) -> ApiResult<Outcome> {
    let api_version = format!("certificates.k8s.io/{ver}");
    match (req.method.as_str(), verb) {
        ("GET", "watch") => watch(req, &CSR, api_version, FIELD_LABELS, "", name),
        ("GET", "list") => {
            list_collection(sh, req, &CSR, &api_version, FIELD_LABELS, "").map(Outcome::Resp)
        }
        ("GET", _) => get(sh, req, name, &api_version).map(Outcome::Resp),
        ("POST", _) => create(sh, user, req, ver).map(Outcome::Resp),
        ("PUT", _) | ("PATCH", _) => {
            let sub = match sub {
                "approval" => Subresource::Approval,
                "status" => Subresource::Status,
                _ => Subresource::Main,
            };
            update(sh, user, req, ver, name, sub).map(Outcome::Resp)
        }
        ("DELETE", "delete") => delete_one(sh, req, &CSR, "", name).map(Outcome::Resp),
        ("DELETE", _) => {
            delete_collection(sh, req, &CSR, "", FIELD_LABELS, &api_version).map(Outcome::Resp)
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn get(sh: &Shared, req: &Request, name: &str, api_version: &str) -> ApiResult<Response> {
    let st = sh.store();
    let obj = st
        .csr(name)
        .ok_or_else(|| ApiError::not_found(&CSR, name))?;
    if discovery::wants_table(req.header("accept")) {
        let rv = st.rv.to_string();
        return Ok(json_response(
            200,
            &discovery::table(
                CSR.resource,
                std::slice::from_ref(obj),
                &rv,
                sh.clock.now(),
                true,
            ),
        ));
    }
    Ok(json_response(200, &as_version(obj, api_version)))
}

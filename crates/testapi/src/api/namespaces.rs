//! core/v1 namespaces: just enough for kubectl's namespace defaulting and `api-resources`.

use serde_json::{Value, json};

use crate::http::Request;
use crate::identity::UserInfo;
use crate::rbac::Attrs;
use crate::state::Shared;
use crate::status::{ApiError, Resource};

use super::authz::{check, verb};
use super::response::{ApiResult, Outcome, json_response, list_item};

const NAMESPACES: Resource = Resource {
    group: "",
    resource: "namespaces",
    kind: "Namespace",
    namespaced: false,
};

pub(super) fn namespaces(
    sh: &Shared,
    user: &UserInfo,
    req: &Request,
    name: &str,
) -> ApiResult<Outcome> {
    let verb = verb(req, !name.is_empty());
    check(
        sh,
        user,
        &Attrs {
            verb: &verb,
            group: "",
            resource: "namespaces",
            subresource: "",
            name,
            namespace: "",
        },
        &NAMESPACES,
    )?;
    let ns = |n: &str| {
        json!({"kind":"Namespace","apiVersion":"v1","metadata":{"name":n,"resourceVersion":"1",
            "creationTimestamp":"2025-01-01T00:00:00Z"},"spec":{"finalizers":["kubernetes"]},"status":{"phase":"Active"}})
    };
    let all = ["default", "kube-node-lease", "kube-public", "kube-system"];
    if name.is_empty() {
        let items: Vec<Value> = all.iter().map(|n| list_item(&ns(n))).collect();
        return Ok(Outcome::Resp(json_response(
            200,
            &json!({"kind":"NamespaceList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":items}),
        )));
    }
    if all.contains(&name) {
        return Ok(Outcome::Resp(json_response(200, &ns(name))));
    }
    Err(ApiError::not_found(&NAMESPACES, name))
}

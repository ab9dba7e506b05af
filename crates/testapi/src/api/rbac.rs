//! rbac.authorization.k8s.io: ClusterRoles, Roles and their bindings, stored as the
//! authorizer ([`crate::rbac`]) reads them.

use serde_json::{Value, json};

use crate::discovery;
use crate::field_error::{FieldError, quote};
use crate::fields::{str_at, strings_at};
use crate::http::{Request, Response};
use crate::identity::UserInfo;
use crate::ids::uuid;
use crate::proto;
use crate::rbac::Attrs;
use crate::schema;
use crate::state::Shared;
use crate::status::{ApiError, Resource};

use super::authz::{check, verb};
use super::body::{raw_body, typed_body, write_opts};
use super::registry::{
    aggregate_if_roles, commit, delete_collection, delete_one, key, list_collection, watch,
};
use super::response::{ApiResult, Outcome, json_response, with_warnings};

const FIELD_LABELS: &[&str] = &["metadata.name", "metadata.namespace"];

pub(crate) const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

fn resource_named(resource: &str) -> Option<Resource> {
    Some(match resource {
        "clusterrolebindings" => Resource {
            group: RBAC_GROUP,
            resource: "clusterrolebindings",
            kind: "ClusterRoleBinding",
            namespaced: false,
        },
        "clusterroles" => Resource {
            group: RBAC_GROUP,
            resource: "clusterroles",
            kind: "ClusterRole",
            namespaced: false,
        },
        "rolebindings" => Resource {
            group: RBAC_GROUP,
            resource: "rolebindings",
            kind: "RoleBinding",
            namespaced: true,
        },
        "roles" => Resource {
            group: RBAC_GROUP,
            resource: "roles",
            kind: "Role",
            namespaced: true,
        },
        _ => return None,
    })
}

/// `/apis/rbac.authorization.k8s.io/v1/<rest>`.
pub(super) fn route(
    sh: &Shared,
    user: &UserInfo,
    req: &Request,
    rest: &[&str],
) -> ApiResult<Outcome> {
    if rest.is_empty() {
        if req.method == "GET"
            && let Some(l) = discovery::resource_list(sh.legacy, RBAC_GROUP, "v1")
        {
            return Ok(Outcome::Resp(json_response(200, &l)));
        }
        return Ok(Outcome::Resp(Response::plain_not_found()));
    }
    let (ns, res, name) = target(req, rest)?;
    let verb = verb(req, !name.is_empty());
    let allowed_method = matches!(
        (req.method.as_str(), name.is_empty()),
        ("GET" | "DELETE", _) | ("POST", true) | ("PUT", false)
    );
    if !allowed_method {
        return Err(ApiError::method_not_allowed());
    }
    check(
        sh,
        user,
        &Attrs {
            verb: &verb,
            group: RBAC_GROUP,
            resource: res.resource,
            subresource: "",
            name,
            namespace: ns,
        },
        &res,
    )?;
    dispatch(sh, req, &verb, &res, ns, name)
}

/// The namespace, resource and name a path names.
fn target<'a>(req: &Request, rest: &[&'a str]) -> ApiResult<(&'a str, Resource, &'a str)> {
    let (ns, resource, name) = match rest {
        [r] => ("", *r, ""),
        [r, n] if *r != "namespaces" => ("", *r, *n),
        ["namespaces", ns, r] => (*ns, *r, ""),
        ["namespaces", ns, r, n] => (*ns, *r, *n),
        _ => return Err(ApiError::no_resource()),
    };
    let Some(res) = resource_named(resource) else {
        return Err(ApiError::no_resource());
    };
    if res.namespaced && ns.is_empty() && !(req.method == "GET" && name.is_empty()) {
        return Err(ApiError::no_resource());
    }
    if !res.namespaced && !ns.is_empty() {
        return Err(ApiError::no_resource());
    }
    Ok((ns, res, name))
}

/// The handler for an authorized request.
fn dispatch(
    sh: &Shared,
    req: &Request,
    verb: &str,
    res: &Resource,
    ns: &str,
    name: &str,
) -> ApiResult<Outcome> {
    let api_version = format!("{RBAC_GROUP}/v1");
    match (req.method.as_str(), verb) {
        ("GET", "watch") => watch(req, res, api_version, FIELD_LABELS, ns, name),
        ("GET", "list") => {
            list_collection(sh, req, res, &api_version, FIELD_LABELS, ns).map(Outcome::Resp)
        }
        ("GET", _) => get(sh, req, res, ns, name).map(Outcome::Resp),
        ("POST", _) => write(sh, req, res, ns, None).map(Outcome::Resp),
        ("PUT", _) => write(sh, req, res, ns, Some(name)).map(Outcome::Resp),
        ("DELETE", "delete") => delete_one(sh, req, res, ns, name).map(Outcome::Resp),
        ("DELETE", _) => {
            delete_collection(sh, req, res, ns, FIELD_LABELS, &api_version).map(Outcome::Resp)
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn get(sh: &Shared, req: &Request, res: &Resource, ns: &str, name: &str) -> ApiResult<Response> {
    let st = sh.store();
    let obj = st
        .objects
        .get(&key(res, ns, name))
        .ok_or_else(|| ApiError::not_found(res, name))?;
    if discovery::wants_table(req.header("accept")) {
        let t = discovery::table(
            res.resource,
            std::slice::from_ref(obj),
            &st.rv.to_string(),
            sh.clock.now(),
            true,
        );
        return Ok(json_response(200, &t));
    }
    Ok(json_response(200, obj))
}

fn validate(res: &Resource, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if str_at(obj, "/metadata/name").is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    }
    if res.kind.ends_with("Binding") {
        let kind = str_at(obj, "/roleRef/kind");
        let allowed: &[&str] = if res.kind == "ClusterRoleBinding" {
            &["ClusterRole"]
        } else {
            &["ClusterRole", "Role"]
        };
        if !allowed.contains(&kind) {
            errs.push(FieldError::not_supported(
                "roleRef.kind",
                quote(kind),
                allowed,
            ));
        }
        if str_at(obj, "/roleRef/name").is_empty() {
            errs.push(FieldError::required("roleRef.name", ""));
        }
        if let Some(subs) = obj.get("subjects").and_then(Value::as_array) {
            for (i, sub) in subs.iter().enumerate() {
                let k = str_at(sub, "/kind");
                if !matches!(k, "User" | "Group" | "ServiceAccount") {
                    errs.push(FieldError::not_supported(
                        format!("subjects[{i}].kind"),
                        quote(k),
                        &["Group", "ServiceAccount", "User"],
                    ));
                }
                if str_at(sub, "/name").is_empty() {
                    errs.push(FieldError::required(format!("subjects[{i}].name"), ""));
                }
            }
        }
    } else if let Some(rules) = obj.get("rules").and_then(Value::as_array) {
        for (i, r) in rules.iter().enumerate() {
            if strings_at(r, "/verbs").is_empty() {
                errs.push(FieldError::required(
                    format!("rules[{i}].verbs"),
                    "verbs must contain at least one value",
                ));
            }
        }
    }
    errs
}

/// POST (`url_name` None) or PUT of a role or binding.
fn write(
    sh: &Shared,
    req: &Request,
    res: &Resource,
    ns: &str,
    url_name: Option<&str>,
) -> ApiResult<Response> {
    let opts = write_opts(
        req,
        if url_name.is_some() {
            "UpdateOptions"
        } else {
            "CreateOptions"
        },
        sh.legacy,
    )?;
    let pkind = match res.resource {
        "clusterrolebindings" => proto::Kind::ClusterRoleBinding,
        "rolebindings" => proto::Kind::RoleBinding,
        "clusterroles" => proto::Kind::ClusterRole,
        _ => proto::Kind::Role,
    };
    let sch = if res.kind.ends_with("Binding") {
        &schema::BINDING
    } else {
        &schema::ROLE
    };
    let raw = raw_body(req, pkind)?;
    let (mut obj, warnings) = typed_body(
        &raw,
        sch,
        res.kind,
        &[format!("{RBAC_GROUP}/v1")],
        opts.validation,
    )?;
    let name = str_at(&obj, "/metadata/name").to_string();
    if let Some(u) = url_name
        && !name.is_empty()
        && name != u
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({u})"
        )));
    }
    let name = url_name.map_or(name, str::to_string);
    obj["metadata"]["name"] = json!(name);
    obj["kind"] = json!(res.kind);
    obj["apiVersion"] = json!(format!("{RBAC_GROUP}/v1"));
    if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
        if !ns.is_empty() {
            m.insert("namespace".into(), json!(ns));
        }
    }
    let errs = validate(res, &obj);
    if !errs.is_empty() {
        return Err(ApiError::invalid(res, &name, &errs));
    }
    let mut st = sh.store();
    let existing = st.objects.get(&key(res, ns, &name)).cloned();
    let (code, obj) = match (url_name, existing) {
        (None, Some(_)) => return Err(ApiError::already_exists(res, &name, false)),
        (Some(_), None) => return Err(ApiError::not_found(res, &name)),
        (None, None) => (201, new_object(sh, obj)),
        (Some(_), Some(old)) => (200, replacement(res, &name, ns, obj, &old)?),
    };
    if opts.dry_run {
        return Ok(with_warnings(json_response(code, &obj), &warnings));
    }
    let etype = if code == 201 { "ADDED" } else { "MODIFIED" };
    let stored = commit(sh, &mut st, res, ns, &name, obj, etype);
    aggregate_if_roles(sh, &mut st, res);
    Ok(with_warnings(json_response(code, &stored), &warnings))
}

/// A created object: a new uid and creationTimestamp, no resourceVersion.
fn new_object(sh: &Shared, mut obj: Value) -> Value {
    obj["metadata"]["uid"] = json!(uuid());
    obj["metadata"]["creationTimestamp"] = json!(sh.now_rfc3339());
    if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    obj
}

/// A PUT's object checked against the stored one `old`, with `old`'s uid and
/// creationTimestamp.
fn replacement(
    res: &Resource,
    name: &str,
    ns: &str,
    mut obj: Value,
    old: &Value,
) -> ApiResult<Value> {
    // As for CSRs: a uid in the body is a storage precondition, checked first.
    let (uid, old_uid) = (str_at(&obj, "/metadata/uid"), str_at(old, "/metadata/uid"));
    if !uid.is_empty() && uid != old_uid {
        return Err(ApiError::uid_precondition(res, ns, name, uid, old_uid));
    }
    let rv = str_at(&obj, "/metadata/resourceVersion");
    if !rv.is_empty() && rv != str_at(old, "/metadata/resourceVersion") {
        return Err(ApiError::conflict(res, name));
    }
    if res.kind.ends_with("Binding") && obj.get("roleRef") != old.get("roleRef") {
        return Err(ApiError::invalid(
            res,
            name,
            &[FieldError::invalid(
                "roleRef",
                serde_json::to_string(&obj["roleRef"]).unwrap_or_default(),
                "cannot change roleRef",
            )],
        ));
    }
    obj["metadata"]["uid"] = old["metadata"]["uid"].clone();
    obj["metadata"]["creationTimestamp"] = old["metadata"]["creationTimestamp"].clone();
    Ok(obj)
}

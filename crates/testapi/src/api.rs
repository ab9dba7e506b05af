//! Routing and the request pipeline (reference §1 REST surface, §3 ordering of failures).

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::csr::{self, ValidationOptions};
use crate::csr_update::{self, Subresource};
use crate::discovery;
use crate::fields::{str_at, strings_at};
use crate::http::{Request, Response};
use crate::identity::UserInfo;
use crate::ids::{generate_name, uuid};
use crate::list;
use crate::locks::lock;
use crate::openapi;
use crate::proto;
use crate::rbac::{Attrs, authorize, authorized_for_signer};
use crate::schema::{self, Schema};
use crate::signer_rules::KUBE_APISERVER_CLIENT;
use crate::state::Shared;
use crate::status::{ApiError, CSR, FieldError, Resource, Status, quote};
use crate::store::Store;

/// What the connection loop does next.
#[derive(Debug)]
pub(crate) enum Outcome {
    Resp(Response),
    Watch(WatchSpec),
}

/// A watch to stream (reference §8).
#[derive(Debug)]
pub(crate) struct WatchSpec {
    pub res: Resource,
    pub api_version: String,
    /// `None`: send the current state as ADDED first ("Get State and Start at Most Recent").
    pub since: Option<u64>,
    pub selector: Selector,
    pub namespace: String,
    pub deadline: Instant,
    pub bookmarks: bool,
    /// Send each object as a one-row Table (`kubectl get -w`).
    pub table: bool,
    /// After the initial ADDED events, a BOOKMARK annotated `k8s.io/initial-events-end`.
    pub initial_events_end: bool,
}

type ApiResult<T> = Result<T, ApiError>;

fn json_body(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    out.push(b'\n');
    out
}

fn json_response(code: u16, v: &Value) -> Response {
    Response::json(code, json_body(v))
}

pub(crate) fn error_response(e: &ApiError) -> Response {
    let mut r = Response::json(e.code(), e.status.to_json());
    r.headers.extend(e.headers.iter().cloned());
    r
}

pub(crate) const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

fn rbac_res(resource: &str) -> Option<Resource> {
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

const SSR: Resource = Resource {
    group: "authentication.k8s.io",
    resource: "selfsubjectreviews",
    kind: "SelfSubjectReview",
    namespaced: false,
};

/// The verb RBAC sees (reference §1 table).
fn verb(req: &Request, has_name: bool) -> String {
    let watch = matches!(req.param("watch"), Some("true" | "1"));
    match (req.method.as_str(), has_name) {
        ("GET", _) if watch => "watch".into(),
        ("GET", false) => "list".into(),
        ("GET", true) => "get".into(),
        ("POST", _) => "create".into(),
        ("PUT", _) => "update".into(),
        ("PATCH", _) => "patch".into(),
        ("DELETE", false) => "deletecollection".into(),
        ("DELETE", true) => "delete".into(),
        (m, _) => m.to_ascii_lowercase(),
    }
}

fn check(sh: &Shared, user: &UserInfo, a: &Attrs<'_>, res: &Resource) -> ApiResult<()> {
    let st = sh.store();
    let rules = lock(&sh.rules);
    if authorize(&st, &rules, user, a) {
        Ok(())
    } else {
        Err(ApiError::rbac(
            res,
            a.subresource,
            a.name,
            &user.name,
            a.verb,
            a.namespace,
        ))
    }
}

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
            return namespaces(sh, user, req, rest.first().copied().unwrap_or(""));
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
                    body: crate::openapi_pb::encode(&doc),
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
            return csr_route(sh, user, req, ver, rest);
        }
        ["apis", "authentication.k8s.io", "v1", "selfsubjectreviews"] => {
            return self_subject_review(sh, user, req).map(Outcome::Resp);
        }
        ["apis", RBAC_GROUP, "v1", rest @ ..] => return rbac_route(sh, user, req, rest),
        _ => {}
    }
    Ok(Outcome::Resp(Response::plain_not_found()))
}

// ---------------------------------------------------------------------------------------
// Shared pieces: options, body decoding, selectors.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validation {
    Ignore,
    Warn,
    Strict,
}

struct WriteOptions {
    dry_run: bool,
    validation: Validation,
}

/// §3 step 3, §4.5, §4.6: `dryRun`, `fieldManager`, `fieldValidation` → 422 `<Kind>Options`.
/// `legacy`: a 1.19–1.21 server had no server-side field validation (the `fieldValidation`
/// parameter came in 1.23): the parameter is not looked at and unknown fields are dropped
/// without a word, as the JSON decoder of the time did.
fn write_opts(req: &Request, kind: &'static str, legacy: bool) -> ApiResult<WriteOptions> {
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

fn media_type(req: &Request) -> String {
    req.header("content-type")
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Raw body → JSON value (JSON or protobuf; §3 step 4).
fn raw_body(req: &Request, kind: proto::Kind) -> ApiResult<Value> {
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
fn typed_body(
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

fn with_warnings(mut r: Response, warnings: &[String]) -> Response {
    for w in warnings {
        r.headers
            .push(("Warning".into(), format!("299 - {}", quote(w))));
    }
    r
}

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
fn selector(req: &Request, allowed: &[&str]) -> ApiResult<Selector> {
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

fn watch_spec(
    req: &Request,
    res: Resource,
    api_version: String,
    sel: Selector,
    namespace: &str,
) -> ApiResult<WatchSpec> {
    // Watch-list (§8): initial state, then a BOOKMARK marking its end.
    let send_initial = matches!(req.param("sendInitialEvents"), Some("true" | "1"));
    let bookmarks = matches!(req.param("allowWatchBookmarks"), Some("true" | "1"));
    if send_initial {
        let mut errs = Vec::new();
        if req.param("resourceVersionMatch") != Some("NotOlderThan") {
            errs.push(FieldError::forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for watch unless resourceVersionMatch is set to NotOlderThan",
            ));
        }
        if !bookmarks {
            errs.push(FieldError::forbidden(
                "allowWatchBookmarks",
                "allowWatchBookmarks must be set to true when sendInitialEvents is set",
            ));
        }
        if !errs.is_empty() {
            return Err(ApiError::invalid_options("ListOptions", &errs));
        }
    }
    let since = match req.param("resourceVersion").unwrap_or("") {
        _ if send_initial => None,
        "" | "0" => None,
        rv => Some(rv.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("invalid resource version: {}", quote(rv)))
        })?),
    };
    let timeout = match req.param("timeoutSeconds") {
        // Unset or 0: the server's own limit (kube-apiserver: 30–60 min).
        None | Some("0") => 1800,
        Some(t) => t
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {}", quote(t))))?,
    };
    Ok(WatchSpec {
        res,
        api_version,
        since,
        selector: sel,
        namespace: namespace.to_string(),
        deadline: Instant::now() + Duration::from_secs(timeout.min(24 * 3600)),
        bookmarks,
        table: discovery::wants_table(req.header("accept")),
        initial_events_end: send_initial,
    })
}

fn key(res: &Resource, ns: &str, name: &str) -> (&'static str, String, String) {
    (res.resource, ns.to_string(), name.to_string())
}

fn commit(
    sh: &Shared,
    st: &mut Store,
    res: &Resource,
    ns: &str,
    name: &str,
    obj: Value,
    etype: &'static str,
) -> Value {
    let stored = st.write(key(res, ns, name), obj, etype);
    sh.changed.notify_all();
    stored
}

fn delete_status(res: &Resource, name: &str, uid: &str) -> Value {
    json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success",
        "details":{"name":name,"group":res.group,"kind":res.resource,"uid":uid}})
}

// ---------------------------------------------------------------------------------------
// certificates.k8s.io

fn csr_route(
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
    let api_version = format!("certificates.k8s.io/{ver}");
    match (req.method.as_str(), verb.as_str()) {
        ("GET", "watch") => {
            let mut sel = selector(req, &["metadata.name", "spec.signerName"])?;
            if !name.is_empty() {
                sel.fields
                    .push(("metadata.name".into(), true, name.to_string()));
            }
            Ok(Outcome::Watch(watch_spec(req, CSR, api_version, sel, "")?))
        }
        ("GET", "list") => csr_list(sh, req, &api_version).map(Outcome::Resp),
        ("GET", _) => {
            let st = sh.store();
            let obj = st
                .csr(name)
                .ok_or_else(|| ApiError::not_found(&CSR, name))?;
            if discovery::wants_table(req.header("accept")) {
                let rv = st.rv.to_string();
                return Ok(Outcome::Resp(json_response(
                    200,
                    &discovery::table(
                        CSR.resource,
                        std::slice::from_ref(obj),
                        &rv,
                        sh.clock.now(),
                        true,
                    ),
                )));
            }
            Ok(Outcome::Resp(json_response(
                200,
                &as_version(obj, &api_version),
            )))
        }
        ("POST", _) => csr_create(sh, user, req, ver).map(Outcome::Resp),
        ("PUT", _) | ("PATCH", _) => {
            let sub = match sub {
                "approval" => Subresource::Approval,
                "status" => Subresource::Status,
                _ => Subresource::Main,
            };
            csr_update(sh, user, req, ver, name, sub).map(Outcome::Resp)
        }
        ("DELETE", "delete") => delete_one(sh, req, &CSR, "", name).map(Outcome::Resp),
        ("DELETE", _) => delete_collection(
            sh,
            req,
            &CSR,
            "",
            &["metadata.name", "spec.signerName"],
            &api_version,
        )
        .map(Outcome::Resp),
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn as_version(obj: &Value, api_version: &str) -> Value {
    let mut o = obj.clone();
    o["apiVersion"] = json!(api_version);
    o
}

fn list_item(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("kind");
        m.remove("apiVersion");
    }
    o
}

fn csr_list(sh: &Shared, req: &Request, api_version: &str) -> ApiResult<Response> {
    let sel = selector(req, &["metadata.name", "spec.signerName"])?;
    let page = list::page(sh, req, CSR.resource, "", &sel)?;
    Ok(list_response(sh, req, &CSR, api_version, &page))
}

/// A `<Kind>List`, or a Table for kubectl, with the page's ListMeta.
fn list_response(
    sh: &Shared,
    req: &Request,
    res: &Resource,
    api_version: &str,
    page: &list::Page,
) -> Response {
    let meta = page.list_meta();
    if discovery::wants_table(req.header("accept")) {
        let mut t = discovery::table(
            res.resource,
            &page.items,
            &page.rv.to_string(),
            sh.clock.now(),
            true,
        );
        t["metadata"] = meta;
        return json_response(200, &t);
    }
    let items: Vec<Value> = page.items.iter().map(list_item).collect();
    json_response(
        200,
        &json!({"kind":format!("{}List", res.kind),"apiVersion":api_version,"metadata":meta,"items":items}),
    )
}

fn api_versions_for(ver: &str) -> Vec<String> {
    vec![format!("certificates.k8s.io/{ver}")]
}

/// POST (§3 create pipeline, §4).
fn csr_create(sh: &Shared, user: &UserInfo, req: &Request, ver: &str) -> ApiResult<Response> {
    let opts = write_opts(req, "CreateOptions", sh.legacy)?;
    let raw = raw_body(req, proto::Kind::Csr)?;
    let (mut obj, warnings) = typed_body(
        &raw,
        schema::csr(ver),
        CSR.kind,
        &api_versions_for(ver),
        opts.validation,
    )?;
    // Step 5: generated name, uid, creationTimestamp; namespace cleared.
    let given_name = str_at(&obj, "/metadata/name").to_string();
    let generate = str_at(&obj, "/metadata/generateName").to_string();
    let client_rv = str_at(&obj, "/metadata/resourceVersion").to_string();
    let generated = given_name.is_empty() && !generate.is_empty();
    let name = if generated {
        generate_name(&generate)
    } else {
        given_name
    };
    let mut meta = Map::new();
    meta.insert("name".into(), json!(name));
    if !generate.is_empty() {
        meta.insert("generateName".into(), json!(generate));
    }
    meta.insert("uid".into(), json!(uuid()));
    meta.insert("creationTimestamp".into(), json!(sh.now_rfc3339()));
    for k in ["labels", "annotations"] {
        if let Some(v) = obj.pointer(&format!("/metadata/{k}")) {
            meta.insert(k.into(), v.clone());
        }
    }
    obj["metadata"] = Value::Object(meta);
    obj["kind"] = json!(CSR.kind);
    obj["apiVersion"] = json!("certificates.k8s.io/v1");
    if !obj.get("spec").is_some_and(Value::is_object) {
        obj["spec"] = json!({});
    }
    if ver == "v1beta1" {
        csr::default_v1beta1(&mut obj);
    }
    // Step 6: PrepareForCreate (§4.1), then validation (§4.2).
    let spec = &mut obj["spec"];
    if let Some(m) = spec.as_object_mut() {
        for k in ["username", "uid", "groups", "extra"] {
            m.remove(k);
        }
        m.insert("username".into(), json!(user.name));
        if !user.uid.is_empty() {
            m.insert("uid".into(), json!(user.uid));
        }
        if !user.groups.is_empty() {
            m.insert("groups".into(), json!(user.groups));
        }
        if !user.extra.is_empty() {
            m.insert("extra".into(), json!(user.extra));
        }
    }
    obj["status"] = json!({});
    let (errs, parsed) = csr::validate_create(
        &obj,
        ValidationOptions::for_request(ver == "v1beta1", &obj, None),
    );
    if !errs.is_empty() {
        return Err(ApiError::invalid(&CSR, &name, &errs));
    }
    // Step 7: CertificateSubjectRestriction admission (§4.3).
    if str_at(&obj, "/spec/signerName") == KUBE_APISERVER_CLIENT
        && parsed
            .as_ref()
            .is_some_and(|p| p.orgs.iter().any(|o| o == "system:masters"))
    {
        return Err(ApiError::forbidden(
            &CSR,
            &name,
            "use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed",
        ));
    }
    // Step 8: storage.
    let mut st = sh.store();
    if !opts.dry_run
        && client_rv
            .parse::<u64>()
            .map_or(!client_rv.is_empty(), |v| v != 0)
    {
        return Err(ApiError::internal_plain(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    if st.csr(&name).is_some() {
        return Err(ApiError::already_exists(&CSR, &name, generated));
    }
    if opts.dry_run {
        // §4.5: the would-be object, without a resourceVersion.
        return Ok(with_warnings(
            json_response(
                201,
                &as_version(&obj, &format!("certificates.k8s.io/{ver}")),
            ),
            &warnings,
        ));
    }
    let stored = commit(sh, &mut st, &CSR, "", &name, obj, "ADDED");
    Ok(with_warnings(
        json_response(
            201,
            &as_version(&stored, &format!("certificates.k8s.io/{ver}")),
        ),
        &warnings,
    ))
}

/// RFC 7386 JSON merge patch (strategic merge patches are applied the same way; for CSRs
/// the only list that matters, `status.conditions`, is replaced whole either way, §5.1).
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            if let Some(t) = target.as_object_mut() {
                for (k, v) in p {
                    if k.starts_with("$") {
                        continue;
                    }
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

/// PUT/PATCH on the item, `/approval`, `/status` (§3 update pipeline, §5).
fn csr_update(
    sh: &Shared,
    user: &UserInfo,
    req: &Request,
    ver: &str,
    name: &str,
    sub: Subresource,
) -> ApiResult<Response> {
    let patching = req.method == "PATCH";
    let opts = write_opts(
        req,
        if patching {
            "PatchOptions"
        } else {
            "UpdateOptions"
        },
        sh.legacy,
    )?;
    let body_raw = if patching {
        let mt = media_type(req);
        if !matches!(
            mt.as_str(),
            "application/merge-patch+json" | "application/strategic-merge-patch+json"
        ) {
            return Err(ApiError::unsupported_media_type(&mt));
        }
        let patch: Value = serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
        let st = sh.store();
        let mut cur = st
            .csr(name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&CSR, name))?;
        merge_patch(&mut cur, &patch);
        cur
    } else {
        raw_body(req, proto::Kind::Csr)?
    };
    let (mut body, warnings) = typed_body(
        &body_raw,
        schema::csr(ver),
        CSR.kind,
        &api_versions_for(ver),
        opts.validation,
    )?;
    let body_name = str_at(&body, "/metadata/name");
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    if ver == "v1beta1" {
        csr::default_v1beta1(&mut body);
    }
    let mut st = sh.store();
    let old = st
        .csr(name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&CSR, name))?;
    // A uid in a PUT body is a precondition (`rest/update.go: defaultUpdatedObjectInfo.
    // Preconditions`), checked by storage before anything else (`etcd3/store.go:
    // GuaranteedUpdate`); a PATCH has none (its object is built from the stored one).
    let body_uid = str_at(&body, "/metadata/uid");
    let old_uid = str_at(&old, "/metadata/uid");
    if !patching && !body_uid.is_empty() && body_uid != old_uid {
        return Err(ApiError::uid_precondition(
            &CSR, "", name, body_uid, old_uid,
        ));
    }
    let body_rv = str_at(&body, "/metadata/resourceVersion");
    if !body_rv.is_empty() && body_rv != str_at(&old, "/metadata/resourceVersion") {
        return Err(ApiError::conflict(&CSR, name));
    }
    let new = csr_update::prepare_update(&old, &body, sub, &sh.now_rfc3339());
    // `rest/update.go: BeforeUpdate`: the common metadata rules (a changed uid is
    // `field is immutable`) first, then the strategy's, which end with the same metadata
    // rules again (`ValidateObjectMetaUpdate`).
    let uid_errs: Vec<FieldError> = if !body_uid.is_empty() && body_uid != old_uid {
        vec![FieldError::invalid(
            "metadata.uid",
            quote(body_uid),
            "field is immutable",
        )]
    } else {
        Vec::new()
    };
    let vopts = ValidationOptions::for_request(ver == "v1beta1", &new, Some(&old));
    let mut errs = uid_errs.clone();
    errs.extend(csr_update::validate_update(&new, &old, sub, vopts));
    errs.extend(uid_errs);
    if !errs.is_empty() {
        return Err(ApiError::invalid(&CSR, name, &errs));
    }
    let signer = str_at(&old, "/spec/signerName").to_string();
    {
        let rules = lock(&sh.rules);
        match sub {
            Subresource::Approval
                if !authorized_for_signer(&st, &rules, user, "approve", &signer, sh.legacy) =>
            {
                return Err(ApiError::forbidden(
                    &CSR,
                    name,
                    &format!(
                        "user not permitted to approve requests with signerName {}",
                        quote(&signer)
                    ),
                ));
            }
            Subresource::Status
                if (new.pointer("/status/certificate") != old.pointer("/status/certificate")
                    || new.pointer("/status/conditions") != old.pointer("/status/conditions"))
                    && !authorized_for_signer(&st, &rules, user, "sign", &signer, sh.legacy) =>
            {
                return Err(ApiError::forbidden(
                    &CSR,
                    name,
                    &format!(
                        "user not permitted to sign requests with signerName {}",
                        quote(&signer)
                    ),
                ));
            }
            _ => {}
        }
    }
    let api_version = format!("certificates.k8s.io/{ver}");
    if new == old || opts.dry_run {
        // §5.2: an unchanged object is not written (same RV, no event); §4.5 dry run.
        return Ok(with_warnings(
            json_response(200, &as_version(&new, &api_version)),
            &warnings,
        ));
    }
    let stored = commit(sh, &mut st, &CSR, "", name, new, "MODIFIED");
    Ok(with_warnings(
        json_response(200, &as_version(&stored, &api_version)),
        &warnings,
    ))
}

fn delete_one(
    sh: &Shared,
    req: &Request,
    res: &Resource,
    ns: &str,
    name: &str,
) -> ApiResult<Response> {
    let opts = write_opts(req, "DeleteOptions", sh.legacy)?;
    let mut st = sh.store();
    let old = st
        .objects
        .get(&key(res, ns, name))
        .cloned()
        .ok_or_else(|| ApiError::not_found(res, name))?;
    let uid = str_at(&old, "/metadata/uid").to_string();
    if !opts.dry_run {
        commit(sh, &mut st, res, ns, name, old, "DELETED");
        aggregate_if_roles(sh, &mut st, res);
    }
    Ok(json_response(200, &delete_status(res, name, &uid)))
}

/// After a ClusterRole changes, the aggregation controller recomputes the aggregated roles.
fn aggregate_if_roles(sh: &Shared, st: &mut Store, res: &Resource) {
    if res.resource == "clusterroles" && crate::bootstrap::aggregate(st) {
        sh.changed.notify_all();
    }
}

fn delete_collection(
    sh: &Shared,
    req: &Request,
    res: &Resource,
    ns: &str,
    allowed: &[&str],
    api_version: &str,
) -> ApiResult<Response> {
    let opts = write_opts(req, "DeleteOptions", sh.legacy)?;
    let sel = selector(req, allowed)?;
    let mut st = sh.store();
    let victims: Vec<(String, Value)> = st
        .objects
        .iter()
        .filter(|((r, n, _), v)| *r == res.resource && (ns.is_empty() || n == ns) && sel.matches(v))
        .map(|((_, _, name), v)| (name.clone(), v.clone()))
        .collect();
    let mut items = Vec::new();
    for (name, obj) in victims {
        let obj_ns = str_at(&obj, "/metadata/namespace").to_string();
        if !opts.dry_run {
            commit(sh, &mut st, res, &obj_ns, &name, obj.clone(), "DELETED");
        }
        items.push(list_item(&obj));
    }
    if !opts.dry_run {
        aggregate_if_roles(sh, &mut st, res);
    }
    Ok(json_response(
        200,
        &json!({"kind":format!("{}List", res.kind),"apiVersion":api_version,"metadata":{"resourceVersion":st.rv.to_string()},"items":items}),
    ))
}

// ---------------------------------------------------------------------------------------
// core/v1 namespaces: just enough for kubectl's namespace defaulting and `api-resources`.

const NAMESPACES: Resource = Resource {
    group: "",
    resource: "namespaces",
    kind: "Namespace",
    namespaced: false,
};

fn namespaces(sh: &Shared, user: &UserInfo, req: &Request, name: &str) -> ApiResult<Outcome> {
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

// ---------------------------------------------------------------------------------------
// authentication.k8s.io

/// `kubectl auth whoami` (reference §16, §17): POST SelfSubjectReview → 201 with userInfo.
fn self_subject_review(sh: &Shared, user: &UserInfo, req: &Request) -> ApiResult<Response> {
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

// ---------------------------------------------------------------------------------------
// rbac.authorization.k8s.io

fn rbac_route(sh: &Shared, user: &UserInfo, req: &Request, rest: &[&str]) -> ApiResult<Outcome> {
    let (ns, resource, name) = match rest {
        [] => {
            if req.method == "GET"
                && let Some(l) = discovery::resource_list(sh.legacy, RBAC_GROUP, "v1")
            {
                return Ok(Outcome::Resp(json_response(200, &l)));
            }
            return Ok(Outcome::Resp(Response::plain_not_found()));
        }
        [r] => ("", *r, ""),
        [r, n] if *r != "namespaces" => ("", *r, *n),
        ["namespaces", ns, r] => (*ns, *r, ""),
        ["namespaces", ns, r, n] => (*ns, *r, *n),
        _ => return Err(ApiError::no_resource()),
    };
    let Some(res) = rbac_res(resource) else {
        return Err(ApiError::no_resource());
    };
    if res.namespaced && ns.is_empty() && !(req.method == "GET" && name.is_empty()) {
        return Err(ApiError::no_resource());
    }
    if !res.namespaced && !ns.is_empty() {
        return Err(ApiError::no_resource());
    }
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
    let api_version = format!("{RBAC_GROUP}/v1");
    match (req.method.as_str(), verb.as_str()) {
        ("GET", "watch") => {
            let mut sel = selector(req, &["metadata.name", "metadata.namespace"])?;
            if !name.is_empty() {
                sel.fields
                    .push(("metadata.name".into(), true, name.to_string()));
            }
            Ok(Outcome::Watch(watch_spec(req, res, api_version, sel, ns)?))
        }
        ("GET", "list") => {
            let sel = selector(req, &["metadata.name", "metadata.namespace"])?;
            let page = list::page(sh, req, res.resource, ns, &sel)?;
            Ok(Outcome::Resp(list_response(
                sh,
                req,
                &res,
                &api_version,
                &page,
            )))
        }
        ("GET", _) => {
            let st = sh.store();
            let obj = st
                .objects
                .get(&key(&res, ns, name))
                .ok_or_else(|| ApiError::not_found(&res, name))?;
            if discovery::wants_table(req.header("accept")) {
                let t = discovery::table(
                    res.resource,
                    std::slice::from_ref(obj),
                    &st.rv.to_string(),
                    sh.clock.now(),
                    true,
                );
                return Ok(Outcome::Resp(json_response(200, &t)));
            }
            Ok(Outcome::Resp(json_response(200, obj)))
        }
        ("POST", _) => rbac_write(sh, req, &res, ns, None).map(Outcome::Resp),
        ("PUT", _) => rbac_write(sh, req, &res, ns, Some(name)).map(Outcome::Resp),
        ("DELETE", "delete") => delete_one(sh, req, &res, ns, name).map(Outcome::Resp),
        ("DELETE", _) => delete_collection(
            sh,
            req,
            &res,
            ns,
            &["metadata.name", "metadata.namespace"],
            &api_version,
        )
        .map(Outcome::Resp),
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn validate_rbac(res: &Resource, obj: &Value) -> Vec<FieldError> {
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

fn rbac_write(
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
    let errs = validate_rbac(res, &obj);
    if !errs.is_empty() {
        return Err(ApiError::invalid(res, &name, &errs));
    }
    let mut st = sh.store();
    let existing = st.objects.get(&key(res, ns, &name)).cloned();
    match (url_name, existing) {
        (None, Some(_)) => Err(ApiError::already_exists(res, &name, false)),
        (Some(_), None) => Err(ApiError::not_found(res, &name)),
        (None, None) => {
            obj["metadata"]["uid"] = json!(uuid());
            obj["metadata"]["creationTimestamp"] = json!(sh.now_rfc3339());
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            if opts.dry_run {
                return Ok(with_warnings(json_response(201, &obj), &warnings));
            }
            let stored = commit(sh, &mut st, res, ns, &name, obj, "ADDED");
            aggregate_if_roles(sh, &mut st, res);
            Ok(with_warnings(json_response(201, &stored), &warnings))
        }
        (Some(_), Some(old)) => {
            // As for CSRs: a uid in the body is a storage precondition, checked first.
            let (uid, old_uid) = (str_at(&obj, "/metadata/uid"), str_at(&old, "/metadata/uid"));
            if !uid.is_empty() && uid != old_uid {
                return Err(ApiError::uid_precondition(res, ns, &name, uid, old_uid));
            }
            let rv = str_at(&obj, "/metadata/resourceVersion");
            if !rv.is_empty() && rv != str_at(&old, "/metadata/resourceVersion") {
                return Err(ApiError::conflict(res, &name));
            }
            if res.kind.ends_with("Binding") && obj.get("roleRef") != old.get("roleRef") {
                return Err(ApiError::invalid(
                    res,
                    &name,
                    &[FieldError::invalid(
                        "roleRef",
                        serde_json::to_string(&obj["roleRef"]).unwrap_or_default(),
                        "cannot change roleRef",
                    )],
                ));
            }
            obj["metadata"]["uid"] = old["metadata"]["uid"].clone();
            obj["metadata"]["creationTimestamp"] = old["metadata"]["creationTimestamp"].clone();
            if opts.dry_run {
                return Ok(with_warnings(json_response(200, &obj), &warnings));
            }
            let stored = commit(sh, &mut st, res, ns, &name, obj, "MODIFIED");
            aggregate_if_roles(sh, &mut st, res);
            Ok(with_warnings(json_response(200, &stored), &warnings))
        }
    }
}

/// A Status as a watch ERROR event object.
pub(crate) fn status_value(st: &Status) -> Value {
    serde_json::to_value(st).unwrap_or(Value::Null)
}

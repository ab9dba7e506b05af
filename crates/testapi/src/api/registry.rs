//! What every resource shares (kube-apiserver's generic registry): the one write path that
//! wakes watches, GET as a Table or a `<Kind>List`, DELETE of one object or a collection.

use serde_json::{Value, json};

use crate::bootstrap;
use crate::discovery;
use crate::fields::str_at;
use crate::http::{Request, Response};
use crate::list;
use crate::selector::Selector;
use crate::state::Shared;
use crate::status::{ApiError, Resource};
use crate::store::{ObjectKey, Store};
use crate::watch::WatchSpec;

use super::body::write_opts;
use super::response::{ApiResult, Outcome, json_response, list_item};

pub(super) fn key(res: &Resource, ns: &str, name: &str) -> ObjectKey {
    (res.resource, ns.to_string(), name.to_string())
}

pub(super) fn commit(
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

/// GET with `watch`: the stream a request asks for (its selectors over `field_labels`), of
/// one object when `name` is given.
pub(super) fn watch(
    req: &Request,
    res: &Resource,
    api_version: String,
    field_labels: &[&str],
    ns: &str,
    name: &str,
) -> ApiResult<Outcome> {
    let sel = Selector::from_request(req, field_labels)?.with_name(name);
    Ok(Outcome::Watch(WatchSpec::from_request(
        req,
        *res,
        api_version,
        sel,
        ns,
    )?))
}

/// GET of a collection: the page a request asks for (its selectors over `field_labels`), as
/// [`list_response`] renders it.
pub(super) fn list_collection(
    sh: &Shared,
    req: &Request,
    res: &Resource,
    api_version: &str,
    field_labels: &[&str],
    ns: &str,
) -> ApiResult<Response> {
    let sel = Selector::from_request(req, field_labels)?;
    let page = list::page(sh, req, res.resource, ns, &sel)?;
    Ok(list_response(sh, req, res, api_version, &page))
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

pub(super) fn delete_one(
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
pub(super) fn aggregate_if_roles(sh: &Shared, st: &mut Store, res: &Resource) {
    if res.resource == "clusterroles" && bootstrap::aggregate(st) {
        sh.changed.notify_all();
    }
}

pub(super) fn delete_collection(
    sh: &Shared,
    req: &Request,
    res: &Resource,
    ns: &str,
    allowed: &[&str],
    api_version: &str,
) -> ApiResult<Response> {
    let opts = write_opts(req, "DeleteOptions", sh.legacy)?;
    let sel = Selector::from_request(req, allowed)?;
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

//! certificates.k8s.io writes: POST (reference §3 create pipeline, §4) and PUT/PATCH of the
//! item, `/approval` and `/status` (§3 update pipeline, §5).

use serde_json::{Map, Value, json};

use crate::csr::{self, ValidationOptions};
use crate::csr_update::{self, Subresource};
use crate::field_error::{FieldError, quote};
use crate::fields::str_at;
use crate::http::{Request, Response};
use crate::identity::UserInfo;
use crate::ids::{generate_name, uuid};
use crate::locks::lock;
use crate::pkcs10::ParsedCsr;
use crate::proto;
use crate::rbac::authorized_for_signer;
use crate::schema;
use crate::signer_rules::KUBE_APISERVER_CLIENT;
use crate::state::Shared;
use crate::status::{ApiError, CSR};
use crate::store::Store;

use super::body::{media_type, raw_body, typed_body, write_opts};
use super::registry::commit;
use super::response::{ApiResult, as_version, json_response, with_warnings};

/// POST (§3 create pipeline, §4).
pub(super) fn create(
    sh: &Shared,
    user: &UserInfo,
    req: &Request,
    ver: &str,
) -> ApiResult<Response> {
    let opts = write_opts(req, "CreateOptions", sh.legacy)?;
    let raw = raw_body(req, proto::Kind::Csr)?;
    let (mut obj, warnings) = typed_body(
        &raw,
        schema::csr(ver),
        CSR.kind,
        &api_versions_for(ver),
        opts.validation,
    )?;
    let client_rv = str_at(&obj, "/metadata/resourceVersion").to_string();
    let (name, generated) = prepare_for_create(sh, user, &mut obj, ver);
    // Step 6: validation (§4.2).
    let (errs, parsed) = csr::validate_create(
        &obj,
        ValidationOptions::for_request(ver == "v1beta1", &obj, None),
    );
    if !errs.is_empty() {
        return Err(ApiError::invalid(&CSR, &name, &errs));
    }
    admit(&obj, &name, parsed.as_ref())?;
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
    let api_version = format!("certificates.k8s.io/{ver}");
    if opts.dry_run {
        // §4.5: the would-be object, without a resourceVersion.
        return Ok(with_warnings(
            json_response(201, &as_version(&obj, &api_version)),
            &warnings,
        ));
    }
    let stored = commit(sh, &mut st, &CSR, "", &name, obj, "ADDED");
    Ok(with_warnings(
        json_response(201, &as_version(&stored, &api_version)),
        &warnings,
    ))
}

/// Step 5: generated name, uid, creationTimestamp, namespace cleared; then PrepareForCreate
/// (§4.1): the requester's identity in the spec, an empty status. Returns the name and whether
/// it was generated.
fn prepare_for_create(sh: &Shared, user: &UserInfo, obj: &mut Value, ver: &str) -> (String, bool) {
    let given_name = str_at(obj, "/metadata/name").to_string();
    let generate = str_at(obj, "/metadata/generateName").to_string();
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
        csr::default_v1beta1(obj);
    }
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
    (name, generated)
}

/// Step 7: CertificateSubjectRestriction admission (§4.3).
fn admit(obj: &Value, name: &str, parsed: Option<&ParsedCsr>) -> ApiResult<()> {
    if str_at(obj, "/spec/signerName") == KUBE_APISERVER_CLIENT
        && parsed.is_some_and(|p| p.orgs.iter().any(|o| o == "system:masters"))
    {
        return Err(ApiError::forbidden(
            &CSR,
            name,
            "use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed",
        ));
    }
    Ok(())
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
pub(super) fn update(
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
    let body_raw = update_body(sh, req, name, patching)?;
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
    check_preconditions(&body, &old, name, patching)?;
    let new = csr_update::prepare_update(&old, &body, sub, &sh.now_rfc3339());
    // `rest/update.go: BeforeUpdate`: the common metadata rules (a changed uid is
    // `field is immutable`) first, then the strategy's, which end with the same metadata
    // rules again (`ValidateObjectMetaUpdate`).
    let uid_errs = changed_uid_errors(&body, &old);
    let vopts = ValidationOptions::for_request(ver == "v1beta1", &new, Some(&old));
    let mut errs = uid_errs.clone();
    errs.extend(csr_update::validate_update(&new, &old, sub, vopts));
    errs.extend(uid_errs);
    if !errs.is_empty() {
        return Err(ApiError::invalid(&CSR, name, &errs));
    }
    authorize_for_signer(sh, &st, user, sub, name, &new, &old)?;
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

/// The object a PUT sends, or the stored one with a PATCH's merge patch applied.
fn update_body(sh: &Shared, req: &Request, name: &str, patching: bool) -> ApiResult<Value> {
    if !patching {
        return raw_body(req, proto::Kind::Csr);
    }
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
    Ok(cur)
}

/// A uid in a PUT body is a precondition (`rest/update.go: defaultUpdatedObjectInfo.
/// Preconditions`), checked by storage before anything else (`etcd3/store.go:
/// GuaranteedUpdate`); a PATCH has none (its object is built from the stored one). Then the
/// resourceVersion: optimistic concurrency.
fn check_preconditions(body: &Value, old: &Value, name: &str, patching: bool) -> ApiResult<()> {
    let body_uid = str_at(body, "/metadata/uid");
    let old_uid = str_at(old, "/metadata/uid");
    if !patching && !body_uid.is_empty() && body_uid != old_uid {
        return Err(ApiError::uid_precondition(
            &CSR, "", name, body_uid, old_uid,
        ));
    }
    let body_rv = str_at(body, "/metadata/resourceVersion");
    if !body_rv.is_empty() && body_rv != str_at(old, "/metadata/resourceVersion") {
        return Err(ApiError::conflict(&CSR, name));
    }
    Ok(())
}

fn changed_uid_errors(body: &Value, old: &Value) -> Vec<FieldError> {
    let body_uid = str_at(body, "/metadata/uid");
    if !body_uid.is_empty() && body_uid != str_at(old, "/metadata/uid") {
        vec![FieldError::invalid(
            "metadata.uid",
            quote(body_uid),
            "field is immutable",
        )]
    } else {
        Vec::new()
    }
}

/// §5.3 admission: approving needs `approve` on the signer; changing the certificate or the
/// conditions through `/status` needs `sign`.
fn authorize_for_signer(
    sh: &Shared,
    st: &Store,
    user: &UserInfo,
    sub: Subresource,
    name: &str,
    new: &Value,
    old: &Value,
) -> ApiResult<()> {
    let signer = str_at(old, "/spec/signerName").to_string();
    let rules = lock(&sh.rules);
    let verb = match sub {
        Subresource::Approval => "approve",
        Subresource::Status
            if new.pointer("/status/certificate") != old.pointer("/status/certificate")
                || new.pointer("/status/conditions") != old.pointer("/status/conditions") =>
        {
            "sign"
        }
        _ => return Ok(()),
    };
    if authorized_for_signer(st, &rules, user, verb, &signer, sh.legacy) {
        return Ok(());
    }
    Err(ApiError::forbidden(
        &CSR,
        name,
        &format!(
            "user not permitted to {verb} requests with signerName {}",
            quote(&signer)
        ),
    ))
}

/// The `apiVersion`s a body sent to `<ver>` may name.
fn api_versions_for(ver: &str) -> Vec<String> {
    vec![format!("certificates.k8s.io/{ver}")]
}

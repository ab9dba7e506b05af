//! The csrsigning controller (reference §9, §10): after approval, issue with the client CA,
//! apply each signer's rules (Failed / `SignerValidationFailure`), duration = min(
//! expirationSeconds, max), NotBefore backdated 5 minutes, KU/EKU from `spec.usages`.
//! Custom signer names are only signed when a test registered them.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::fields::{bytes_at, has_condition, str_at, strings_at};
use crate::identity::UserInfo;
use crate::locks::lock;
use crate::pkcs10::parse_csr;
use crate::pki::{Leaf, San, issue, pem_encode};
use crate::signer_rules::{
    KUBE_APISERVER_CLIENT, KUBELET_CLIENT, KUBELET_SERVING, LEGACY_UNKNOWN, apiserver_client_check,
    kubelet_client_check, kubelet_serving_check,
};
use crate::state::Shared;

pub(crate) fn handles(sh: &Shared, signer: &str) -> bool {
    matches!(
        signer,
        KUBE_APISERVER_CLIENT | KUBELET_CLIENT | KUBELET_SERVING | LEGACY_UNKNOWN
    ) || lock(&sh.signers).contains(signer)
}

/// §9 steps 1–4: does the controller act on this object at all?
pub(crate) fn wants(sh: &Shared, obj: &Value) -> bool {
    str_at(obj, "/status/certificate").is_empty()
        && has_condition(obj, "Approved")
        && !has_condition(obj, "Denied")
        && !has_condition(obj, "Failed")
        && handles(sh, str_at(obj, "/spec/signerName"))
}

enum Outcome {
    Issue(String),
    Fail(String),
}

/// §9 steps 5–7 and §9.2 validity.
fn decide(sh: &Shared, obj: &Value) -> Option<Outcome> {
    let parsed = parse_csr(&bytes_at(obj, "/spec/request")).ok()?;
    let usages = strings_at(obj, "/spec/usages");
    let check = match str_at(obj, "/spec/signerName") {
        KUBE_APISERVER_CLIENT => apiserver_client_check(&usages),
        KUBELET_CLIENT => kubelet_client_check(&parsed, &usages),
        KUBELET_SERVING => kubelet_serving_check(&parsed, &usages),
        _ => Ok(()),
    };
    if let Err(msg) = check {
        return Some(Outcome::Fail(msg));
    }
    let max = i64::try_from(sh.max_duration.as_secs()).unwrap_or(i64::MAX);
    let ttl = match obj
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
    {
        Some(e) => e.min(max).max(600),
        None => max,
    };
    let now = sh.clock.now();
    if sh.client_ca.not_after < now {
        return None; // "the signer has expired": requeue, no condition.
    }
    let not_after = if ttl < 8 * 3600 {
        now + ttl
    } else {
        now + ttl - 300
    };
    let sans = match str_at(obj, "/spec/signerName") {
        KUBELET_CLIENT => Vec::new(),
        KUBELET_SERVING => parsed
            .sans
            .iter()
            .filter(|s| matches!(s, San::Dns(_) | San::Ip(_)))
            .cloned()
            .collect(),
        _ => parsed.sans.clone(),
    };
    let leaf = Leaf {
        subject: parsed.subject.clone(),
        spki_der: &parsed.spki,
        sans,
        usages,
        not_before: now - 300,
        not_after,
    };
    let der = issue(&sh.client_ca, &leaf).ok()?;
    Some(Outcome::Issue(pem_encode("CERTIFICATE", &der)))
}

/// The kubelet-client auto-approver (reference §11, `sarapprove.go`): a pending
/// `kube-apiserver-client-kubelet` CSR that passes the kubelet client rules is approved with
/// reason `AutoApproved` when its requester may `create` `certificatesigningrequests/
/// selfnodeclient` (CN = requester) or `certificatesigningrequests/nodeclient`.
fn auto_approve(sh: &Shared) -> usize {
    let mut st = sh.store();
    let candidates: Vec<(String, Value)> = st
        .objects
        .iter()
        .filter(|((r, _, _), v)| {
            *r == "certificatesigningrequests"
                && str_at(v, "/spec/signerName") == KUBELET_CLIENT
                && crate::fields::conditions(v).is_empty()
        })
        .map(|((_, _, n), v)| (n.clone(), v.clone()))
        .collect();
    let mut done = 0;
    for (name, obj) in candidates {
        let Ok(parsed) = parse_csr(&bytes_at(&obj, "/spec/request")) else {
            continue;
        };
        if kubelet_client_check(&parsed, &strings_at(&obj, "/spec/usages")).is_err() {
            continue;
        }
        let requester = UserInfo {
            name: str_at(&obj, "/spec/username").to_string(),
            uid: str_at(&obj, "/spec/uid").to_string(),
            groups: strings_at(&obj, "/spec/groups"),
            extra: obj
                .pointer("/spec/extra")
                .and_then(|e| serde_json::from_value(e.clone()).ok())
                .unwrap_or_default(),
        };
        let is_self = parsed.common_names.first() == Some(&requester.name);
        let allowed = |sub: &str| {
            let rules = lock(&sh.rules);
            crate::rbac::authorize(
                &st,
                &rules,
                &requester,
                &crate::rbac::Attrs {
                    verb: "create",
                    group: "certificates.k8s.io",
                    resource: "certificatesigningrequests",
                    subresource: sub,
                    name: "",
                    namespace: "",
                },
            )
        };
        let message = if is_self && allowed("selfnodeclient") {
            "Auto approving self kubelet client certificate after SubjectAccessReview."
        } else if allowed("nodeclient") {
            "Auto approving kubelet client certificate after SubjectAccessReview."
        } else {
            continue;
        };
        let now = sh.now_rfc3339();
        let mut new = obj.clone();
        new["status"]["conditions"] = json!([{"type":"Approved","status":"True","reason":"AutoApproved",
            "message":message,"lastUpdateTime":now,"lastTransitionTime":now}]);
        st.write(
            ("certificatesigningrequests", String::new(), name),
            new,
            "MODIFIED",
        );
        done += 1;
    }
    drop(st);
    if done > 0 {
        sh.changed.notify_all();
    }
    done
}

/// One pass over the store: auto-approve, then sign or fail everything that waits. Returns
/// how many CSRs changed.
pub(crate) fn run_once(sh: &Shared) -> usize {
    // A controller cannot reach a server that is down.
    if sh.faults.signer_stopped() || sh.is_down() {
        return 0;
    }
    let approved = auto_approve(sh);
    let pending: Vec<(String, Value)> = {
        let st = sh.store();
        st.objects
            .iter()
            .filter(|((r, _, _), v)| *r == "certificatesigningrequests" && wants(sh, v))
            .map(|((_, _, n), v)| (n.clone(), v.clone()))
            .collect()
    };
    let mut done = 0;
    for (name, snapshot) in pending {
        if sh.stopping() || sh.faults.signer_stopped() || sh.is_down() {
            break;
        }
        let delay = sh.faults.signer_delay();
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let Some(outcome) = decide(sh, &snapshot) else {
            continue;
        };
        let mut st = sh.store();
        let Some(current) = st.csr(&name) else {
            continue;
        };
        // Like UpdateStatus with a cached object: a concurrent change means try again later.
        if str_at(current, "/metadata/resourceVersion")
            != str_at(&snapshot, "/metadata/resourceVersion")
        {
            continue;
        }
        let mut obj = current.clone();
        match outcome {
            Outcome::Issue(pem) => {
                obj["status"]["certificate"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(pem.as_bytes()));
            }
            Outcome::Fail(msg) => {
                let now = sh.now_rfc3339();
                let cond = json!({"type":"Failed","status":"True","reason":"SignerValidationFailure",
                    "message": msg, "lastUpdateTime": now, "lastTransitionTime": now});
                match obj
                    .pointer_mut("/status/conditions")
                    .and_then(Value::as_array_mut)
                {
                    Some(c) => c.push(cond),
                    None => obj["status"]["conditions"] = json!([cond]),
                }
            }
        }
        st.write(
            ("certificatesigningrequests", String::new(), name.clone()),
            obj,
            "MODIFIED",
        );
        drop(st);
        sh.changed.notify_all();
        done += 1;
    }
    approved + done
}

/// The controller loop: wakes on every store change (or every 200 ms), until stop.
pub(crate) fn spawn(sh: Arc<Shared>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("testapi-signer".into())
        .spawn(move || {
            let mut seen_rv = u64::MAX;
            while !sh.stopping() {
                let rv = sh.store().rv;
                if rv != seen_rv || !sh.faults.signer_stopped() {
                    seen_rv = rv;
                    run_once(&sh);
                }
                let st = sh.store();
                if st.rv == seen_rv {
                    let _ = sh
                        .changed
                        .wait_timeout(st, Duration::from_millis(200))
                        .map(drop);
                }
            }
        })
}

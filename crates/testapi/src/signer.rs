//! The csrsigning controller (reference §9, §10): after approval, issue with the client CA,
//! apply each signer's rules (Failed / `SignerValidationFailure`), duration = min(
//! expirationSeconds, max), NotBefore backdated 5 minutes, KU/EKU from `spec.usages`.
//! Custom signer names are only signed when a test registered them.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::csr::{
    KUBE_APISERVER_CLIENT, KUBELET_CLIENT, KUBELET_SERVING, LEGACY_UNKNOWN, ParsedCsr, bytes,
    has_condition, parse_csr, s, strings,
};
use crate::pki::{Leaf, San, issue, pem_encode};
use crate::state::{Shared, lock};

fn set_eq(usages: &[String], want: &[&str]) -> bool {
    let mut a: Vec<&str> = usages.iter().map(String::as_str).collect();
    a.sort_unstable();
    a.dedup();
    let mut b = want.to_vec();
    b.sort_unstable();
    a == b
}

/// `helpers.go: ValidateKubeletClientCSR` (reference §9.1), in its order.
pub(crate) fn kubelet_client_check(p: &ParsedCsr, usages: &[String]) -> Result<(), String> {
    if p.orgs != ["system:nodes"] {
        return Err("subject organization is not system:nodes".into());
    }
    if p.count(|s| matches!(s, San::Dns(_))) > 0 {
        return Err("DNS subjectAltNames are not allowed".into());
    }
    if p.count(|s| matches!(s, San::Email(_))) > 0 {
        return Err("Email subjectAltNames are not allowed".into());
    }
    if p.count(|s| matches!(s, San::Ip(_))) > 0 {
        return Err("IP subjectAltNames are not allowed".into());
    }
    if p.count(|s| matches!(s, San::Uri(_))) > 0 {
        return Err("URI subjectAltNames are not allowed".into());
    }
    if !p
        .common_names
        .first()
        .is_some_and(|cn| cn.starts_with("system:node:"))
    {
        return Err("subject common name does not begin with system:node:".into());
    }
    if !set_eq(
        usages,
        &["digital signature", "key encipherment", "client auth"],
    ) && !set_eq(usages, &["digital signature", "client auth"])
    {
        return Err("usages did not match [client auth digital signature key encipherment]".into());
    }
    Ok(())
}

/// `helpers.go: ValidateKubeletServingCSR` (reference §9.1), in its order.
pub(crate) fn kubelet_serving_check(p: &ParsedCsr, usages: &[String]) -> Result<(), String> {
    if p.orgs != ["system:nodes"] {
        return Err("subject organization is not system:nodes".into());
    }
    if p.count(|s| matches!(s, San::Dns(_) | San::Ip(_))) == 0 {
        return Err("DNS or IP subjectAltName is required".into());
    }
    if p.count(|s| matches!(s, San::Email(_))) > 0 {
        return Err("Email subjectAltNames are not allowed".into());
    }
    if p.count(|s| matches!(s, San::Uri(_))) > 0 {
        return Err("URI subjectAltNames are not allowed".into());
    }
    if !set_eq(
        usages,
        &["digital signature", "key encipherment", "server auth"],
    ) && !set_eq(usages, &["digital signature", "server auth"])
    {
        return Err("usages did not match [digital signature key encipherment server auth]".into());
    }
    if !p
        .common_names
        .first()
        .is_some_and(|cn| cn.starts_with("system:node:"))
    {
        return Err("subject common name does not begin with system:node:".into());
    }
    Ok(())
}

/// kube-apiserver-client: usages limited to digital signature / key encipherment / client
/// auth, and client auth required (reference §9.1).
fn apiserver_client_check(usages: &[String]) -> Result<(), String> {
    for u in usages {
        if !matches!(
            u.as_str(),
            "digital signature" | "key encipherment" | "client auth"
        ) {
            return Err(format!("invalid usage for client certificate: {u}"));
        }
    }
    if !usages.iter().any(|u| u == "client auth") {
        return Err("missing required usage for client certificate: client auth".into());
    }
    Ok(())
}

pub(crate) fn handles(sh: &Shared, signer: &str) -> bool {
    matches!(
        signer,
        KUBE_APISERVER_CLIENT | KUBELET_CLIENT | KUBELET_SERVING | LEGACY_UNKNOWN
    ) || lock(&sh.signers).contains(signer)
}

/// §9 steps 1–4: does the controller act on this object at all?
pub(crate) fn wants(sh: &Shared, obj: &Value) -> bool {
    s(obj, "/status/certificate").is_empty()
        && has_condition(obj, "Approved")
        && !has_condition(obj, "Denied")
        && !has_condition(obj, "Failed")
        && handles(sh, s(obj, "/spec/signerName"))
}

enum Outcome {
    Issue(String),
    Fail(String),
}

/// §9 steps 5–7 and §9.2 validity.
fn decide(sh: &Shared, obj: &Value) -> Option<Outcome> {
    let parsed = parse_csr(&bytes(obj, "/spec/request")).ok()?;
    let usages = strings(obj, "/spec/usages");
    let check = match s(obj, "/spec/signerName") {
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
    let sans = match s(obj, "/spec/signerName") {
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
                && s(v, "/spec/signerName") == KUBELET_CLIENT
                && crate::csr::conditions(v).is_empty()
        })
        .map(|((_, _, n), v)| (n.clone(), v.clone()))
        .collect();
    let mut done = 0;
    for (name, obj) in candidates {
        let Ok(parsed) = parse_csr(&bytes(&obj, "/spec/request")) else {
            continue;
        };
        if kubelet_client_check(&parsed, &strings(&obj, "/spec/usages")).is_err() {
            continue;
        }
        let requester = crate::state::UserInfo {
            name: s(&obj, "/spec/username").to_string(),
            uid: s(&obj, "/spec/uid").to_string(),
            groups: strings(&obj, "/spec/groups"),
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
        if s(current, "/metadata/resourceVersion") != s(&snapshot, "/metadata/resourceVersion") {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(cn: &str, org: Option<&str>, sans: &[&str]) -> ParsedCsr {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        if let Some(o) = org {
            p.distinguished_name
                .push(rcgen::DnType::OrganizationName, o);
        }
        let pem = p.serialize_request(&key).unwrap().pem().unwrap();
        parse_csr(pem.as_bytes()).unwrap()
    }

    fn u(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kube_apiserver_client_rules() {
        assert_eq!(
            apiserver_client_check(&u(&["digital signature"])).unwrap_err(),
            "missing required usage for client certificate: client auth"
        );
        assert_eq!(
            apiserver_client_check(&u(&["client auth", "server auth"])).unwrap_err(),
            "invalid usage for client certificate: server auth"
        );
        assert!(apiserver_client_check(&u(&["key encipherment", "client auth"])).is_ok());
    }

    #[test]
    fn kubelet_rules_in_upstream_order() {
        let ok_usages = u(&["digital signature", "client auth"]);
        let p = parsed("system:node:n1", Some("system:nodes"), &["n1.example"]);
        assert_eq!(
            kubelet_client_check(&p, &ok_usages).unwrap_err(),
            "DNS subjectAltNames are not allowed"
        );
        let p = parsed("n1", Some("system:nodes"), &[]);
        assert_eq!(
            kubelet_client_check(&p, &ok_usages).unwrap_err(),
            "subject common name does not begin with system:node:"
        );
        let p = parsed("system:node:n1", Some("system:nodes"), &[]);
        assert!(kubelet_client_check(&p, &ok_usages).is_ok());
        assert_eq!(
            kubelet_client_check(&p, &u(&["client auth"])).unwrap_err(),
            "usages did not match [client auth digital signature key encipherment]"
        );
        let serving = u(&["digital signature", "server auth"]);
        assert_eq!(
            kubelet_serving_check(&p, &serving).unwrap_err(),
            "DNS or IP subjectAltName is required"
        );
        // kubelet-serving checks usages before the CN prefix.
        let p = parsed("n1", Some("system:nodes"), &["10.0.0.1"]);
        assert_eq!(
            kubelet_serving_check(&p, &u(&["server auth"])).unwrap_err(),
            "usages did not match [digital signature key encipherment server auth]"
        );
        assert_eq!(
            kubelet_serving_check(&p, &serving).unwrap_err(),
            "subject common name does not begin with system:node:"
        );
    }
}

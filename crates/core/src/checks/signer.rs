//! The built-in signers' rules (reference §9.1).

use super::finding::Out;
use super::request::Request;
use crate::csr::CsrInfo;
use crate::manifest::ApiVersion;
use crate::signer::Builtin;
use crate::usage::Usage;

fn usage_names(set: &[Usage]) -> String {
    let mut names: Vec<&str> = set.iter().map(|u| u.as_str()).collect();
    names.sort_unstable();
    format!("[{}]", names.join(" "))
}

fn same_set(a: &[Usage], b: &[Usage]) -> bool {
    let sa: std::collections::BTreeSet<_> = a.iter().collect();
    let sb: std::collections::BTreeSet<_> = b.iter().collect();
    sa == sb
}

/// The signer's rules (reference §9.1), or what a missing or unknown signer means.
pub(super) fn check_signer(r: &Request<'_>, out: &mut Out) {
    let Some(signer) = r.signer else {
        match r.api_version {
            ApiVersion::V1 => out.error("signer-required", "spec.signerName: Required value", Some("pass --signer (default client)")),
            ApiVersion::V1beta1 => out.warn(
                "signer-defaulted",
                "no signer: a v1beta1 API server picks one from the request content, usually kubernetes.io/legacy-unknown",
                None,
            ),
        }
        return;
    };
    match signer.builtin() {
        Some(Builtin::KubeApiserverClient) => check_kube_apiserver_client(r, out),
        Some(Builtin::KubeletClient) => check_kubelet_client(r, out),
        Some(Builtin::KubeletServing) => check_kubelet_serving(r, out),
        Some(Builtin::LegacyUnknown) => {
            if r.api_version == ApiVersion::V1 {
                out.error(
                    "signer-legacy",
                    "spec.signerName: Invalid value: \"kubernetes.io/legacy-unknown\": the legacy signerName is not allowed via this API version",
                    Some("use --signer client, or --api-version v1beta1 for clusters older than 1.22"),
                );
            }
        }
        None if signer.domain() == "kubernetes.io" || signer.domain().ends_with(".kubernetes.io") => out.error(
            "signer-unknown",
            format!("no Kubernetes component signs for {signer}; the request would stay Approved without a certificate"),
            Some("use client, kubelet-client or kubelet-serving, or a signer a controller in your cluster serves"),
        ),
        None => out.warn(
            "signer-custom",
            format!("custom signer {signer}: kcsr cannot check its rules; a controller for it must run in the cluster, or the request stays Approved without a certificate"),
            None,
        ),
    }
}

/// kubernetes.io/kube-apiserver-client: its usages, and the admission of system:masters.
fn check_kube_apiserver_client(r: &Request<'_>, out: &mut Out) {
    let csr = r.csr;
    let orgs = &csr.subject.organizations;
    for u in r.usages {
        if !matches!(
            u,
            Usage::DigitalSignature | Usage::KeyEncipherment | Usage::ClientAuth
        ) {
            out.error(
                "signer-usages",
                format!("invalid usage for client certificate: {u} (kubernetes.io/kube-apiserver-client allows only digital signature, key encipherment and client auth)"),
                Some("leave --usage out to get the right usages"),
            );
        }
    }
    if !r.usages.contains(&Usage::ClientAuth) {
        out.error(
            "signer-usages",
            "missing required usage for client certificate: client auth",
            Some("add --usage \"client auth\", or leave --usage out"),
        );
    }
    if orgs.iter().any(|o| o == "system:masters") {
        match r.api_version {
            ApiVersion::V1 => out.error(
                "admission-system-masters",
                "use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed: the CertificateSubjectRestriction admission plugin (on by default since Kubernetes 1.19) refuses it, because system:masters bypasses all authorization and a certificate cannot be revoked",
                Some("drop --group system:masters and add --clusterrole cluster-admin: the binding grants the same rights and can be deleted"),
            ),
            ApiVersion::V1beta1 => out.warn(
                "admission-system-masters",
                "WARNING: group system:masters bypasses all authorization (RBAC cannot restrict it) and this certificate cannot be revoked before it expires except by replacing the cluster CA; clusters from 1.19 refuse such requests",
                Some("prefer --clusterrole cluster-admin without system:masters"),
            ),
        }
    }
    if !csr.sans.is_empty() {
        out.warn(
            "signer-sans",
            "client certificates need no SANs; the signer copies them into the certificate",
            None,
        );
    }
}

/// kubernetes.io/kube-apiserver-client-kubelet: a node's identity, no SANs.
fn check_kubelet_client(r: &Request<'_>, out: &mut Out) {
    let csr = r.csr;
    check_node_group(csr, "client", out);
    let s = &csr.sans;
    for (present, what) in [
        (!s.dns.is_empty(), "DNS"),
        (!s.email.is_empty(), "Email"),
        (!s.ip.is_empty(), "IP"),
        (!s.uri.is_empty(), "URI"),
    ] {
        if present {
            out.error(
                "signer-sans",
                format!("{what} subjectAltNames are not allowed"),
                Some("kubelet client certificates take no SANs: drop --dns/--ip"),
            );
        }
    }
    check_node_name(csr, out);
    check_node_usages(r.usages, Usage::ClientAuth, out);
}

/// kubernetes.io/kubelet-serving: a node's identity and the names it serves.
fn check_kubelet_serving(r: &Request<'_>, out: &mut Out) {
    let csr = r.csr;
    check_node_group(csr, "serving", out);
    let s = &csr.sans;
    if s.dns.is_empty() && s.ip.is_empty() {
        out.error(
            "signer-sans",
            "DNS or IP subjectAltName is required",
            Some("add --dns NAME or --ip ADDRESS"),
        );
    }
    if !s.email.is_empty() {
        out.error("signer-sans", "Email subjectAltNames are not allowed", None);
    }
    if !s.uri.is_empty() {
        out.error("signer-sans", "URI subjectAltNames are not allowed", None);
    }
    check_node_usages(r.usages, Usage::ServerAuth, out);
    check_node_name(csr, out);
}

/// Both kubelet signers: the organization is exactly system:nodes. `kind`: "client" or
/// "serving", as the hint names the certificates.
fn check_node_group(csr: &CsrInfo, kind: &str, out: &mut Out) {
    if csr.subject.organizations.as_slice() != ["system:nodes"] {
        let hint = format!("kubelet {kind} certificates need exactly --group system:nodes");
        out.error(
            "signer-subject",
            "subject organization is not system:nodes",
            Some(hint.as_str()),
        );
    }
}

/// Both kubelet signers: the common name is a node's, `system:node:NODENAME`.
fn check_node_name(csr: &CsrInfo, out: &mut Out) {
    if !common_name(csr).starts_with("system:node:") {
        out.error(
            "signer-subject",
            "subject common name does not begin with system:node:",
            Some("use --user system:node:NODENAME"),
        );
    }
}

/// Both kubelet signers: digital signature and `auth` (client or server auth), with or
/// without key encipherment, and nothing else.
fn check_node_usages(usages: &[Usage], auth: Usage, out: &mut Out) {
    let a = [Usage::DigitalSignature, Usage::KeyEncipherment, auth];
    let b = [Usage::DigitalSignature, auth];
    if !same_set(usages, &a) && !same_set(usages, &b) {
        out.error(
            "signer-usages",
            format!("usages did not match {}", usage_names(&a)),
            Some("leave --usage out to get the right usages"),
        );
    }
}

/// The first common name, or empty: what the kubelet signers compare with `system:node:`.
fn common_name(csr: &CsrInfo) -> &str {
    csr.subject
        .common_names
        .first()
        .map(String::as_str)
        .unwrap_or("")
}

//! The built-in signers' names and the rules each applies to a request (reference §9.1):
//! the signer controller fails requests that break them, and v1beta1 defaulting picks a
//! signer by them.

use crate::pkcs10::ParsedCsr;
use crate::pki::San;

pub(crate) const KUBE_APISERVER_CLIENT: &str = "kubernetes.io/kube-apiserver-client";
pub(crate) const KUBELET_CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";
pub(crate) const KUBELET_SERVING: &str = "kubernetes.io/kubelet-serving";
pub(crate) const LEGACY_UNKNOWN: &str = "kubernetes.io/legacy-unknown";

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
pub(crate) fn apiserver_client_check(usages: &[String]) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkcs10::parse_csr;

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

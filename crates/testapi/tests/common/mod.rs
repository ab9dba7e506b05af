//! Test helpers: an HTTPS client (ureq + rustls on aws-lc-rs) and CSR builders.
#![allow(dead_code, unreachable_pub)]
// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use kcsr_testapi::{Identity, TestServer};
use rcgen::{CertificateParams, DnType, KeyPair};
use serde_json::{Value, json};
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

pub struct Resp {
    pub code: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub fn client_with(server: &TestServer, ident: Option<&Identity>, token: Option<&str>) -> Client {
    client_with_timeout(server, ident, token, Duration::from_secs(60))
}

/// A client whose every call (body included) gives up after `timeout`.
pub fn client_with_timeout(
    server: &TestServer,
    ident: Option<&Identity>,
    token: Option<&str>,
    timeout: Duration,
) -> Client {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let ca = Certificate::from_pem(server.serving_ca_pem().as_bytes()).unwrap();
    let mut tls = TlsConfig::builder()
        .root_certs(RootCerts::Specific(Arc::new(vec![ca])))
        .unversioned_rustls_crypto_provider(provider);
    if let Some(id) = ident {
        let cert = Certificate::from_pem(id.cert_pem.as_bytes()).unwrap();
        let key = PrivateKey::from_pem(id.key_pem.as_bytes()).unwrap();
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&[cert], key)));
    }
    let config = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .proxy(None)
        .max_idle_connections_per_host(8)
        .build();
    Client {
        agent: ureq::Agent::new_with_config(config),
        base: server.url(),
        token: token.map(str::to_string),
    }
}

pub fn admin(server: &TestServer) -> Client {
    client_with(server, Some(&server.admin_identity()), None)
}

pub fn user(server: &TestServer, name: &str) -> Client {
    client_with(server, Some(&server.identity(name).unwrap()), None)
}

pub const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

impl Client {
    pub fn send(&self, method: &str, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path))
            .header("Accept", "application/json");
        if !body.is_empty() {
            b = b.header("Content-Type", content_type);
        }
        if let Some(t) = &self.token {
            b = b.header("Authorization", format!("Bearer {t}"));
        }
        let req = b.body(body).unwrap();
        let mut resp = self.agent.run(req).unwrap();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let code = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().unwrap();
        Resp {
            code,
            headers,
            body,
        }
    }
    pub fn try_send(&self, method: &str, path: &str, body: Vec<u8>) -> Result<Resp, ureq::Error> {
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path))
            .header("Content-Type", "application/json")
            .body(body)
            .unwrap();
        let mut resp = self.agent.run(req)?;
        let code = resp.status().as_u16();
        let body = resp.body_mut().read_to_string()?;
        Ok(Resp {
            code,
            headers: Vec::new(),
            body,
        })
    }
    /// GET without reading the body, so a test can see how far the response got.
    pub fn open(&self, path: &str) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let mut b = ureq::http::Request::builder()
            .method("GET")
            .uri(format!("{}{}", self.base, path))
            .header("Accept", "application/json");
        if let Some(t) = &self.token {
            b = b.header("Authorization", format!("Bearer {t}"));
        }
        self.agent.run(b.body(Vec::new()).unwrap())
    }
    pub fn send_with_accept(&self, path: &str, accept: &str) -> Resp {
        let req = ureq::http::Request::builder()
            .method("GET")
            .uri(format!("{}{}", self.base, path))
            .header("Accept", accept)
            .body(Vec::new())
            .unwrap();
        let mut resp = self.agent.run(req).unwrap();
        let code = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().unwrap();
        Resp {
            code,
            headers: Vec::new(),
            body,
        }
    }
    pub fn get(&self, path: &str) -> Resp {
        self.send("GET", path, "", Vec::new())
    }
    pub fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, "", Vec::new())
    }
    pub fn post(&self, path: &str, v: &Value) -> Resp {
        self.send(
            "POST",
            path,
            "application/json",
            serde_json::to_vec(v).unwrap(),
        )
    }
    pub fn put(&self, path: &str, v: &Value) -> Resp {
        self.send(
            "PUT",
            path,
            "application/json",
            serde_json::to_vec(v).unwrap(),
        )
    }
    /// GET + append Approved + PUT /approval, like kubectl certificate approve.
    pub fn approve(&self, name: &str) -> Resp {
        self.add_condition(
            name,
            "Approved",
            "KubectlApprove",
            "This CSR was approved by kubectl certificate approve.",
        )
    }
    pub fn deny(&self, name: &str) -> Resp {
        self.add_condition(
            name,
            "Denied",
            "KubectlDeny",
            "This CSR was denied by kubectl certificate deny.",
        )
    }
    pub fn add_condition(&self, name: &str, ty: &str, reason: &str, message: &str) -> Resp {
        let got = self.get(&format!("{CSRS}/{name}"));
        if got.code != 200 {
            return got;
        }
        let mut obj = got.json();
        let cond = json!({"type": ty, "status": "True", "reason": reason, "message": message});
        match obj["status"]["conditions"].as_array_mut() {
            Some(c) => c.push(cond),
            None => obj["status"]["conditions"] = json!([cond]),
        }
        self.put(&format!("{CSRS}/{name}/approval"), &obj)
    }
}

/// A PKCS#10 request (PEM) for CN + one O, with optional DNS SANs.
pub fn csr_pem(cn: &str, org: Option<&str>, dns: &[&str]) -> String {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params =
        CertificateParams::new(dns.iter().map(|d| d.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    if let Some(o) = org {
        params.distinguished_name.push(DnType::OrganizationName, o);
    }
    params.serialize_request(&key).unwrap().pem().unwrap()
}

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

pub fn csr_obj(name: &str, pem: &str, signer: &str, usages: &[&str]) -> Value {
    json!({"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest",
        "metadata":{"name":name},
        "spec":{"request":b64(pem),"signerName":signer,"usages":usages}})
}

pub fn client_csr(name: &str) -> Value {
    csr_obj(
        name,
        &csr_pem(name, Some("dev"), &[]),
        "kubernetes.io/kube-apiserver-client",
        &["digital signature", "client auth"],
    )
}

/// Polls (bounded) until `f` holds for the stored CSR.
pub fn wait_for(server: &TestServer, name: &str, f: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        if let Some(v) = server.csr(name)
            && f(&v)
        {
            return v;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("timed out waiting for {name}: {:?}", server.csr(name));
}

pub fn issued(v: &Value) -> bool {
    v.pointer("/status/certificate")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty())
}

pub fn decode_cert(v: &Value) -> String {
    let b = v
        .pointer("/status/certificate")
        .and_then(Value::as_str)
        .unwrap();
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap()).unwrap()
}

/// Writes a test file (`std::fs::write` is disallowed workspace-wide).
pub fn write_file(path: &std::path::Path, data: &[u8]) {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    f.write_all(data).unwrap();
}

//! A tiny HTTPS server on 127.0.0.1 for connection-layer tests: rcgen certificates, rustls,
//! optional client-certificate authentication, scripted answers, dropped connections.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // test support writes fixture files

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;

/// A CA that can issue server and client certificates.
pub struct TestCa {
    pub pem: String,
    pub der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
    pub key_der: Vec<u8>,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    pub fn server_cert(&self, names: &[&str]) -> Issued {
        let mut params =
            CertificateParams::new(names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params)
    }

    pub fn client_cert(&self, user: &str, groups: &[&str]) -> Issued {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, user);
        for g in groups {
            params.distinguished_name.push(DnType::OrganizationName, *g);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params)
    }

    fn issue(&self, params: CertificateParams) -> Issued {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub client_cert: bool,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What to do with a request.
pub enum Reply {
    Json(u16, Vec<(&'static str, String)>, String),
    /// Close the connection without answering.
    Drop,
}

pub type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

pub struct TestServer {
    pub addr: SocketAddr,
    pub ca: TestCa,
    pub client_ca: TestCa,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

pub struct ServerSpec {
    pub names: Vec<&'static str>,
    pub require_client_cert: bool,
}

impl Default for ServerSpec {
    fn default() -> Self {
        Self {
            names: vec!["127.0.0.1", "localhost"],
            require_client_cert: false,
        }
    }
}

impl TestServer {
    pub fn start(
        spec: ServerSpec,
        handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let ca = TestCa::new("test-server-ca");
        let client_ca = TestCa::new("test-client-ca");
        let serving = ca.server_cert(&spec.names);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(client_ca.der.clone()).unwrap();
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
        let verifier = if spec.require_client_cert {
            verifier.build().unwrap()
        } else {
            verifier.allow_unauthenticated().build().unwrap()
        };
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![serving.der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(serving.key_der.clone())),
            )
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let thread = {
            let stop = stop.clone();
            let seen = seen.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let config = config.clone();
                    let seen = seen.clone();
                    let handler = handler.clone();
                    std::thread::spawn(move || serve(stream, config, seen, handler));
                }
            })
        };
        Self {
            addr,
            ca,
            client_ca,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A scripted server and a temporary directory for the kubeconfigs that reach it: the setup
/// every connection-layer test starts with. Derefs to the server.
pub struct Scripted {
    server: TestServer,
    dir: tempfile::TempDir,
}

impl Scripted {
    /// [`TestServer::start`] with `spec` and `handler`, and an empty directory.
    pub fn start(
        spec: ServerSpec,
        handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        Self {
            server: TestServer::start(spec, handler),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The directory for the test's kubeconfigs, keys and plugin scripts.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `dir/kubeconfig`: this server, its CA trusted, `user` (indented YAML lines).
    pub fn kubeconfig(&self, user: &str) -> PathBuf {
        kubeconfig(
            self.dir(),
            &self.server.url(),
            &ca_line(&self.server.ca.pem),
            user,
        )
    }
}

impl std::ops::Deref for Scripted {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.server
    }
}

/// The kubeconfig cluster line that trusts `pem`.
pub fn ca_line(pem: &str) -> String {
    format!("    certificate-authority-data: {}\n", b64(pem))
}

fn serve(
    stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
    seen: Arc<Mutex<Vec<Seen>>>,
    handler: Arc<Handler>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, stream);
    // Bounded: a handful of requests per connection.
    for _ in 0..32 {
        let mut reader = BufReader::new(&mut tls);
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                if n.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
                headers.push((n.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let mut body = vec![0; length.min(1 << 20)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        drop(reader);
        let client_cert = tls.conn.peer_certificates().is_some_and(|c| !c.is_empty());
        let request = Seen {
            method,
            path,
            headers,
            body,
            client_cert,
        };
        let index = {
            let mut seen = seen.lock().unwrap();
            seen.push(request.clone());
            seen.len() - 1
        };
        match handler(&request, index) {
            Reply::Drop => {
                let _ = tls.sock.shutdown(Shutdown::Both);
                return;
            }
            Reply::Json(code, extra, body) => {
                let mut head = format!(
                    "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
                    body.len()
                );
                for (n, v) in extra {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                head.push_str("\r\n");
                if tls.write_all(head.as_bytes()).is_err()
                    || tls.write_all(body.as_bytes()).is_err()
                {
                    return;
                }
                let _ = tls.flush();
            }
        }
    }
}

pub fn b64(data: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub fn status_json(code: u16, reason: &str, message: &str) -> String {
    serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":message,"reason":reason,"code":code}).to_string()
}

pub fn review_json(user: &str, groups: &[&str]) -> String {
    serde_json::json!({
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": {"username": user, "groups": groups}}
    })
    .to_string()
}

/// Writes a kubeconfig with one context; `cluster_extra` and `user_yaml` are indented YAML lines.
pub fn kubeconfig(dir: &Path, server: &str, cluster_extra: &str, user_yaml: &str) -> PathBuf {
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: test-cluster\n  cluster:\n    server: {server}\n{cluster_extra}users:\n- name: test-user\n  user:\n{user_yaml}contexts:\n- name: test\n  context:\n    cluster: test-cluster\n    user: test-user\n"
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).unwrap();
    path
}

//! An API server in miniature for the streams kcsr-testapi has not (exec and other upgrades):
//! a TLS server that wants the cluster's client certificates and echoes what it gets.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::setup::{Setup, free_port};

/// A TLS upstream of the test's own (kcsr-testapi has no pods to exec into): it requires a
/// client certificate from the cluster's client CA, answers an Upgrade with 101, and then
/// echoes every byte. It hands back the request head it got and the client's certificate.
pub(crate) fn echo_upstream(
    dir: &Path,
    client_ca: &str,
    switch: bool,
) -> (u16, String, std::sync::mpsc::Receiver<(String, Vec<u8>)>) {
    use rustls_pki_types::pem::PemObject as _;
    // A CA and a serving certificate it signs (a CA certificate is no server's).
    let script = concat!(
        "set -e; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout echo-ca.key -out echo-ca.crt -subj /CN=echo-ca -days 2 2>&1; ",
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout echo.key -out echo.csr -subj /CN=echo 2>&1; ",
        "printf 'basicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature\\nextendedKeyUsage=serverAuth\\nsubjectAltName=IP:127.0.0.1\\n' > echo.cnf; ",
        "openssl x509 -req -in echo.csr -CA echo-ca.crt -CAkey echo-ca.key -CAcreateserial -days 2 -extfile echo.cnf -out echo.crt 2>&1"
    );
    kcsr_testkit::run("sh", dir, &["-c", script]).expect_code(0, "openssl (the echo server's CA)");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(client_ca.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let chain = rustls_pki_types::CertificateDer::pem_file_iter(dir.join("echo.crt"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(dir.join("echo.key")).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if tls.read(&mut byte).unwrap_or(0) == 0 {
                return;
            }
            head.push(byte[0]);
        }
        let client_cert = tls
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        tx.send((String::from_utf8_lossy(&head).into_owned(), client_cert))
            .unwrap();
        if !switch {
            // An API server that does not switch: a plain answer on a connection it keeps
            // open, then whatever else arrives on it is handed back.
            tls.write_all(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}",
            )
            .unwrap();
            let _ = tls.sock.set_read_timeout(Some(Duration::from_secs(3)));
            let mut more = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = tls.read(&mut buf) {
                if n == 0 {
                    break;
                }
                more.extend_from_slice(&buf[..n]);
            }
            let _ = tx.send((String::from_utf8_lossy(&more).into_owned(), Vec::new()));
            return;
        }
        tls.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n",
        )
        .unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tls.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let ca = std::fs::read_to_string(dir.join("echo-ca.crt")).unwrap();
    (port, ca, rx)
}

/// alice's token-user kubeconfig with its extension pointed at [`echo_upstream`] (an exec's
/// stream in miniature): the agent's port, the echo server's port, the kubeconfig, and what
/// the echo server receives.
pub(crate) fn via_echo(
    s: &mut Setup,
    switch: bool,
) -> (
    u16,
    u16,
    PathBuf,
    std::sync::mpsc::Receiver<(String, Vec<u8>)>,
) {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let port = free_port();
    let kc = s.token_user("alice", port);
    // The echo server's own files are on neither host.
    let echo_dir = s._tmp.path().join("echo");
    std::fs::create_dir(&echo_dir).unwrap();
    let (echo_port, echo_ca, heads) =
        echo_upstream(&echo_dir, &s.cluster.server.client_ca_pem(), switch);
    let text = std::fs::read_to_string(&kc)
        .unwrap()
        .replace(
            &s.cluster.server.url(),
            &format!("https://127.0.0.1:{echo_port}"),
        )
        .replace(&b64(&s.cluster.server.serving_ca_pem()), &b64(&echo_ca));
    assert!(
        text.contains(&format!("https://127.0.0.1:{echo_port}")),
        "{text}"
    );
    let echo_kc = s.offline.path("echo.kubeconfig");
    std::fs::write(&echo_kc, text).unwrap();
    std::fs::set_permissions(&echo_kc, std::fs::Permissions::from_mode(0o600)).unwrap();
    (port, echo_port, echo_kc, heads)
}

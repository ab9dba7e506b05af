//! kubectl with a key in a PKCS#11 token, through kcsr-agent (issue 16, decision 0012): the
//! whole gap with a SoftHSM2 token made for each test (`SOFTHSM2_CONF`), kcsr-testapi started
//! here on 127.0.0.1, the real binaries and real kubectl. The attacker positions of the threat
//! model's kcsr-agent row are played here: a local user without the kubeconfig (no or a wrong
//! bearer token), a web page in a browser on the same machine (`Origin`), and an edited
//! kubeconfig (a non-loopback `server`, loose modes). SoftHSM2 missing is a failure, never a
//! skip (`.ci/run` installs it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use kcsr_e2e::{Host, Run, binary, carry, files_below, host_command};
use kcsr_testkit::Background;
use kcsr_testkit::cluster::Cluster;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// Distinctive, so that a leak is found by a plain search.
const PIN: &str = "5531-agent-pin-7702";
const SO_PIN: &str = "so-1187-4410";

/// Both hosts, the test API server, and the isolated host's SoftHSM2 token `kcsr`.
struct Setup {
    _tmp: tempfile::TempDir,
    offline: Host,
    connected: Host,
    cluster: Cluster,
    outputs: Vec<String>,
}

impl Setup {
    fn new() -> Self {
        assert!(
            Path::new(MODULE).exists(),
            "SoftHSM2 is missing ({MODULE}): install it with apt-get install softhsm2 (.ci/run does); the agent tests do not skip"
        );
        let tmp = tempfile::tempdir().unwrap();
        let offline = Host::new(tmp.path(), "offline");
        let connected = Host::new(tmp.path(), "connected");
        let cluster = Cluster::start();
        let server = &cluster.server;
        std::fs::copy(cluster.kubeconfig(), connected.path("admin.kubeconfig")).unwrap();
        std::fs::write(connected.path("client-ca.crt"), server.client_ca_pem()).unwrap();
        std::fs::write(offline.path("ca.crt"), server.serving_ca_pem()).unwrap();
        std::fs::write(offline.path("client-ca.crt"), server.client_ca_pem()).unwrap();
        std::fs::create_dir(offline.path("tokens")).unwrap();
        std::fs::write(
            offline.path("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                offline.path("tokens").display()
            ),
        )
        .unwrap();
        std::fs::write(offline.path("pin"), format!("{PIN}\n")).unwrap();
        // A PIN file only its owner may read, as kcsr and kcsr-agent require.
        std::fs::set_permissions(
            offline.path("pin"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let mut s = Self {
            _tmp: tmp,
            offline,
            connected,
            cluster,
            outputs: Vec::new(),
        };
        let out = Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                "kcsr",
                "--so-pin",
                SO_PIN,
                "--pin",
                PIN,
            ])
            .env("SOFTHSM2_CONF", s.offline.path("softhsm2.conf"))
            .output()
            .expect("softhsm2-util must be installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = s.cluster.server.url();
        s.kcsr(&[
            "cluster",
            "add",
            "kcsr-testapi",
            "--keys",
            "keys",
            "--server",
            &url,
            "--ca",
            "ca.crt",
            "--client-ca",
            "client-ca.crt",
        ])
        .expect_code(0, "kcsr cluster add");
        s
    }

    fn uri(&self, object: &str) -> String {
        format!("pkcs11:token=kcsr;object={object}?module-path={MODULE}")
    }

    /// `program args` as the hosts run it, with the test's SoftHSM2 configuration.
    fn command(&self, program: &Path, args: &[&str], dir: &Path, home: &Path) -> Command {
        let mut c = host_command(program, args, dir, home);
        c.env("SOFTHSM2_CONF", self.offline.path("softhsm2.conf"));
        c
    }

    /// Runs `c` to its end and keeps its output for [`Setup::assert_nothing_secret`].
    fn finish(&mut self, mut c: Command) -> Run {
        let what = c.get_program().to_string_lossy().into_owned();
        let r = kcsr_testkit::finish(c.spawn().unwrap(), &what);
        self.outputs.push(format!("{}{}", r.stdout, r.stderr));
        r
    }

    fn kcsr(&mut self, args: &[&str]) -> Run {
        let c = self.command(
            &binary("kcsr"),
            args,
            &self.offline.root,
            &self.offline.home(),
        );
        self.finish(c)
    }

    fn submit(&mut self, args: &[&str]) -> Run {
        let mut full = vec!["--kubeconfig", "admin.kubeconfig"];
        full.extend_from_slice(args);
        let c = self.command(
            &binary("kcsr-submit"),
            &full,
            &self.connected.root,
            &self.connected.home(),
        );
        self.finish(c)
    }

    fn kubectl(&mut self, kubeconfig: &Path, args: &[&str]) -> Run {
        let mut full = vec!["--kubeconfig", kubeconfig.to_str().unwrap()];
        full.extend_from_slice(args);
        let c = self.command(
            Path::new("kubectl"),
            &full,
            &self.offline.root,
            &self.offline.home(),
        );
        self.finish(c)
    }

    /// A token-key request for `user` onto `media`, across the gap, applied, and back.
    fn trip(&mut self, user: &str, media: &str) {
        let uri = format!("{}&pin-source=file:pin", self.uri(user));
        self.kcsr(&[
            "request",
            "--user",
            user,
            "--group",
            "dev",
            "--clusterrole",
            "cluster-admin",
            "--keys",
            "keys",
            "--media",
            media,
            "--pkcs11",
            &uri,
        ])
        .expect_code(0, "kcsr request --pkcs11");
        carry(&self.offline.path(media), &self.connected.path(media));
        self.submit(&[
            "apply",
            media,
            "--approve",
            "--yes",
            "--wait",
            "60s",
            "--client-ca",
            "client-ca.crt",
        ])
        .expect_code(0, "kcsr-submit apply");
        carry(&self.connected.path(media), &self.offline.path(media));
    }

    /// A token-key request for `user`, across the gap and back, assembled for the agent on
    /// `port`: the kubeconfig's path.
    fn token_user(&mut self, user: &str, port: u16) -> PathBuf {
        self.trip(user, "media");
        let out = format!("{user}.kubeconfig");
        let address = format!("127.0.0.1:{port}");
        let r = self
            .kcsr(&[
                "assemble",
                "--media",
                "media",
                "--keys",
                "keys",
                "--name",
                user,
                "--out",
                &out,
                "--pkcs11-pin-file",
                "pin",
                "--agent-address",
                &address,
            ])
            .expect_code(0, "kcsr assemble");
        assert!(
            r.stderr
                .contains(&format!("next: kcsr-agent --kubeconfig ./{out}")),
            "{}",
            r.stderr
        );
        self.offline.path(&out)
    }

    /// Starts kcsr-agent and waits for its start line.
    fn agent(&self, kubeconfig: &Path) -> Background {
        let agent = Background::start(
            self.command(
                &binary("kcsr-agent"),
                &["--kubeconfig", kubeconfig.to_str().unwrap()],
                &self.offline.root,
                &self.offline.home(),
            ),
            "kcsr-agent",
        );
        agent.wait_for_stderr("kcsr-agent: serving 1 user(s) on https://127.0.0.1:");
        agent
    }

    /// Runs kcsr-agent to its end (a refusal at start).
    fn agent_fails(&mut self, kubeconfig: &Path) -> Run {
        let c = self.command(
            &binary("kcsr-agent"),
            &["--kubeconfig", kubeconfig.to_str().unwrap()],
            &self.offline.root,
            &self.offline.home(),
        );
        let r = self.finish(c);
        r.refused_with(1, &[]);
        r
    }

    /// Nothing printed and no file of either host holds key material or the PIN; the token
    /// still reports the key as not extractable.
    fn assert_nothing_secret(&self, agent_stderr: &str) {
        for out in self
            .outputs
            .iter()
            .map(String::as_str)
            .chain([agent_stderr])
        {
            assert!(!out.contains("PRIVATE KEY"), "{out}");
            assert!(!out.contains(PIN), "{out}");
        }
        for host in [&self.offline, &self.connected] {
            for f in files_below(&host.root) {
                // The token's own files, the PIN files the test wrote, and the station's
                // signing key (a private key by design).
                if f.starts_with(self.offline.path("tokens"))
                    || f.ends_with("pin")
                    || f.ends_with("wrong-pin")
                    || f.ends_with("keys/station/signing-key.pem")
                {
                    continue;
                }
                let data = std::fs::read(&f).unwrap();
                let text = String::from_utf8_lossy(&data);
                assert!(!text.contains("PRIVATE KEY"), "{}", f.display());
                assert!(!text.contains(PIN), "{}", f.display());
            }
        }
        // The record and every kubeconfig name the key by URI only.
        let records = files_below(&self.offline.path("keys"));
        assert!(
            records
                .iter()
                .all(|f| !f.to_string_lossy().ends_with(".key.pem")),
            "{records:?}"
        );
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The kubeconfig's bearer token for the agent.
fn bearer(kubeconfig: &Path) -> String {
    let text = std::fs::read_to_string(kubeconfig).unwrap();
    let v: serde_json::Value =
        kcsr_core::yaml::parse_one(text.as_bytes(), kcsr_core::yaml::Snippets::Hide).unwrap();
    v["users"][0]["user"]["token"].as_str().unwrap().to_owned()
}

/// A TLS client that trusts only the agent's loopback certificate, from the kubeconfig.
fn agent_client(kubeconfig: &Path) -> Arc<rustls::ClientConfig> {
    use base64::Engine as _;
    use rustls_pki_types::pem::PemObject as _;
    let text = std::fs::read_to_string(kubeconfig).unwrap();
    let v: serde_json::Value =
        kcsr_core::yaml::parse_one(text.as_bytes(), kcsr_core::yaml::Snippets::Hide).unwrap();
    let ca = base64::engine::general_purpose::STANDARD
        .decode(
            v["clusters"][0]["cluster"]["certificate-authority-data"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(c.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn connect_agent(kubeconfig: &Path, port: u16) -> Tls {
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(agent_client(kubeconfig), name).unwrap();
    rustls::StreamOwned::new(conn, sock)
}

/// One HTTP/1.1 exchange with the agent (over its loopback TLS); the whole response.
fn raw(kubeconfig: &Path, port: u16, request: &str) -> String {
    let mut s = connect_agent(kubeconfig, port);
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn whoami(r: &Run) -> (String, Vec<String>) {
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
    let info = &v["status"]["userInfo"];
    let groups = info["groups"]
        .as_array()
        .map(|g| g.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    (info["username"].as_str().unwrap().to_owned(), groups)
}

#[test]
fn kubectl_works_through_the_agent_and_only_for_the_kubeconfigs_holder() {
    let mut s = Setup::new();
    let port = free_port();
    let kc = s.token_user("alice", port);
    assert_eq!(
        std::fs::metadata(&kc).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let agent = s.agent(&kc);

    // Real kubectl, as the token's user.
    let r = s
        .kubectl(&kc, &["auth", "whoami", "-o", "json"])
        .expect_code(0, "kubectl auth whoami through kcsr-agent");
    let (name, groups) = whoami(&r);
    assert_eq!(name, "alice");
    assert!(groups.contains(&"dev".to_owned()), "{groups:?}");
    let r = s
        .kubectl(&kc, &["get", "csr", "-o", "name"])
        .expect_code(0, "kubectl get csr");
    assert!(
        r.stdout.contains("certificatesigningrequest"),
        "{}",
        r.stdout
    );

    // A watch streams: a change made while it runs arrives through the agent.
    let watch = Background::start(
        s.command(
            Path::new("kubectl"),
            &[
                "--kubeconfig",
                kc.to_str().unwrap(),
                "get",
                "csr",
                "--watch",
                "--output-watch-events",
            ],
            &s.offline.root,
            &s.offline.home(),
        ),
        "kubectl get csr --watch",
    );
    watch.wait_for_stdout("ADDED");
    let csr = s.cluster.server.csrs()[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = s.connected.path("admin.kubeconfig");
    s.kubectl(&admin, &["delete", "csr", &csr])
        .expect_code(0, "kubectl delete csr (admin)");
    watch.wait_for_stdout("DELETED");
    drop(watch);

    // A local user without the kubeconfig: no token, or a wrong one.
    let r = raw(&kc, port, "GET /api HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    assert!(r.contains("\"kind\":\"Status\""), "{r}");
    agent.wait_for_stderr("refused a request from 127.0.0.1:");
    let token = bearer(&kc);
    let wrong = format!("{}0", &token[..token.len() - 1]);
    let wrong = if wrong == token {
        format!("{}1", &token[..token.len() - 1])
    } else {
        wrong
    };
    let r = raw(
        &kc,
        port,
        &format!("GET /api HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {wrong}\r\n\r\n"),
    );
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    agent.wait_for_stderr("wrong bearer token");
    // kubectl with the right server but another user's token is refused the same way.
    let forged = s.offline.path("forged.kubeconfig");
    std::fs::write(
        &forged,
        std::fs::read_to_string(&kc)
            .unwrap()
            .replace(&token, &wrong),
    )
    .unwrap();
    let r = s.kubectl(&forged, &["get", "csr"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("wrong bearer token"), "{}", r.stderr);

    // A web page in a browser on the same machine: even with the token, Origin is refused.
    let r = raw(
        &kc,
        port,
        &format!(
            "GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\nAuthorization: Bearer {token}\r\n\r\n"
        ),
    );
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    agent.wait_for_stderr("Origin header");
    let stderr = agent.stderr();
    assert!(
        !stderr.contains(&token) && !stderr.contains(&wrong),
        "{stderr}"
    );
    for line in stderr.lines().skip(1) {
        assert!(
            line.starts_with("kcsr-agent: refused a request from "),
            "{line}"
        );
    }

    // The token goes away (its directory with it): a Status naming the token, and the
    // request is not sent; put back, the next request logs in again and works.
    let tokens = s.offline.path("tokens");
    let away = s.offline.path("tokens.away");
    std::fs::rename(&tokens, &away).unwrap();
    let r = s.kubectl(&kc, &["get", "csr"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("the PKCS#11 token \"kcsr\" is not present"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("insert it; the request was not sent"),
        "{}",
        r.stderr
    );
    std::fs::rename(&away, &tokens).unwrap();
    let r = s
        .kubectl(&kc, &["auth", "whoami", "-o", "json"])
        .expect_code(0, "kubectl after the token is back");
    assert_eq!(whoami(&r).0, "alice");

    let stderr = agent.stderr();
    drop(agent);
    s.assert_nothing_secret(&stderr);
}

#[test]
fn the_agent_refuses_to_start_on_an_edited_kubeconfig_a_wrong_pin_or_another_key() {
    let mut s = Setup::new();
    let port = free_port();
    let kc = s.token_user("alice", port);
    let text = std::fs::read_to_string(&kc).unwrap();
    let root = s.offline.root.clone();
    let write = |name: &str, text: &str| {
        let p = root.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    };

    // An edited server: the agent would listen where other machines reach it.
    let open = write(
        "open.kubeconfig",
        &text.replace(
            &format!("https://127.0.0.1:{port}"),
            &format!("https://0.0.0.0:{port}"),
        ),
    );
    let r = s.agent_fails(&open);
    assert!(r.stderr.contains("not a loopback address"), "{}", r.stderr);

    // Readable by others: whoever reads the bearer token may use the agent.
    let loose = write("loose.kubeconfig", &text);
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = s.agent_fails(&loose);
    assert!(r.stderr.contains("mode 0644"), "{}", r.stderr);

    // No token user at all (an edited extension name).
    let none = write(
        "none.kubeconfig",
        &text.replace("kcsr.io/agent", "example.com/other"),
    );
    let r = s.agent_fails(&none);
    assert!(
        r.stderr.contains("no user with a kcsr.io/agent extension"),
        "{}",
        r.stderr
    );

    // An unknown field in the extension is refused, not ignored.
    let extra = write(
        "extra.kubeconfig",
        &text.replace(
            "upstream:",
            "insecure-skip-tls-verify: true\n        upstream:",
        ),
    );
    let r = s.agent_fails(&extra);
    assert!(r.stderr.contains("extension is malformed"), "{}", r.stderr);

    // A wrong PIN.
    std::fs::write(s.offline.path("wrong-pin"), "0000\n").unwrap();
    std::fs::set_permissions(
        s.offline.path("wrong-pin"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let wrong_pin = write(
        "wrong-pin.kubeconfig",
        &text.replace(
            &format!("pin-source=file:{}", s.offline.path("pin").display()),
            &format!("pin-source=file:{}", s.offline.path("wrong-pin").display()),
        ),
    );
    let r = s.agent_fails(&wrong_pin);
    assert!(
        r.stderr.contains("the PIN for token \"kcsr\" is wrong"),
        "{}",
        r.stderr
    );

    // Another key in the token than the certificate's.
    let other_uri = format!("{}&pin-source=file:pin", s.uri("bob"));
    s.kcsr(&[
        "request", "--user", "bob", "--group", "dev", "--keys", "keys", "--media", "media2",
        "--pkcs11", &other_uri,
    ])
    .expect_code(0, "a second key in the token");
    let other = write(
        "other.kubeconfig",
        &text.replace("object=alice", "object=bob"),
    );
    let r = s.agent_fails(&other);
    assert!(
        r.stderr.contains("does not match the certificate"),
        "{}",
        r.stderr
    );

    // The token missing altogether.
    std::fs::rename(s.offline.path("tokens"), s.offline.path("tokens.away")).unwrap();
    std::fs::create_dir(s.offline.path("tokens")).unwrap();
    let r = s.agent_fails(&kc);
    assert!(r.stderr.contains("no token"), "{}", r.stderr);
    assert!(r.stderr.contains("insert the token"), "{}", r.stderr);
    s.assert_nothing_secret("");
}

/// A TLS upstream of the test's own (kcsr-testapi has no pods to exec into): it requires a
/// client certificate from the cluster's client CA, answers an Upgrade with 101, and then
/// echoes every byte. It hands back the request head it got and the client's certificate.
fn echo_upstream(
    dir: &Path,
    client_ca: &str,
    switch: bool,
) -> (u16, String, std::sync::mpsc::Receiver<(String, Vec<u8>)>) {
    use rustls_pki_types::pem::PemObject as _;
    // A CA and a serving certificate it signs (a CA certificate is no server's).
    let out = Command::new("sh")
        .arg("-c")
        .arg(concat!(
            "set -e; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout echo-ca.key -out echo-ca.crt -subj /CN=echo-ca -days 2 2>&1; ",
            "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout echo.key -out echo.csr -subj /CN=echo 2>&1; ",
            "printf 'basicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature\\nextendedKeyUsage=serverAuth\\nsubjectAltName=IP:127.0.0.1\\n' > echo.cnf; ",
            "openssl x509 -req -in echo.csr -CA echo-ca.crt -CAkey echo-ca.key -CAcreateserial -days 2 -extfile echo.cnf -out echo.crt 2>&1"
        ))
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
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
fn via_echo(
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

#[test]
fn an_upgrade_is_passed_through_both_ways_with_the_tokens_certificate() {
    let mut s = Setup::new();
    let (port, echo_port, echo_kc, heads) = via_echo(&mut s, true);
    let agent = s.agent(&echo_kc);

    let token = bearer(&echo_kc);
    let mut tls = connect_agent(&echo_kc, port);
    tls.write_all(
        format!(
            "POST /api/v1/namespaces/default/pods/web/exec?command=sh HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut response = Vec::new();
    let mut byte = [0u8; 1];
    while !response.ends_with(b"\r\n\r\n") {
        assert_eq!(
            tls.read(&mut byte).unwrap(),
            1,
            "{}",
            String::from_utf8_lossy(&response)
        );
        response.push(byte[0]);
    }
    let response = String::from_utf8(response).unwrap();
    if !response.starts_with("HTTP/1.1 101 ") {
        let mut body = String::new();
        let _ = tls.read_to_string(&mut body);
        panic!("{response}{body}");
    }
    for round in ["first frame", "second frame, after the first came back"] {
        tls.write_all(round.as_bytes()).unwrap();
        let mut got = vec![0u8; round.len()];
        tls.read_exact(&mut got).unwrap();
        assert_eq!(got, round.as_bytes());
    }
    // What reached the upstream: no bearer token, the upstream's Host, the upgrade kept, and
    // the user's certificate (the token signed the handshake).
    let (head, cert) = heads.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        !head.to_ascii_lowercase().contains("authorization"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Host: 127.0.0.1:{echo_port}\r\n")),
        "{head}"
    );
    assert!(
        head.contains("Upgrade: SPDY/3.1\r\n") && head.contains("Connection: Upgrade\r\n"),
        "{head}"
    );
    assert!(!head.contains("Connection: close"), "{head}");
    let info = kcsr_core::cert::parse_der(&cert).unwrap();
    assert_eq!(info.subject.user(), Some("alice"));
    drop(tls);
    let stderr = agent.stderr();
    drop(agent);
    s.assert_nothing_secret(&stderr);
}

#[test]
fn an_upgrade_the_server_refuses_ends_the_connection_and_nothing_behind_it_is_forwarded() {
    let mut s = Setup::new();
    let (port, _, echo_kc, heads) = via_echo(&mut s, false);
    let agent = s.agent(&echo_kc);
    let token = bearer(&echo_kc);
    let mut tls = connect_agent(&echo_kc, port);
    // A request that only says it upgrades, with a second request pipelined behind it: the
    // second one carries no token and must never reach the API server.
    tls.write_all(
        format!(
            "GET /api/v1/namespaces HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\nDELETE /api/v1/namespaces/kube-system HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut response = String::new();
    let _ = tls.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 403 "), "{response}");
    assert!(response.contains("Connection: close\r\n"), "{response}");
    assert!(!response.contains("keep-alive"), "{response}");
    let (head, _) = heads.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(head.starts_with("GET /api/v1/namespaces "), "{head}");
    let (more, _) = heads.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(more, "", "forwarded behind a refused upgrade");
    drop(tls);
    let stderr = agent.stderr();
    drop(agent);
    s.assert_nothing_secret(&stderr);
}

#[test]
fn a_client_that_never_finishes_its_request_is_closed_and_others_are_still_served() {
    let mut s = Setup::new();
    let port = free_port();
    let kc = s.token_user("alice", port);
    let agent = s.agent(&kc);
    // A local user without the token opens connections and sends nothing: each is closed
    // once the head's deadline passes (10 s), and the agent keeps serving meanwhile.
    let idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let r = s.kubectl(&kc, &["auth", "whoami", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for mut conn in idle {
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut buf = [0u8; 16];
        // 0: closed by the agent (a timeout here would be an error, and fail the test).
        assert_eq!(conn.read(&mut buf).unwrap(), 0);
    }
    drop(agent);
}

#[test]
fn two_users_of_one_token_are_served_and_its_pin_is_asked_once() {
    let mut s = Setup::new();
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    // Both into one kubeconfig, without a PIN file: the agent asks on its terminal.
    for (user, media) in [("alice", "media"), ("bob", "media-bob")] {
        s.trip(user, media);
        s.kcsr(&[
            "assemble",
            "--media",
            media,
            "--keys",
            "keys",
            "--name",
            user,
            "--merge-into",
            "both.kubeconfig",
            "--agent-address",
            &address,
        ])
        .expect_code(0, "kcsr assemble --merge-into");
    }
    let kc = s.offline.path("both.kubeconfig");
    // On a terminal (script(1)), the PIN typed once when asked.
    let line = format!(
        "{} --kubeconfig {}",
        binary("kcsr-agent").display(),
        kc.display()
    );
    let mut cmd = s.command(
        Path::new("script"),
        &["-qec", &line, "/dev/null"],
        &s.offline.root,
        &s.offline.home(),
    );
    cmd.stdin(std::process::Stdio::piped());
    let mut agent = Background::start(cmd, "kcsr-agent on a terminal");
    agent.wait_for_stdout("PIN for token \"kcsr\": ");
    let mut terminal = agent.take_stdin().unwrap();
    terminal.write_all(format!("{PIN}\n").as_bytes()).unwrap();
    agent.wait_for_stdout("kcsr-agent: serving 2 user(s) on https://127.0.0.1:");
    assert_eq!(
        agent.stdout().matches("PIN for token").count(),
        1,
        "{}",
        agent.stdout()
    );
    // kubectl as each of them, through the one agent.
    let contexts = s
        .kubectl(&kc, &["config", "get-contexts", "-o", "name"])
        .expect_code(0, "kubectl config get-contexts");
    let mut names: Vec<String> = contexts
        .stdout
        .lines()
        .map(|context| {
            let r = s
                .kubectl(&kc, &["--context", context, "auth", "whoami", "-o", "json"])
                .expect_code(0, "kubectl auth whoami through kcsr-agent");
            whoami(&r).0
        })
        .collect();
    names.sort();
    assert_eq!(names, ["alice", "bob"]);
    drop(terminal);
    // The PIN typed is not echoed, and nothing else shows it.
    let terminal_text = agent.stdout();
    drop(agent);
    s.assert_nothing_secret(&terminal_text);
}

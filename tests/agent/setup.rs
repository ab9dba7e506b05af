//! The agent tests' world: both hosts, the test API server, a SoftHSM2 token `kcsr` on the
//! isolated host, the runs of every binary (kept, to look for secrets in), and the loopback
//! TLS client a test uses to talk to the agent as a local user would.

pub(crate) use kcsr_e2e::free_port;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use kcsr_e2e::{Host, Run, binary, carry, files_below, hand_out_cluster_files, host_command};
use kcsr_testkit::cluster::Cluster;
pub(crate) use kcsr_testkit::softhsm::MODULE;
use kcsr_testkit::{Background, args, softhsm};

/// Distinctive, so that a leak is found by a plain search.
pub(crate) const PIN: &str = "5531-agent-pin-7702";
pub(crate) const SO_PIN: &str = "so-1187-4410";

/// Both hosts, the test API server, and the isolated host's SoftHSM2 token `kcsr`.
pub(crate) struct Setup {
    pub(crate) _tmp: tempfile::TempDir,
    pub(crate) offline: Host,
    pub(crate) connected: Host,
    pub(crate) cluster: Cluster,
    pub(crate) outputs: Vec<String>,
}

impl Setup {
    pub(crate) fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let offline = Host::new(tmp.path(), "offline");
        let connected = Host::new(tmp.path(), "connected");
        let cluster = Cluster::start();
        let server = &cluster.server;
        hand_out_cluster_files(server, &offline.root, &connected.root);
        softhsm::token(&offline.root, "kcsr", SO_PIN, PIN);
        softhsm::pin_file(&offline.path("pin"), PIN);
        let mut s = Self {
            _tmp: tmp,
            offline,
            connected,
            cluster,
            outputs: Vec::new(),
        };
        let url = s.cluster.server.url();
        s.kcsr(&args::cluster_add("kcsr-testapi", &url, &[]))
            .expect_code(0, "kcsr cluster add");
        s
    }

    pub(crate) fn uri(&self, object: &str) -> String {
        format!("pkcs11:token=kcsr;object={object}?module-path={MODULE}")
    }

    /// `program args` as the hosts run it, with the test's SoftHSM2 configuration.
    pub(crate) fn command(
        &self,
        program: &Path,
        args: &[&str],
        dir: &Path,
        home: &Path,
    ) -> Command {
        let mut c = host_command(program, args, dir, home);
        c.env("SOFTHSM2_CONF", self.offline.path("softhsm2.conf"));
        c
    }

    /// Runs `c` to its end and keeps its output for [`Setup::assert_nothing_secret`].
    pub(crate) fn finish(&mut self, mut c: Command) -> Run {
        let what = c.get_program().to_string_lossy().into_owned();
        let r = kcsr_testkit::finish(c.spawn().unwrap(), &what);
        self.outputs.push(format!("{}{}", r.stdout, r.stderr));
        r
    }

    pub(crate) fn kcsr(&mut self, args: &[&str]) -> Run {
        let c = self.command(
            &binary("kcsr"),
            args,
            &self.offline.root,
            &self.offline.home(),
        );
        self.finish(c)
    }

    pub(crate) fn submit(&mut self, args: &[&str]) -> Run {
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

    pub(crate) fn kubectl(&mut self, kubeconfig: &Path, args: &[&str]) -> Run {
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
    pub(crate) fn trip(&mut self, user: &str, media: &str) {
        let uri = format!("{}&pin-source=file:pin", self.uri(user));
        self.kcsr(&args::request(
            user,
            &["dev"],
            media,
            &["--clusterrole", "cluster-admin", "--pkcs11", &uri],
        ))
        .expect_code(0, "kcsr request --pkcs11");
        carry(&self.offline.path(media), &self.connected.path(media));
        self.submit(&args::apply_approved(media))
            .expect_code(0, "kcsr-submit apply");
        carry(&self.connected.path(media), &self.offline.path(media));
    }

    /// A token-key request for `user`, across the gap and back, assembled for the agent on
    /// `port`: the kubeconfig's path.
    pub(crate) fn token_user(&mut self, user: &str, port: u16) -> PathBuf {
        self.trip(user, "media");
        let out = format!("{user}.kubeconfig");
        let address = format!("127.0.0.1:{port}");
        let r = self
            .kcsr(&args::assemble(
                "--name",
                user,
                &[
                    "--out",
                    &out,
                    "--pkcs11-pin-file",
                    "pin",
                    "--agent-address",
                    &address,
                ],
            ))
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
    pub(crate) fn agent(&self, kubeconfig: &Path) -> Background {
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
    pub(crate) fn agent_fails(&mut self, kubeconfig: &Path) -> Run {
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
    pub(crate) fn assert_nothing_secret(&self, agent_stderr: &str) {
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

/// The kubeconfig's bearer token for the agent.
pub(crate) fn bearer(kubeconfig: &Path) -> String {
    let text = std::fs::read_to_string(kubeconfig).unwrap();
    let v: serde_json::Value =
        kcsr_core::yaml::parse_one(text.as_bytes(), kcsr_core::yaml::Snippets::Hide).unwrap();
    v["users"][0]["user"]["token"].as_str().unwrap().to_owned()
}

/// A TLS client that trusts only the agent's loopback certificate, from the kubeconfig.
pub(crate) fn agent_client(kubeconfig: &Path) -> Arc<rustls::ClientConfig> {
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

pub(crate) type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

pub(crate) fn connect_agent(kubeconfig: &Path, port: u16) -> Tls {
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(agent_client(kubeconfig), name).unwrap();
    rustls::StreamOwned::new(conn, sock)
}

/// One HTTP/1.1 exchange with the agent (over its loopback TLS); the whole response.
pub(crate) fn raw(kubeconfig: &Path, port: u16, request: &str) -> String {
    let mut s = connect_agent(kubeconfig, port);
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn whoami(r: &Run) -> (String, Vec<String>) {
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
    let info = &v["status"]["userInfo"];
    let groups = info["groups"]
        .as_array()
        .map(|g| g.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    (info["username"].as_str().unwrap().to_owned(), groups)
}

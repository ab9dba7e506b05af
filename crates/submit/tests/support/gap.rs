//! Helpers shared by the `kcsr-submit` command tests: media written by the real offline
//! `kcsr`, `kcsr-submit` runs against the test API server, and checks of what comes back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests
#![allow(dead_code, unreachable_pub)] // each test binary uses a part

#[path = "../../../offline/tests/support/child.rs"]
mod child;

pub use child::sha256sum_ok;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kcsr_submit::client::{Client, ClientOptions};
use kcsr_submit::kubeconfig::KubeconfigSource;
use kcsr_testapi::{Config, TestServer};
use kcsr_testkit::cluster::Cluster;

pub const SUBMIT: &str = env!("CARGO_BIN_EXE_kcsr-submit");
/// How long a test lets a kcsr-submit run, or waits for a condition, before calling it hung:
/// the kit's limit.
pub const HUNG: Duration = kcsr_testkit::LIMIT;

/// The offline binary, built once if missing (a binary cannot be a dev-dependency). The
/// fallback builds into its own target directory: `cargo test` holds the lock on the main one
/// while tests run, so building there from a test would block forever.
pub fn offline_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let bin = target.join("debug/kcsr");
        if bin.exists() {
            return bin;
        }
        let own = target.join("kcsr-submit-tests");
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "kcsr-offline",
                "--bin",
                "kcsr",
                "--target-dir",
            ])
            .arg(&own)
            .current_dir(&root)
            .status()
            .unwrap();
        assert!(status.success(), "cargo build -p kcsr-offline failed");
        own.join("debug/kcsr")
    })
}

/// A temporary directory with `keys/` and `media/` for `kcsr request`.
pub struct Media {
    dir: tempfile::TempDir,
    pub media: PathBuf,
    pub keys: PathBuf,
}

impl Media {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("media");
        let keys = dir.path().join("keys");
        Self { dir, media, keys }
    }

    /// Media with one request per user.
    pub fn with(users: &[&str]) -> Self {
        let m = Self::new();
        for user in users {
            m.request(user, &[]);
        }
        m
    }

    /// `kcsr request --user USER ARGS...`
    pub fn request(&self, user: &str, args: &[&str]) -> &Self {
        kcsr_request(&self.keys, &self.media, user, args);
        self.grant_from_binding();
        self
    }

    /// Station shim for an offline `kcsr` that predates decision 0009: a request with a
    /// binding gets the `kcsr.dev/grant` annotation the station writes. A no-op once `kcsr`
    /// writes the annotation itself.
    fn grant_from_binding(&self) {
        use kcsr_core::manifest::GRANT_ANNOTATION;
        use kcsr_core::rbac::Grant;
        for stem in self.stems() {
            let Ok(data) = std::fs::read(self.file(&format!("{stem}.binding.yaml"))) else {
                continue;
            };
            if self
                .manifest(&stem)
                .metadata
                .annotations
                .contains_key(GRANT_ANNOTATION)
            {
                continue;
            }
            let docs = kcsr_core::manifest::parse_documents(&data).unwrap();
            let kcsr_core::manifest::Document::Binding(b) = &docs[0] else {
                panic!("not a binding");
            };
            let role = b.role_ref.name.clone();
            let grant = match (
                b.kind.as_str(),
                b.role_ref.kind.as_str(),
                &b.metadata.namespace,
            ) {
                ("ClusterRoleBinding", _, _) => Grant::ClusterRole(role),
                (_, "ClusterRole", Some(ns)) => Grant::ClusterRoleInNamespace(role, ns.clone()),
                (_, _, Some(ns)) => Grant::Role(role, ns.clone()),
                _ => panic!("unexpected binding {b:?}"),
            };
            self.station_annotate(&stem, &[(GRANT_ANNOTATION, &grant.to_string())]);
        }
    }

    /// The manifest of `stem`.
    pub fn manifest(&self, stem: &str) -> kcsr_core::manifest::CsrManifest {
        let text = std::fs::read(self.file(&format!("{stem}.csr.yaml"))).unwrap();
        match kcsr_core::manifest::parse_documents(&text)
            .unwrap()
            .remove(0)
        {
            kcsr_core::manifest::Document::Csr(m) => m,
            _ => panic!("not a CSR manifest"),
        }
    }

    /// Plays the station: sets annotations on `stem`'s manifest and writes `SHA256SUMS`
    /// again, as `kcsr request` would have written them. The signature, if any, no longer
    /// matches and is removed (the test has no station key).
    pub fn station_annotate(&self, stem: &str, pairs: &[(&str, &str)]) {
        let mut m = self.manifest(stem);
        for (k, v) in pairs {
            m.metadata
                .annotations
                .insert((*k).to_owned(), (*v).to_owned());
        }
        self.put(&format!("{stem}.csr.yaml"), m.to_yaml().unwrap().as_bytes());
        let _ = std::fs::remove_file(self.file("SHA256SUMS.sig"));
    }

    /// Writes `name` and lists it in `SHA256SUMS` with its new digest, as whoever writes the
    /// media can (without the station's key).
    pub fn put(&self, name: &str, data: &[u8]) {
        std::fs::write(self.file(name), data).unwrap();
        let sums_path = self.file("SHA256SUMS");
        let mut sums = kcsr_core::sums::Sums::parse(&std::fs::read(&sums_path).unwrap()).unwrap();
        sums.insert(name, data);
        std::fs::write(sums_path, sums.render()).unwrap();
    }

    /// The temporary directory holding `keys/` and `media/`.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self) -> &str {
        self.media.to_str().unwrap()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.media.join(name)
    }

    /// The stems of the requests on the media.
    pub fn stems(&self) -> Vec<String> {
        let mut stems: Vec<String> = std::fs::read_dir(&self.media)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".csr.yaml").map(str::to_owned)
            })
            .collect();
        stems.sort();
        stems
    }

    pub fn object_name(&self, stem: &str) -> String {
        let text = std::fs::read_to_string(self.file(&format!("{stem}.csr.yaml"))).unwrap();
        let docs = kcsr_core::manifest::parse_documents(text.as_bytes()).unwrap();
        match &docs[0] {
            kcsr_core::manifest::Document::Csr(m) => m.metadata.name.clone(),
            _ => panic!("not a CSR manifest"),
        }
    }

    pub fn count(&self, suffix: &str) -> usize {
        std::fs::read_dir(&self.media)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(suffix)
            })
            .count()
    }

    /// `sha256sum -c` of `SHA256SUMS`, and of `RETURNED.SHA256SUMS` when there is one.
    pub fn sha256sum_check(&self) {
        sha256sum_ok(&self.media);
        returned_sums_ok(&self.media);
    }

    /// Every request has its certificate and bundle, and `sha256sum -c` passes.
    pub fn complete(&self) {
        let requests = self.count(".csr.yaml");
        assert_eq!(self.count(".crt"), requests, "certificates on the media");
        assert_eq!(self.count(".bundle.yaml"), requests, "bundles on the media");
        self.sha256sum_check();
    }
}

/// `sha256sum -c --strict RETURNED.SHA256SUMS` in `media` succeeds, when it is there; it lists
/// only certificates, bundles and denials, never `SHA256SUMS`' own files.
pub fn returned_sums_ok(media: &Path) {
    let path = media.join("RETURNED.SHA256SUMS");
    let Ok(data) = std::fs::read(&path) else {
        return;
    };
    let returned = kcsr_core::sums::Sums::parse(&data).unwrap();
    assert!(
        returned.names().all(|n| n.ends_with(".crt")
            || n.ends_with(".bundle.yaml")
            || n.ends_with(".denied.yaml")),
        "{}",
        String::from_utf8_lossy(&data)
    );
    let out = Command::new("sha256sum")
        .args(["-c", "--strict", "--quiet", "RETURNED.SHA256SUMS"])
        .current_dir(media)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sha256sum -c RETURNED.SHA256SUMS in {}: {}{}",
        media.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `kcsr request --user USER --keys KEYS --media MEDIA ARGS...` in the kit's clean
/// environment, which must succeed.
pub fn kcsr_request(keys: &Path, media: &Path, user: &str, args: &[&str]) {
    let mut cmd = kcsr_testkit::command(offline_bin());
    cmd.args(["request", "--user", user, "--quiet"])
        .arg("--keys")
        .arg(keys)
        .arg("--media")
        .arg(media)
        .args(args);
    kcsr_testkit::finish(cmd.spawn().unwrap(), "kcsr request")
        .expect_code(0, "kcsr request failed");
}

pub use kcsr_testkit::Run;

/// `cmd ARGS --kubeconfig KUBECONFIG`, with no proxy reachable and output captured.
pub fn configure<'a>(cmd: &'a mut Command, kubeconfig: &Path, args: &[&str]) -> &'a mut Command {
    // No allowed_signers from the machine running the tests: the default file is looked for
    // next to the kubeconfig, where no test puts one unless it means to.
    let config_home = kubeconfig
        .parent()
        .unwrap_or(Path::new("."))
        .join("xdg-config");
    cmd.args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env_remove("KUBECONFIG")
        .env_remove("KCSR_ALLOWED_SIGNERS")
        .env("XDG_CONFIG_HOME", config_home)
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
}

/// `kcsr-submit ARGS --kubeconfig KUBECONFIG` in the kit's clean environment ([`configure`]).
pub fn submit_cmd(kubeconfig: &Path, args: &[&str]) -> Command {
    let mut cmd = kcsr_testkit::command(SUBMIT);
    configure(&mut cmd, kubeconfig, args);
    cmd
}

/// Runs `kcsr-submit ARGS` to the end (see [`finish`]).
pub fn submit(kubeconfig: &Path, args: &[&str]) -> Run {
    finish(submit_cmd(kubeconfig, args).spawn().unwrap(), args[0])
}

/// Waits for a started kcsr-submit; one still running after [`HUNG`] (a blocking read of a
/// FIFO, a stall never timed out) is killed and fails the test rather than hanging it.
pub fn finish(child: Child, what: &str) -> Run {
    kcsr_testkit::finish(child, what)
}

/// The test API server as `config` says, its admin kubeconfig written ([`Cluster`]).
pub fn server(config: Config) -> TestServer {
    Cluster::with(config).server
}

pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < HUNG, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn admin_client_with(server: &TestServer, options: ClientOptions) -> Client {
    let context = KubeconfigSource::Explicit(server.admin_kubeconfig())
        .load()
        .unwrap()
        .resolve(None)
        .unwrap();
    Client::new(&context, options).unwrap()
}

pub fn admin_client(server: &TestServer) -> Client {
    admin_client_with(server, ClientOptions::default())
}

pub fn has_condition(obj: &serde_json::Value, kind: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind))
}

/// How many objects on the server hold a certificate.
pub fn issued(server: &TestServer) -> usize {
    server
        .csrs()
        .iter()
        .filter(|o| {
            o["status"]["certificate"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
        })
        .count()
}

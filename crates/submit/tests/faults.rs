//! `kcsr-submit` against a stalled API server and across an API server restart (the test API
//! server's stall faults and `go_down` / `come_back`), with media written by the real `kcsr`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kcsr_submit::client::{Client, ClientError, ClientOptions};
use kcsr_submit::kubeconfig::KubeconfigSource;
use kcsr_testapi::{Config, TestServer};
use serde_json::Value;

const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
/// Longer than any test: a stall only a timeout, a restart or the end of the server ends.
const FOREVER: Duration = Duration::from_secs(600);
/// How long a test lets a kcsr-submit run before calling it hung. Far above what any run
/// here needs; only "it returned" is asserted, never how fast.
const HUNG: Duration = Duration::from_secs(150);

/// The offline binary (as in commands.rs): built once into its own target directory if the
/// workspace has not built it, because `cargo test` holds the lock on the main one.
fn offline_bin() -> &'static Path {
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

struct Media {
    dir: tempfile::TempDir,
}

impl Media {
    /// Media with one request per user, written by `kcsr request`.
    fn with(users: &[&str]) -> Self {
        let m = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        for user in users {
            let out = Command::new(offline_bin())
                .args(["request", "--user", user, "--quiet", "--keys"])
                .arg(m.dir.path().join("keys"))
                .arg("--media")
                .arg(m.media())
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "kcsr request: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        m
    }

    fn media(&self) -> PathBuf {
        self.dir.path().join("media")
    }

    fn path(&self) -> String {
        self.media().to_str().unwrap().to_owned()
    }

    fn count(&self, suffix: &str) -> usize {
        std::fs::read_dir(self.media())
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

    /// Every request has its certificate and bundle, and `sha256sum -c` passes.
    fn complete(&self) {
        let requests = self.count(".csr.yaml");
        assert_eq!(self.count(".crt"), requests, "certificates on the media");
        assert_eq!(self.count(".bundle.yaml"), requests, "bundles on the media");
        let out = Command::new("sha256sum")
            .args(["-c", "--strict", "SHA256SUMS"])
            .current_dir(self.media())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sha256sum -c: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    fn all_written(&self) {
        let reports: Value = serde_json::from_str(&self.stdout).unwrap();
        let reports = reports.as_array().unwrap();
        assert!(!reports.is_empty());
        assert!(
            reports.iter().all(|r| r["state"] == "written"),
            "{}",
            self.stdout
        );
    }
}

fn submit_cmd(server: &TestServer, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kcsr-submit"));
    cmd.args(args)
        .arg("--kubeconfig")
        .arg(server.admin_kubeconfig())
        .env_remove("KUBECONFIG")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Waits for a started kcsr-submit; one still running after [`HUNG`] is killed and fails the
/// test.
fn finish(mut child: Child, what: &str) -> Run {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > HUNG {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what}: kcsr-submit did not return\nstderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn submit(server: &TestServer, args: &[&str]) -> Run {
    finish(submit_cmd(server, args).spawn().unwrap(), args[0])
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < HUNG, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn approved(server: &TestServer, n: usize) -> bool {
    let csrs = server.csrs();
    csrs.len() == n
        && csrs.iter().all(|c| {
            c["status"]["conditions"]
                .as_array()
                .is_some_and(|l| l.iter().any(|c| c["type"] == "Approved"))
        })
}

/// One server object per request, each issued.
fn one_issued_object_each(server: &TestServer, n: usize) {
    let csrs = server.csrs();
    assert_eq!(csrs.len(), n, "objects on the server");
    assert!(
        csrs.iter().all(|c| c["status"]["certificate"]
            .as_str()
            .is_some_and(|s| !s.is_empty())),
        "{csrs:?}"
    );
}

fn admin_client(server: &TestServer, timeout: Duration) -> Client {
    let context = KubeconfigSource::Explicit(server.admin_kubeconfig())
        .load()
        .unwrap()
        .resolve(None)
        .unwrap();
    let options = ClientOptions {
        timeout,
        ..ClientOptions::default()
    };
    Client::new(&context, options).unwrap()
}

/// A call the server never answers ends with the timeout error, naming the call and the limit,
/// with a hint naming the flag; timeouts are not retried (retries are for 429, 5xx and dropped
/// connections), and the next call works.
#[test]
fn a_stalled_call_fails_with_the_timeout_error_and_is_not_retried() {
    let server = TestServer::start(Config::default()).unwrap();
    let client = admin_client(&server, Duration::from_secs(1));

    // One stall only: a retry would have been answered, so the error shows there was none.
    server.faults().stall_next(1, FOREVER);
    let err = client.get_json::<Value>(CSRS).unwrap_err();
    assert!(
        matches!(&err, ClientError::Timeout { after, .. } if *after == Duration::from_secs(1)),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("GET {CSRS} did not complete within 1 s")),
        "{err}"
    );
    let hint = err.hint().unwrap();
    assert!(hint.contains("--request-timeout"), "{hint}");
    let list: Value = client.get_json(CSRS).unwrap();
    assert_eq!(list["kind"], "CertificateSigningRequestList");

    // Headers, half the body, then nothing: the same error.
    server.faults().stall_next_mid_body(1, FOREVER);
    let err = client.get_json::<Value>(CSRS).unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");

    // What the operator sees.
    server.faults().stall_next(1, FOREVER);
    let run = submit(
        &server,
        &["status", "some-request", "--request-timeout", "1s"],
    )
    .expect(1);
    assert!(
        run.stderr.contains("error:") && run.stderr.contains("did not complete within 1 s"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint:") && run.stderr.contains("raise --request-timeout"),
        "{}",
        run.stderr
    );
}

/// A watch that stays open without a byte (a hung server, a half-open connection) does not
/// hold the wait: it is abandoned after the per-call timeout and the certificate issued
/// meanwhile is found. Before the fix one silent watch held the whole `--wait`.
#[test]
fn a_silent_watch_is_abandoned_and_the_wait_ends_either_way() {
    let server = TestServer::start(Config::default()).unwrap();
    let m = Media::with(&["sam"]);
    server.faults().set_signer_stopped(true);
    server.faults().set_watch_silence(FOREVER);

    // Nothing is issued: the wait ends at --wait with the not-issued error.
    let run = submit(
        &server,
        &[
            "apply",
            &m.path(),
            "--approve",
            "--yes",
            "--wait",
            "3s",
            "--request-timeout",
            "1s",
        ],
    )
    .expect(4);
    assert!(
        run.stderr
            .contains("was approved but not issued within 3 s"),
        "{}",
        run.stderr
    );

    // Issued while the client sits in a silent watch (a --wait far beyond HUNG).
    let child = submit_cmd(
        &server,
        &[
            "apply",
            &m.path(),
            "--approve",
            "--yes",
            "--wait",
            "30m",
            "--request-timeout",
            "1s",
            "--json",
        ],
    )
    .spawn()
    .unwrap();
    wait_until("the client's watch", || server.open_watches() >= 1);
    server.faults().set_signer_stopped(false);
    let run = finish(child, "apply --wait 30m with a silent watch").expect(0);
    run.all_written();
    m.complete();
    one_issued_object_each(&server, 1);
}

/// kube-apiserver restarts while `apply --wait` watches: every connection drops, connecting
/// is refused for a few seconds, the state survives (etcd). The signer only issues after the
/// restart. The run completes, writes every certificate, and creates nothing twice.
#[test]
fn a_restart_between_apply_and_wait_is_survived_without_duplicates() {
    let server = TestServer::start(Config::default()).unwrap();
    let m = Media::with(&["kim", "lee", "max"]);
    server.faults().set_signer_stopped(true);
    let child = submit_cmd(
        &server,
        &[
            "apply",
            &m.path(),
            "--approve",
            "--yes",
            "--wait",
            "1m",
            "--json",
        ],
    )
    .spawn()
    .unwrap();
    wait_until("three approved requests", || approved(&server, 3));
    wait_until("the client's watches", || server.open_watches() == 3);

    server.go_down();
    assert_eq!(server.open_watches(), 0);
    std::thread::sleep(Duration::from_secs(3));
    server.come_back().unwrap();
    server.faults().set_signer_stopped(false);

    let run = finish(child, "apply across a restart").expect(0);
    run.all_written();
    m.complete();
    one_issued_object_each(&server, 3);
}

/// The server stays down past the client's retry budget: the run stops with an error that
/// names the server and says to fetch later; once the server is back, fetch completes and
/// nothing is created twice.
#[test]
fn a_server_down_past_the_retry_budget_is_named_and_fetch_completes_later() {
    let server = TestServer::start(Config::default()).unwrap();
    let m = Media::with(&["lou"]);
    server.faults().set_signer_stopped(true);
    let child = submit_cmd(
        &server,
        &["apply", &m.path(), "--approve", "--yes", "--wait", "2m"],
    )
    .spawn()
    .unwrap();
    wait_until("the client's watch", || server.open_watches() == 1);

    server.go_down();
    let run = finish(child, "apply with the server down").expect(1);
    assert!(
        run.stderr.contains("error:")
            && run.stderr.contains("lost the API server while waiting for")
            && run
                .stderr
                .contains(&format!("cannot reach {}", server.url())),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint:") && run.stderr.contains("kcsr-submit fetch MEDIA_DIR --wait"),
        "{}",
        run.stderr
    );
    assert_eq!(m.count(".crt"), 0);

    server.come_back().unwrap();
    server.faults().set_signer_stopped(false);
    submit(&server, &["fetch", &m.path(), "--wait", "1m", "--json"])
        .expect(0)
        .all_written();
    m.complete();
    one_issued_object_each(&server, 1);
}

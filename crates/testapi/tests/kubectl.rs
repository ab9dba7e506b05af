//! Drives the real `kubectl` (1.32) against the test server (issue 3 "Checks", reference §7,
//! §16, §17). Each test gives kubectl its own HOME so its discovery cache is isolated. A
//! machine without kubectl or openssl fails these tests: `.ci/run` installs them.

// Helpers outside #[test] functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use kcsr_testapi::{Config, TestServer};

fn find_tool(name: &str) -> PathBuf {
    let candidates = [format!("/usr/bin/{name}"), format!("/usr/local/bin/{name}")];
    for c in candidates {
        if Path::new(&c).exists() {
            return PathBuf::from(c);
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(name);
            if p.exists() {
                return p;
            }
        }
    }
    panic!("{name} not found: install it (Debian: kubernetes-client / openssl); .ci/run does");
}

struct Kubectl {
    home: tempfile::TempDir,
}

impl Kubectl {
    fn new() -> Self {
        Kubectl {
            home: tempfile::tempdir().unwrap(),
        }
    }
    fn run(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        Command::new(find_tool("kubectl"))
            .env_clear()
            .env("HOME", self.home.path())
            .env("PATH", "/usr/bin:/bin")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .output()
            .unwrap()
    }
    fn ok(&self, kubeconfig: &Path, args: &[&str]) -> String {
        let out = self.run(kubeconfig, args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn fails(&self, kubeconfig: &Path, args: &[&str]) -> String {
        let out = self.run(kubeconfig, args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded"
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

fn manifest(dir: &Path, name: &str, api_version: &str, signer: Option<&str>) -> PathBuf {
    // v1beta1 never had expirationSeconds (it came in 1.22, when v1beta1 stopped being served).
    let expiration = if api_version.ends_with("v1beta1") {
        ""
    } else {
        "  expirationSeconds: 86400\n"
    };
    manifest_with(dir, name, api_version, signer, expiration)
}

fn manifest_with(
    dir: &Path,
    name: &str,
    api_version: &str,
    signer: Option<&str>,
    extra_spec: &str,
) -> PathBuf {
    let pem = csr_pem(name, Some("dev"), &[]);
    let signer_line = signer.map_or(String::new(), |s| format!("  signerName: {s}\n"));
    let text = format!(
        "apiVersion: {api_version}\nkind: CertificateSigningRequest\nmetadata:\n  name: {name}\nspec:\n  request: {}\n{signer_line}{extra_spec}  usages:\n  - digital signature\n  - key encipherment\n  - client auth\n",
        b64(&pem)
    );
    let path = dir.join(format!("{name}.yaml"));
    write_file(&path, text.as_bytes());
    path
}

#[test]
fn apply_get_approve_and_verify_with_openssl() {
    let s = TestServer::start(Config {
        users: vec!["alice:dev".parse().unwrap()],
        ..Config::default()
    })
    .unwrap();
    let k = Kubectl::new();
    let admin = s.admin_kubeconfig();
    let alice = s.kubeconfig_for("alice");
    let m = manifest(
        s.dir(),
        "alice",
        "certificates.k8s.io/v1",
        Some("kubernetes.io/kube-apiserver-client"),
    );
    let out = k.ok(&alice, &["apply", "-f", m.to_str().unwrap()]);
    assert_eq!(
        out.trim(),
        "certificatesigningrequest.certificates.k8s.io/alice created"
    );
    let table = k.ok(&alice, &["get", "csr"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "AGE",
            "SIGNERNAME",
            "REQUESTOR",
            "REQUESTEDDURATION",
            "CONDITION"
        ]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row[0], "alice");
    assert_eq!(
        &row[2..],
        [
            "kubernetes.io/kube-apiserver-client",
            "alice",
            "24h",
            "Pending"
        ]
    );
    // alice may not approve (§5.3).
    let err = k.fails(&alice, &["certificate", "approve", "alice"]);
    assert!(
        err.contains("cannot update resource \"certificatesigningrequests/approval\""),
        "{err}"
    );
    // The admin approves with a protobuf PUT (§16); the signer issues.
    let out = k.ok(&admin, &["certificate", "approve", "alice"]);
    assert_eq!(
        out.trim(),
        "certificatesigningrequest.certificates.k8s.io/alice approved"
    );
    wait_for(&s, "alice", issued);
    let table = k.ok(&admin, &["get", "csr", "alice"]);
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .trim_end()
            .ends_with("Approved,Issued"),
        "{table}"
    );
    let b64_cert = k.ok(
        &admin,
        &[
            "get",
            "csr",
            "alice",
            "-o",
            "jsonpath={.status.certificate}",
        ],
    );
    let pem = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64_cert.trim())
        .unwrap();
    let cert_path = s.dir().join("alice.crt");
    write_file(&cert_path, &pem);
    let out = Command::new(find_tool("openssl"))
        .args(["verify", "-CAfile"])
        .arg(s.dir().join("client-ca.crt"))
        .arg(&cert_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": OK"));
    // Applying the same manifest again is not an error.
    k.ok(&alice, &["apply", "-f", m.to_str().unwrap()]);
}

#[test]
fn deny_whoami_and_clusterrolebinding() {
    let s = TestServer::start(Config {
        users: vec!["alice:dev,ops".parse().unwrap()],
        ..Config::default()
    })
    .unwrap();
    let k = Kubectl::new();
    let admin = s.admin_kubeconfig();
    let alice = s.kubeconfig_for("alice");
    let m = manifest(
        s.dir(),
        "denied",
        "certificates.k8s.io/v1",
        Some("kubernetes.io/kube-apiserver-client"),
    );
    k.ok(&alice, &["apply", "-f", m.to_str().unwrap()]);
    let out = k.ok(&admin, &["certificate", "deny", "denied"]);
    assert_eq!(
        out.trim(),
        "certificatesigningrequest.certificates.k8s.io/denied denied"
    );
    let table = k.ok(&admin, &["get", "csr", "denied"]);
    assert!(
        table.lines().nth(1).unwrap().trim_end().ends_with("Denied"),
        "{table}"
    );
    // kubectl refuses to approve a denied CSR client-side (§7).
    let err = k.fails(&admin, &["certificate", "approve", "denied"]);
    assert!(err.contains("is already Denied"), "{err}");

    let who = k.ok(&alice, &["auth", "whoami"]);
    assert!(who.contains("alice"), "{who}");
    assert!(who.contains("[dev ops system:authenticated]"), "{who}");

    // A refused call, then a ClusterRoleBinding (protobuf POST), then the same call succeeds.
    let err = k.fails(&alice, &["delete", "csr", "denied"]);
    assert!(
        err.contains("cannot delete resource \"certificatesigningrequests\""),
        "{err}"
    );
    let out = k.ok(
        &admin,
        &[
            "create",
            "clusterrolebinding",
            "alice-admin",
            "--clusterrole=cluster-admin",
            "--user=alice",
        ],
    );
    assert_eq!(
        out.trim(),
        "clusterrolebinding.rbac.authorization.k8s.io/alice-admin created"
    );
    let out = k.ok(&alice, &["delete", "csr", "denied"]);
    assert!(out.contains("deleted"), "{out}");
    assert!(s.csr("denied").is_none());
}

#[test]
fn legacy_mode_replays_the_v1beta1_walkthrough() {
    let s = TestServer::start(Config {
        legacy: true,
        ..Config::default()
    })
    .unwrap();
    let k = Kubectl::new();
    let admin = s.admin_kubeconfig();
    // The classic manifest: v1beta1, no signerName.
    let m = manifest(s.dir(), "classic", "certificates.k8s.io/v1beta1", None);
    let out = k.ok(&admin, &["apply", "-f", m.to_str().unwrap()]);
    assert!(out.contains("classic created"), "{out}");
    k.ok(&admin, &["certificate", "approve", "classic"]);
    let v = wait_for(&s, "classic", issued);
    assert_eq!(v["spec"]["signerName"], "kubernetes.io/legacy-unknown");
}

// Issue 13 part 2: a 1.19–1.21 server has no /openapi/v3 (beta in 1.24) and no server-side
// field validation (1.23+), so kubectl 1.32 validates on its side against /openapi/v2
// (cli-runtime QueryParamVerifier: no `fieldValidation` parameter on the PATCH operation →
// client-side schema validation), where v1beta1 has no `expirationSeconds`.
#[test]
fn legacy_mode_kubectl_validates_against_openapi_v2() {
    let s = TestServer::start(Config {
        legacy: true,
        ..Config::default()
    })
    .unwrap();
    let k = Kubectl::new();
    let admin = s.admin_kubeconfig();
    let m = manifest_with(
        s.dir(),
        "timed",
        "certificates.k8s.io/v1beta1",
        None,
        "  expirationSeconds: 86400\n",
    );
    let err = k.fails(&admin, &["apply", "-f", m.to_str().unwrap()]);
    assert!(
        err.contains("unknown field \"expirationSeconds\" in io.k8s.api.certificates.v1beta1.CertificateSigningRequest.spec"),
        "{err}"
    );
    // Without client-side validation the server drops the unknown field without a word.
    let out = k.ok(
        &admin,
        &["apply", "--validate=false", "-f", m.to_str().unwrap()],
    );
    assert!(out.contains("timed created"), "{out}");
    assert!(
        s.csr("timed").unwrap()["spec"]
            .get("expirationSeconds")
            .is_none()
    );
}

// With /openapi/v2 served, default validation falls back to it for the v1beta1 schema, finds
// none, and kubectl reaches the REST mapping: the error a real >=1.22 cluster gives.
#[test]
fn modern_mode_refuses_v1beta1_manifests() {
    let s = TestServer::start(Config::default()).unwrap();
    let k = Kubectl::new();
    let m = manifest(s.dir(), "beta", "certificates.k8s.io/v1beta1", None);
    for validate in ["--validate=true", "--validate=false"] {
        let err = k.fails(
            &s.admin_kubeconfig(),
            &["apply", validate, "-f", m.to_str().unwrap()],
        );
        assert!(err.contains("no matches for kind \"CertificateSigningRequest\" in version \"certificates.k8s.io/v1beta1\""), "{validate}: {err}");
    }
}

/// The request lines of `kubectl -v=6` (`GET https://… 200 OK in …`).
fn requests(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|l| l.split("round_trippers.go:").nth(1))
        .filter_map(|l| l.split_once("] ").map(|(_, r)| r.to_string()))
        .filter(|l| l.starts_with("GET ") || l.starts_with("PATCH ") || l.starts_with("POST "))
        .collect()
}

// Issue 13 part 5: `kubectl get --chunk-size` pages with `limit` and follows `continue`
// (kubectl/pkg/cmd/get + cli-runtime resource.Helper.List with Limit/Continue; server side
// apiserver etcd3/store.go: GetList).
#[test]
fn get_with_chunk_size_follows_continue_tokens() {
    let s = TestServer::start(Config::default()).unwrap();
    let adm = admin(&s);
    for n in ["c1", "c2", "c3"] {
        assert_eq!(adm.post(CSRS, &client_csr(n)).code, 201);
    }
    let k = Kubectl::new();
    let out = k.run(
        &s.admin_kubeconfig(),
        &["get", "csr", "--chunk-size=1", "-v=6"],
    );
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(names, ["NAME", "c1", "c2", "c3"], "{stdout}");
    let lists: Vec<String> = requests(&out.stderr)
        .into_iter()
        .filter(|r| r.contains("/certificatesigningrequests?"))
        .collect();
    assert_eq!(lists.len(), 3, "{lists:#?}");
    assert!(lists.iter().all(|r| r.contains("limit=1")), "{lists:#?}");
    assert!(!lists[0].contains("continue="));
    assert!(lists[1].contains("continue=") && lists[2].contains("continue="));
}

// Issue 13 part 5: which OpenAPI documents real kubectl 1.32 reads. `apply` of an existing
// object computes its strategic merge patch from /openapi/v3 when the PATCH operation accepts
// application/strategic-merge-patch+json (kubectl/pkg/cmd/apply/patcher.go:
// gvkSupportsPatchOpenAPIV3), so it never asks /openapi/v2; `explain --output
// plaintext-openapiv2` reads /openapi/v2 as protobuf (client-go discovery: OpenAPISchema).
#[test]
fn apply_patches_from_openapi_v3_and_explain_reads_openapi_v2() {
    let s = TestServer::start(Config::default()).unwrap();
    let k = Kubectl::new();
    let admin = s.admin_kubeconfig();
    let m = manifest(
        s.dir(),
        "patched",
        "certificates.k8s.io/v1",
        Some("kubernetes.io/kube-apiserver-client"),
    );
    k.ok(&admin, &["apply", "-f", m.to_str().unwrap()]);
    let text = std::fs::read_to_string(&m)
        .unwrap()
        .replace("metadata:\n", "metadata:\n  labels:\n    team: blue\n");
    write_file(&m, text.as_bytes());
    let out = k.run(&admin, &["apply", "-f", m.to_str().unwrap(), "-v=6"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reqs = requests(&out.stderr);
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("PATCH ") && r.contains("/certificatesigningrequests/patched")),
        "{reqs:#?}"
    );
    assert!(!reqs.iter().any(|r| r.contains("/openapi/v2")), "{reqs:#?}");
    assert_eq!(
        s.csr("patched").unwrap()["metadata"]["labels"]["team"],
        "blue"
    );

    let out = k.run(
        &admin,
        &["explain", "csr", "--output", "plaintext-openapiv2", "-v=6"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("KIND:     CertificateSigningRequest"),
        "{stdout}"
    );
    assert!(
        stdout.contains("VERSION:  certificates.k8s.io/v1"),
        "{stdout}"
    );
    assert!(stdout.contains("spec\t<Object> -required-"), "{stdout}");
    assert!(
        requests(&out.stderr)
            .iter()
            .any(|r| r.starts_with("GET ") && r.contains("/openapi/v2") && r.contains(" 200 OK"))
    );
}

#[test]
fn token_kubeconfig_and_watch_table() {
    let s = TestServer::start(Config::default()).unwrap();
    s.add_token("s3cr3t", "tok-user", &["system:masters"]);
    let kc = s.token_kubeconfig("tok", "s3cr3t").unwrap();
    let k = Kubectl::new();
    let who = k.ok(&kc, &["auth", "whoami"]);
    assert!(who.contains("tok-user"), "{who}");
    // `kubectl get csr -w` gets one-row Tables (columns only on the first event).
    let m = manifest(
        s.dir(),
        "watched",
        "certificates.k8s.io/v1",
        Some("kubernetes.io/kube-apiserver-client"),
    );
    k.ok(&kc, &["apply", "-f", m.to_str().unwrap()]);
    let out = k.run(&kc, &["get", "csr", "--watch", "--request-timeout=2s"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{text}");
    assert!(
        lines[1].contains("kubernetes.io/kube-apiserver-client")
            && lines[1].trim_end().ends_with("Pending"),
        "{text}"
    );
}

#[test]
fn binary_serves_and_writes_kubeconfigs() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kcsr-testapi"))
        .args(["serve", "--dir"])
        .arg(dir.path())
        .args(["--user", "alice:dev,ops", "--user", "bob"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let url = rx.recv_timeout(std::time::Duration::from_secs(20));
    let result = std::panic::catch_unwind(|| {
        let url = url.unwrap();
        assert!(url.trim().starts_with("https://127.0.0.1:"), "{url}");
        for f in [
            "admin.kubeconfig",
            "alice.kubeconfig",
            "bob.kubeconfig",
            "client-ca.crt",
        ] {
            assert!(dir.path().join(f).exists(), "{f}");
        }
        let k = Kubectl::new();
        let who = k.ok(&dir.path().join("alice.kubeconfig"), &["auth", "whoami"]);
        assert!(who.contains("[dev ops system:authenticated]"), "{who}");
        let out = k.ok(&dir.path().join("bob.kubeconfig"), &["get", "csr"]);
        assert!(out.is_empty(), "{out}");
        let err = k.fails(
            &dir.path().join("bob.kubeconfig"),
            &["certificate", "approve", "nothing"],
        );
        assert!(
            err.contains("NotFound") || err.contains("not found"),
            "{err}"
        );
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn kubectl_sees_the_same_objects_after_a_restart() {
    let s = TestServer::start(Config {
        users: vec!["alice:dev".parse().unwrap()],
        ..Config::default()
    })
    .unwrap();
    let k = Kubectl::new();
    let admin = s.admin_kubeconfig();
    let m = manifest(
        s.dir(),
        "alice",
        "certificates.k8s.io/v1",
        Some("kubernetes.io/kube-apiserver-client"),
    );
    k.ok(
        &s.kubeconfig_for("alice"),
        &["apply", "-f", m.to_str().unwrap()],
    );
    let uids = ["get", "csr", "-o", "jsonpath={.items[*].metadata.uid}"];
    let before = k.ok(&admin, &uids);
    assert!(!before.trim().is_empty());

    s.go_down();
    let err = k.fails(&admin, &["get", "csr", "--request-timeout=5s"]);
    assert!(
        err.contains(&format!(
            "The connection to the server 127.0.0.1:{} was refused",
            s.port()
        )),
        "{err}"
    );
    s.come_back().unwrap();

    assert_eq!(k.ok(&admin, &uids), before);
    k.ok(&admin, &["certificate", "approve", "alice"]);
    wait_for(&s, "alice", issued);
    s.restart(std::time::Duration::from_millis(500)).unwrap();
    let conditions = k.ok(
        &s.kubeconfig_for("alice"),
        &[
            "get",
            "csr",
            "alice",
            "-o",
            "jsonpath={.status.conditions[*].type}",
        ],
    );
    assert_eq!(conditions, "Approved");
}

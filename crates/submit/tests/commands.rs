//! `kcsr-submit apply | approve | status | fetch` against the test API server (real TLS), with
//! media written by the real offline binary `kcsr`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

#[path = "support/gap.rs"]
mod gap;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use gap::{
    Media, Run, admin_client, has_condition, offline_bin, server, submit, submit_cmd, wait_until,
};
use kcsr_core::bundle::Bundle;
use kcsr_testapi::{Config, TestServer};
use serde_json::Value;

fn client_ca_file(server: &TestServer) -> String {
    server
        .dir()
        .join("client-ca.crt")
        .to_str()
        .unwrap()
        .to_owned()
}

/// Adds a condition through `/approval` (Denied) or `/status` (Failed) as the admin.
fn add_condition(server: &TestServer, name: &str, kind: &str, reason: &str, message: &str) {
    let client = admin_client(server);
    let path = format!("/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}");
    let mut obj: Value = client.get_json(&path).unwrap();
    let cond =
        serde_json::json!({"type": kind, "status": "True", "reason": reason, "message": message});
    if !obj["status"].is_object() {
        obj["status"] = serde_json::json!({});
    }
    match obj["status"]["conditions"].as_array_mut() {
        Some(list) => list.push(cond),
        None => obj["status"]["conditions"] = Value::Array(vec![cond]),
    }
    let sub = if kind == "Failed" {
        "status"
    } else {
        "approval"
    };
    let _: Value = client.put_json(&format!("{path}/{sub}"), &obj).unwrap();
}

#[test]
fn happy_path_p256_apply_approve_wait_writes_a_verified_bundle_and_rerun_is_a_noop() {
    let server = server(Config::default());
    let m = Media::new();
    let admin = server.admin_kubeconfig();
    let ca = client_ca_file(&server);
    // The station pins the cluster first (assemble builds the kubeconfig from the pin).
    let pinned = Command::new(offline_bin())
        .args(["cluster", "add", "kcsr-testapi", "--quiet", "--keys"])
        .arg(&m.keys)
        .arg("--from-kubeconfig")
        .arg(&admin)
        .args(["--client-ca", &ca])
        .output()
        .unwrap();
    assert!(
        pinned.status.success(),
        "{}",
        String::from_utf8_lossy(&pinned.stderr)
    );
    m.request(
        "alice",
        &["--group", "dev", "--group", "ops", "--clusterrole", "view"],
    );
    let run = submit(
        &admin,
        &[
            "apply",
            m.path(),
            "--approve",
            "--yes",
            "--wait",
            "20s",
            "--client-ca",
            &ca,
            "--json",
        ],
    )
    .expect(0);
    let results = run.json();
    let r = &results[0];
    assert_eq!(r["state"], "written", "{results}");
    assert_eq!(r["created"], "created");
    assert_eq!(r["bindings"][0]["state"], "created", "{results}");
    assert_eq!(r["bindings"][0]["grant"], "ClusterRole/view", "{results}");
    assert_eq!(r["approval"], "approved");
    // The review went to stderr, with the requestor the server recorded.
    run.stderr_has("requestor:   kcsr-admin");
    run.stderr_has("groups:      dev, ops");

    let stem = &m.stems()[0];
    assert!(m.file(&format!("{stem}.crt")).exists());
    m.sha256sum_check();
    let bundle =
        Bundle::parse(&std::fs::read(m.file(&format!("{stem}.bundle.yaml"))).unwrap()).unwrap();
    assert_eq!(bundle.user, "alice");
    assert_eq!(bundle.groups, ["dev", "ops"]);
    assert_eq!(bundle.signer_name, "kubernetes.io/kube-apiserver-client");
    assert_eq!(bundle.cluster.name, "kcsr-testapi");
    assert_eq!(bundle.cluster.server, server.url());
    assert_eq!(
        bundle.cluster.certificate_authority.as_deref(),
        Some(server.serving_ca_pem().as_str())
    );
    assert_eq!(
        bundle.client_ca.as_deref(),
        Some(server.client_ca_pem().as_str())
    );
    assert_eq!(bundle.audit.submitted_by.as_deref(), Some("kcsr-admin"));
    assert_eq!(bundle.audit.approval_reason.as_deref(), Some("KcsrApprove"));
    assert_eq!(
        bundle.audit.approval_message.as_deref(),
        Some("Approved by kcsr-admin with kcsr-submit")
    );
    assert!(bundle.audit.approved_at.is_some() && bundle.audit.submitted_at.is_some());
    assert_eq!(bundle.audit.approved_by.as_deref(), Some("kcsr-admin"));
    assert_eq!(bundle.audit.bindings.len(), 1);
    assert_eq!(
        (
            bundle.audit.bindings[0].state.as_str(),
            bundle.audit.bindings[0].by.as_deref()
        ),
        ("created", Some("kcsr-admin"))
    );
    assert!(bundle.audit.manifest_sha256.is_some());

    // The offline side accepts the bundle with the key that never left.
    let kc = m.root().join("alice.kubeconfig");
    let out = Command::new(offline_bin())
        .args(["assemble", "--quiet"])
        .arg("--media")
        .arg(&m.media)
        .arg("--keys")
        .arg(&m.keys)
        .arg("--out")
        .arg(&kc)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "assemble: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Re-running after success re-verifies and changes nothing.
    let sums = std::fs::read(m.file("SHA256SUMS")).unwrap();
    let again = submit(
        &admin,
        &["apply", m.path(), "--approve", "--yes", "--wait", "20s"],
    )
    .expect(0);
    again.stdout_has("already on the media");
    assert_eq!(std::fs::read(m.file("SHA256SUMS")).unwrap(), sums);
    assert_eq!(server.csrs().len(), 1);

    // status: the kubectl get csr table, and JSON.
    let table = submit(&admin, &["status", m.path()]).expect(0);
    let mut lines = table.stdout.lines();
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
    assert_eq!(row[0], m.object_name(stem));
    assert_eq!(
        row[2..],
        [
            "kubernetes.io/kube-apiserver-client",
            "kcsr-admin",
            "30d",
            "Approved,Issued"
        ]
    );
    let json = submit(&admin, &["status", "-o", "json", &m.object_name(stem)])
        .expect(0)
        .json();
    assert_eq!(json[0]["condition"], "Approved,Issued");
    assert_eq!(json[0]["requestor"], "kcsr-admin");
    assert_eq!(json[0]["issued"], true);
    // A name that is not there: exit 1, said once.
    let missing = submit(&admin, &["status", "nobody-123"]).expect(1);
    missing.stderr_has("error: nobody-123");
}

#[test]
fn every_other_key_type_once_in_parallel() {
    let server = server(Config::default());
    let m = Media::new();
    for (user, key) in [
        ("p384-user", "p384"),
        ("ed-user", "ed25519"),
        ("rsa2-user", "rsa2048"),
        ("rsa3-user", "rsa3072"),
        ("rsa4-user", "rsa4096"),
    ] {
        m.request(user, &["--key-type", key]);
    }
    let ca = client_ca_file(&server);
    let run = submit(
        &server.admin_kubeconfig(),
        &[
            "apply",
            m.path(),
            "--approve",
            "--yes",
            "--wait",
            "30s",
            "--parallel",
            "3",
            "--client-ca",
            &ca,
            "--json",
        ],
    )
    .expect(0);
    let results = run.json();
    assert_eq!(results.as_array().unwrap().len(), 5);
    assert!(
        results
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "written"),
        "{results}"
    );
    m.sha256sum_check();
}

#[test]
fn submitter_gets_the_approval_403_then_an_approver_approves_and_fetch_completes() {
    let server = server(Config {
        users: vec!["bob:dev".parse().unwrap()],
        ..Config::default()
    });
    let m = Media::new();
    m.request("carol", &[]);
    let bob = server.kubeconfig_for("bob");
    let run = submit(
        &bob,
        &["apply", m.path(), "--approve", "--yes", "--wait", "5s"],
    )
    .expect(1);
    run.stderr_has("separation of duties");
    run.stderr_has("kcsr-submit approve MEDIA_DIR");
    assert_eq!(run.stderr.matches("error:").count(), 1, "{}", run.stderr);
    assert_eq!(server.csrs().len(), 1);

    // Nothing issued yet: fetch says so (exit 4).
    let early = submit(&bob, &["fetch", m.path()]).expect(4);
    early.stderr_has("not approved yet");

    let approved = submit(
        &server.admin_kubeconfig(),
        &[
            "approve",
            m.path(),
            "--yes",
            "--reason",
            "CHG-1",
            "--message",
            "ok by ops",
        ],
    )
    .expect(0);
    approved.stdout_has(" approved");
    // Approving again is a no-op.
    let name = m.object_name(&m.stems()[0]);
    let again = submit(&server.admin_kubeconfig(), &["approve", &name, "--yes"]).expect(0);
    again.stdout_has("already approved");

    submit(&bob, &["fetch", m.path(), "--wait", "20s"]).expect(0);
    let stem = &m.stems()[0];
    let bundle =
        Bundle::parse(&std::fs::read(m.file(&format!("{stem}.bundle.yaml"))).unwrap()).unwrap();
    assert_eq!(bundle.audit.submitted_by.as_deref(), Some("bob"));
    assert_eq!(bundle.audit.approval_reason.as_deref(), Some("CHG-1"));
    assert_eq!(bundle.audit.approval_message.as_deref(), Some("ok by ops"));
    // A custom message does not name the approver the way kcsr-submit does: no approvedBy.
    assert_eq!(bundle.audit.approved_by, None);
    m.sha256sum_check();
}

#[test]
fn denied_exits_3_with_the_reason_and_is_never_approved() {
    let server = server(Config::default());
    let m = Media::new();
    m.request("dave", &[]);
    let admin = server.admin_kubeconfig();
    submit(&admin, &["apply", m.path()]).expect(0);
    let name = m.object_name(&m.stems()[0]);
    add_condition(&server, &name, "Denied", "NotOnTheList", "dave has left");
    let run = submit(
        &admin,
        &["apply", m.path(), "--approve", "--yes", "--wait", "10s"],
    )
    .expect(3);
    run.stderr_has("already Denied");
    run.stderr_has("NotOnTheList");
    assert!(!has_condition(&server.csr(&name).unwrap(), "Approved"));
    let fetch = submit(&admin, &["fetch", m.path(), "--wait", "5s"]).expect(3);
    fetch.stderr_has("was Denied");
    fetch.stderr_has("dave has left");
    assert!(!m.file(&format!("{}.crt", m.stems()[0])).exists());
}

#[test]
fn failed_stops_the_wait_at_once_with_exit_3() {
    // A custom signer nobody runs: approved but never issued, until the admin marks it Failed.
    let server = server(Config::default());
    let m = Media::new();
    m.request(
        "erin",
        &[
            "--signer",
            "example.com/nobody",
            "--usage",
            "client auth",
            "--usage",
            "digital signature",
        ],
    );
    let child = submit_cmd(
        &server.admin_kubeconfig(),
        &["apply", m.path(), "--approve", "--yes", "--wait", "60s"],
    )
    .spawn()
    .unwrap();
    let name = m.object_name(&m.stems()[0]);
    wait_until("approval", || {
        server
            .csr(&name)
            .is_some_and(|o| has_condition(&o, "Approved"))
    });
    add_condition(
        &server,
        &name,
        "Failed",
        "SignerValidationFailure",
        "usages not allowed",
    );
    let run = Run::from(child.wait_with_output().unwrap()).expect(3);
    run.stderr_has("Failed");
    run.stderr_has("usages not allowed");
}

#[test]
fn stopped_signer_times_out_approved_but_not_issued_then_fetch_completes() {
    let server = server(Config::default());
    server.faults().set_signer_stopped(true);
    let m = Media::new();
    m.request("frank", &[]);
    let admin = server.admin_kubeconfig();
    let run = submit(
        &admin,
        &["apply", m.path(), "--approve", "--yes", "--wait", "3s"],
    )
    .expect(4);
    run.stderr_has("approved but not issued");
    run.stderr_has("signer may not be running");
    server.faults().set_signer_stopped(false);
    submit(&admin, &["fetch", m.path(), "--wait", "20s"]).expect(0);
    m.sha256sum_check();
}

#[test]
fn rerun_after_interruption_resumes_without_duplicates() {
    let server = server(Config::default());
    let m = Media::new();
    m.request("gina", &[])
        .request("hank", &["--clusterrole", "view"]);
    let admin = server.admin_kubeconfig();
    let first = submit(&admin, &["apply", m.path()]).expect(0);
    first.stderr_has("kcsr-submit fetch");
    assert_eq!(server.csrs().len(), 2);
    let run = submit(
        &admin,
        &[
            "apply",
            m.path(),
            "--approve",
            "--yes",
            "--wait",
            "20s",
            "--json",
        ],
    )
    .expect(0);
    let results = run.json();
    for r in results.as_array().unwrap() {
        assert_eq!(r["created"], "exists", "{results}");
        assert_eq!(r["state"], "written", "{results}");
    }
    // The first apply did not approve, so it created no binding: the approval did.
    assert_eq!(results[1]["bindings"][0]["state"], "created", "{results}");
    assert_eq!(server.csrs().len(), 2);

    // Interrupted after writing a certificate but before RETURNED.SHA256SUMS: the next run
    // rewrites it.
    let stem = m.stems()[0].clone();
    let sums = std::fs::read_to_string(m.file("RETURNED.SHA256SUMS")).unwrap();
    let kept: String = sums
        .lines()
        .filter(|l| {
            !l.ends_with(&format!("  {stem}.crt")) && !l.ends_with(&format!("  {stem}.bundle.yaml"))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(kept, sums);
    std::fs::write(m.file("RETURNED.SHA256SUMS"), kept).unwrap();
    let run = submit(&admin, &["fetch", m.path(), "--json"]).expect(0);
    assert_eq!(run.json()[0]["state"], "written", "{}", run.stdout);
    assert_eq!(run.json()[1]["state"], "on-media", "{}", run.stdout);
    m.sha256sum_check();
    assert_eq!(server.csrs().len(), 2);
}

#[test]
fn conflicting_existing_object_names_both_fingerprints_and_exits_3() {
    let server = server(Config::default());
    let admin = server.admin_kubeconfig();
    let a = Media::new();
    a.request("ivan", &["--name", "ivan-cert"]);
    submit(&admin, &["apply", a.path()]).expect(0);
    let b = Media::new();
    b.request("ivan", &["--name", "ivan-cert"]);
    let run = submit(&admin, &["apply", b.path(), "--approve", "--yes"]).expect(3);
    let fp = |m: &Media| {
        let text = std::fs::read_to_string(m.file("ivan-cert.csr.yaml")).unwrap();
        let docs = kcsr_core::manifest::parse_documents(text.as_bytes()).unwrap();
        match &docs[0] {
            kcsr_core::manifest::Document::Csr(c) => {
                c.decode_request().unwrap().public_key.fingerprint
            }
            _ => unreachable!(),
        }
    };
    let stem_b = b.stems()[0].clone();
    let stem_a = a.stems()[0].clone();
    assert_eq!(stem_a, stem_b);
    assert!(
        run.stderr.contains(&fp(&a)) && run.stderr.contains(&fp(&b)),
        "{}",
        run.stderr
    );
    assert!(!has_condition(
        &server.csr("ivan-cert").unwrap(),
        "Approved"
    ));
}

#[test]
fn tampered_truncated_or_extra_files_are_named_and_nothing_is_sent() {
    let server = server(Config::default());
    let admin = server.admin_kubeconfig();
    let m = Media::new();
    m.request("judy", &[]);
    let stem = m.stems()[0].clone();
    let manifest = format!("{stem}.csr.yaml");
    let original = std::fs::read(m.file(&manifest)).unwrap();

    // Tampered: one character changed.
    let mut tampered = original.clone();
    let i = tampered.iter().position(|b| *b == b'j').unwrap();
    tampered[i] = b'k';
    std::fs::write(m.file(&manifest), &tampered).unwrap();
    let run = submit(&admin, &["apply", m.path(), "--approve", "--yes"]).expect(1);
    assert!(
        run.stderr.contains(&manifest) && run.stderr.contains("nothing was sent"),
        "{}",
        run.stderr
    );

    // Truncated.
    std::fs::write(m.file(&manifest), &original[..original.len() / 2]).unwrap();
    let run = submit(&admin, &["apply", m.path()]).expect(1);
    run.stderr_has(&manifest);

    // An extra file.
    std::fs::write(m.file(&manifest), &original).unwrap();
    std::fs::write(m.file("notes.txt"), b"hello").unwrap();
    let run = submit(&admin, &["apply", m.path()]).expect(1);
    run.stderr_has("notes.txt");
    let run = submit(&admin, &["approve", m.path(), "--yes"]).expect(1);
    run.stderr_has("notes.txt");

    assert!(server.csrs().is_empty());
    std::fs::remove_file(m.file("notes.txt")).unwrap();
    submit(&admin, &["apply", m.path(), "--dry-run"]).expect(0);
}

#[test]
fn server_faults_500_429_dropped_connections_and_watch_restarts_are_survived() {
    let server = server(Config::default());
    let m = Media::new();
    m.request("kim", &[]).request("lee", &[]);
    let f = server.faults();
    f.fail_next_with_500(2);
    f.fail_next_with_429(2, 1);
    f.close_next_mid_response(1);
    f.expire_next_watches(1);
    f.set_watch_max_duration(Duration::from_millis(300));
    f.set_signer_delay(Duration::from_millis(800));
    let run = submit(
        &server.admin_kubeconfig(),
        &[
            "apply",
            m.path(),
            "--approve",
            "--yes",
            "--wait",
            "30s",
            "--json",
        ],
    )
    .expect(0);
    assert!(
        run.json()
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "written"),
        "{}",
        run.stdout
    );
    assert_eq!(server.csrs().len(), 2);
    m.sha256sum_check();
}

#[test]
fn token_credentials_work() {
    let server = server(Config::default());
    server.add_token("tok-123456", "tina", &["system:masters"]);
    let kc = server.token_kubeconfig("tina", "tok-123456").unwrap();
    let m = Media::new();
    m.request("mona", &[]);
    let run = submit(
        &kc,
        &["apply", m.path(), "--approve", "--yes", "--wait", "20s"],
    )
    .expect(0);
    assert!(!run.stderr.contains("tok-123456") && !run.stdout.contains("tok-123456"));
    let stem = &m.stems()[0];
    let bundle =
        Bundle::parse(&std::fs::read(m.file(&format!("{stem}.bundle.yaml"))).unwrap()).unwrap();
    assert_eq!(bundle.audit.submitted_by.as_deref(), Some("tina"));
    assert_eq!(
        bundle.audit.approval_message.as_deref(),
        Some("Approved by tina with kcsr-submit")
    );
}

#[test]
fn dry_run_creates_and_writes_nothing() {
    let server = server(Config::default());
    let m = Media::new();
    m.request("nina", &["--clusterrole", "view"]);
    let sums = std::fs::read(m.file("SHA256SUMS")).unwrap();
    let run = submit(
        &server.admin_kubeconfig(),
        &["apply", m.path(), "--dry-run", "--approve", "--json"],
    )
    .expect(0);
    assert_eq!(run.json()[0]["created"], "dry-run");
    assert_eq!(run.json()[0]["bindings"][0]["state"], "dry-run");
    assert!(server.csrs().is_empty());
    assert_eq!(std::fs::read(m.file("SHA256SUMS")).unwrap(), sums);
    // The manifest, the binding, SHA256SUMS and its signature.
    assert_eq!(std::fs::read_dir(&m.media).unwrap().count(), 4);
}

#[test]
fn approve_without_a_terminal_needs_yes_and_sends_nothing() {
    let server = server(Config::default());
    let m = Media::new();
    m.request("olga", &[]);
    let run = submit(
        &server.admin_kubeconfig(),
        &["apply", m.path(), "--approve"],
    )
    .expect(2);
    run.stderr_has("--yes");
    assert!(server.csrs().is_empty());
}

#[test]
fn legacy_v1beta1_cluster_with_a_v1beta1_manifest() {
    let server = server(Config {
        legacy: true,
        ..Config::default()
    });
    let m = Media::new();
    m.request("pete", &["--api-version", "v1beta1", "--no-signer"]);
    let admin = server.admin_kubeconfig();
    let run = submit(
        &admin,
        &[
            "apply",
            m.path(),
            "--approve",
            "--yes",
            "--wait",
            "20s",
            "--json",
        ],
    )
    .expect(0);
    assert_eq!(run.json()[0]["state"], "written", "{}", run.stdout);
    let status = submit(&admin, &["status", m.path(), "--json"])
        .expect(0)
        .json();
    assert_eq!(status[0]["condition"], "Approved,Issued");
    m.sha256sum_check();
}

/// A kubeconfig for the test server written by hand: its URL, a CA, a `tls-server-name` and a
/// `users` stanza given as YAML.
fn custom_kubeconfig(
    dir: &Path,
    server: &TestServer,
    ca_pem: &str,
    tls_server_name: Option<&str>,
    user: &str,
) -> PathBuf {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let tsn = tls_server_name
        .map(|n| format!("    tls-server-name: {n}\n"))
        .unwrap_or_default();
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\n{tsn}users:\n- name: u\n  user:\n{user}contexts:\n- name: c\n  context: {{cluster: test, user: u}}\ncurrent-context: c\n",
        server.url()
    );
    let path = dir.join(format!("kc-{}.yaml", tls_server_name.unwrap_or("plain")));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn tls_problems_are_explained_and_tls_server_name_is_honoured() {
    let server = server(Config::default());
    server.add_token("tls-token-1", "tess", &["system:masters"]);
    let token = "    token: tls-token-1\n";
    let dir = tempfile::tempdir().unwrap();
    let m = Media::new();
    m.request("tom", &[]);

    // The server's certificate names 127.0.0.1 and localhost: tls-server-name localhost works.
    let good = custom_kubeconfig(
        dir.path(),
        &server,
        &server.serving_ca_pem(),
        Some("localhost"),
        token,
    );
    let r = submit(&good, &["whoami"]).expect(0);
    r.stdout_has("tess");

    // A name the certificate does not carry: a TLS error that says so, nothing sent.
    let wrong_name = custom_kubeconfig(
        dir.path(),
        &server,
        &server.serving_ca_pem(),
        Some("wrong.example"),
        token,
    );
    let r = submit(&wrong_name, &["apply", m.path()]).expect(1);
    assert!(
        r.stderr.contains("wrong.example") && r.stderr.contains("not valid"),
        "{}",
        r.stderr
    );
    assert!(server.csrs().is_empty());

    // A CA that did not sign the server's certificate.
    let wrong_ca = custom_kubeconfig(dir.path(), &server, &server.client_ca_pem(), None, token);
    let r = submit(&wrong_ca, &["apply", m.path()]).expect(1);
    r.stderr_has("not signed by the CA in the kubeconfig");
    assert!(server.csrs().is_empty());
    assert!(!r.stderr.contains("tls-token-1"));

    // kubectl's --insecure-skip-tls-verify overrides the kubeconfig's (wrong) CA, works, and
    // warns in words an operator cannot miss.
    let r = submit(&wrong_ca, &["whoami", "--insecure-skip-tls-verify"]).expect(0);
    r.stdout_has("tess");
    assert!(
        r.stderr.contains("warning: insecure-skip-tls-verify") && r.stderr.contains("NOT verified"),
        "{}",
        r.stderr
    );
}

#[test]
fn exec_plugin_credentials_work() {
    let server = server(Config::default());
    server.add_token("exec-token-42", "eve", &["system:masters"]);
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("plugin.sh");
    std::fs::write(
        &plugin,
        "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"exec-token-42\"}}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let user = format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\n",
        plugin.display()
    );
    let kc = custom_kubeconfig(dir.path(), &server, &server.serving_ca_pem(), None, &user);
    let m = Media::new();
    m.request("erin", &[]);
    let r = submit(
        &kc,
        &["apply", m.path(), "--approve", "--yes", "--wait", "20s"],
    )
    .expect(0);
    assert!(!r.stderr.contains("exec-token-42") && !r.stdout.contains("exec-token-42"));
    let stem = &m.stems()[0];
    let bundle =
        Bundle::parse(&std::fs::read(m.file(&format!("{stem}.bundle.yaml"))).unwrap()).unwrap();
    assert_eq!(bundle.audit.submitted_by.as_deref(), Some("eve"));
}

/// On a terminal, `--approve` asks about each request after its review: "n" (skip) approves
/// nothing, "y" (approve) goes on.
/// util-linux `script` gives the process a pseudo-terminal.
#[test]
fn approve_asks_for_confirmation_on_a_terminal() {
    let server = server(Config::default());
    let m = Media::new();
    m.request("pat", &[]);
    // The station's key is trusted already (the default file), so the one question is the
    // approval's.
    let station = Command::new(offline_bin())
        .args([
            "station",
            "show",
            "--quiet",
            "--principal",
            "station",
            "--keys",
        ])
        .arg(&m.keys)
        .output()
        .unwrap();
    assert!(station.status.success());
    let config = server.dir().join("xdg-config/kcsr");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("allowed_signers"), &station.stdout).unwrap();
    let run_on_tty = |answer: &str, extra: &str| {
        let cmd = format!(
            "{} --kubeconfig {} apply {} --approve {extra}",
            env!("CARGO_BIN_EXE_kcsr-submit"),
            server.admin_kubeconfig().display(),
            m.path()
        );
        let mut child = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env_remove("KUBECONFIG")
            // Never the machine's own default allowed_signers file.
            .env_remove("KCSR_ALLOWED_SIGNERS")
            .env("XDG_CONFIG_HOME", server.dir().join("xdg-config"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("util-linux script");
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(answer.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run_on_tty("n\n", "");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("? [a]pprove, [d]eny, [s]kip (default), [q]uit: ")
            && out.contains("the operator declined"),
        "{out}"
    );
    assert!(!server.csrs().iter().any(|o| has_condition(o, "Approved")));
    let (code, out) = run_on_tty("y\n", "--wait 20s");
    assert_eq!(code, Some(0), "{out}");
    assert!(server.csrs().iter().all(|o| has_condition(o, "Approved")));
    assert!(out.contains("certificate verified and written"), "{out}");
}

#[test]
fn progress_is_a_bar_on_a_terminal_lines_in_a_pipe_and_nothing_with_quiet() {
    let server = server(Config::default());
    let kubeconfig = server.admin_kubeconfig();
    let on_tty = Media::new();
    for user in ["ann", "ben", "cat"] {
        on_tty.request(user, &[]);
    }
    let cmd = format!(
        "{} --kubeconfig {} apply {} --approve --yes --wait 20s",
        env!("CARGO_BIN_EXE_kcsr-submit"),
        kubeconfig.display(),
        on_tty.path()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("KUBECONFIG")
        .env_remove("KCSR_ALLOWED_SIGNERS")
        .env("XDG_CONFIG_HOME", server.dir().join("xdg-config"))
        .stdin(Stdio::null())
        .output()
        .expect("util-linux script");
    let tty = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{tty}");
    for phase in ["creating", "approving", "waiting"] {
        assert!(
            tty.contains(&format!("\r{phase:<10} [{}] 3/3", "#".repeat(24))),
            "no finished {phase} bar: {tty:?}"
        );
    }
    assert!(!tty.contains("created certificatesigningrequest"), "{tty}");
    assert_eq!(tty.matches("certificate verified and written").count(), 3);

    let piped = Media::new();
    for user in ["dan", "eve"] {
        piped.request(user, &[]);
    }
    let run = submit(
        &kubeconfig,
        &["apply", piped.path(), "--approve", "--yes", "--wait", "20s"],
    )
    .expect(0);
    assert_eq!(
        run.stderr
            .matches("created certificatesigningrequest")
            .count(),
        2,
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains('\r'),
        "a bar in a pipe: {:?}",
        run.stderr
    );

    let quiet = Media::new();
    quiet.request("fay", &[]);
    let run = submit(
        &kubeconfig,
        &[
            "apply",
            quiet.path(),
            "--approve",
            "--yes",
            "--wait",
            "20s",
            "--quiet",
        ],
    )
    .expect(0);
    // Nothing but the warning that the media is unauthenticated (no allowed_signers here),
    // with how to trust its station: a warning is not progress.
    assert!(
        run.stderr.starts_with("warning: the media ")
            && run.stderr.lines().all(|l| l.starts_with("warning: ")
                || l.starts_with("hint: ")
                || l.starts_with("  ")),
        "--quiet printed progress: {}",
        run.stderr
    );
    run.stdout_has("certificate verified and written");
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let bin = env!("CARGO_BIN_EXE_kcsr-submit");
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(bin)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        for sub in ["apply", "approve", "status", "fetch", "whoami"] {
            assert!(text.contains(sub), "{shell} completions lack {sub}");
        }
    }
    let out = Command::new(bin).arg("man").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(".TH kcsr-submit 1"));
}

/// SIGKILL during `apply --approve --wait` at spread points: the media is never half-written
/// (every SHA256SUMS entry matches its file; a certificate or bundle not yet listed is complete
/// or absent) and the re-run finishes with exactly one object per request.
#[test]
fn killed_apply_leaves_consistent_media_and_resumes_without_duplicates() {
    let server = server(Config::default());
    let m = Media::new();
    for u in ["k1", "k2", "k3", "k4", "k5", "k6"] {
        m.request(u, &[]);
    }
    let args = [
        "apply",
        m.path(),
        "--approve",
        "--yes",
        "--wait",
        "30s",
        "--parallel",
        "2",
    ];
    for i in 0..10u64 {
        let mut child = submit_cmd(&server.admin_kubeconfig(), &args)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(i * 37 % 300));
        let _ = child.kill();
        let _ = child.wait();
        for file in ["SHA256SUMS", "RETURNED.SHA256SUMS"] {
            let Ok(data) = std::fs::read(m.file(file)) else {
                continue;
            };
            let sums = kcsr_core::sums::Sums::parse(&data).unwrap();
            for name in sums.names() {
                let content = std::fs::read(m.file(name)).unwrap();
                assert!(
                    sums.matches(name, &content),
                    "kill {i}: {name} does not match {file}"
                );
            }
        }
        for stem in m.stems() {
            if let Ok(data) = std::fs::read(m.file(&format!("{stem}.bundle.yaml"))) {
                Bundle::parse(&data)
                    .unwrap_or_else(|e| panic!("kill {i}: torn bundle {stem}: {e}"));
            }
        }
        assert!(server.csrs().len() <= 6, "kill {i}: duplicates");
    }
    submit(&server.admin_kubeconfig(), &args).expect(0);
    assert_eq!(server.csrs().len(), 6);
    m.sha256sum_check();
    for stem in m.stems() {
        assert!(
            m.file(&format!("{stem}.bundle.yaml")).exists()
                && m.file(&format!("{stem}.crt")).exists()
        );
    }
}

#[test]
fn version_says_whether_the_fips_module_is_in_use() {
    let out = Command::new(env!("CARGO_BIN_EXE_kcsr-submit"))
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    let expected = if cfg!(feature = "fips") {
        "(crypto: AWS-LC FIPS 140-3 module)"
    } else {
        "(crypto: AWS-LC, not the FIPS module)"
    };
    assert!(
        text.starts_with("kcsr-submit ") && text.contains(expected),
        "{text}"
    );
}

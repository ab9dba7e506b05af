//! The connected side against an adversary (issue 12), each attack played with only what that
//! attacker has: whoever carries the media may rewrite any file and recompute `SHA256SUMS` (not
//! sign it); another cluster user may create, delete and re-create objects under a name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

#[path = "support/gap.rs"]
mod gap;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use gap::{HUNG, Media, Run, admin_client, has_condition, server, submit, submit_cmd};
use kcsr_core::manifest::{
    CLUSTER_ANNOTATION, CLUSTER_CA_ANNOTATION, CREATED_ANNOTATION, NOT_AFTER_ANNOTATION,
};
use kcsr_core::time::format_rfc3339;
use kcsr_submit::client::{Client, ClientOptions};
use kcsr_submit::kubeconfig::KubeconfigSource;
use kcsr_testapi::{Config, TestServer};
use serde_json::{Value, json};

const CSRS: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
const CRBS: &str = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";

fn now() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(d.as_secs()).unwrap()
}

fn client_for(kubeconfig: &Path) -> Client {
    let context = KubeconfigSource::Explicit(kubeconfig.to_owned())
        .load()
        .unwrap()
        .resolve(None)
        .unwrap();
    Client::new(&context, ClientOptions::default()).unwrap()
}

/// Whether the server holds the ClusterRoleBinding `name`.
fn has_crb(server: &TestServer, name: &str) -> bool {
    admin_client(server)
        .get_json::<Value>(&format!("{CRBS}/{name}"))
        .is_ok()
}

fn ca_fingerprint(pem: &str) -> String {
    kcsr_core::cert::parse_all(pem.as_bytes()).unwrap()[0].ca_fingerprint()
}

/// The station's freshness annotations, `created` and `not_after` seconds from now.
fn fresh(m: &Media, stem: &str, created: i64, not_after: i64) {
    m.station_annotate(
        stem,
        &[
            (CREATED_ANNOTATION, &format_rfc3339(now() + created)),
            (NOT_AFTER_ANNOTATION, &format_rfc3339(now() + not_after)),
        ],
    );
}

fn injected_binding(name: &str, role: &str, kind: &str, subject: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {name}\nsubjects:\n- kind: {kind}\n  apiGroup: rbac.authorization.k8s.io\n  name: {subject}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: {role}\n"
    )
}

#[test]
fn injected_bindings_are_refused_with_the_reason_and_nothing_is_sent() {
    let server = server(Config::default());
    let admin = server.admin_kubeconfig();
    // A request that asks for no binding, and one whose grant is `view`.
    let m = Media::new();
    m.request("alice", &[])
        .request("bob", &["--clusterrole", "view"]);
    let [alice, bob] = [m.stems()[0].clone(), m.stems()[1].clone()];
    let (alice_name, bob_name) = (m.object_name(&alice), m.object_name(&bob));
    // Unsigned media (no allowed signers here): the carrier drops the station's signature,
    // which only draws a warning; the bindings are checked all the same. Signed media:
    // tests/signatures.rs.
    let _ = std::fs::remove_file(m.file("SHA256SUMS.sig"));

    // The attacker adds a binding for a request without one.
    m.put(
        &format!("{alice}.binding.yaml"),
        injected_binding(
            &alice_name,
            "cluster-admin",
            "Group",
            "system:authenticated",
        )
        .as_bytes(),
    );
    let run = submit(&admin, &["apply", m.path()]).expect(3);
    assert!(
        run.stderr
            .contains("ClusterRole cluster-admin -> Group \"system:authenticated\"")
            && run.stderr.contains("no kcsr.dev/grant")
            && run.stderr.contains("nothing was sent"),
        "{}",
        run.stderr
    );
    assert!(server.csrs().is_empty());
    assert!(!has_crb(&server, &alice_name));
    std::fs::remove_file(m.file(&format!("{alice}.binding.yaml"))).unwrap();
    let mut sums =
        kcsr_core::sums::Sums::parse(&std::fs::read(m.file("SHA256SUMS")).unwrap()).unwrap();
    sums.remove(&format!("{alice}.binding.yaml"));
    std::fs::write(m.file("SHA256SUMS"), sums.render()).unwrap();

    // The attacker widens the grant's binding: another role, another subject, another name.
    let original = std::fs::read(m.file(&format!("{bob}.binding.yaml"))).unwrap();
    for (role, kind, subject, name, says) in [
        (
            "cluster-admin",
            "User",
            "bob",
            bob_name.as_str(),
            "ClusterRole cluster-admin -> User \"bob\"",
        ),
        (
            "view",
            "Group",
            "system:authenticated",
            bob_name.as_str(),
            "Group \"system:authenticated\"",
        ),
        ("view", "User", "alice", bob_name.as_str(), "User \"alice\""),
        (
            "view",
            "User",
            "bob",
            "kube-admins",
            "ClusterRoleBinding kube-admins",
        ),
    ] {
        m.put(
            &format!("{bob}.binding.yaml"),
            injected_binding(name, role, kind, subject).as_bytes(),
        );
        for args in [
            &["apply", m.path(), "--approve", "--yes"][..],
            &["approve", m.path(), "--yes"],
        ] {
            let run = submit(&admin, args).expect(3);
            assert!(
                run.stderr.contains(says) && run.stderr.contains("ClusterRole/view"),
                "{says}: {}",
                run.stderr
            );
        }
        assert!(server.csrs().is_empty());
        assert!(!has_crb(&server, name) && !has_crb(&server, &bob_name));
    }
    m.put(&format!("{bob}.binding.yaml"), &original);
    submit(&admin, &["apply", m.path(), "--approve", "--yes"]).expect(0);
    assert!(has_crb(&server, &bob_name));
}

#[test]
fn bindings_are_reviewed_and_created_only_after_the_approval_by_the_approver() {
    let server = server(Config {
        users: vec!["sam".parse().unwrap()],
        ..Config::default()
    });
    let admin = server.admin_kubeconfig();
    let m = Media::new();
    m.request("alice", &["--clusterrole", "view"])
        .request("root-op", &["--clusterrole", "cluster-admin"]);
    let names: Vec<String> = m.stems().iter().map(|s| m.object_name(s)).collect();

    // Created without --approve: no binding, and the output says when it will be.
    let run = submit(&admin, &["apply", m.path(), "--json"]).expect(0);
    for r in run.json().as_array().unwrap() {
        assert_eq!(
            r["bindings"][0]["state"], "pending-approval",
            "{}",
            run.stdout
        );
    }
    let text = submit(&admin, &["apply", m.path()]).expect(0);
    text.stdout_has("created once the request is approved");
    assert!(names.iter().all(|n| !has_crb(&server, n)));

    // The submitter may not approve: still no binding.
    submit(
        &server.kubeconfig_for("sam"),
        &["apply", m.path(), "--approve", "--yes"],
    )
    .expect(1);
    assert!(names.iter().all(|n| !has_crb(&server, n)));

    // The approver reviews the bindings, approves, and the bindings follow.
    let run = submit(&admin, &["approve", m.path(), "--yes", "--json"]).expect(0);
    for line in [
        "binding:     ClusterRoleBinding",
        "ClusterRole view, cluster-wide, to User \"alice\"",
        "WARNING: ",
        "grants cluster-admin",
        "note: a User binding applies to every credential the cluster takes for \"alice\"",
    ] {
        assert!(run.stderr.contains(line), "{line}: {}", run.stderr);
    }
    let reports = run.json();
    for r in reports.as_array().unwrap() {
        assert_eq!(r["approval"], "approved", "{reports}");
        assert_eq!(r["bindings"][0]["state"], "created", "{reports}");
        assert_eq!(r["bindings"][0]["kind"], "ClusterRoleBinding", "{reports}");
    }
    // The admin created the requests and approves them: said first; then the role.
    assert!(
        reports[1]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("created this request yourself"),
        "{reports}"
    );
    assert!(
        reports[1]["warnings"][1]
            .as_str()
            .unwrap()
            .contains("cluster-admin"),
        "{reports}"
    );
    for (name, user, role) in [
        (&names[0], "alice", "view"),
        (&names[1], "root-op", "cluster-admin"),
    ] {
        let crb: Value = admin_client(&server)
            .get_json(&format!("{CRBS}/{name}"))
            .unwrap();
        assert_eq!(
            crb["subjects"],
            json!([{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}])
        );
        assert_eq!(crb["roleRef"]["name"], role);
    }
    // Text output names the bindings, like kubectl.
    let again = submit(&admin, &["approve", m.path(), "--yes"]).expect(0);
    again.stdout_has(&format!(
        "clusterrolebinding.rbac.authorization.k8s.io/{} exists",
        names[0]
    ));
}

#[test]
fn requests_for_another_cluster_are_refused_with_both_fingerprints() {
    let server = server(Config::default());
    let admin = server.admin_kubeconfig();
    let ours = ca_fingerprint(&server.serving_ca_pem());
    // A cluster the station pinned: another CA (here, the client CA: not this server's).
    let theirs = ca_fingerprint(&server.client_ca_pem());
    let m = Media::new();
    m.request("alice", &[]);
    let stem = m.stems()[0].clone();
    m.station_annotate(
        &stem,
        &[
            (CLUSTER_ANNOTATION, "prod"),
            (CLUSTER_CA_ANNOTATION, &theirs),
        ],
    );
    for args in [
        &["apply", m.path(), "--approve", "--yes"][..],
        &["approve", m.path(), "--yes"],
        &["fetch", m.path()],
    ] {
        let run = submit(&admin, args).expect(3);
        assert!(
            run.stderr
                .contains(&format!("these requests are for cluster prod ({theirs})"))
                && run.stderr.contains(&format!("CA is {ours}"))
                && run.stderr.contains("nothing was sent"),
            "{args:?}: {}",
            run.stderr
        );
    }
    // Without a CA to compare there is no match either.
    let run = submit(&admin, &["apply", m.path(), "--insecure-skip-tls-verify"]).expect(3);
    run.stderr_has("no CA to compare");
    assert!(server.csrs().is_empty());

    // One of the pinned set is enough.
    m.station_annotate(
        &stem,
        &[(CLUSTER_CA_ANNOTATION, &format!("{theirs},{ours}"))],
    );
    let run = submit(&admin, &["apply", m.path(), "--approve", "--yes"]).expect(0);
    run.stderr_has("cluster:     prod");
    assert_eq!(server.csrs().len(), 1);
}

#[test]
fn replayed_media_is_refused_after_not_after_even_once_the_cluster_forgot_it() {
    let server = server(Config::default());
    let admin = server.admin_kubeconfig();
    let m = Media::new();
    m.request("alice", &["--clusterrole", "view"]);
    let stem = m.stems()[0].clone();
    let name = m.object_name(&stem);
    // Valid for a few seconds: the first trip is in time, and the review shows the age.
    fresh(&m, &stem, -3600, 3);
    let run = submit(
        &admin,
        &["apply", m.path(), "--approve", "--yes", "--wait", "20s"],
    )
    .expect(0);
    assert!(
        run.stderr
            .contains("age:         60m (written by the station at "),
        "{}",
        run.stderr
    );
    assert!(has_crb(&server, &name));
    // Later: the user's binding was removed and the issued object garbage-collected. The
    // attacker carries a copy of the old media (without the results) back.
    let client = admin_client(&server);
    client.delete(&format!("{CRBS}/{name}")).unwrap();
    client.delete(&format!("{CSRS}/{name}")).unwrap();
    for file in [
        format!("{stem}.crt"),
        format!("{stem}.bundle.yaml"),
        "RETURNED.SHA256SUMS".to_owned(),
    ] {
        std::fs::remove_file(m.file(&file)).unwrap();
    }
    gap::wait_until("not-after to pass", || {
        let na = m.manifest(&stem).metadata.annotations[NOT_AFTER_ANNOTATION].clone();
        kcsr_core::time::parse_rfc3339(&na).unwrap() < now()
    });
    for args in [
        &["apply", m.path(), "--approve", "--yes"][..],
        &["approve", m.path(), "--yes"],
    ] {
        let run = submit(&admin, args).expect(3);
        assert!(
            run.stderr.contains("past their validity")
                && run.stderr.contains(NOT_AFTER_ANNOTATION)
                && run.stderr.contains("nothing was sent"),
            "{}",
            run.stderr
        );
    }
    assert!(server.csrs().is_empty());
    assert!(!has_crb(&server, &name));
}

/// Runs `approve MEDIA --yes` and, once its review is on stderr, calls `meanwhile` (the
/// attacker's move between the review and the approval, which the server holds back).
fn approve_with_a_move_after_the_review(
    server: &TestServer,
    m: &Media,
    meanwhile: impl FnOnce(),
) -> Run {
    server.faults().only_method(Some("PUT"));
    server.faults().stall_next(1, Duration::from_secs(8));
    let mut child = submit_cmd(&server.admin_kubeconfig(), &["approve", m.path(), "--yes"])
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    loop {
        let line = rx.recv_timeout(HUNG).expect("no review on stderr");
        if line.contains("requestor:") {
            break;
        }
    }
    meanwhile();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: reader.join().unwrap(),
    }
}

#[test]
fn an_object_swapped_between_the_review_and_the_approval_is_not_approved() {
    let server = server(Config {
        users: vec!["mallory".parse().unwrap()],
        ..Config::default()
    });
    let admin = server.admin_kubeconfig();
    let m = Media::new();
    m.request("alice", &["--expiration", "1h"]);
    let name = m.object_name(&m.stems()[0]);
    submit(&admin, &["apply", m.path()]).expect(0);
    let reviewed = server.csr(&name).unwrap();

    // Someone who may delete CSRs deletes it; mallory creates the same public request under
    // the same name, without the lifetime (the signer's default: a year).
    let run = approve_with_a_move_after_the_review(&server, &m, || {
        admin_client(&server)
            .delete(&format!("{CSRS}/{name}"))
            .unwrap();
        let body = json!({
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {
                "request": reviewed["spec"]["request"],
                "signerName": reviewed["spec"]["signerName"],
                "usages": reviewed["spec"]["usages"],
            },
        });
        let _: Value = client_for(&server.kubeconfig_for("mallory"))
            .post_json(CSRS, &body)
            .unwrap();
    })
    .expect(3);
    for says in [
        "changed between the review and the approval",
        "metadata.uid",
        "spec.username \"kcsr-admin\" is now \"mallory\"",
        "spec.expirationSeconds 3600 is now unset",
    ] {
        assert!(run.stderr.contains(says), "{says}: {}", run.stderr);
    }
    let now_there = server.csr(&name).unwrap();
    assert_eq!(now_there["spec"]["username"], "mallory");
    assert!(!has_condition(&now_there, "Approved"));
}

#[test]
fn an_object_changed_only_in_its_status_is_still_approved_after_the_conflict() {
    let server = server(Config::default());
    let admin = server.admin_kubeconfig();
    let m = Media::new();
    m.request("alice", &[]);
    let name = m.object_name(&m.stems()[0]);
    submit(&admin, &["apply", m.path()]).expect(0);
    // A label added between review and approval: a new resourceVersion, the same request.
    // The label's PUT waits until the approval's PUT (sent right after the review) is held
    // by the server, so that the approval meets a conflict; should it come first after all,
    // it is the one held back and retried, and the approval simply goes through.
    let run = approve_with_a_move_after_the_review(&server, &m, || {
        std::thread::sleep(Duration::from_secs(2));
        let client = admin_client(&server);
        loop {
            let mut obj: Value = client.get_json(&format!("{CSRS}/{name}")).unwrap();
            obj["metadata"]["labels"]["team"] = json!("a");
            match client.put_json::<_, Value>(&format!("{CSRS}/{name}"), &obj) {
                Ok(_) => break,
                Err(e) if e.as_api().is_some_and(|a| a.is_conflict()) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .expect(0);
    run.stdout_has(" approved");
    assert!(has_condition(&server.csr(&name).unwrap(), "Approved"));
}

#[test]
fn an_object_precreated_without_the_lifetime_is_a_conflict_not_a_resume() {
    let server = server(Config {
        users: vec!["mallory".parse().unwrap()],
        ..Config::default()
    });
    let admin = server.admin_kubeconfig();
    let m = Media::new();
    m.request("alice", &["--expiration", "1h"]);
    let manifest = m.manifest(&m.stems()[0]);
    let name = manifest.metadata.name.clone();
    // Mallory read the public manifest and got there first, dropping expirationSeconds.
    let body = json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": manifest.spec.request,
            "signerName": manifest.spec.signer_name,
            "usages": manifest.spec.usages,
        },
    });
    let _: Value = client_for(&server.kubeconfig_for("mallory"))
        .post_json(CSRS, &body)
        .unwrap();
    let run = submit(&admin, &["apply", m.path(), "--approve", "--yes"]).expect(3);
    assert!(
        run.stderr
            .contains("expirationSeconds unset instead of 3600"),
        "{}",
        run.stderr
    );
    assert!(!has_condition(&server.csr(&name).unwrap(), "Approved"));
}

#[test]
fn a_certificate_issued_for_longer_than_requested_fails_verification() {
    let server = server(Config::default());
    server.faults().set_signer_stopped(true);
    let admin = server.admin_kubeconfig();
    let m = Media::new();
    m.request("alice", &["--expiration", "1h"]);
    let stem = m.stems()[0].clone();
    let name = m.object_name(&stem);
    submit(&admin, &["apply", m.path(), "--approve", "--yes"]).expect(0);

    // A signer that ignores expirationSeconds (as clusters before 1.22 do): a year, signed by
    // the real client CA, for the right key and subject.
    let client = admin_client(&server);
    let path = format!("{CSRS}/{name}");
    let mut obj: Value = client.get_json(&path).unwrap();
    let csr_pem = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            obj["spec"]["request"].as_str().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let key = rcgen::KeyPair::from_pem(
        &std::fs::read_to_string(server.dir().join("client-ca.key")).unwrap(),
    )
    .unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&server.client_ca_pem(), key).unwrap();
    let mut params = rcgen::CertificateSigningRequestParams::from_pem(&csr_pem).unwrap();
    let start = rcgen::date_time_ymd(2026, 1, 1);
    params.params.not_before = start;
    params.params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    params.params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    let cert = params.signed_by(&issuer).unwrap();
    obj["status"]["certificate"] = json!(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        cert.pem()
    ));
    let _: Value = client.put_json(&format!("{path}/status"), &obj).unwrap();

    let ca = server.dir().join("client-ca.crt");
    let run = submit(
        &admin,
        &["fetch", m.path(), "--client-ca", ca.to_str().unwrap()],
    )
    .expect(3);
    assert!(
        run.stderr.contains("longer than requested") && run.stderr.contains("lifetime"),
        "{}",
        run.stderr
    );
    assert!(!m.file(&format!("{stem}.crt")).exists());
}

#[test]
fn results_are_recorded_apart_and_the_stations_sums_never_change() {
    let server = server(Config::default());
    let admin = server.admin_kubeconfig();
    let m = Media::new();
    m.request("alice", &[]).request("bob", &[]);
    let sums = std::fs::read(m.file("SHA256SUMS")).unwrap();
    submit(
        &admin,
        &["apply", m.path(), "--approve", "--yes", "--wait", "20s"],
    )
    .expect(0);
    assert_eq!(std::fs::read(m.file("SHA256SUMS")).unwrap(), sums);
    let returned =
        kcsr_core::sums::Sums::parse(&std::fs::read(m.file("RETURNED.SHA256SUMS")).unwrap())
            .unwrap();
    let mut want: Vec<String> = m
        .stems()
        .iter()
        .flat_map(|s| [format!("{s}.bundle.yaml"), format!("{s}.crt")])
        .collect();
    want.sort();
    assert_eq!(returned.names().collect::<Vec<_>>(), want);
    m.sha256sum_check();

    // The carrier lists a certificate for a request the station never wrote, or a manifest
    // of its own, in the connected side's file: refused, naming the file.
    let returned_text = std::fs::read(m.file("RETURNED.SHA256SUMS")).unwrap();
    let stem = m.stems()[0].clone();
    for (file, data) in [
        ("mallory.crt", b"x".as_slice()),
        ("mallory.csr.yaml", b"x".as_slice()),
    ] {
        std::fs::write(m.file(file), data).unwrap();
        let mut forged = kcsr_core::sums::Sums::parse(&returned_text).unwrap();
        forged.insert(file, data);
        std::fs::write(m.file("RETURNED.SHA256SUMS"), forged.render()).unwrap();
        let run = submit(&admin, &["fetch", m.path()]).expect(1);
        run.stderr_has(&format!(
            "{file}: listed in RETURNED.SHA256SUMS, which may list only"
        ));
        std::fs::remove_file(m.file(file)).unwrap();
    }
    // A file in neither sums file.
    std::fs::write(m.file("RETURNED.SHA256SUMS"), &returned_text).unwrap();
    std::fs::write(m.file(&format!("{stem}.binding.yaml")), b"x").unwrap();
    let run = submit(&admin, &["fetch", m.path()]).expect(1);
    assert!(
        run.stderr
            .contains("listed in neither SHA256SUMS nor RETURNED.SHA256SUMS"),
        "{}",
        run.stderr
    );
    std::fs::remove_file(m.file(&format!("{stem}.binding.yaml"))).unwrap();
    let run = submit(&admin, &["fetch", m.path(), "--json"]).expect(0);
    assert!(
        run.json()
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "on-media"),
        "{}",
        run.stdout
    );
}

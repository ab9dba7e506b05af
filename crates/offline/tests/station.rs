//! The isolated station's own state (decision 0009), through the real `kcsr` binary: cluster
//! pins (`kcsr cluster`), the stamps and records of every request, and renewals taken from
//! the records rather than from what comes back on the media.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

mod support;

use kcsr_testkit::args::{cluster_add, request};
use std::path::Path;

use serde_json::Value;
use support::{kcsr, kcsr_ok as ok, mode};

/// `sh -c CMD` in `dir`, which must succeed: its stdout.
fn sh(dir: &Path, cmd: &str) -> String {
    kcsr_testkit::sh(dir, cmd).expect_code(0, cmd).stdout
}

/// A self-signed CA `NAME.crt` (key `NAME.key`) in `dir`.
/// The DER of a CSR manifest's `spec.request`.
fn request_der(manifest: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("request:"))
        .unwrap();
    base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        line.trim_start().trim_start_matches("request:").trim(),
    )
    .unwrap()
}

fn make_ca(dir: &Path, name: &str) {
    sh(
        dir,
        &format!(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {name}.key -out {name}.crt -subj /CN={name} -days 30 -addext basicConstraints=critical,CA:TRUE 2>/dev/null"
        ),
    );
}

/// The kubeadm-style pin of a CA file, computed by OpenSSL alone.
fn openssl_pin(dir: &Path, ca: &str) -> String {
    let hex = sh(
        dir,
        &format!(
            "openssl x509 -in {ca} -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1"
        ),
    );
    format!("sha256:{}", hex.trim())
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The CSR manifest's annotations.
fn annotations(path: &Path) -> serde_json::Map<String, Value> {
    let v: Value = kcsr_core::yaml::parse_one(
        &std::fs::read(path).unwrap(),
        kcsr_core::yaml::Snippets::Show,
    )
    .unwrap();
    v["metadata"]["annotations"].as_object().unwrap().clone()
}

fn record(dir: &Path, name: &str) -> Value {
    let path = dir.join(format!("keys/station/requests/{name}.json"));
    assert_eq!(mode(&path), 0o600, "{}", path.display());
    json(&std::fs::read_to_string(path).unwrap())
}

fn records(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("keys/station/requests"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn object_name(manifest: &Path) -> String {
    let v: Value = kcsr_core::yaml::parse_one(
        &std::fs::read(manifest).unwrap(),
        kcsr_core::yaml::Snippets::Show,
    )
    .unwrap();
    v["metadata"]["name"].as_str().unwrap().to_owned()
}

fn pin_prod(dir: &Path) {
    make_ca(dir, "ca");
    make_ca(dir, "client-ca");
    ok(dir, &cluster_add("prod", "https://prod.example:6443", &[]));
}

#[test]
fn cluster_add_pins_server_and_cas_and_prints_the_fingerprints_openssl_computes() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    make_ca(d, "ca");
    make_ca(d, "client-ca");
    make_ca(d, "other-ca");
    let r = ok(
        d,
        &cluster_add(
            "prod",
            "https://prod.example:6443",
            &[
                "--signer-ca",
                "example.com/other=other-ca.crt",
                "--tls-server-name",
                "kubernetes.default.svc",
            ],
        ),
    );
    let (ca, client, other) = (
        openssl_pin(d, "ca.crt"),
        openssl_pin(d, "client-ca.crt"),
        openssl_pin(d, "other-ca.crt"),
    );
    for fp in [&ca, &client, &other] {
        assert!(r.stdout.contains(fp.as_str()), "{fp}: {}", r.stdout);
    }
    r.stderr_has("out of band");
    let pin = d.join("keys/station/clusters/prod.json");
    assert_eq!(mode(&pin), 0o600);
    assert_eq!(mode(&d.join("keys/station")), 0o700);
    assert_eq!(mode(&d.join("keys/station/clusters")), 0o700);

    let r = ok(d, &["cluster", "list", "--keys", "keys", "--json"]);
    let v = json(&r.stdout);
    let c = &v["clusters"][0];
    assert_eq!(c["name"], "prod");
    assert_eq!(c["server"], "https://prod.example:6443");
    assert_eq!(c["tlsServerName"], "kubernetes.default.svc");
    assert_eq!(c["serverCaSha256"], serde_json::json!([ca]));
    for signer in [
        "kubernetes.io/kube-apiserver-client",
        "kubernetes.io/kube-apiserver-client-kubelet",
    ] {
        assert_eq!(
            c["signerCaSha256"][signer],
            serde_json::json!([client]),
            "{v}"
        );
    }
    assert_eq!(
        c["signerCaSha256"]["example.com/other"],
        serde_json::json!([other])
    );

    // The same anchors again: nothing changes. Others: refused with both fingerprints,
    // the pin untouched, until --force.
    let before = std::fs::read(&pin).unwrap();
    let same = [
        "cluster",
        "add",
        "prod",
        "--keys",
        "keys",
        "--server",
        "https://prod.example:6443",
        "--ca",
        "ca.crt",
        "--client-ca",
        "client-ca.crt",
        "--signer-ca",
        "example.com/other=other-ca.crt",
        "--tls-server-name",
        "kubernetes.default.svc",
    ];
    let r = ok(d, &same);
    r.stderr_has("nothing changed");
    assert_eq!(std::fs::read(&pin).unwrap(), before);
    let swapped = [
        "cluster",
        "add",
        "prod",
        "--keys",
        "keys",
        "--server",
        "https://prod.example:6443",
        "--ca",
        "other-ca.crt",
    ];
    let r = kcsr(d, &swapped);
    r.refused("prod", "already pinned");
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains(&ca) && r.stderr.contains(&other),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(&pin).unwrap(), before);
    let r = ok(d, &[&swapped[..], &["--force", "--json"]].concat());
    let v = json(&r.stdout);
    assert_eq!(v["status"], "replaced");
    assert_eq!(v["cluster"]["serverCaSha256"], serde_json::json!([other]));

    // Removal, and removing what is not there.
    ok(d, &["cluster", "remove", "prod", "--keys", "keys"]);
    assert!(!pin.exists());
    kcsr(d, &["cluster", "remove", "prod", "--keys", "keys"]).refused("prod", "no cluster");
    let r = ok(d, &["cluster", "list", "--keys", "keys", "--json"]);
    assert_eq!(json(&r.stdout)["clusters"], serde_json::json!([]));
}

#[test]
fn cluster_add_from_a_kubeconfig_reads_only_server_ca_and_tls_name_and_never_runs_its_plugins() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    make_ca(d, "ca");
    make_ca(d, "ca2");
    std::fs::create_dir(d.join("kube")).unwrap();
    // A link, as /etc/kubernetes/pki/ca.crt often is: a file a kubeconfig names is followed.
    std::os::unix::fs::symlink(d.join("ca2.crt"), d.join("kube/ca2.crt")).unwrap();
    let b64 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        std::fs::read(d.join("ca.crt")).unwrap(),
    );
    let marker = d.join("plugin-ran");
    // Every credential form kubectl knows, each of which would leave the marker if run.
    let kubeconfig = format!(
        r#"apiVersion: v1
kind: Config
clusters:
- name: prod-cluster
  cluster:
    server: https://prod.example:6443
    certificate-authority-data: {b64}
    tls-server-name: api.prod.internal
    proxy-url: http://proxy.example:3128
- name: lab-cluster
  cluster:
    server: https://lab.example:6443
    certificate-authority: ca2.crt
users:
- name: admin
  user:
    token: super-secret-token
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: sh
      args: ["-c", "touch {marker}"]
- name: old
  user:
    auth-provider:
      name: oidc
      config:
        cmd-path: /bin/sh
        cmd-args: "-c 'touch {marker}'"
contexts:
- name: prod
  context: {{cluster: prod-cluster, user: admin}}
- name: lab
  context: {{cluster: lab-cluster, user: old}}
current-context: prod
"#,
        marker = marker.display()
    );
    std::fs::write(d.join("kube/config"), kubeconfig).unwrap();

    let r = ok(
        d,
        &[
            "cluster",
            "add",
            "prod",
            "--keys",
            "keys",
            "--from-kubeconfig",
            "kube/config",
            "--json",
        ],
    );
    let v = json(&r.stdout);
    assert_eq!(v["cluster"]["server"], "https://prod.example:6443");
    assert_eq!(v["cluster"]["tlsServerName"], "api.prod.internal");
    assert_eq!(
        v["cluster"]["serverCaSha256"],
        serde_json::json!([openssl_pin(d, "ca.crt")])
    );
    // A context other than the current one; its CA is a file relative to the kubeconfig.
    let r = ok(
        d,
        &[
            "cluster",
            "add",
            "lab",
            "--keys",
            "keys",
            "--from-kubeconfig",
            "kube/config",
            "--context",
            "lab",
            "--json",
        ],
    );
    let v = json(&r.stdout);
    assert_eq!(v["cluster"]["server"], "https://lab.example:6443");
    assert_eq!(
        v["cluster"]["serverCaSha256"],
        serde_json::json!([openssl_pin(d, "ca2.crt")])
    );
    assert!(!marker.exists(), "a kubeconfig plugin ran");
    // Nothing of the users' entries reached the station or the output.
    for f in ["prod", "lab"] {
        let pin =
            std::fs::read_to_string(d.join(format!("keys/station/clusters/{f}.json"))).unwrap();
        for never in ["super-secret-token", "exec", "proxy", "touch"] {
            assert!(!pin.contains(never), "{never} in {pin}");
        }
    }
    assert!(!r.stdout.contains("super-secret") && !r.stderr.contains("super-secret"));

    let r = kcsr(
        d,
        &[
            "cluster",
            "add",
            "x",
            "--keys",
            "keys",
            "--from-kubeconfig",
            "kube/config",
            "--context",
            "nope",
        ],
    );
    r.refused("kube/config", "no context \"nope\"");
    r.stderr_has("prod, lab");
}

#[test]
fn cluster_add_refuses_what_cannot_be_a_trust_anchor() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    make_ca(d, "ca");
    let add = |server: &str, ca: &str| {
        kcsr(
            d,
            &[
                "cluster", "add", "prod", "--keys", "keys", "--server", server, "--ca", ca,
            ],
        )
    };
    add("http://prod.example:6443", "ca.crt").refused("http://prod.example", "https://");
    let r = add("https://admin:hunter2@prod.example:6443", "ca.crt");
    r.refused("server URL", "credentials");
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    // The CA's private key given by mistake: refused, and not a byte of it shown.
    let r = add("https://prod.example:6443", "ca.key");
    r.refused("ca.key", "private key");
    assert!(!r.stderr.contains("PRIVATE KEY"), "{}", r.stderr);
    std::fs::write(d.join("junk.crt"), "not a certificate\n").unwrap();
    add("https://prod.example:6443", "junk.crt").refused("junk.crt", "");
    let r = kcsr(
        d,
        &[
            "cluster",
            "add",
            "Bad_Name",
            "--keys",
            "keys",
            "--server",
            "https://a",
            "--ca",
            "ca.crt",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    r.stderr_has("DNS-1123");
    // A kubeconfig that skips verification has no CA to pin.
    std::fs::write(
        d.join("insecure.kubeconfig"),
        "clusters:\n- name: c\n  cluster: {server: 'https://a.example', insecure-skip-tls-verify: true}\ncontexts:\n- name: c\n  context: {cluster: c}\ncurrent-context: c\n",
    )
    .unwrap();
    kcsr(
        d,
        &[
            "cluster",
            "add",
            "prod",
            "--keys",
            "keys",
            "--from-kubeconfig",
            "insecure.kubeconfig",
        ],
    )
    .refused("insecure.kubeconfig", "skips TLS verification");
    assert!(!d.join("keys/station/clusters/prod.json").exists());
}

#[test]
fn a_request_is_stamped_with_its_cluster_and_freshness_and_recorded_before_the_media() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    pin_prod(d);
    let r = ok(
        d,
        &request(
            "alice",
            &["dev"],
            "media",
            &["--clusterrole", "view", "--valid-for", "2d", "--json"],
        ),
    );
    let out = json(&r.stdout);
    let manifest = d.join("media/alice.csr.yaml");
    let a = annotations(&manifest);
    let ca = openssl_pin(d, "ca.crt");
    assert_eq!(a["kcsr.dev/cluster"], "prod");
    assert_eq!(a["kcsr.dev/cluster-ca-sha256"], ca.as_str());
    assert_eq!(a["kcsr.dev/grant"], "ClusterRole/view");
    let time = |k: &str| kcsr_core::time::parse_rfc3339(a[k].as_str().unwrap()).unwrap();
    assert_eq!(
        time("kcsr.dev/not-after") - time("kcsr.dev/created"),
        2 * 86_400
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((time("kcsr.dev/created") - now).abs() < 120);
    assert_eq!(out["cluster"], "prod");

    // The record: what the station asked for, the manifest's digest, the same times.
    let name = object_name(&manifest);
    let rec = record(d, &name);
    let pubkey = sh(
        d,
        "openssl pkey -in keys/alice.key.pem -pubout -outform DER | sha256sum | cut -d' ' -f1",
    );
    let manifest_sha = sh(d, "sha256sum media/alice.csr.yaml | cut -d' ' -f1");
    assert_eq!(rec["kind"], "RequestRecord");
    assert_eq!(rec["user"], "alice");
    assert_eq!(rec["groups"], serde_json::json!(["dev"]));
    assert_eq!(rec["stem"], "alice");
    assert_eq!(rec["keyFile"], "alice.key.pem");
    assert_eq!(rec["publicKeySha256"], pubkey.trim());
    assert_eq!(rec["manifestSha256"], manifest_sha.trim());
    assert_eq!(rec["grant"], "ClusterRole/view");
    assert_eq!(rec["cluster"], "prod");
    assert_eq!(rec["clusterCaSha256"], serde_json::json!([ca]));
    assert_eq!(
        rec["signerCaSha256"],
        serde_json::json!([openssl_pin(d, "client-ca.crt")])
    );
    assert_eq!(rec["signerName"], "kubernetes.io/kube-apiserver-client");
    assert_eq!(rec["expirationSeconds"], 2_592_000);
    assert_eq!(rec["created"], a["kcsr.dev/created"]);
    assert_eq!(rec["notAfter"], a["kcsr.dev/not-after"]);
    assert_eq!(out["record"], format!("keys/station/requests/{name}.json"));

    // A re-run keeps the request (and its times) and neither rewrites nor duplicates the
    // record.
    let before = (
        std::fs::read(&manifest).unwrap(),
        std::fs::read(d.join(format!("keys/station/requests/{name}.json"))).unwrap(),
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = ok(
        d,
        &request(
            "alice",
            &["dev"],
            "media",
            &["--clusterrole", "view", "--json"],
        ),
    );
    assert_eq!(json(&r.stdout)["status"], "unchanged");
    assert_eq!(
        before,
        (
            std::fs::read(&manifest).unwrap(),
            std::fs::read(d.join(format!("keys/station/requests/{name}.json"))).unwrap(),
        )
    );
    assert_eq!(records(d), vec![format!("{name}.json")]);
}

#[test]
fn a_stale_request_is_written_again_fresh_with_the_same_key() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let args = [
        "request", "--user", "bob", "--keys", "keys", "--media", "media",
    ];
    ok(d, &args);
    let manifest = d.join("media/bob.csr.yaml");
    let key = std::fs::read(d.join("keys/bob.key.pem")).unwrap();
    // Past its not-after (as if the media waited three weeks): the same request, stamped
    // anew, rather than one the connected side would refuse.
    let text = std::fs::read_to_string(&manifest).unwrap();
    let old = annotations(&manifest)["kcsr.dev/not-after"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(&manifest, text.replace(&old, "2020-01-01T00:00:00Z")).unwrap();
    let r = ok(d, &[&args[..], &["--json"]].concat());
    assert_eq!(json(&r.stdout)["status"], "written");
    assert_eq!(std::fs::read(d.join("keys/bob.key.pem")).unwrap(), key);
    let fresh = annotations(&manifest)["kcsr.dev/not-after"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(fresh.as_str() > "2026-01-01", "{fresh}");
    let name = object_name(&manifest);
    assert_eq!(record(d, &name)["notAfter"], fresh.as_str());
    assert_eq!(records(d).len(), 1);
}

#[test]
fn the_cluster_is_the_only_pin_the_one_named_or_none() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // Nothing pinned: requests as before pins existed (the README's command, unchanged).
    ok(
        d,
        &[
            "request", "--user", "alice", "--group", "dev", "--keys", "./keys", "--media",
            "./media",
        ],
    );
    let a = annotations(&d.join("media/alice.csr.yaml"));
    assert!(!a.contains_key("kcsr.dev/cluster") && !a.contains_key("kcsr.dev/cluster-ca-sha256"));
    assert!(a.contains_key("kcsr.dev/not-after") && !a.contains_key("kcsr.dev/grant"));
    let name = object_name(&d.join("media/alice.csr.yaml"));
    assert_eq!(record(d, &name)["cluster"], Value::Null);

    pin_prod(d);
    ok(d, &request("bob", &[], "media", &[]));
    assert_eq!(
        annotations(&d.join("media/bob.csr.yaml"))["kcsr.dev/cluster"],
        "prod"
    );
    // A pin that is not there.
    kcsr(d, &request("carol", &[], "media", &["--cluster", "lab"]))
        .refused("lab", "no cluster named");
    // Two pins: the requests must say which.
    ok(
        d,
        &[
            "cluster",
            "add",
            "lab",
            "--keys",
            "keys",
            "--server",
            "https://lab.example",
            "--ca",
            "ca.crt",
        ],
    );
    let r = kcsr(d, &request("carol", &[], "media", &[]));
    r.refused("lab", "2 clusters are pinned");
    r.stderr_has("lab, prod");
    assert!(!d.join("media/carol.csr.yaml").exists());
    assert!(!d.join("keys/carol.key.pem").exists());
    ok(d, &request("carol", &[], "media", &["--cluster", "lab"]));
    assert_eq!(
        annotations(&d.join("media/carol.csr.yaml"))["kcsr.dev/cluster"],
        "lab"
    );
    // The same request for another cluster is another request.
    let r = kcsr(d, &request("carol", &[], "media", &["--cluster", "prod"]));
    r.refused("carol.csr.yaml", "different request");
}

#[test]
fn batch_records_every_user_within_its_group_commit_and_never_twice() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    pin_prod(d);
    support::roster(d, 40);
    let args = [
        "batch",
        "--roster",
        "roster.csv",
        "--keys",
        "keys",
        "--media",
        "media",
        "--jobs",
        "2",
    ];
    ok(d, &args);
    let names = support::object_names(&d.join("media"));
    assert_eq!(names.len(), 40);
    let want: Vec<String> = names.iter().map(|n| format!("{n}.json")).collect();
    assert_eq!(records(d), want);
    for i in 0..40 {
        let manifest = d.join(format!("media/user{i}.csr.yaml"));
        let rec = record(d, &object_name(&manifest));
        assert_eq!(rec["user"], format!("user{i}"));
        assert_eq!(rec["keyFile"], format!("user{i}.key.pem"));
        assert_eq!(rec["cluster"], "prod");
        assert_eq!(
            rec["manifestSha256"],
            kcsr_core::digest::sha256_hex(&std::fs::read(&manifest).unwrap())
        );
        assert_eq!(
            annotations(&manifest)["kcsr.dev/created"],
            rec["created"],
            "user{i}"
        );
    }
    // No temporary file left behind in the station.
    let dirty: Vec<_> = std::fs::read_dir(d.join("keys/station/requests"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(dirty.is_empty(), "{dirty:?}");
    let stamp = |p: &str| std::fs::metadata(d.join(p)).unwrap().modified().unwrap();
    let first = stamp(&format!("keys/station/requests/{}", want[0]));
    // A re-run: everything unchanged, no record rewritten; a lost record is put back.
    std::fs::remove_file(d.join(format!("keys/station/requests/{}", want[1]))).unwrap();
    let r = ok(d, &[&args[..], &["--json"]].concat());
    assert_eq!(json(&r.stdout)["unchanged"], 40);
    assert_eq!(records(d), want);
    assert_eq!(stamp(&format!("keys/station/requests/{}", want[0])), first);
}

#[test]
fn renew_takes_every_field_from_the_record_never_from_the_certificate() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    pin_prod(d);
    ok(
        d,
        &request(
            "alice",
            &["dev"],
            "media",
            &["--clusterrole", "view", "--expiration", "7d"],
        ),
    );
    let original = record(d, &object_name(&d.join("media/alice.csr.yaml")));
    // Media in transit: the attacker signs the operator's own request (public) with a CA of
    // their own, naming another user and system:masters, and puts it back as alice.crt.
    let csr = request_der(&d.join("media/alice.csr.yaml"));
    std::fs::write(d.join("alice.csr"), csr).unwrap();
    make_ca(d, "evil");
    sh(
        d,
        "openssl x509 -req -in alice.csr -CA evil.crt -CAkey evil.key -CAcreateserial -days 5 -subj '/CN=mallory/O=system:masters' -out media/alice.crt 2>/dev/null",
    );
    let renew = [
        "renew", "media", "--within", "30d", "--keys", "keys", "--media", "next", "--json",
    ];
    // Not the station's certificate (another subject, another CA): reported, not renewed.
    let r = kcsr(d, &renew);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let v = json(&r.stdout);
    assert_eq!(v["certificates"][0]["verified"], false, "{v}");
    assert!(
        v["certificates"][0]["error"]
            .as_str()
            .unwrap()
            .contains("is for user \"alice\""),
        "{v}"
    );
    assert!(!d.join("next/SHA256SUMS").exists());
    // The pinned client CA issues it, under the subject the operator asked for (openssl takes
    // the CSR's): every field of the renewal still comes from the record.
    sh(
        d,
        "openssl x509 -req -in alice.csr -CA client-ca.crt -CAkey client-ca.key -CAcreateserial -days 5 -out media/alice.crt 2>/dev/null",
    );
    let r = ok(d, &renew);
    let v = json(&r.stdout);
    assert_eq!(v["certificates"][0]["verified"], true, "{v}");
    assert_eq!(v["certificates"][0]["user"], "alice", "{v}");
    let stem = v["certificates"][0]["request"]["stem"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(stem.starts_with("alice-renew-"), "{stem}");
    let manifest = d.join(format!("next/{stem}.csr.yaml"));
    let pem = request_der(&manifest);
    std::fs::write(d.join("renew.csr"), pem).unwrap();
    let subject = sh(d, "openssl req -in renew.csr -noout -subject");
    assert_eq!(subject.trim(), "subject=CN = alice, O = dev");
    let a = annotations(&manifest);
    assert_eq!(a["kcsr.dev/grant"], "ClusterRole/view");
    assert_eq!(a["kcsr.dev/cluster"], "prod");
    let yaml = std::fs::read_to_string(&manifest).unwrap();
    assert!(yaml.contains("expirationSeconds: 604800"), "{yaml}");
    assert!(d.join(format!("next/{stem}.binding.yaml")).exists());
    let renewed = record(d, &object_name(&manifest));
    for field in [
        "user",
        "groups",
        "signerName",
        "usages",
        "expirationSeconds",
        "grant",
        "cluster",
    ] {
        assert_eq!(renewed[field], original[field], "{field}");
    }
    assert_eq!(renewed["keyFile"], format!("{stem}.key.pem"));

    // A certificate for a key the station never asked for: refused, whatever it names.
    sh(
        d,
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout stranger.key -subj /CN=alice/O=dev -out stranger.csr 2>/dev/null && openssl x509 -req -in stranger.csr -CA evil.crt -CAkey evil.key -CAcreateserial -days 5 -out stranger.crt 2>/dev/null",
    );
    let r = kcsr(
        d,
        &[
            "renew",
            "stranger.crt",
            "--within",
            "30d",
            "--keys",
            "keys",
            "--media",
            "other",
        ],
    );
    r.refused("stranger.crt", "no record");
    assert_eq!(r.code, 3);
    assert!(!d.join("other/SHA256SUMS").exists());
}

/// Media on the way back: someone who can edit it (no station key, no key directory) puts a
/// self-made certificate for alice's recorded key and subject in place of the one the cluster
/// issued, valid for ten years, so that a due renewal would look not due. Renew believes no
/// expiry it cannot trace to the pinned CA: the certificate is reported as not trusted, not
/// passed over as not due, and nothing is written; the genuine one renews.
#[test]
fn renew_believes_no_expiry_of_a_certificate_the_pinned_ca_did_not_issue() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    pin_prod(d);
    ok(d, &request("alice", &["dev"], "media", &[]));
    let csr = request_der(&d.join("media/alice.csr.yaml"));
    std::fs::write(d.join("alice.csr"), csr).unwrap();
    // The genuine certificate: five days left, due within 30 days.
    sh(
        d,
        "openssl x509 -req -in alice.csr -CA client-ca.crt -CAkey client-ca.key -CAcreateserial -days 5 -out genuine.crt 2>/dev/null",
    );
    // The forgery: the same key and subject, ten years, from a CA of the attacker's own,
    // followed by a copy of the pinned CA (public) to look like a chain.
    make_ca(d, "evil");
    sh(
        d,
        "openssl x509 -req -in alice.csr -CA evil.crt -CAkey evil.key -CAcreateserial -days 3650 -out forged.crt 2>/dev/null && cat forged.crt client-ca.crt > media/alice.crt",
    );
    let renew = |from: &str| {
        kcsr(
            d,
            &[
                "renew", from, "--within", "30d", "--keys", "keys", "--media", "next", "--json",
            ],
        )
    };
    let r = renew("media/alice.crt");
    assert_eq!(r.code, 3, "{}", r.stderr);
    let row = &json(&r.stdout)["certificates"][0];
    assert_eq!(row["due"], false, "{row}");
    assert_eq!(row["verified"], false, "{row}");
    assert!(row.get("request").is_none(), "{row}");
    assert!(
        row["error"]
            .as_str()
            .unwrap()
            .contains("does not chain to cluster prod's pinned CA"),
        "{row}"
    );
    assert!(!d.join("next").exists() || !d.join("next/SHA256SUMS").exists());
    // The text says so for the operator, never "not due".
    let r = kcsr(
        d,
        &[
            "renew",
            "media/alice.crt",
            "--within",
            "30d",
            "--keys",
            "keys",
            "--media",
            "next",
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    r.stderr_has("NOT TRUSTED, not renewed");
    assert!(!r.stderr.contains("not due"), "{}", r.stderr);

    // The genuine certificate is due and renews.
    let r = renew("genuine.crt");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let row = &json(&r.stdout)["certificates"][0];
    assert_eq!(row["verified"], true, "{row}");
    assert_eq!(row["due"], true, "{row}");
    assert!(
        row["request"]["stem"]
            .as_str()
            .unwrap()
            .starts_with("alice-renew-"),
        "{row}"
    );
}

#[test]
fn renew_with_the_same_key_finds_it_by_the_record_even_when_renamed() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    ok(d, &request("dana", &["ops"], "media", &[]));
    let csr = sh(
        d,
        "sed -n 's/^ *request: //p' media/dana.csr.yaml | base64 -d > dana.csr && echo ok",
    );
    assert_eq!(csr.trim(), "ok");
    make_ca(d, "ca");
    sh(
        d,
        "openssl x509 -req -in dana.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 5 -out media/dana.crt 2>/dev/null",
    );
    // The key moved within the key directory: the record's keyFile no longer holds it.
    std::fs::rename(d.join("keys/dana.key.pem"), d.join("keys/dana-old.key.pem")).unwrap();
    // The scan for it reads only regular *.key.pem files at the top: never the station's
    // files, not through a link into it, never blocking on a FIFO.
    std::os::unix::fs::symlink("station/signing-key.pem", d.join("keys/aaa.key.pem")).unwrap();
    sh(d, "mkfifo keys/aab.key.pem");
    ok(
        d,
        &[
            "renew",
            "media/dana.crt",
            "--within",
            "30d",
            "--reuse-key",
            "--keys",
            "keys",
            "--media",
            "next",
        ],
    );
    let a = sh(
        d,
        "sed -n 's/^ *request: //p' next/dana-renew-*-samekey.csr.yaml | base64 -d | openssl req -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum",
    );
    let b = sh(
        d,
        "openssl pkey -in keys/dana-old.key.pem -pubout -outform DER | sha256sum",
    );
    assert_eq!(a, b);
}

#[test]
fn control_files_on_the_media_are_neither_requests_nor_listed() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::create_dir(d.join("media")).unwrap();
    // What the connected side adds, and a sums file that (wrongly) lists control files.
    std::fs::write(
        d.join("media/SHA256SUMS.sig"),
        "-----BEGIN SSH SIGNATURE-----\n",
    )
    .unwrap();
    std::fs::write(d.join("media/RETURNED.SHA256SUMS"), "").unwrap();
    let mut sums = kcsr_core::sums::Sums::default();
    sums.insert("SHA256SUMS.sig", b"x");
    sums.insert("RETURNED.SHA256SUMS", b"");
    std::fs::write(d.join("media/SHA256SUMS"), sums.render()).unwrap();
    ok(d, &request("erin", &[], "media", &[]));
    let listed = std::fs::read_to_string(d.join("media/SHA256SUMS")).unwrap();
    assert!(listed.contains("erin.csr.yaml"), "{listed}");
    assert!(
        !listed.contains("SHA256SUMS.sig") && !listed.contains("RETURNED"),
        "{listed}"
    );
}

/// Issue 12 review, finding M3: the same user asked of two pinned clusters (the key reused, as
/// the key directory holds one per stem) makes two requests with two names and two records;
/// the second never overwrites the first, so the first cluster's return still assembles.
#[test]
fn the_same_user_for_two_clusters_is_two_requests_and_two_records() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    pin_prod(d);
    ok(d, &cluster_add("staging", "https://staging.example", &[]));
    for (cluster, media) in [("prod", "media-prod"), ("staging", "media-staging")] {
        ok(d, &request("alice", &[], media, &["--cluster", cluster]));
    }
    let prod = object_name(&d.join("media-prod/alice.csr.yaml"));
    let staging = object_name(&d.join("media-staging/alice.csr.yaml"));
    assert_ne!(prod, staging, "one name for two clusters");
    assert_eq!(record(d, &prod)["cluster"], "prod");
    assert_eq!(record(d, &staging)["cluster"], "staging");
}

#[test]
fn cluster_names_up_to_253_characters_are_pinned_found_and_removed_exactly() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    make_ca(d, "ca");
    // Two names of 253 characters that share their first 250, and one of 250 whose file is
    // still `<NAME>.json` (255 bytes).
    let label = |c: char| std::iter::repeat_n(c, 62).collect::<String>();
    let stem = format!(
        "{}.{}.{}.{}",
        label('a'),
        label('b'),
        label('c'),
        label('d')
    ); // 251
    let (one, two, short) = (
        format!("{stem}.x"),
        format!("{stem}.y"),
        stem[..250].to_owned(),
    );
    let short = short.trim_end_matches('.').to_owned();
    assert_eq!((one.len(), two.len()), (253, 253));
    for name in [&one, &two, &short] {
        ok(
            d,
            &[
                "cluster",
                "add",
                name,
                "--keys",
                "keys",
                "--server",
                "https://prod.example:6443",
                "--ca",
                "ca.crt",
            ],
        );
    }
    let files: Vec<String> = std::fs::read_dir(d.join("keys/station/clusters"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files.iter().all(|f| f.len() <= 255), "{files:?}");
    assert!(files.contains(&format!("{short}.json")), "{files:?}");
    let listed = |d: &Path| -> Vec<String> {
        json(&ok(d, &["cluster", "list", "--keys", "keys", "--json"]).stdout)["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut all = vec![one.clone(), two.clone(), short.clone()];
    all.sort();
    assert_eq!(listed(d), all);
    // Found by its exact name: the request is stamped with it.
    ok(d, &request("alice", &[], "media", &["--cluster", &two]));
    assert_eq!(
        annotations(&d.join("media/alice.csr.yaml"))["kcsr.dev/cluster"],
        two.as_str()
    );
    // A name sharing the first 200 characters that is not pinned is not found.
    let three = format!("{stem}.z");
    kcsr(d, &request("bob", &[], "media", &["--cluster", &three]))
        .refused(&three, "no cluster named");
    ok(d, &["cluster", "remove", &one, "--keys", "keys"]);
    all.retain(|n| *n != one);
    assert_eq!(listed(d), all);
}

//! Behaviour of the `kcsr` binary: files written, modes, checks, refusals, resumption,
//! and independent checks of what it writes with OpenSSL and `sha256sum -c`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test helpers may panic and write fixtures

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use kcsr_testkit::Refusal;
use kcsr_testkit::args::request;
use support::{KCSR, assemble_args, batch_args, kcsr, mode};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `request --user alice --group dev --keys keys --media media`
fn alice_dev() -> Vec<&'static str> {
    request("alice", &["dev"], "media", &[])
}

/// `sh -c CMD` in `dir`: whether it succeeded, and its stdout and stderr.
fn sh(dir: &Path, cmd: &str) -> (bool, String) {
    let r = kcsr_testkit::sh(dir, cmd);
    (r.code == 0, r.stdout + &r.stderr)
}

/// The CSR PEM inside a manifest, decoded from spec.request.
fn request_pem(manifest: &Path) -> String {
    let text = std::fs::read_to_string(manifest).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("request:"))
        .unwrap();
    let b64 = line.trim_start().trim_start_matches("request:").trim();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

fn media_files(media: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(media)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn assert_no_key_material(media: &Path) {
    for name in media_files(media) {
        let data = std::fs::read(media.join(&name)).unwrap();
        assert!(
            !String::from_utf8_lossy(&data).contains("PRIVATE KEY"),
            "{name} holds key material"
        );
    }
}

#[test]
fn request_writes_key_manifest_and_checksums_that_standard_tools_accept() {
    let t = tempfile::tempdir().unwrap();
    let r = kcsr(t.path(), &alice_dev());
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stderr_has("kcsr-submit apply");
    let key = t.path().join("keys/alice.key.pem");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&t.path().join("keys")), 0o700);
    let manifest = t.path().join("media/alice.csr.yaml");
    assert_eq!(mode(&manifest), 0o644);
    assert_eq!(
        media_files(&t.path().join("media")),
        vec!["SHA256SUMS", "SHA256SUMS.sig", "alice.csr.yaml"]
    );
    let (ok, out) = sh(&t.path().join("media"), "sha256sum -c SHA256SUMS");
    assert!(ok, "{out}");
    let pem = request_pem(&manifest);
    std::fs::write(t.path().join("req.pem"), &pem).unwrap();
    let (ok, out) = sh(t.path(), "openssl req -in req.pem -verify -noout -subject");
    assert!(ok && out.contains("CN = alice, O = dev"), "{out}");
    // The CSR's key is the key in the key directory.
    let (ok, out) = sh(
        t.path(),
        "test \"$(openssl req -in req.pem -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum)\" = \"$(openssl pkey -in keys/alice.key.pem -pubout -outform DER | sha256sum)\"",
    );
    assert!(ok, "{out}");
    let yaml = std::fs::read_to_string(&manifest).unwrap();
    for must in [
        "apiVersion: certificates.k8s.io/v1",
        "kind: CertificateSigningRequest",
        "signerName: kubernetes.io/kube-apiserver-client",
        "expirationSeconds: 2592000",
        "- digital signature",
        "- client auth",
    ] {
        assert!(yaml.contains(must), "{must}: {yaml}");
    }
    for never in ["username", "groups:", "uid:"] {
        assert!(!yaml.contains(never), "{never}: {yaml}");
    }
    assert_no_key_material(&t.path().join("media"));
}

#[test]
fn every_key_type_and_signer_produces_a_csr_openssl_verifies() {
    let t = tempfile::tempdir().unwrap();
    let signers: &[(&str, &[&str])] = &[
        ("client", &["--user", "u", "--group", "g"]),
        (
            "kubelet-client",
            &["--user", "system:node:n1", "--group", "system:nodes"],
        ),
        (
            "kubelet-serving",
            &[
                "--user",
                "system:node:n1",
                "--group",
                "system:nodes",
                "--dns",
                "n1.example",
                "--ip",
                "10.1.2.3",
            ],
        ),
    ];
    for kt in ["p256", "p384", "ed25519", "rsa2048", "rsa3072"] {
        for (signer, who) in signers {
            let name = format!("{kt}-{signer}");
            let mut args = vec![
                "request",
                "--keys",
                "keys",
                "--media",
                "media",
                "--key-type",
                kt,
                "--signer",
                signer,
                "--name",
                &name,
            ];
            args.extend_from_slice(who);
            let r = kcsr(t.path(), &args);
            assert_eq!(r.code, 0, "{kt} {signer}: {}", r.stderr);
            let pem = request_pem(&t.path().join(format!("media/{name}.csr.yaml")));
            std::fs::write(t.path().join("r.pem"), &pem).unwrap();
            let (ok, out) = sh(t.path(), "openssl req -in r.pem -verify -noout -text");
            assert!(ok, "{kt} {signer}: {out}");
            let (ok, out) = sh(
                t.path(),
                &format!("openssl pkey -in keys/{name}.key.pem -noout"),
            );
            assert!(ok, "{kt} {signer}: {out}");
            if *signer == "kubelet-serving" {
                assert!(out.is_empty());
                let (_, text) = sh(t.path(), "openssl req -in r.pem -noout -text");
                assert!(
                    text.contains("DNS:n1.example, IP Address:10.1.2.3"),
                    "{text}"
                );
                let yaml = std::fs::read_to_string(t.path().join(format!("media/{name}.csr.yaml")))
                    .unwrap();
                assert!(yaml.contains("- server auth"), "{yaml}");
            }
            if kt.starts_with("rsa") {
                let yaml = std::fs::read_to_string(t.path().join(format!("media/{name}.csr.yaml")))
                    .unwrap();
                assert!(yaml.contains("- key encipherment"), "{yaml}");
            }
        }
    }
    let (ok, out) = sh(&t.path().join("media"), "sha256sum -c --quiet SHA256SUMS");
    assert!(ok, "{out}");
    assert_no_key_material(&t.path().join("media"));
}

#[test]
fn ed25519_warns() {
    let t = tempfile::tempdir().unwrap();
    let r = kcsr(
        t.path(),
        &[
            "request",
            "--user",
            "a",
            "--key-type",
            "ed25519",
            "--keys",
            "k",
            "--media",
            "m",
        ],
    );
    assert_eq!(r.code, 0);
    r.stderr_has("warning [key-ed25519]");
}

#[test]
fn rerun_is_idempotent_and_resumes_after_an_interruption() {
    let t = tempfile::tempdir().unwrap();
    let args = [
        "request", "--user", "alice", "--keys", "keys", "--media", "media",
    ];
    assert_eq!(kcsr(t.path(), &args).code, 0);
    let first = std::fs::read(t.path().join("media/alice.csr.yaml")).unwrap();
    let key = std::fs::read(t.path().join("keys/alice.key.pem")).unwrap();
    let r = kcsr(t.path(), &args);
    assert_eq!(r.code, 0);
    r.stderr_has("already on the media");
    assert_eq!(
        std::fs::read(t.path().join("media/alice.csr.yaml")).unwrap(),
        first
    );

    // Interrupted after the key was written: the media files are missing.
    std::fs::remove_dir_all(t.path().join("media")).unwrap();
    let r = kcsr(t.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stderr_has("reused");
    assert_eq!(
        std::fs::read(t.path().join("keys/alice.key.pem")).unwrap(),
        key
    );
    let again = std::fs::read_to_string(t.path().join("media/alice.csr.yaml")).unwrap();
    let name = |y: &str| y.lines().find(|l| l.contains("name:")).unwrap().to_owned();
    assert_eq!(
        name(&again),
        name(&String::from_utf8(first).unwrap()),
        "same object name, no duplicate"
    );

    // Interrupted after the manifest but before SHA256SUMS: the re-run lists it, no new object.
    std::fs::write(t.path().join("media/SHA256SUMS"), "").unwrap();
    let r = kcsr(t.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (ok, out) = sh(&t.path().join("media"), "sha256sum -c SHA256SUMS");
    assert!(ok && out.contains("alice.csr.yaml: OK"), "{out}");
    assert_eq!(
        std::fs::read_to_string(t.path().join("media/alice.csr.yaml")).unwrap(),
        again
    );

    // A different request for the same user needs --force; --force makes a new key.
    let r = kcsr(t.path(), &request("alice", &["x"], "media", &[]));
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("different request") && r.stderr.contains("hint: pass --force"),
        "{}",
        r.stderr
    );
    let r = kcsr(t.path(), &request("alice", &["x"], "media", &["--force"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_ne!(
        std::fs::read(t.path().join("keys/alice.key.pem")).unwrap(),
        key
    );
    let (ok, out) = sh(&t.path().join("media"), "sha256sum -c SHA256SUMS");
    assert!(ok, "{out}");
}

/// `kcsr request --keys keys --media media ARGV…` refused: the exit code and what stderr
/// says. 3: the cluster would refuse the request; 2: clap refuses a value; 1: a usage error.
const REQUEST_REFUSALS: &[Refusal<'_>] = &[
    Refusal {
        argv: &["--user", "root", "--group", "system:masters"],
        code: 3,
        stderr: &["admission-system-masters"],
    },
    Refusal {
        argv: &["--user", "a", "--expiration", "5m"],
        code: 3,
        stderr: &["may not specify a duration less than 600 seconds"],
    },
    Refusal {
        argv: &["--user", "a", "--signer", "legacy-unknown"],
        code: 3,
        stderr: &["legacy signerName is not allowed"],
    },
    Refusal {
        argv: &["--user", "a", "--signer", "kubernetes.io/nope"],
        code: 3,
        stderr: &["no Kubernetes component signs"],
    },
    Refusal {
        argv: &["--user", "a", "--usage", "server auth"],
        code: 3,
        stderr: &["invalid usage for client certificate: server auth"],
    },
    Refusal {
        argv: &["--user", "a", "--no-signer"],
        code: 1,
        stderr: &["--no-signer needs --api-version v1beta1"],
    },
    Refusal {
        argv: &["--user", "a", "--signer", "kubelet-client"],
        code: 3,
        stderr: &["subject organization is not system:nodes"],
    },
    Refusal {
        argv: &[
            "--user",
            "a",
            "--signer",
            "kubelet-serving",
            "--group",
            "system:nodes",
        ],
        code: 3,
        stderr: &["DNS or IP subjectAltName is required"],
    },
    Refusal {
        argv: &["--user", " a"],
        code: 2,
        stderr: &["starts or ends with white space"],
    },
    Refusal {
        argv: &["--user", "a", "--usage", "Client Auth"],
        code: 2,
        stderr: &["supported values"],
    },
    Refusal {
        argv: &["--user", "a", "--signer", "example.com"],
        code: 2,
        stderr: &["example.com/signer-name"],
    },
    Refusal {
        argv: &["--user", "a", "--expiration", "10x"],
        code: 2,
        stderr: &["duration \"10x\""],
    },
    Refusal {
        argv: &["--user", "a", "--namespace", "ns"],
        code: 1,
        stderr: &["--namespace needs --role or --clusterrole"],
    },
];

#[test]
fn refusals_write_nothing() {
    let t = tempfile::tempdir().unwrap();
    for case in REQUEST_REFUSALS {
        case.check(|extra| {
            let base = ["request", "--keys", "keys", "--media", "media"];
            kcsr(t.path(), &[&base[..], extra].concat())
        });
        assert!(
            !t.path().join("keys").exists() && !t.path().join("media").exists(),
            "{:?} wrote files",
            case.argv
        );
    }
}

#[test]
fn key_directory_inside_media_is_refused() {
    let t = tempfile::tempdir().unwrap();
    for keys in ["media", "media/keys", "./media/../media/k"] {
        let r = kcsr(
            t.path(),
            &["request", "--user", "a", "--keys", keys, "--media", "media"],
        );
        assert_eq!(r.code, 1, "{keys}");
        r.stderr_has("private keys must never reach the media");
    }
    assert!(!t.path().join("media").exists());
}

#[test]
fn v1beta1_classic_walkthrough_is_allowed_with_a_loud_warning() {
    let t = tempfile::tempdir().unwrap();
    let r = kcsr(
        t.path(),
        &[
            "request",
            "--user",
            "admin",
            "--group",
            "system:masters",
            "--api-version",
            "v1beta1",
            "--no-signer",
            "--keys",
            "k",
            "--media",
            "m",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("WARNING: group system:masters bypasses all authorization"),
        "{}",
        r.stderr
    );
    let yaml = std::fs::read_to_string(t.path().join("m/admin.csr.yaml")).unwrap();
    assert!(
        yaml.contains("apiVersion: certificates.k8s.io/v1beta1"),
        "{yaml}"
    );
    assert!(
        !yaml.contains("signerName") && !yaml.contains("expirationSeconds"),
        "{yaml}"
    );
}

#[test]
fn existing_keys_from_openssl_are_used_in_place() {
    let t = tempfile::tempdir().unwrap();
    let key = fixture("rsa2048-pkcs1.key");
    let r = kcsr(
        t.path(),
        &request("bob", &[], "media", &["--key", key.to_str().unwrap()]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stderr_has("given with --key, not copied");
    assert_eq!(
        media_files(&t.path().join("media")),
        vec!["SHA256SUMS", "SHA256SUMS.sig", "bob.csr.yaml"]
    );
    let pem = request_pem(&t.path().join("media/bob.csr.yaml"));
    std::fs::write(t.path().join("r.pem"), pem).unwrap();
    let (ok, out) = sh(
        t.path(),
        &format!(
            "test \"$(openssl req -in r.pem -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum)\" = \"$(openssl pkey -in {} -pubout -outform DER | sha256sum)\"",
            key.display()
        ),
    );
    assert!(ok, "{out}");
    let small = fixture("rsa1024-pkcs1.key");
    let r = kcsr(
        t.path(),
        &request("old", &[], "media2", &["--key", small.to_str().unwrap()]),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    r.stderr_has("RSA keys below 2048 bits are refused");
    assert!(!t.path().join("media2").exists());
    // A key on the media is refused.
    std::fs::copy(&key, t.path().join("media/k.pem")).unwrap();
    let r = kcsr(
        t.path(),
        &request("c", &[], "media", &["--key", "media/k.pem"]),
    );
    assert_eq!(r.code, 1);
    r.stderr_has("private keys must never travel");
}

#[test]
fn encrypted_keys_are_readable_by_openssl_and_need_a_passphrase() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("pass"), "a long passphrase\n").unwrap();
    let r = kcsr(
        t.path(),
        &request(
            "enc",
            &[],
            "media",
            &["--encrypt-key", "--passphrase-file", "pass"],
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let key = std::fs::read_to_string(t.path().join("keys/enc.key.pem")).unwrap();
    assert!(key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let (ok, out) = sh(
        t.path(),
        "openssl pkey -in keys/enc.key.pem -passin file:pass -noout",
    );
    assert!(ok, "{out}");
    // Re-running needs the passphrase to read the key back.
    let r = kcsr(t.path(), &request("enc", &[], "media", &[]));
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("standard input is not a terminal")
            && r.stderr.contains("--passphrase-file"),
        "{}",
        r.stderr
    );
    let r = kcsr(
        t.path(),
        &request("enc", &[], "media", &["--passphrase-file", "pass"]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stderr_has("already on the media");
    // Without a passphrase source, a new encrypted key cannot be made.
    let r = kcsr(t.path(), &request("e2", &[], "media", &["--encrypt-key"]));
    assert_eq!(r.code, 1);
    assert!(!t.path().join("keys/e2.key.pem").exists());
    // Short passphrases are refused for new keys.
    std::fs::write(t.path().join("short"), "abc\n").unwrap();
    let r = kcsr(
        t.path(),
        &request(
            "e3",
            &[],
            "media",
            &["--encrypt-key", "--passphrase-file", "short"],
        ),
    );
    assert_eq!(r.code, 1);
    r.stderr_has("shorter than 8");
}

#[test]
fn dry_run_prints_and_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let r = kcsr(
        t.path(),
        &request("d", &[], "media", &["--clusterrole", "view", "--dry-run"]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("kind: CertificateSigningRequest")
            && r.stdout.contains("kind: ClusterRoleBinding"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("PRIVATE KEY"));
    assert!(!t.path().join("keys").exists() && !t.path().join("media").exists());
}

#[test]
fn json_output_is_machine_readable_and_holds_no_key() {
    let t = tempfile::tempdir().unwrap();
    let r = kcsr(t.path(), &request("j", &["g"], "media", &["--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["status"], "written");
    assert_eq!(v["user"], "j");
    assert_eq!(v["groups"][0], "g");
    assert_eq!(v["signerName"], "kubernetes.io/kube-apiserver-client");
    assert_eq!(v["key"]["source"], "new");
    assert!(v["name"].as_str().unwrap().starts_with("j-"));
    assert!(!r.stdout.contains("PRIVATE KEY") && !r.stderr.contains("PRIVATE KEY"));
}

#[test]
fn bindings_are_written_next_to_the_request() {
    let t = tempfile::tempdir().unwrap();
    let r = kcsr(
        t.path(),
        &request("ops", &[], "media", &["--clusterrole", "cluster-admin"]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let b = std::fs::read_to_string(t.path().join("media/ops.binding.yaml")).unwrap();
    for must in [
        "kind: ClusterRoleBinding",
        "apiVersion: rbac.authorization.k8s.io/v1",
        "kind: User",
        "name: ops",
        "kind: ClusterRole",
        "name: cluster-admin",
    ] {
        assert!(b.contains(must), "{must}: {b}");
    }
    let r = kcsr(
        t.path(),
        &request(
            "dev",
            &[],
            "media",
            &["--role", "edit", "--namespace", "team"],
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let b = std::fs::read_to_string(t.path().join("media/dev.binding.yaml")).unwrap();
    assert!(
        b.contains("kind: RoleBinding")
            && b.contains("namespace: team")
            && b.contains("kind: Role\n"),
        "{b}"
    );
    let (ok, out) = sh(&t.path().join("media"), "sha256sum -c SHA256SUMS");
    assert!(ok, "{out}");
}

#[test]
fn golden_manifest_for_a_fixed_ed25519_key() {
    let t = tempfile::tempdir().unwrap();
    let key = fixture("ed25519.key.pem");
    let r = kcsr(
        t.path(),
        &request(
            "alice",
            &["dev", "ops"],
            "media",
            &[
                "--key",
                key.to_str().unwrap(),
                "--name",
                "alice-golden",
                "--operator",
                "golden-operator",
            ],
        ),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Everything but the two times the station stamps is byte-exact.
    let got = std::fs::read_to_string(t.path().join("media/alice-golden.csr.yaml"))
        .unwrap()
        .lines()
        .map(|l| match l.split_once(": ") {
            Some((k, _))
                if k.ends_with("kcsr.dev/created") || k.ends_with("kcsr.dev/not-after") =>
            {
                format!("{k}: <TIME>")
            }
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let golden = fixture("golden/alice.csr.yaml");
    if std::env::var_os("KCSR_BLESS").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &got).unwrap();
    }
    let want = std::fs::read_to_string(&golden).expect("golden file (bless with KCSR_BLESS=1)");
    assert_eq!(got, want);
}

#[test]
fn inspect_reads_what_openssl_makes_and_never_prints_keys() {
    let t = tempfile::tempdir().unwrap();
    let (ok, _) = sh(
        t.path(),
        "openssl req -new -newkey rsa:2048 -nodes -keyout k.pem -subj '/CN=carol/O=a/O=b' -out c.csr 2>/dev/null && sed 's/CERTIFICATE REQUEST/NEW CERTIFICATE REQUEST/' c.csr > legacy.csr && openssl req -in c.csr -outform DER -out c.der",
    );
    assert!(ok);
    let r = kcsr(t.path(), &["inspect", "c.csr", "c.der", "k.pem"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("user          carol") && r.stdout.contains("groups        a, b"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("RSA 2048") && r.stdout.contains("verifies"),
        "{}",
        r.stdout
    );
    r.stdout_has("private key (not shown)");
    let key_text = std::fs::read_to_string(t.path().join("k.pem")).unwrap();
    let body_line = key_text.lines().nth(1).unwrap();
    assert!(!r.stdout.contains(body_line) && !r.stderr.contains(body_line));

    let r = kcsr(t.path(), &["inspect", "legacy.csr"]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    r.stdout_has("pem-label");

    std::fs::write(t.path().join("junk"), "not anything").unwrap();
    let r = kcsr(t.path(), &["inspect", "junk", "missing"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("error:"), "{}", r.stderr);

    let r = kcsr(t.path(), &["inspect", "--json", "c.csr"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v[0]["content"]["csr"]["subject"]["common_names"][0],
        "carol"
    );
    std::fs::set_permissions(
        t.path().join("k.pem"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let r = kcsr(t.path(), &["inspect", "k.pem"]);
    r.stdout_has("others can read it");
}

#[test]
fn inspect_flags_a_tampered_manifest() {
    let t = tempfile::tempdir().unwrap();
    assert_eq!(kcsr(t.path(), &request("alice", &[], "media", &[])).code, 0);
    let r = kcsr(t.path(), &["inspect", "media/alice.csr.yaml"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    // Swap the request for another user's CSR: the fingerprint annotation no longer matches.
    assert_eq!(kcsr(t.path(), &request("mallory", &[], "m2", &[])).code, 0);
    let a = std::fs::read_to_string(t.path().join("media/alice.csr.yaml")).unwrap();
    let m = std::fs::read_to_string(t.path().join("m2/mallory.csr.yaml")).unwrap();
    let req = |y: &str| {
        y.lines()
            .find(|l| l.contains("request:"))
            .unwrap()
            .to_owned()
    };
    std::fs::write(
        t.path().join("media/alice.csr.yaml"),
        a.replace(&req(&a), &req(&m)),
    )
    .unwrap();
    let r = kcsr(t.path(), &["inspect", "media/alice.csr.yaml"]);
    assert_eq!(r.code, 3, "{}", r.stdout);
    r.stdout_has("fingerprint-annotation");
}

/// Signs the CSR in `manifest` with a throwaway CA as a signer would, using OpenSSL.
/// `kcsr verify --cert issued.crt --key KEY MORE...` in `dir`.
fn verify(dir: &Path, key: &str, more: &[&str]) -> support::Run {
    kcsr(
        dir,
        &[&["verify", "--cert", "issued.crt", "--key", key][..], more].concat(),
    )
}

fn issue_with_openssl(dir: &Path, manifest: &str, days: u32) {
    let pem = request_pem(&dir.join(manifest));
    std::fs::write(dir.join("issue.csr"), pem).unwrap();
    std::fs::write(dir.join("ext.cnf"), "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n").unwrap();
    let (ok, out) = sh(
        dir,
        &format!(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -subj /CN=test-client-ca -days 30 2>&1 && openssl x509 -req -in issue.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days {days} -extfile ext.cnf -out issued.crt 2>&1"
        ),
    );
    assert!(ok, "{out}");
}

#[test]
fn verify_checks_key_subject_usages_validity_and_chain() {
    let t = tempfile::tempdir().unwrap();
    assert_eq!(kcsr(t.path(), &alice_dev()).code, 0);
    issue_with_openssl(t.path(), "media/alice.csr.yaml", 10);
    let r = verify(t.path(), "keys/alice.key.pem", &["--ca", "ca.crt"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("ok    public key") && r.stdout.contains("ok    chain"),
        "{}",
        r.stdout
    );
    let r = kcsr(
        t.path(),
        &[
            "verify",
            "--cert",
            "issued.crt",
            "--manifest",
            "media/alice.csr.yaml",
            "--ca",
            "ca.crt",
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check"] == "groups" && c["ok"] == true)
    );

    // Wrong key, wrong user, expired, other CA: each fails with exit 3 and says which.
    assert_eq!(kcsr(t.path(), &request("bob", &[], "media", &[])).code, 0);
    let r = verify(t.path(), "keys/bob.key.pem", &[]);
    assert_eq!(r.code, 3);
    r.stdout_has("FAIL  public key");
    let r = verify(t.path(), "keys/alice.key.pem", &["--user", "carol"]);
    assert_eq!(r.code, 3);
    r.stdout_has("FAIL  user");
    let r = verify(
        t.path(),
        "keys/alice.key.pem",
        &["--at", "2099-01-01T00:00:00Z"],
    );
    assert_eq!(r.code, 3);
    r.stdout_has("expired");
    let (ok, _) = sh(
        t.path(),
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout o.key -out other.crt -subj /CN=other -days 3 2>/dev/null",
    );
    assert!(ok);
    let r = verify(t.path(), "keys/alice.key.pem", &["--ca", "other.crt"]);
    assert_eq!(r.code, 3);
    r.stdout_has("FAIL  chain");
    assert!(
        r.stderr.starts_with("error: verification failed"),
        "{}",
        r.stderr
    );
}

/// Puts an openssl-issued certificate for `stem` onto the media as kcsr-submit would:
/// `<stem>.crt`, `<stem>.bundle.yaml`, both listed in RETURNED.SHA256SUMS. The station has the
/// pin `test` (the test CA as server and client CA) and the record of the request.
fn bring_back(dir: &Path, stem: &str, user: &str, groups: &[&str]) {
    let media = dir.join("media");
    let cert = std::fs::read_to_string(dir.join("issued.crt")).unwrap();
    let ca = std::fs::read_to_string(dir.join("ca.crt")).unwrap();
    support::station::pin(
        &dir.join("keys"),
        "test",
        "https://127.0.0.1:6443",
        &ca,
        &ca,
    );
    let record = support::station::record(dir, stem, Some("test"));
    let bundle = support::bundle(
        &record.name,
        user,
        groups,
        support::bundle_cluster("test", "https://127.0.0.1:6443", Some(&ca)),
        &cert,
        Some(&ca),
        "2026-11-28T00:00:00Z",
    );
    let yaml = bundle.to_yaml().unwrap();
    std::fs::write(media.join(format!("{stem}.bundle.yaml")), &yaml).unwrap();
    std::fs::write(media.join(format!("{stem}.crt")), &cert).unwrap();
    support::list_returned(
        &media,
        &[
            (format!("{stem}.bundle.yaml"), yaml.as_str()),
            (format!("{stem}.crt"), cert.as_str()),
        ],
    );
}

fn kubeconfig_value(path: &Path) -> serde_json::Value {
    kcsr_core::yaml::parse_one(
        &std::fs::read(path).unwrap(),
        kcsr_core::yaml::Snippets::Show,
    )
    .unwrap()
}

#[test]
fn assemble_verifies_and_writes_a_kubeconfig_with_the_key_that_never_left() {
    let t = tempfile::tempdir().unwrap();
    assert_eq!(kcsr(t.path(), &alice_dev()).code, 0);
    issue_with_openssl(t.path(), "media/alice.csr.yaml", 10);
    bring_back(t.path(), "alice", "alice", &["dev"]);
    let r = kcsr(
        t.path(),
        &assemble_args("--out", "out/alice.kubeconfig", &[]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stderr_has("try: kubectl --kubeconfig out/alice.kubeconfig --context alice@test auth whoami");
    let kc = t.path().join("out/alice.kubeconfig");
    assert_eq!(mode(&kc), 0o600);
    let v = kubeconfig_value(&kc);
    assert_eq!(v["current-context"], "alice@test");
    assert_eq!(
        v["clusters"][0]["cluster"]["server"],
        "https://127.0.0.1:6443"
    );
    let b64 = |s: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(s.as_str().unwrap())
            .unwrap()
    };
    assert_eq!(
        b64(&v["users"][0]["user"]["client-certificate-data"]),
        std::fs::read(t.path().join("issued.crt")).unwrap()
    );
    let key = b64(&v["users"][0]["user"]["client-key-data"]);
    assert_eq!(
        key,
        std::fs::read(t.path().join("keys/alice.key.pem")).unwrap()
    );
    assert_no_key_material(&t.path().join("media"));
    // A second run refuses to overwrite without --force.
    let r = kcsr(
        t.path(),
        &assemble_args("--out", "out/alice.kubeconfig", &[]),
    );
    assert_eq!(r.code, 1);
    r.stderr_has("--force");
    // The kubeconfig never goes onto the media.
    let r = kcsr(t.path(), &assemble_args("--out", "media/k", &[]));
    assert_eq!(r.code, 1);
    r.stderr_has("must never travel");
}

#[test]
fn assemble_refuses_tampered_media_and_foreign_keys_and_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    assert_eq!(kcsr(t.path(), &request("alice", &[], "media", &[])).code, 0);
    issue_with_openssl(t.path(), "media/alice.csr.yaml", 10);
    bring_back(t.path(), "alice", "alice", &[]);

    // A changed byte in the bundle.
    let bundle = t.path().join("media/alice.bundle.yaml");
    let original = std::fs::read(&bundle).unwrap();
    let mut changed = original.clone();
    let last = changed.len() - 2;
    changed[last] ^= 1;
    std::fs::write(&bundle, &changed).unwrap();
    let r = kcsr(t.path(), &assemble_args("--out", "k1", &[]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("alice.bundle.yaml: content changed (RETURNED.SHA256SUMS says"),
        "{}",
        r.stderr
    );
    std::fs::write(&bundle, &original).unwrap();

    // An extra file and a key on the media.
    std::fs::write(t.path().join("media/extra.txt"), "x").unwrap();
    std::fs::write(
        t.path().join("media/stolen.pem"),
        "-----BEGIN PRIVATE KEY-----\n",
    )
    .unwrap();
    let r = kcsr(t.path(), &assemble_args("--out", "k1", &[]));
    assert_eq!(r.code, 3);
    r.stderr_has("extra.txt: present but listed in neither SHA256SUMS nor RETURNED.SHA256SUMS");
    assert!(
        r.stderr
            .contains("stolen.pem: contains private key material"),
        "{}",
        r.stderr
    );
    std::fs::remove_file(t.path().join("media/extra.txt")).unwrap();
    std::fs::remove_file(t.path().join("media/stolen.pem")).unwrap();

    // Another key in the key directory.
    std::fs::rename(
        t.path().join("keys/alice.key.pem"),
        t.path().join("alice.key.orig"),
    )
    .unwrap();
    assert_eq!(kcsr(t.path(), &request("alice", &[], "other", &[])).code, 0);
    let r = kcsr(t.path(), &assemble_args("--out", "k1", &[]));
    assert_eq!(r.code, 3);
    assert!(
        r.stderr
            .contains("alice.bundle.yaml: key: keys/alice.key.pem holds the key sha256")
            && r.stderr.contains("not the key"),
        "{}",
        r.stderr
    );
    assert!(!t.path().join("k1").exists());
    std::fs::rename(
        t.path().join("alice.key.orig"),
        t.path().join("keys/alice.key.pem"),
    )
    .unwrap();

    // The certificate names other groups than requested.
    std::fs::write(t.path().join("media/alice.bundle.yaml"), &original).unwrap();
    let r = kcsr(t.path(), &assemble_args("--out", "k1", &[]));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn assemble_merges_into_an_existing_kubeconfig_keeping_everything_else() {
    let t = tempfile::tempdir().unwrap();
    assert_eq!(kcsr(t.path(), &alice_dev()).code, 0);
    issue_with_openssl(t.path(), "media/alice.csr.yaml", 10);
    bring_back(t.path(), "alice", "alice", &["dev"]);
    let existing = "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://prod.example:6443\n    x-unknown-field: keep-me\nusers:\n- name: admin\n  user:\n    token: abc\ncontexts:\n- name: prod\n  context:\n    cluster: prod\n    user: admin\ncurrent-context: prod\npreferences: {}\nextensions: []\n";
    std::fs::write(t.path().join("config"), existing).unwrap();
    let r = kcsr(t.path(), &assemble_args("--merge-into", "config", &[]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = kubeconfig_value(&t.path().join("config"));
    assert_eq!(
        v["current-context"], "prod",
        "left alone without --set-current"
    );
    assert_eq!(v["clusters"][0]["cluster"]["x-unknown-field"], "keep-me");
    assert_eq!(v["users"][0]["user"]["token"], "abc");
    assert_eq!(v["clusters"].as_array().unwrap().len(), 2);
    assert_eq!(v["contexts"][1]["name"], "alice@test");
    assert_eq!(mode(&t.path().join("config")), 0o600);
    // Again with --set-current: entries are replaced, not duplicated.
    let r = kcsr(
        t.path(),
        &assemble_args("--merge-into", "config", &["--set-current"]),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = kubeconfig_value(&t.path().join("config"));
    assert_eq!(v["current-context"], "alice@test");
    assert_eq!(v["users"].as_array().unwrap().len(), 2);
    // kubectl reads the result.
    let (ok, out) = sh(
        t.path(),
        "kubectl --kubeconfig config config get-contexts -o name",
    );
    assert!(
        ok && out.contains("alice@test") && out.contains("prod"),
        "{out}"
    );
}

#[test]
fn batch_writes_every_user_of_a_csv_or_yaml_roster_and_resumes() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("team.csv"),
        "user,groups,key_type,signer,expiration,clusterrole\nalice,dev;ops,p256,client,30d,\nbob,dev,rsa2048,,90d,view\n\"carol, the admin\",ops,ed25519,,,\n",
    )
    .unwrap();
    let r = kcsr(
        t.path(),
        &[
            "batch", "--roster", "team.csv", "--keys", "keys", "--media", "media", "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (v["written"].as_u64(), v["failed"].as_u64()),
        (Some(3), Some(0))
    );
    let media = t.path().join("media");
    let files = media_files(&media);
    assert!(
        files.contains(&"bob.binding.yaml".to_owned())
            && files.iter().any(|f| f.starts_with("carol-the-admin-")),
        "{files:?}"
    );
    let (ok, out) = sh(&media, "sha256sum -c SHA256SUMS");
    assert!(ok, "{out}");
    for k in std::fs::read_dir(t.path().join("keys")).unwrap() {
        let k = k.unwrap().path();
        // Keys 0600; the station's directory (pins, records) 0700.
        let want = if k.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&k), want, "{}", k.display());
    }
    let bob = std::fs::read_to_string(media.join("bob.csr.yaml")).unwrap();
    assert!(
        bob.contains("expirationSeconds: 7776000") && bob.contains("- key encipherment"),
        "{bob}"
    );
    assert_no_key_material(&media);

    // Interrupted: one user's manifest never made it and SHA256SUMS is stale. The re-run
    // finishes that user and skips the others (same object names, same keys).
    let alice = std::fs::read_to_string(media.join("alice.csr.yaml")).unwrap();
    std::fs::remove_file(media.join("bob.csr.yaml")).unwrap();
    std::fs::write(media.join("SHA256SUMS"), "").unwrap();
    let r = kcsr(
        t.path(),
        &[
            "batch", "--roster", "team.csv", "--keys", "keys", "--media", "media", "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (v["written"].as_u64(), v["unchanged"].as_u64()),
        (Some(1), Some(2)),
        "{v}"
    );
    assert_eq!(
        std::fs::read_to_string(media.join("alice.csr.yaml")).unwrap(),
        alice
    );
    let (ok, out) = sh(&media, "sha256sum -c SHA256SUMS");
    assert!(ok && out.lines().count() == 4, "{out}");

    std::fs::write(
        t.path().join("more.yaml"),
        "defaults: {groups: [dev], expiration: 7d}\nusers:\n  - user: dan\n  - {user: erin, key_type: p384, clusterrole: view}\n",
    )
    .unwrap();
    let r = kcsr(t.path(), &batch_args("more.yaml", "media"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stderr_has("2 users: 2 written");
    let dan = std::fs::read_to_string(media.join("dan.csr.yaml")).unwrap();
    assert!(dan.contains("expirationSeconds: 604800"), "{dan}");
    let (ok, out) = sh(&media, "sha256sum -c SHA256SUMS");
    assert!(ok && out.lines().count() == 7, "{out}");
}

#[test]
fn batch_refuses_a_bad_roster_whole_with_line_numbers() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("bad.csv"),
        // "alice-3bc510" is a plain name equal to "Alice"'s hashed stem.
        "user,groups\nok,dev\n,x\nbad\u{1}name,\nok,dup\nAlice,\nalice-3bc510,\n",
    )
    .unwrap();
    let r = kcsr(t.path(), &batch_args("bad.csv", "media"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    for want in [
        "line 3: user name is empty",
        "line 4: user name",
        "control character",
        "line 5: user \"ok\" is already on line 2",
        "line 7: user \"alice-3bc510\" would share the files alice-3bc510.* with user \"Alice\" on line 6",
    ] {
        assert!(r.stderr.contains(want), "{want}: {}", r.stderr);
    }
    std::fs::write(
        t.path().join("refused.yaml"),
        "users:\n  - user: fine\n  - user: root\n    groups: [system:masters]\n",
    )
    .unwrap();
    let r = kcsr(t.path(), &batch_args("refused.yaml", "media"));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("line 3:") && r.stderr.contains("admission-system-masters"),
        "{}",
        r.stderr
    );
    std::fs::write(t.path().join("cols.csv"), "user,colour\nx,blue\n").unwrap();
    let r = kcsr(t.path(), &batch_args("cols.csv", "media"));
    assert_eq!(r.code, 1);
    r.stderr_has("unknown column \"colour\"");
    assert!(!t.path().join("keys").exists() && !t.path().join("media").exists());
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let t = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let r = kcsr(t.path(), &["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        for sub in ["request", "inspect", "verify", "assemble", "batch"] {
            assert!(r.stdout.contains(sub), "{shell} completions lack {sub}");
        }
    }
    let (ok, out) = sh(
        t.path(),
        &format!("{KCSR} completions bash > c.bash && bash -n c.bash"),
    );
    assert!(ok, "{out}");
    let r = kcsr(t.path(), &["man"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.starts_with(".ie")
            && r.stdout.contains(".TH kcsr 1")
            && r.stdout.contains("request"),
        "{}",
        &r.stdout[..200]
    );
    assert_eq!(kcsr(t.path(), &["completions", "tcsh"]).code, 2);
}

#[test]
fn a_temporary_file_left_by_an_interrupted_write_does_not_block_the_media() {
    let t = tempfile::tempdir().unwrap();
    assert_eq!(kcsr(t.path(), &request("alice", &[], "media", &[])).code, 0);
    issue_with_openssl(t.path(), "media/alice.csr.yaml", 10);
    bring_back(t.path(), "alice", "alice", &[]);
    std::fs::write(
        t.path().join("media/.kcsr-Ab12Cd.tmp"),
        "apiVersion: certificates.k8s.io/v1\nkind: Certif",
    )
    .unwrap();
    let r = kcsr(t.path(), &assemble_args("--out", "k", &[]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // ...but one holding a key is refused like any other file.
    std::fs::write(
        t.path().join("media/.kcsr-Zz99Yy.tmp"),
        "-----BEGIN PRIVATE KEY-----\n",
    )
    .unwrap();
    let r = kcsr(t.path(), &assemble_args("--out", "k2", &[]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(".kcsr-Zz99Yy.tmp: contains private key material"),
        "{}",
        r.stderr
    );
}

#[test]
fn renew_requests_what_expires_soon_with_a_new_key_or_the_old_one() {
    let t = tempfile::tempdir().unwrap();
    assert_eq!(kcsr(t.path(), &alice_dev()).code, 0);
    issue_with_openssl(t.path(), "media/alice.csr.yaml", 10);
    bring_back(t.path(), "alice", "alice", &["dev"]);
    let old_key = std::fs::read(t.path().join("keys/alice.key.pem")).unwrap();

    // Ten days left: not due within 5 days.
    let r = kcsr(
        t.path(),
        &[
            "renew", "media", "--within", "5d", "--keys", "keys", "--media", "next",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stderr_has("not due");
    assert!(!t.path().join("next/SHA256SUMS").exists());

    // Ten days left of ten: not due by default (the last third of its lifetime, issue 14).
    let r = kcsr(
        t.path(),
        &["renew", "media", "--keys", "keys", "--media", "next"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stderr_has("not due");

    // Due within 30 days: a new key under a new stem; the old key is untouched.
    let r = kcsr(
        t.path(),
        &[
            "renew", "media", "--within", "30d", "--keys", "keys", "--media", "next", "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let stem = v["certificates"][0]["request"]["stem"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(stem.starts_with("alice-renew-"), "{stem}");
    assert_eq!(
        std::fs::read(t.path().join("keys/alice.key.pem")).unwrap(),
        old_key
    );
    assert_eq!(mode(&t.path().join(format!("keys/{stem}.key.pem"))), 0o600);
    let yaml = std::fs::read_to_string(t.path().join(format!("next/{stem}.csr.yaml"))).unwrap();
    let pem = request_pem(&t.path().join(format!("next/{stem}.csr.yaml")));
    std::fs::write(t.path().join("renew.csr"), pem).unwrap();
    let (ok, out) = sh(
        t.path(),
        "openssl req -in renew.csr -noout -verify -subject",
    );
    assert!(ok && out.contains("CN = alice, O = dev"), "{out}");
    assert!(
        yaml.contains("signerName: kubernetes.io/kube-apiserver-client"),
        "{yaml}"
    );
    let (ok, out) = sh(&t.path().join("next"), "sha256sum -c SHA256SUMS");
    assert!(ok, "{out}");

    // --reuse-key: the request is for the key the certificate carries.
    let r = kcsr(
        t.path(),
        &[
            "renew",
            "media/alice.bundle.yaml",
            "--within",
            "30d",
            "--reuse-key",
            "--keys",
            "keys",
            "--media",
            "reuse",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A renewal is a new request under its own stem, the key kept.
    let renewed = std::fs::read_dir(t.path().join("reuse"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("alice-renew-") && n.ends_with("-samekey.csr.yaml")
        })
        .expect("alice-renew-<day>-samekey.csr.yaml");
    let pem = request_pem(&renewed);
    std::fs::write(t.path().join("reuse.csr"), pem).unwrap();
    let (ok, out) = sh(
        t.path(),
        "test \"$(openssl req -in reuse.csr -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum)\" = \"$(openssl pkey -in keys/alice.key.pem -pubout -outform DER | sha256sum)\"",
    );
    assert!(ok, "{out}");
    // No matching key: a clear error.
    let r = kcsr(
        t.path(),
        &[
            "renew",
            "media/alice.crt",
            "--within",
            "30d",
            "--reuse-key",
            "--keys",
            "other-keys",
            "--media",
            "x",
        ],
    );
    // Another key directory holds no record of the request: refused, nothing taken from
    // the certificate.
    assert_eq!(r.code, 3, "{}", r.stderr);
    r.stderr_has("no record");
    r.stderr_has("hint: ");
}

#[test]
fn version_says_whether_the_fips_module_is_in_use() {
    let out = Command::new(KCSR).arg("--version").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    let expected = if cfg!(feature = "fips") {
        "(crypto: AWS-LC FIPS 140-3 module)"
    } else {
        "(crypto: AWS-LC, not the FIPS module)"
    };
    assert!(
        text.starts_with("kcsr ") && text.contains(expected),
        "{text}"
    );
}

#[test]
fn data_that_cannot_be_written_is_an_error_and_a_closed_pipe_is_not() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    for args in [&["completions", "bash"][..], &["man"][..]] {
        let out = Command::new(KCSR)
            .args(args)
            .stdout(full.try_clone().unwrap())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: cannot write to standard output: No space left")
                && stderr.contains("hint: "),
            "{stderr}"
        );
    }
    // `kcsr man | head -1`: the reader leaves early; that is not a failure.
    let out = Command::new("bash")
        .args([
            "-c",
            &format!("{KCSR} man | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}}"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn inspect_reads_a_bundle_although_it_embeds_pem() {
    let t = tempfile::tempdir().unwrap();
    let r = kcsr(t.path(), &request("bea", &["ops"], "media", &[]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    issue_with_openssl(t.path(), "media/bea.csr.yaml", 10);
    bring_back(t.path(), "bea", "bea", &["ops"]);
    let r = kcsr(t.path(), &["inspect", "media/bea.bundle.yaml"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    r.stdout_has("certificate bundle");
    let r = kcsr(t.path(), &["inspect", "--json", "media/bea.bundle.yaml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["content"]["kind"], "CertificateBundle", "{v}");
    // The plain certificate next to it is still read as a certificate.
    let r = kcsr(t.path(), &["inspect", "media/bea.crt"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("certificate bundle"), "{}", r.stdout);
}

//! Issue 14 on the isolated side: users' own keys and CSRs, per-user passphrases, renewal and
//! expiry, retiring keys, the media audit, withdrawing a request, reused sticks and the
//! messages around them. Every step runs the real `kcsr`; certificates are issued by OpenSSL
//! with the CA the station pinned (`kcsr cluster add`), as a signer would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

mod support;

use kcsr_testkit::args::request;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;
use support::{Run, assemble_args, kcsr};

const SERVER: &str = "https://prod.example:6443";

/// `sh -c CMD` in `dir`: whether it succeeded, and its stdout and stderr.
fn sh(dir: &Path, cmd: &str) -> (bool, String) {
    let r = kcsr_testkit::sh(dir, cmd);
    (r.code == 0, r.stdout + &r.stderr)
}

/// A station with the cluster `prod` pinned (CA `real`, as server and client CA).
struct Site {
    t: tempfile::TempDir,
}

impl Site {
    fn new() -> Self {
        let site = Self {
            t: tempfile::tempdir().unwrap(),
        };
        site.sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout real.key -out real.crt -subj /CN=real -days 400");
        std::fs::write(
            site.path("leaf.cnf"),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
        )
        .unwrap();
        site.ok(&[
            "cluster",
            "add",
            "prod",
            "--keys",
            "keys",
            "--server",
            SERVER,
            "--ca",
            "real.crt",
            "--client-ca",
            "real.crt",
        ]);
        site
    }

    fn dir(&self) -> &Path {
        self.t.path()
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir().join(p)
    }

    fn sh(&self, cmd: &str) -> String {
        let (ok, out) = sh(self.dir(), &format!("{cmd} 2>&1"));
        assert!(ok, "{cmd}: {out}");
        out
    }

    fn run(&self, args: &[&str]) -> Run {
        kcsr(self.dir(), args)
    }

    fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r
    }

    fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.path(p)).unwrap()
    }

    fn exists(&self, p: &str) -> bool {
        std::fs::symlink_metadata(self.path(p)).is_ok()
    }

    fn request(&self, user: &str, media: &str, more: &[&str]) -> Run {
        let mut args = request(user, &["dev"], media, &[]);
        args.extend_from_slice(more);
        self.ok(&args)
    }

    fn manifest(&self, media: &str, stem: &str) -> kcsr_core::manifest::CsrManifest {
        let docs = kcsr_core::manifest::parse_documents(
            &std::fs::read(self.path(&format!("{media}/{stem}.csr.yaml"))).unwrap(),
        )
        .unwrap();
        let kcsr_core::manifest::Document::Csr(m) = &docs[0] else {
            panic!("{stem}: not a CSR manifest")
        };
        m.clone()
    }

    /// The certificate the pinned CA issues for the request `<media>/<stem>.csr.yaml`.
    fn issue(&self, media: &str, stem: &str, days: u32) -> String {
        let m = self.manifest(media, stem);
        let der = base64::engine::general_purpose::STANDARD
            .decode(&m.spec.request)
            .unwrap();
        std::fs::write(self.path("issue.csr"), der).unwrap();
        self.sh(&format!(
            "openssl x509 -req -in issue.csr -CA real.crt -CAkey real.key -CAcreateserial -days {days} -extfile leaf.cnf -out issued.crt"
        ));
        self.read("issued.crt")
    }

    /// What kcsr-submit writes back: `<stem>.crt`, `<stem>.bundle.yaml`, both listed in
    /// `RETURNED.SHA256SUMS`.
    fn bring_back(&self, media: &str, stem: &str, days: u32) -> String {
        let cert = self.issue(media, stem, days);
        let m = self.manifest(media, stem);
        let csr = m.decode_request().unwrap();
        let ca = self.read("real.crt");
        let bundle = support::bundle(
            &m.metadata.name,
            csr.subject.user().unwrap(),
            &csr.subject
                .organizations
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            support::bundle_cluster("prod", SERVER, Some(&ca)),
            &cert,
            Some(&ca),
            "2026-11-29T00:00:00Z",
        );
        let yaml = bundle.to_yaml().unwrap();
        let dir = self.path(media);
        std::fs::write(dir.join(format!("{stem}.bundle.yaml")), &yaml).unwrap();
        std::fs::write(dir.join(format!("{stem}.crt")), &cert).unwrap();
        support::list_returned(
            &dir,
            &[
                (format!("{stem}.bundle.yaml"), yaml.as_str()),
                (format!("{stem}.crt"), cert.as_str()),
            ],
        );
        cert
    }

    fn record(&self, name: &str) -> Value {
        serde_json::from_str(&self.read(&format!("keys/station/requests/{name}.json"))).unwrap()
    }

    fn kubeconfig(&self, p: &str) -> Value {
        kcsr_core::yaml::parse_one(
            &std::fs::read(self.path(p)).unwrap(),
            kcsr_core::yaml::Snippets::Show,
        )
        .unwrap()
    }
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// `now` + `days`, RFC 3339.
fn days_from_now(days: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    kcsr_core::time::format_rfc3339(now + days * 86_400)
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

// ---- Part 3: keys and users --------------------------------------------------------------

/// The new trip's directory a request names on its stderr line saying `says` ("… go to
/// DIR …").
fn new_trip(r: &Run, says: &str) -> String {
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains(says))
        .unwrap_or_else(|| panic!("{}", r.stderr));
    line.split("go to ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap()
        .to_owned()
}

#[test]
fn a_users_own_csr_is_checked_like_any_other_and_no_key_is_written() {
    let s = Site::new();
    s.sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout erin.key -subj /CN=erin/O=dev -out erin.csr");
    let r = s.request("erin", "media", &["--csr", "erin.csr", "--json"]);
    let v = json(&r);
    assert_eq!(v["key"]["source"], "external-csr");
    assert_eq!(v["csr"], "erin.csr");
    assert!(!s.exists("keys/erin.key.pem"), "no key is made for a CSR");
    // The manifest carries the user's own CSR, byte for byte; the record says whose key.
    let m = s.manifest("media", "erin");
    s.sh("openssl req -in erin.csr -outform DER -out erin.der");
    assert_eq!(
        m.decode_request().unwrap().der,
        std::fs::read(s.path("erin.der")).unwrap()
    );
    let rec = s.record(&m.metadata.name);
    assert_eq!(rec["keyFile"], "external-csr");
    assert_eq!(rec["state"], "written");
    let (ok, out) = sh(&s.path("media"), "sha256sum -c SHA256SUMS");
    assert!(ok, "{out}");
    r.stderr_has("the user's own: the key is theirs");

    // DER is read too.
    s.request("erin", "media-der", &["--csr", "erin.der"]);

    // Not what was named: another user, or groups the operator did not give. Nothing written.
    for (user, groups) in [("mallory", vec!["--group", "dev"]), ("erin", vec![])] {
        let mut args = request(user, &[], "bad", &["--csr", "erin.csr"]);
        args.extend(groups);
        let r = s.run(&args);
        r.refused("", "the CSR does not ask for what was given");
        assert_eq!(r.code, 3);
        assert!(!s.exists("bad"));
    }

    // The checks of every request: RSA 1024, exponent 3, a broken signature.
    s.sh("openssl req -new -newkey rsa:1024 -nodes -keyout small.key -subj /CN=erin/O=dev -out small.csr");
    s.sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:3 -out e3.key && openssl req -new -key e3.key -subj /CN=erin/O=dev -out e3.csr");
    s.sh("openssl req -in erin.csr -outform DER -out tampered.der");
    let mut der = std::fs::read(s.path("tampered.der")).unwrap();
    let last = der.len() - 4;
    der[last] ^= 0x01;
    std::fs::write(s.path("tampered.der"), der).unwrap();
    for (file, rule) in [
        ("small.csr", "key-size"),
        ("e3.csr", "key-exponent"),
        ("tampered.der", "signature"),
    ] {
        let r = s.run(&request("erin", &["dev"], "bad", &["--csr", file]));
        assert_eq!(r.code, 3, "{file}: {}", r.stderr);
        assert!(r.stderr.contains(rule), "{file}: {}", r.stderr);
        assert!(!s.exists("bad"), "{file}");
    }
    // --csr with a key option is a usage error.
    let r = s.run(&request(
        "erin",
        &[],
        "bad",
        &["--csr", "erin.csr", "--key", "erin.key"],
    ));
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn assemble_writes_a_csr_users_certificate_alone_or_names_their_key_file() {
    let s = Site::new();
    s.sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout erin.key -subj /CN=erin/O=dev -out erin.csr");
    s.request("erin", "media", &["--csr", "erin.csr"]);
    let cert = s.bring_back("media", "erin", 10);
    let assemble = |more: &[&str]| {
        let mut args = vec!["assemble", "--media", "media", "--keys", "keys"];
        args.extend_from_slice(more);
        s.run(&args)
    };

    // No key here: the certificate alone, and how to add the key.
    let r = assemble(&["--out", "alone.kubeconfig"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = s.kubeconfig("alone.kubeconfig");
    let user = &v["users"][0]["user"];
    assert_eq!(b64(&user["client-certificate-data"]), cert.as_bytes());
    assert!(user.get("client-key-data").is_none() && user.get("client-key").is_none());
    // The user keeps the key: nothing is missing, so nothing is listed as not assembled.
    assert!(!r.stderr.contains("not turned into"), "{}", r.stderr);
    assert!(
        r.stderr.contains("holds the certificate alone") && r.stderr.contains("--client-key=PATH"),
        "{}",
        r.stderr
    );

    // The user's key file, named: checked when it is here (the key, unencrypted PEM)...
    let r = assemble(&["--out", "named.kubeconfig", "--key-path", "erin.key"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = s.kubeconfig("named.kubeconfig");
    assert_eq!(v["users"][0]["user"]["client-key"], "erin.key");
    assert!(v["users"][0]["user"].get("client-key-data").is_none());
    r.stderr_has("holds no key");
    // kubectl reads it: the certificate and the key it names make a pair.
    let (ok, out) = sh(
        s.dir(),
        "kubectl --kubeconfig named.kubeconfig config view --raw --minify -o jsonpath='{.users[0].user.client-key}'",
    );
    assert!(ok && out.trim() == "erin.key", "{out}");
    // ...named unchecked when it lives on the user's machine only.
    let r = assemble(&[
        "--out",
        "remote.kubeconfig",
        "--key-path",
        "/home/erin/.kube/erin.key",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("is not on this machine") && r.stderr.contains("not checked here"),
        "{}",
        r.stderr
    );

    // Renewing is the user's to start: their key, their new CSR.
    let r = s.ok(&[
        "renew", "media", "--within", "30d", "--keys", "keys", "--media", "next", "--json",
    ]);
    let v = json(&r);
    assert!(
        v["certificates"][0]["skipped"]
            .as_str()
            .unwrap()
            .contains("keeps their own key"),
        "{v}"
    );
    assert!(!s.exists("next/SHA256SUMS"));
    // kubectl cannot read an encrypted key: refused, nothing written. Another key: refused.
    std::fs::write(s.path("pass"), "correct horse battery\n").unwrap();
    s.sh("openssl pkcs8 -topk8 -v2 aes-256-cbc -in erin.key -passout file:pass -out erin-enc.key");
    s.sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key");
    for (file, says) in [
        ("erin-enc.key", "kubectl cannot read encrypted keys"),
        ("other.key", "not the key"),
    ] {
        let r = assemble(&["--out", "bad.kubeconfig", "--key-path", file]);
        assert_eq!(r.code, 3, "{file}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{file}: {}", r.stderr);
        assert!(!s.exists("bad.kubeconfig"));
    }
}

#[test]
fn key_path_for_kept_keys_and_several_users_takes_a_user_placeholder() {
    let s = Site::new();
    for u in ["alice", "bob"] {
        s.request(u, "media", &[]);
    }
    for u in ["alice", "bob"] {
        s.bring_back("media", u, 10);
    }
    let r = s.run(&assemble_args(
        "--out-dir",
        "out",
        &["--key-path", "/etc/k.key"],
    ));
    r.refused("--key-path /etc/k.key", "names one file");
    let r = s.ok(&assemble_args(
        "--out-dir",
        "out",
        &["--key-path", "/home/{user}/.kube/{user}.key", "--json"],
    ));
    for u in ["alice", "bob"] {
        let v = s.kubeconfig(&format!("out/{u}.kubeconfig"));
        assert_eq!(
            v["users"][0]["user"]["client-key"],
            format!("/home/{u}/.kube/{u}.key")
        );
    }
    let v = json(&r);
    assert_eq!(v["users"][0]["key"]["checked"], false);
}

#[test]
fn batch_encrypts_each_users_key_with_their_own_passphrase() {
    let s = Site::new();
    std::fs::create_dir(s.path("pass")).unwrap();
    std::fs::write(s.path("pass/alice.txt"), "alice's long passphrase\n").unwrap();
    std::fs::write(s.path("pass/bob.txt"), "bob's other passphrase\n").unwrap();
    std::fs::write(s.path("pass/short.txt"), "short\n").unwrap();
    std::fs::create_dir(s.path("roster")).unwrap();
    // Paths in the roster are relative to the roster's directory.
    std::fs::write(
        s.path("roster/team.csv"),
        "user,groups,passphrase_file\nalice,dev,../pass/alice.txt\nbob,dev,../pass/bob.txt\n",
    )
    .unwrap();
    let batch = |roster: &str, more: &[&str]| {
        let mut args = vec![
            "batch", "--roster", roster, "--keys", "keys", "--media", "media",
        ];
        args.extend_from_slice(more);
        s.run(&args)
    };
    // Without --encrypt-key the column is a mistake to say, not to ignore.
    let r = batch("roster/team.csv", &[]);
    r.refused("line 2 (alice)", "--encrypt-key is not");
    assert!(!s.exists("media") && !s.exists("keys/alice.key.pem"));

    let r = batch("roster/team.csv", &["--encrypt-key"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (user, own, other) in [
        ("alice", "pass/alice.txt", "pass/bob.txt"),
        ("bob", "pass/bob.txt", "pass/alice.txt"),
    ] {
        assert!(
            s.read(&format!("keys/{user}.key.pem"))
                .contains("ENCRYPTED PRIVATE KEY")
        );
        let (ok, out) = sh(
            s.dir(),
            &format!("openssl pkey -in keys/{user}.key.pem -passin file:{own} -noout"),
        );
        assert!(ok, "{user} with their passphrase: {out}");
        let (ok, _) = sh(
            s.dir(),
            &format!("openssl pkey -in keys/{user}.key.pem -passin file:{other} -noout"),
        );
        assert!(!ok, "{user}'s key opened with another user's passphrase");
    }
    // A re-run opens each existing key with its own passphrase and changes nothing.
    let r = batch("roster/team.csv", &["--encrypt-key", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json(&r)["unchanged"], 2);

    // A user without a passphrase, or with one too short: the roster is refused whole.
    std::fs::write(
        s.path("roster/more.csv"),
        "user,passphrase_file\ncarol,\ndave,../pass/short.txt\n",
    )
    .unwrap();
    let r = batch("roster/more.csv", &["--encrypt-key"]);
    r.refused("roster/more.csv", "without a usable key passphrase");
    assert!(
        r.stderr.contains("line 2 (carol)") && r.stderr.contains("line 3 (dave)"),
        "{}",
        r.stderr
    );
    assert!(!s.exists("keys/carol.key.pem") && !s.exists("keys/dave.key.pem"));
    // Carol falls back on --passphrase-file; dave's own file is still too short.
    std::fs::write(s.path("pass/all.txt"), "the team's passphrase\n").unwrap();
    std::fs::write(s.path("roster/more.csv"), "user,passphrase_file\ncarol,\n").unwrap();
    let r = batch(
        "roster/more.csv",
        &["--encrypt-key", "--passphrase-file", "pass/all.txt"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (ok, out) = sh(
        s.dir(),
        "openssl pkey -in keys/carol.key.pem -passin file:pass/all.txt -noout",
    );
    assert!(ok, "{out}");
}

// ---- Part 4: renewal and expiry ----------------------------------------------------------

#[test]
fn a_fresh_certificate_is_not_due_the_last_third_is_and_expired_is_said() {
    let s = Site::new();
    s.request("alice", "media", &[]);
    s.bring_back("media", "alice", 30);
    // Just issued: not due (the default window is the last third: 10 of 30 days).
    let r = s.ok(&[
        "renew", "media", "--keys", "keys", "--media", "next", "--json",
    ]);
    let v = json(&r);
    assert_eq!(v["certificates"][0]["due"], false, "{v}");
    assert_eq!(v["certificates"][0]["within"], 10 * 86_400, "{v}");
    assert!(!s.exists("next/SHA256SUMS"));
    // 25 days on: due, not expired. 31 days on: expired, said so.
    let r = s.ok(&[
        "renew",
        "media",
        "--keys",
        "keys",
        "--media",
        "next",
        "--at",
        &days_from_now(25),
        "--dry-run",
    ]);
    assert!(r.stderr.contains("due (expires"), "{}", r.stderr);
    let r = s.ok(&[
        "renew",
        "media",
        "--keys",
        "keys",
        "--media",
        "next",
        "--at",
        &days_from_now(31),
    ]);
    r.stderr_has("EXPIRED (expired").stderr_has("ago)");
    // The renewal is named with the date, and its kubeconfig keeps the first name.
    r.stderr_has("names its kubeconfig alice.kubeconfig");
}

#[test]
fn renew_and_inspect_read_kubeconfigs_and_never_show_a_key() {
    let s = Site::new();
    s.request("alice", "media", &[]);
    s.bring_back("media", "alice", 30);
    s.ok(&assemble_args("--out-dir", "kubeconfigs", &[]));
    // One that names its certificate file (relative to the kubeconfig, as kubectl reads it).
    std::fs::create_dir(s.path("kc2")).unwrap();
    std::fs::copy(s.path("media/alice.crt"), s.path("kc2/alice.crt")).unwrap();
    std::fs::write(
        s.path("kc2/config"),
        "apiVersion: v1\nkind: Config\nusers:\n- name: alice-file\n  user:\n    client-certificate: alice.crt\n    client-key: /nowhere/alice.key\n",
    )
    .unwrap();
    let r = s.ok(&["inspect", "kc2/config"]);
    assert!(
        r.stdout.contains("user alice-file") && r.stdout.contains("groups        dev"),
        "{}",
        r.stdout
    );
    let r = s.ok(&[
        "renew",
        "kc2/config",
        "--within",
        "60d",
        "--keys",
        "keys",
        "--media",
        "next2",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(json(&r)["certificates"][0]["due"], true);
    // A kubeconfig kcsr did not write, with a token user only, in the same directory.
    std::fs::write(
        s.path("kubeconfigs/admin.kubeconfig"),
        "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    token: secret-token\nclusters: []\ncontexts: []\n",
    )
    .unwrap();
    let r = s.ok(&[
        "renew",
        "kubeconfigs",
        "--within",
        "60d",
        "--keys",
        "keys",
        "--media",
        "next",
        "--json",
    ]);
    let v = json(&r);
    let rows = v["certificates"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{v}");
    assert!(
        rows[0]["source"]
            .as_str()
            .unwrap()
            .contains("alice.kubeconfig (user alice@prod)"),
        "{v}"
    );
    assert_eq!(rows[0]["request"]["written"], true);
    assert_eq!(rows[0]["request"]["kubeconfig"], "alice.kubeconfig");

    let key = s.read("keys/alice.key.pem");
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(key.as_bytes());
    for args in [
        vec!["inspect", "kubeconfigs/alice.kubeconfig"],
        vec!["inspect", "--json", "kubeconfigs/alice.kubeconfig"],
    ] {
        let r = s.ok(&args);
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(
            !all.contains("PRIVATE KEY") && !all.contains(&key_b64[..40]),
            "{all}"
        );
        assert!(all.contains("alice@prod"), "{all}");
    }
    let r = s.ok(&["inspect", "kubeconfigs/alice.kubeconfig"]);
    assert!(
        r.stdout.contains("user alice@prod") && r.stdout.contains("not after"),
        "{}",
        r.stdout
    );
    // An expired certificate says so.
    s.request("bob", "media2", &[]);
    s.issue("media2", "bob", 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = s.ok(&["inspect", "issued.crt"]);
    r.stdout_has("EXPIRED");
}

#[test]
fn a_renewal_keeps_the_kubeconfig_name_and_replaces_the_older_file() {
    let s = Site::new();
    s.request("alice", "media", &[]);
    s.bring_back("media", "alice", 10);
    s.ok(&assemble_args("--out-dir", "kc", &[]));
    let r = s.ok(&[
        "renew", "media", "--within", "30d", "--keys", "keys", "--media", "next", "--json",
    ]);
    let stem = json(&r)["certificates"][0]["request"]["stem"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(stem.starts_with("alice-renew-"), "{stem}");
    let renewed = s.bring_back("next", &stem, 20);
    let r = s.ok(&[
        "assemble",
        "--media",
        "next",
        "--keys",
        "keys",
        "--out-dir",
        "kc",
    ]);
    r.stderr_has("renewed kc/alice.kubeconfig");
    let names: Vec<String> = std::fs::read_dir(s.path("kc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["alice.kubeconfig"]);
    let v = s.kubeconfig("kc/alice.kubeconfig");
    assert_eq!(
        b64(&v["users"][0]["user"]["client-certificate-data"]),
        renewed.as_bytes()
    );
    assert_eq!(
        b64(&v["users"][0]["user"]["client-key-data"]),
        s.read(&format!("keys/{stem}.key.pem")).as_bytes()
    );
    // The older certificate never replaces the newer one.
    let r = s.run(&assemble_args("--out-dir", "kc", &[]));
    r.refused("kc/alice.kubeconfig", "--force");
    // A renewal of the renewal is named after the first stem again.
    let r = s.ok(&[
        "renew",
        "next",
        "--within",
        "30d",
        "--keys",
        "keys",
        "--media",
        "third",
        "--json",
        "--at",
        &days_from_now(15),
    ]);
    let again = json(&r)["certificates"][0]["request"]["stem"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        again.starts_with("alice-renew-") && again.matches("-renew-").count() == 1,
        "{again}"
    );
}

#[test]
fn renew_renews_only_users_still_active() {
    let s = Site::new();
    for u in ["alice", "bob", "carol"] {
        s.request(u, "media", &[]);
    }
    // bob's request was a mistake: withdrawn before the media left.
    s.ok(&[
        "withdraw", "--user", "bob", "--keys", "keys", "--media", "media",
    ]);
    // Certificates for all three (bob's from a copy of the CSR, as anyone holding it could).
    s.bring_back("media", "alice", 10);
    s.bring_back("media", "carol", 10);
    std::fs::create_dir(s.path("certs")).unwrap();
    for u in ["alice", "carol"] {
        std::fs::copy(
            s.path(&format!("media/{u}.crt")),
            s.path(&format!("certs/{u}.crt")),
        )
        .unwrap();
    }
    s.request("bob", "bob-media", &[]);
    let bob = s.issue("bob-media", "bob", 10);
    std::fs::write(s.path("certs/bob.crt"), bob).unwrap();
    // carol was offboarded (what kcsr offboard records: every record of hers).
    let carol = s.manifest("media", "carol").metadata.name;
    let path = s.path(&format!("keys/station/requests/{carol}.json"));
    let mut rec: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    rec["state"] = "offboarded".into();
    rec["stateAt"] = "2026-11-29T12:00:00Z".into();
    std::fs::write(&path, rec.to_string()).unwrap();
    // bob's second request (bob-media) is active: the first one's withdrawal does not stop it.
    let r = s.ok(&[
        "renew", "certs", "--within", "30d", "--keys", "keys", "--media", "next", "--json",
    ]);
    let v = json(&r);
    let row = |u: &str| {
        v["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["user"] == u)
            .unwrap()
            .clone()
    };
    assert_eq!(row("alice")["request"]["written"], true, "{v}");
    assert_eq!(row("bob")["request"]["written"], true, "{v}");
    assert_eq!(
        row("carol")["skipped"],
        "user offboarded on 2026-11-29T12:00:00Z",
        "{v}"
    );
    assert!(row("carol").get("request").is_none());
}

#[test]
fn key_retire_removes_only_keys_whose_certificates_have_all_expired() {
    let s = Site::new();
    for u in ["alice", "bob", "carol", "dave"] {
        s.request(u, "media", &[]);
    }
    let names: std::collections::BTreeMap<&str, String> = ["alice", "bob", "carol", "dave"]
        .iter()
        .map(|u| (*u, s.manifest("media", u).metadata.name))
        .collect();
    s.ok(&[
        "withdraw", "--user", "dave", "--keys", "keys", "--media", "media",
    ]);
    s.bring_back("media", "alice", 5);
    s.bring_back("media", "bob", 20);
    s.ok(&assemble_args(
        "--out-dir",
        "kc",
        &["--name", "alice", "--name", "bob"],
    ));
    let at = days_from_now(10);

    // A dry run says what would go and changes nothing.
    let r = s.ok(&[
        "key",
        "retire",
        "--keys",
        "keys",
        "kc",
        "--at",
        &at,
        "--dry-run",
        "--json",
    ]);
    let v = json(&r);
    assert_eq!(v["retired"], 2, "{v}");
    for u in ["alice", "bob", "carol", "dave"] {
        assert!(s.exists(&format!("keys/{u}.key.pem")), "{u}");
    }
    assert!(
        !r.stderr.contains(": removed (") && r.stderr.contains("would be removed"),
        "{}",
        r.stderr
    );

    let r = s.ok(&["key", "retire", "--keys", "keys", "kc", "--at", &at]);
    // alice: her certificate expired; dave: withdrawn, no certificate ever.
    for u in ["alice", "dave"] {
        assert!(!s.exists(&format!("keys/{u}.key.pem")), "{u}: {}", r.stderr);
    }
    assert_eq!(s.record(&names["alice"])["state"], "retired");
    assert!(s.record(&names["alice"])["stateAt"].is_string());
    assert_eq!(s.record(&names["dave"])["state"], "withdrawn");
    // bob: valid at that time; carol: a certificate never shown may be valid out there.
    assert!(s.exists("keys/bob.key.pem") && s.exists("keys/carol.key.pem"));
    r.stderr_has("valid until");
    r.stderr_has(&format!(
        "no certificate shown for request {}",
        names["carol"]
    ));
    // The station's own files are never touched.
    assert!(s.exists("keys/station/signing-key.pem"));
    // A retired user is not renewed.
    let r = s.ok(&[
        "renew", "kc", "--within", "400d", "--keys", "keys", "--media", "next", "--json",
    ]);
    let v = json(&r);
    let alice = v["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user"] == "alice")
        .unwrap();
    assert!(
        alice["skipped"].as_str().unwrap().contains("retired"),
        "{v}"
    );
    // Nothing left to do: the same run again changes nothing.
    let r = s.ok(&[
        "key", "retire", "--keys", "keys", "kc", "--at", &at, "--json",
    ]);
    assert_eq!(json(&r)["retired"], 0);
}

#[test]
fn key_retire_counts_no_certificate_the_pinned_ca_did_not_issue() {
    // The media attacker: has the request (public) and a CA of its own, no station key, no
    // KEY_DIR. It makes an expired certificate for alice's key, with her subject, followed by
    // a copy of the pinned CA to look like a chain, and shows it as her certificate.
    let s = Site::new();
    s.request("alice", "media", &[]);
    let name = s.manifest("media", "alice").metadata.name;
    let der = base64::engine::general_purpose::STANDARD
        .decode(&s.manifest("media", "alice").spec.request)
        .unwrap();
    std::fs::write(s.path("alice.csr"), der).unwrap();
    s.sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout evil.key -out evil.crt -subj /CN=real -days 400");
    std::fs::create_dir(s.path("shown")).unwrap();
    s.sh("openssl x509 -req -in alice.csr -CA evil.crt -CAkey evil.key -CAcreateserial -days 1 -extfile leaf.cnf -out forged.crt && cat forged.crt real.crt > shown/alice.crt");
    let at = days_from_now(10);
    let retire = |extra: &[&str]| {
        let mut args = vec!["key", "retire", "--keys", "keys", "shown", "--at", &at];
        args.extend_from_slice(extra);
        s.run(&args)
    };
    let r = retire(&["--json"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(v["retired"], 0, "{v}");
    let key = &v["keys"][0];
    assert_eq!(key["retired"], false, "{v}");
    assert_eq!(key["certificates"][0]["verified"], false, "{v}");
    assert!(
        key["certificates"][0]["unverified"]
            .as_str()
            .unwrap()
            .contains("does not chain to cluster prod's pinned CA"),
        "{v}"
    );
    assert!(
        key["kept"]
            .as_str()
            .unwrap()
            .contains(&format!("no verified certificate shown for request {name}")),
        "{v}"
    );
    assert!(s.exists("keys/alice.key.pem"));
    assert_eq!(s.record(&name)["state"], "written", "{}", r.stderr);
    // The text names the certificate, why it does not count, and the refusal, once.
    let r = retire(&[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("NOT TRUSTED, certificate not counted: shown/alice.crt"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.matches("error: ").count(), 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("1 certificate(s) shown are not the station's"),
        "{}",
        r.stderr
    );
    assert!(s.exists("keys/alice.key.pem"));

    // The genuine certificate, as expired, retires her key.
    let genuine = s.issue("media", "alice", 1);
    std::fs::write(s.path("shown/alice.crt"), genuine).unwrap();
    let r = retire(&["--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json(&r)["retired"], 1, "{}", r.stdout);
    assert!(!s.exists("keys/alice.key.pem"));
    assert_eq!(s.record(&name)["state"], "retired");
}

#[test]
fn check_audits_a_return_directory_against_the_stations_records() {
    let s = Site::new();
    s.request("alice", "media", &[]);
    s.request("bob", "media", &[]);
    s.bring_back("media", "alice", 10);
    // What kcsr-submit apply --out ret writes: the results and RETURNED.SHA256SUMS only.
    std::fs::create_dir(s.path("ret")).unwrap();
    for f in ["alice.crt", "alice.bundle.yaml", "RETURNED.SHA256SUMS"] {
        std::fs::copy(s.path(&format!("media/{f}")), s.path(&format!("ret/{f}"))).unwrap();
    }
    let r = s.ok(&["check", "--media", "ret", "--keys", "keys"]);
    assert!(
        r.stderr
            .contains("a return directory (no SHA256SUMS): 2 returned file(s)")
            && r.stderr
                .contains("alice.crt: certificate for \"alice\", valid until")
            && r.stderr.contains("kcsr check: no problem found")
            && !r.stderr.contains("missing"),
        "{}",
        r.stderr
    );
    let v = json(&s.ok(&["check", "--media", "ret", "--keys", "keys", "--json"]));
    assert_eq!(v["returnDirectory"], true, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["results"].as_array().unwrap().len(), 2, "{v}");
    // Without --keys the files are checked, and what could not be is said.
    let r = s.ok(&["check", "--media", "ret"]);
    assert!(
        r.stderr
            .contains("warning: a return directory checked without --keys"),
        "{}",
        r.stderr
    );

    // The media attacker rewrites the directory and its sums: alice's result swapped for
    // bob's certificate, a result for a request the station never wrote, the signature file.
    let bob = s.issue("media", "bob", 10);
    std::fs::write(s.path("ret/alice.crt"), &bob).unwrap();
    std::fs::write(s.path("ret/mallory.crt"), &bob).unwrap();
    std::fs::copy(s.path("media/SHA256SUMS.sig"), s.path("ret/SHA256SUMS.sig")).unwrap();
    let bundle = s.read("ret/alice.bundle.yaml");
    let mut sums = kcsr_core::sums::Sums::default();
    for (name, text) in [
        ("alice.crt", bob.as_str()),
        ("alice.bundle.yaml", bundle.as_str()),
        ("mallory.crt", bob.as_str()),
    ] {
        sums.insert(name, text.as_bytes());
    }
    std::fs::write(s.path("ret/RETURNED.SHA256SUMS"), sums.render()).unwrap();
    let r = s.run(&["check", "--media", "ret", "--keys", "keys", "--json"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let v = json(&r);
    let problems = v["problems"].to_string();
    for says in [
        "alice.crt: its certificate is for the key sha256",
        "not the key of any request alice this station recorded",
        "mallory.crt: listed in RETURNED.SHA256SUMS, which may list only",
        "SHA256SUMS.sig",
    ] {
        assert!(problems.contains(says), "{says}: {problems}");
    }
}

// ---- Part 6: media and messages ---------------------------------------------------------

#[test]
fn filesystem_artifacts_are_ignored_on_every_command_with_one_note() {
    let s = Site::new();
    std::fs::create_dir_all(s.path("stick/lost+found")).unwrap();
    std::fs::create_dir_all(s.path("stick/System Volume Information")).unwrap();
    std::fs::write(s.path("stick/.DS_Store"), "finder").unwrap();
    let r = s.request("alice", "stick", &[]);
    let notes: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("note: "))
        .collect();
    assert_eq!(notes.len(), 1, "{}", r.stderr);
    assert!(
        notes[0].contains(".DS_Store, System Volume Information, lost+found")
            && notes[0].contains("the connected side ignores them too"),
        "{}",
        notes[0]
    );
    s.bring_back("stick", "alice", 10);
    let r = s.ok(&["check", "--media", "stick", "--keys", "keys"]);
    r.stderr_has("note: ignoring on stick: .DS_Store");
    let r = s.ok(&[
        "assemble",
        "--media",
        "stick",
        "--keys",
        "keys",
        "--out",
        "a.kubeconfig",
    ]);
    assert_eq!(
        r.stderr
            .lines()
            .filter(|l| l.starts_with("note: ignoring"))
            .count(),
        1,
        "{}",
        r.stderr
    );
    // An artifact's name is no hiding place for key material.
    std::fs::write(
        s.path("stick/._alice.key"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    for args in [
        vec!["check", "--media", "stick", "--keys", "keys"],
        vec![
            "assemble",
            "--media",
            "stick",
            "--keys",
            "keys",
            "--out",
            "b.kubeconfig",
        ],
    ] {
        let r = s.run(&args);
        assert_eq!(r.code, 3, "{args:?}: {}", r.stderr);
        r.stderr_has("._alice.key");
    }
}

#[test]
fn check_audits_sums_signature_requests_and_results() {
    let s = Site::new();
    s.request("alice", "media", &["--clusterrole", "view"]);
    s.request("bob", "media", &[]);
    let r = s.ok(&["check", "--media", "media", "--keys", "keys"]);
    assert!(
        r.stderr
            .contains("verified: SHA256SUMS signed by this station's key SHA256:"),
        "{}",
        r.stderr
    );
    r.stderr_has("binding ClusterRole/view ok");
    r.stderr_has("recorded (written)");
    // The connected side's view: the station's allowed_signers line.
    let line = s
        .ok(&["station", "show", "--keys", "keys", "--principal", "vault"])
        .stdout;
    std::fs::write(s.path("allowed_signers"), &line).unwrap();
    let r = s.ok(&[
        "check",
        "--media",
        "media",
        "--allowed-signers",
        "allowed_signers",
        "--json",
    ]);
    let v = json(&r);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["signature"]["against"], "allowed-signers");
    assert_eq!(v["requests"].as_array().unwrap().len(), 2);
    // With neither, the signature is only intact, and it says so.
    let r = s.ok(&["check", "--media", "media"]);
    r.stderr_has("NOT checked against a trusted key");
    // Past a request's not-after: the connected side would refuse it.
    let r = s.run(&[
        "check",
        "--media",
        "media",
        "--keys",
        "keys",
        "--at",
        &days_from_now(20),
    ]);
    r.refused("media", "past its kcsr.dev/not-after");
    // Another station's key directory: not its signature, not its requests.
    let other = Site::new();
    other.request("zed", "media", &[]);
    let keys = other.path("keys");
    let r = s.run(&[
        "check",
        "--media",
        "media",
        "--keys",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    r.stderr_has("not by this station's");
    r.stderr_has("this station has no record");

    // In transit: the binding changed to cluster-admin and the sums recomputed. The
    // signature no longer holds, and the binding is not the grant's.
    let b = s
        .read("media/alice.binding.yaml")
        .replace("name: view", "name: cluster-admin");
    std::fs::write(s.path("media/alice.binding.yaml"), &b).unwrap();
    s.sh("cd media && sha256sum alice.binding.yaml alice.csr.yaml bob.csr.yaml > SHA256SUMS");
    let r = s.run(&["check", "--media", "media", "--keys", "keys", "--json"]);
    assert_eq!(r.code, 3);
    let v = json(&r);
    assert_eq!(v["ok"], false);
    let problems = v["problems"].to_string();
    assert!(
        problems.contains("SHA256SUMS.sig: does not verify"),
        "{problems}"
    );
    assert!(
        problems.contains("alice.binding.yaml: is not exactly the binding"),
        "{problems}"
    );
    // An unlisted file, and a returned certificate for another key.
    std::fs::write(s.path("media/notes.txt"), "x").unwrap();
    let r = s.run(&["check", "--media", "media", "--keys", "keys"]);
    r.refused("media", "notes.txt: present but listed in neither");
}

#[test]
fn check_reports_returned_certificates_against_their_requests() {
    let s = Site::new();
    s.request("alice", "media", &[]);
    s.request("bob", "media", &[]);
    s.bring_back("media", "alice", 10);
    let r = s.ok(&["check", "--media", "media", "--keys", "keys", "--json"]);
    let v = json(&r);
    assert_eq!(v["results"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["results"][0]["expired"], false);
    // bob's certificate under alice's name: for another key than alice's request.
    let bob = s.issue("media", "bob", 10);
    std::fs::write(s.path("media/alice.crt"), &bob).unwrap();
    support::list_returned(&s.path("media"), &[("alice.crt".to_owned(), bob.as_str())]);
    let r = s.run(&["check", "--media", "media", "--keys", "keys"]);
    r.refused("media", "alice.crt: its certificate is for the key sha256");
}

#[test]
fn withdraw_takes_a_request_off_and_the_station_signs_again() {
    let s = Site::new();
    s.request("alice", "media", &[]);
    s.request("bob", "media", &["--clusterrole", "edit"]);
    let bob = s.manifest("media", "bob").metadata.name;
    let before = std::fs::read(s.path("media/SHA256SUMS")).unwrap();
    let r = s.ok(&[
        "withdraw",
        "--user",
        "bob",
        "--keys",
        "keys",
        "--media",
        "media",
        "--dry-run",
    ]);
    assert!(
        r.stderr.contains("would take request") && !r.stderr.contains("taken off"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(s.path("media/SHA256SUMS")).unwrap(), before);
    assert_eq!(s.record(&bob)["state"], "written");

    let r = s.ok(&[
        "withdraw", "--user", "bob", "--keys", "keys", "--media", "media",
    ]);
    r.stderr_has("bob.csr.yaml, bob.binding.yaml");
    assert!(!s.exists("media/bob.csr.yaml") && !s.exists("media/bob.binding.yaml"));
    let sums = s.read("media/SHA256SUMS");
    assert!(
        sums.contains("alice.csr.yaml") && !sums.contains("bob"),
        "{sums}"
    );
    assert_eq!(s.record(&bob)["state"], "withdrawn");
    // The media is whole and the station's again: sums, signature, every request.
    s.ok(&["check", "--media", "media", "--keys", "keys"]);
    let (ok, out) = sh(&s.path("media"), "sha256sum -c SHA256SUMS");
    assert!(ok, "{out}");
    // Again: nothing left, and it says so.
    let r = s.ok(&[
        "withdraw", "--user", "bob", "--keys", "keys", "--media", "media",
    ]);
    r.stderr_has("any more");
    // Nobody of that name.
    let r = s.run(&[
        "withdraw", "--user", "nobody", "--keys", "keys", "--media", "media",
    ]);
    r.refused("media", "no request for user \"nobody\"");
    assert_eq!(r.code, 1);
    // Media someone else changed is not signed again.
    std::fs::write(
        s.path("media/SHA256SUMS"),
        format!(
            "{sums}0000000000000000000000000000000000000000000000000000000000000000  x.csr.yaml\n"
        ),
    )
    .unwrap();
    let r = s.run(&[
        "withdraw", "--user", "alice", "--keys", "keys", "--media", "media",
    ]);
    r.refused("SHA256SUMS", "not signed by this station's key");
    assert_eq!(r.code, 3);
    assert!(s.exists("media/alice.csr.yaml"));
    std::fs::write(s.path("media/SHA256SUMS"), &sums).unwrap();
    // Back with a certificate already: withdrawing would not undo it.
    s.bring_back("media", "alice", 10);
    let r = s.run(&[
        "withdraw", "--user", "alice", "--keys", "keys", "--media", "media",
    ]);
    r.refused("", "already came back");
    assert_eq!(r.code, 3);
}

#[test]
fn a_reused_stick_gets_a_trip_directory_and_the_old_results_stay_out_of_it() {
    let s = Site::new();
    s.request("alice", "stick", &[]);
    s.bring_back("stick", "alice", 10);
    s.ok(&[
        "assemble",
        "--media",
        "stick",
        "--keys",
        "keys",
        "--out",
        "alice.kubeconfig",
    ]);
    // The next trip on the same stick: a directory of its own, named.
    let r = s.request("bob", "stick", &[]);
    let trip = new_trip(&r, "holds an earlier trip's results");
    assert!(trip.starts_with("stick/trip-"), "{trip}");
    assert!(s.exists(&format!("{trip}/bob.csr.yaml")));
    r.stderr_has(&format!("kcsr-submit apply {trip}"));
    // More requests of the same trip join it; the old trip's files are untouched.
    s.request("carol", "stick", &[]);
    assert!(s.exists(&format!("{trip}/carol.csr.yaml")));
    assert!(!s.read("stick/SHA256SUMS").contains("bob"));
    // The new trip's media is whole on its own: nothing old in it.
    let r = s.ok(&["check", "--media", &trip, "--keys", "keys", "--json"]);
    assert_eq!(json(&r)["requests"].as_array().unwrap().len(), 2);
    // The old trip can still be read, its later trip left alone with a note.
    let r = s.ok(&[
        "assemble",
        "--media",
        "stick",
        "--keys",
        "keys",
        "--out",
        "again.kubeconfig",
    ]);
    assert!(
        r.stderr
            .contains("(later trips: use --media stick/NAME for them)"),
        "{}",
        r.stderr
    );
    let r = s.ok(&["check", "--media", "stick", "--keys", "keys"]);
    r.stderr_has("note: ignoring on stick: trip-");
    // Once the new trip is back too, the next one gets yet another directory.
    s.bring_back(&trip, "bob", 10);
    let r = s.request("dave", "stick", &[]);
    assert!(!s.exists(&format!("{trip}/dave.csr.yaml")), "{}", r.stderr);
}

#[test]
fn a_request_stick_whose_results_came_back_apart_gets_a_new_trip_directory() {
    let s = Site::new();
    s.request("alice", "stick", &[]);
    // kcsr-submit apply stick --out ret: the results come back in a directory of their own
    // (made here from a copy of the stick), and the request stick itself never changes.
    s.sh("cp -r stick carried");
    s.bring_back("carried", "alice", 10);
    std::fs::create_dir(s.path("ret")).unwrap();
    for f in ["alice.crt", "alice.bundle.yaml", "RETURNED.SHA256SUMS"] {
        std::fs::copy(s.path(&format!("carried/{f}")), s.path(&format!("ret/{f}"))).unwrap();
    }
    let sums = s.read("stick/SHA256SUMS");
    // Carried but not yet assembled: the station cannot know, and the stick is still open.
    let r = s.run(&request("bob", &["dev"], "stick", &["--dry-run"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("trip-"), "{}", r.stderr);
    s.ok(&[
        "assemble",
        "--media",
        "ret",
        "--keys",
        "keys",
        "--out",
        "alice.kubeconfig",
    ]);
    // Once the station has recorded the trip's results, the next request starts a new trip.
    let r = s.request("bob", "stick", &[]);
    let trip = new_trip(
        &r,
        "holds an earlier trip whose results the station has recorded",
    );
    assert!(trip.starts_with("stick/trip-"), "{trip}");
    assert!(s.exists(&format!("{trip}/bob.csr.yaml")));
    assert!(!s.exists("stick/bob.csr.yaml"));
    assert_eq!(
        s.read("stick/SHA256SUMS"),
        sums,
        "the carried trip was changed"
    );
    // The same trip's next request joins it; the new trip holds nothing of the old one.
    s.request("carol", "stick", &[]);
    assert!(
        s.exists(&format!("{trip}/carol.csr.yaml")),
        "carol not in {trip}"
    );
    let v = json(&s.ok(&["check", "--media", &trip, "--keys", "keys", "--json"]));
    assert_eq!(v["requests"].as_array().unwrap().len(), 2, "{v}");
}

#[test]
fn messages_name_a_missing_key_never_self_approval_and_say_what_was_verified() {
    let s = Site::new();
    let r = s.request("alice", "media", &[]);
    let next = r.stderr.lines().find(|l| l.starts_with("next: ")).unwrap();
    assert!(
        next.contains("kcsr-submit apply media")
            && next.contains("the approver (another person) runs kcsr-submit approve media")
            && !next.contains("--approve"),
        "{next}"
    );
    s.request("bob", "media", &[]);
    s.bring_back("media", "alice", 10);
    s.bring_back("media", "bob", 10);

    // A wrong --keys: no key, not a certificate that failed to verify.
    std::fs::create_dir(s.path("elsewhere")).unwrap();
    let r = s.run(&[
        "assemble",
        "--media",
        "media",
        "--keys",
        "elsewhere",
        "--out-dir",
        "out",
    ]);
    r.refused("elsewhere", "no key for \"alice\", \"bob\" in elsewhere");
    assert!(
        !r.stderr.contains("did not verify") && !r.stderr.contains("do not use"),
        "{}",
        r.stderr
    );
    assert!(!s.exists("out"));

    // One key missing: the other users' kubeconfigs are written, the missing one named, exit 4.
    std::fs::rename(s.path("keys/bob.key.pem"), s.path("bob.key.pem")).unwrap();
    let r = s.run(&assemble_args("--out-dir", "out", &[]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    r.stderr_has("error: no key for \"bob\" in keys");
    r.stderr_has("keys/bob.key.pem is not there");
    assert!(s.exists("out/alice.kubeconfig") && !s.exists("out/bob.kubeconfig"));
    // Listed with what did not become a kubeconfig, and bob's record stays `written`.
    assert!(
        r.stderr
            .contains("1 request(s) on the media were not turned into a kubeconfig")
            && r.stderr
                .contains("bob (\"bob\"): no key for it: keys/bob.key.pem is missing"),
        "{}",
        r.stderr
    );
    assert_eq!(
        s.record(&s.manifest("media", "bob").metadata.name)["state"],
        "written"
    );
    // "verified" says what: the key, the recorded subject, the chain to the pinned CA.
    let verified = r
        .stderr
        .lines()
        .find(|l| l.starts_with("kcsr: verified"))
        .unwrap();
    assert!(
        verified.contains("the certificate is for the recorded key, held in keys/alice.key.pem")
            && verified.contains("user and groups as the station recorded")
            && verified.contains("chain to cluster prod's pinned client CA sha256:"),
        "{verified}"
    );
    // kcsr verify without a CA says the issuer was not checked.
    let r = s.ok(&[
        "verify",
        "--cert",
        "media/alice.crt",
        "--key",
        "keys/alice.key.pem",
    ]);
    r.stdout_has("chain       not checked: no --ca given");
    let r = s.ok(&[
        "verify",
        "--cert",
        "media/alice.crt",
        "--key",
        "keys/alice.key.pem",
        "--ca",
        "real.crt",
    ]);
    assert!(!r.stdout.contains("not checked"), "{}", r.stdout);
    // With the key back, the same run finishes the job.
    std::fs::rename(s.path("bob.key.pem"), s.path("keys/bob.key.pem")).unwrap();
    let r = s.run(&assemble_args("--out-dir", "out2", &[]));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn withdraw_and_check_judge_the_media_as_the_station_signs_it() {
    let s = Site::new();
    std::fs::write(
        s.path("keys/station/policy.yaml"),
        "apiVersion: kcsr.dev/v1\nkind: StationPolicy\nmaxLifetime: 90d\n",
    )
    .unwrap();
    s.request("alice", "media", &[]);
    s.request("bob", "media", &["--clusterrole", "edit"]);
    assert!(s.read("media/SHA256SUMS").contains("station-policy.yaml"));
    let bob_csr = std::fs::read(s.path("media/bob.csr.yaml")).unwrap();
    let bob_binding = std::fs::read(s.path("media/bob.binding.yaml")).unwrap();
    // The site's policy changed since: withdrawing signs its copy as it is now.
    std::fs::write(
        s.path("keys/station/policy.yaml"),
        "apiVersion: kcsr.dev/v1\nkind: StationPolicy\nmaxLifetime: 60d\n",
    )
    .unwrap();
    s.ok(&[
        "withdraw", "--user", "bob", "--keys", "keys", "--media", "media",
    ]);
    assert!(s.read("media/station-policy.yaml").contains("60d"));
    s.ok(&["check", "--media", "media", "--keys", "keys"]);

    // In transit, someone puts bob's request back and adds an offboarding of their own, with
    // SHA256SUMS recomputed (the signature they cannot make).
    std::fs::write(s.path("media/bob.csr.yaml"), &bob_csr).unwrap();
    std::fs::write(s.path("media/bob.binding.yaml"), &bob_binding).unwrap();
    std::fs::write(
        s.path("media/carol.offboard.yaml"),
        "apiVersion: kcsr.dev/v1\nkind: OffboardRequest\nuser: carol\ncreated: \"2026-11-29T00:00:00Z\"\nnotAfter: \"2099-01-01T00:00:00Z\"\n",
    )
    .unwrap();
    s.sh("cd media && sha256sum alice.csr.yaml bob.binding.yaml bob.csr.yaml carol.offboard.yaml station-policy.yaml > SHA256SUMS");
    let r = s.run(&["check", "--media", "media", "--keys", "keys", "--json"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let problems = json(&r)["problems"].to_string();
    for says in [
        "bob.csr.yaml: the station's record of",
        "bob.binding.yaml: listed in SHA256SUMS, but this station did not write it",
        "carol.offboard.yaml: listed in SHA256SUMS, but this station did not write it",
    ] {
        assert!(problems.contains(says), "{says}: {problems}");
    }
    assert!(!problems.contains("alice.csr.yaml"), "{problems}");
    // The station never signs a withdrawn request again, nor what it did not write.
    let before = s.read("media/SHA256SUMS");
    let r = s.run(&request("dave", &["dev"], "media", &[]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("did not write: bob.binding.yaml, bob.csr.yaml, carol.offboard.yaml"),
        "{}",
        r.stderr
    );
    assert_eq!(s.read("media/SHA256SUMS"), before);
}

#[test]
fn a_withdrawn_request_is_never_assembled_even_from_a_copy_of_its_signed_media() {
    let s = Site::new();
    s.request("bob", "media", &["--clusterrole", "edit"]);
    let bob = s.manifest("media", "bob").metadata.name;
    // The courier keeps a copy of the signed media; the operator then withdraws the request.
    let (ok, out) = sh(&s.path("."), "cp -a media kept");
    assert!(ok, "{out}");
    s.ok(&[
        "withdraw", "--user", "bob", "--keys", "keys", "--media", "media",
    ]);
    assert_eq!(s.record(&bob)["state"], "withdrawn");
    // The copy went across anyway, was approved, and its certificate comes back.
    s.bring_back("kept", "bob", 30);
    let r = s.run(&[
        "assemble",
        "--media",
        "kept",
        "--keys",
        "keys",
        "--out",
        "bob.kubeconfig",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("as withdrawn") && r.stderr.contains("not turned into a kubeconfig"),
        "{}",
        r.stderr
    );
    assert!(!s.exists("bob.kubeconfig"));
    assert_eq!(s.record(&bob)["state"], "withdrawn");
    assert!(s.record(&bob)["assembled"].is_null(), "{}", s.record(&bob));
}

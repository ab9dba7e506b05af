//! Keys in a PKCS#11 token (issue 16, decision 0011), against a real SoftHSM2 token made for
//! each test in its own directory (`SOFTHSM2_CONF`): the key is generated inside the token,
//! never leaves it, signs a CSR that OpenSSL verifies, and nothing secret (no private key, no
//! PIN) reaches any file or output. SoftHSM2 missing is a failure, never a skip: `.ci/run`
//! installs it (Debian `softhsm2`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use kcsr_testkit::args;
use kcsr_testkit::softhsm::{self, MODULE};
use support::{Run, assemble_args, finish};

/// Distinctive, so that a leak is found by a plain search.
const PIN: &str = "4711-pin-5928";
const SO_PIN: &str = "so-8341-2290";
/// Set in the child process that reads a token's attributes (see [`token_objects`]).
const PROBE_ENV: &str = "KCSR_TEST_PKCS11_PROBE";

/// A station directory with its own SoftHSM2 token `kcsr` (user PIN [`PIN`] in `pin`).
struct Hsm {
    t: tempfile::TempDir,
}

impl Hsm {
    fn new() -> Self {
        let t = tempfile::tempdir().unwrap();
        softhsm::token(t.path(), "kcsr", SO_PIN, PIN);
        softhsm::pin_file(&t.path().join("pin"), PIN);
        Self { t }
    }

    fn dir(&self) -> &Path {
        self.t.path()
    }

    fn conf(&self) -> PathBuf {
        self.dir().join("softhsm2.conf")
    }

    /// The URI of key `object` in the token, with the PIN from the file `pin`.
    fn uri(&self, object: &str) -> String {
        format!(
            "pkcs11:token=kcsr;object={object}?module-path={MODULE}&pin-source=file:{}",
            self.dir().join("pin").display()
        )
    }

    fn kcsr(&self, args: &[&str]) -> Run {
        let mut cmd = kcsr_testkit::command(support::KCSR);
        cmd.args(args)
            .current_dir(self.dir())
            .env("SOFTHSM2_CONF", self.conf());
        finish(cmd.spawn().unwrap())
    }

    fn kcsr_ok(&self, args: &[&str]) -> Run {
        let r = self.kcsr(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r
    }

    fn request(&self, user: &str, more: &[&str]) -> Run {
        let uri = self.uri(user);
        let mut args = args::request(user, &["dev"], "media", &["--pkcs11", &uri]);
        args.extend_from_slice(more);
        self.kcsr(&args)
    }

    fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.dir().join(p)).unwrap()
    }

    /// The CSR of `media/<stem>.csr.yaml` as PEM in `<stem>.csr`.
    fn csr_file(&self, stem: &str) -> String {
        let manifest = self.read(&format!("media/{stem}.csr.yaml"));
        let b64 = manifest
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("request:"))
            .unwrap()
            .trim();
        let file = format!("{stem}.csr");
        std::fs::write(
            self.dir().join(&file),
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap();
        file
    }

    fn sh(&self, cmd: &str) -> String {
        let r = kcsr_testkit::sh(self.dir(), cmd).expect_code(0, cmd);
        r.stdout + &r.stderr
    }

    /// A test CA `ca.crt` and the client certificate it issues for `media/<stem>.csr.yaml`,
    /// as `<stem>.crt`.
    fn issue(&self, stem: &str) -> String {
        if !self.dir().join("ca.crt").exists() {
            std::fs::write(
                self.dir().join("leaf.cnf"),
                "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
            )
            .unwrap();
            self.sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -subj /CN=test-ca -days 30 2>&1");
        }
        let csr = self.csr_file(stem);
        self.sh(&format!(
            "openssl x509 -req -in {csr} -CA ca.crt -CAkey ca.key -CAcreateserial -days 10 -extfile leaf.cnf -out {stem}.crt 2>&1"
        ));
        format!("{stem}.crt")
    }

    /// Every key object in the token, read through cryptoki in a child process (SoftHSM2 takes
    /// its configuration from the environment, which a test must not change in its own,
    /// multi-threaded process).
    fn objects(&self) -> Vec<Object> {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "token_objects",
                "--nocapture",
                "--include-ignored",
            ])
            .env("SOFTHSM2_CONF", self.conf())
            .env(PROBE_ENV, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "probe: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text.lines()
            .filter_map(|l| l.strip_prefix("object "))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// No private key and no PIN in any output, nor in any file kcsr wrote (the station, the
    /// media, kubeconfigs); `file_keys` are the file keys a test made on purpose, and the
    /// station's own signing key is a private key by design.
    fn assert_nothing_secret(&self, outputs: &[&Run], file_keys: &[&str]) {
        for r in outputs {
            for text in [&r.stdout, &r.stderr] {
                assert!(!text.contains("PRIVATE KEY"), "{text}");
                assert!(!text.contains(PIN), "the PIN leaked: {text}");
            }
        }
        let mut files = Vec::new();
        for dir in ["keys", "media"] {
            walk(&self.dir().join(dir), &mut files);
        }
        files.extend(
            std::fs::read_dir(self.dir())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "kubeconfig")),
        );
        let allowed: Vec<PathBuf> = ["keys/station/signing-key.pem"]
            .iter()
            .chain(file_keys)
            .map(|f| self.dir().join(f))
            .collect();
        assert!(files.len() >= 4, "only {files:?} were searched");
        for f in files {
            let data = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
            assert!(!data.contains(PIN), "the PIN is in {}", f.display());
            if !allowed.contains(&f) {
                assert!(
                    !data.contains("PRIVATE KEY"),
                    "a private key is in {}",
                    f.display()
                );
            }
        }
    }
}

/// One key object as the token reports it.
#[derive(Debug, serde::Deserialize)]
struct Object {
    label: String,
    private: bool,
    token: bool,
    extractable: Option<bool>,
    sensitive: Option<bool>,
    never_extractable: Option<bool>,
    local: Option<bool>,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            walk(&e.path(), out);
        } else if t.is_file() {
            out.push(e.path());
        }
    }
}

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn record(hsm: &Hsm) -> serde_json::Value {
    let dir = hsm.dir().join("keys/station/requests");
    let mut records: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    records.sort();
    assert_eq!(records.len(), 1, "{records:?}");
    serde_json::from_slice(&std::fs::read(&records[0]).unwrap()).unwrap()
}

/// The child half of [`Hsm::objects`]: lists the token's key objects with their attributes.
/// Run by the tests above in a child process with `SOFTHSM2_CONF` set; on its own (no probe
/// variable) it has no token to read and returns.
#[test]
#[ignore = "the child process of the PKCS#11 tests (Hsm::objects), run by them"]
fn token_objects() {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::object::{Attribute, AttributeType, ObjectClass};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;
    if std::env::var_os(PROBE_ENV).is_none() {
        return;
    }
    let pkcs11 = Pkcs11::new(MODULE).unwrap();
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let slot = pkcs11
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| pkcs11.get_token_info(*s).unwrap().label() == "kcsr")
        .unwrap();
    let session = pkcs11.open_ro_session(slot).unwrap();
    session
        .login(UserType::User, Some(&AuthPin::from(PIN.to_owned())))
        .unwrap();
    for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
        for handle in session.find_objects(&[Attribute::Class(class)]).unwrap() {
            let mut o = serde_json::json!({"private": class == ObjectClass::PRIVATE_KEY});
            for a in session
                .get_attributes(
                    handle,
                    &[
                        AttributeType::Label,
                        AttributeType::Token,
                        AttributeType::Extractable,
                        AttributeType::Sensitive,
                        AttributeType::NeverExtractable,
                        AttributeType::Local,
                    ],
                )
                .unwrap()
            {
                let (k, v) = match a {
                    Attribute::Label(l) => {
                        ("label", serde_json::json!(String::from_utf8(l).unwrap()))
                    }
                    Attribute::Token(b) => ("token", b.into()),
                    Attribute::Extractable(b) => ("extractable", b.into()),
                    Attribute::Sensitive(b) => ("sensitive", b.into()),
                    Attribute::NeverExtractable(b) => ("never_extractable", b.into()),
                    Attribute::Local(b) => ("local", b.into()),
                    _ => continue,
                };
                o[k] = v;
            }
            println!("object {o}");
        }
    }
}

#[test]
fn a_key_generated_in_the_token_signs_a_request_that_openssl_verifies() {
    for (key_type, kind, object) in [
        ("p256", "ECDSA P-256", "alice"),
        ("rsa2048", "RSA 2048", "bob"),
    ] {
        let hsm = Hsm::new();
        let r = hsm.request(object, &["--key-type", key_type, "--json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let out = json(&r);
        assert_eq!(out["key"]["type"], kind);
        assert_eq!(out["key"]["source"], "new");
        assert_eq!(out["key"]["pkcs11"]["extractable"], false);
        assert_eq!(out["key"]["pkcs11"]["sensitive"], true);

        // OpenSSL checks the token's signature with the CSR's own public key.
        let csr = hsm.csr_file(object);
        let verified = hsm.sh(&format!(
            "openssl req -in {csr} -verify -noout -subject 2>&1"
        ));
        assert!(verified.contains("verify OK"), "{verified}");
        assert!(
            verified.contains(&format!("CN = {object}, O = dev")),
            "{verified}"
        );

        // The key pair is in the token, the private half never to leave it.
        let objects = hsm.objects();
        let private: Vec<&Object> = objects.iter().filter(|o| o.private).collect();
        assert_eq!(private.len(), 1, "{objects:?}");
        let key = private[0];
        assert_eq!(key.label, object);
        assert!(key.token, "{key:?}");
        assert_eq!(key.extractable, Some(false), "{key:?}");
        assert_eq!(key.sensitive, Some(true), "{key:?}");
        assert_eq!(key.never_extractable, Some(true), "{key:?}");
        assert_eq!(key.local, Some(true), "{key:?}");
        assert!(
            objects
                .iter()
                .any(|o| !o.private && o.label == object && o.token)
        );

        // The station's record names the token key by its URI, without the PIN's source.
        let rec = record(&hsm);
        assert_eq!(rec["keyFile"], "pkcs11");
        let uri = rec["pkcs11Uri"].as_str().unwrap();
        assert_eq!(
            uri,
            format!("pkcs11:token=kcsr;object={object}?module-path={MODULE}")
        );
        assert_eq!(rec["publicKeySha256"], out["publicKeySha256"]);
        // No key file: the key directory holds only the station's state.
        let entries: Vec<String> = std::fs::read_dir(hsm.dir().join("keys"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(entries, ["station"]);
        // The media is complete and signed like any other request's.
        support::sha256sum_ok(&hsm.dir().join("media"));
        assert!(hsm.dir().join("media/SHA256SUMS.sig").exists());
        support::assert_consistent(&hsm.dir().join("keys"), &hsm.dir().join("media"));
        hsm.assert_nothing_secret(&[&r], &[]);
    }
}

#[test]
fn a_second_run_uses_the_key_already_in_the_token() {
    let hsm = Hsm::new();
    let first = json(&hsm.request("alice", &["--json"]));
    let again = hsm.request("alice", &["--json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let again = json(&again);
    assert_eq!(again["status"], "unchanged");
    assert_eq!(again["key"]["source"], "reused");
    assert_eq!(again["publicKeySha256"], first["publicKeySha256"]);
    assert_eq!(hsm.objects().iter().filter(|o| o.private).count(), 1);

    // A key of another type under the label is not silently used.
    let r = hsm.request("alice", &["--key-type", "rsa2048"]);
    r.refused("\"kcsr\"", "holds the key \"alice\" as ECDSA P-256");
}

#[test]
fn a_wrong_pin_fails_naming_the_token_and_creates_nothing() {
    let hsm = Hsm::new();
    std::fs::write(hsm.dir().join("wrong"), "0000-wrong\n").unwrap();
    let uri = format!(
        "pkcs11:token=kcsr;object=alice?module-path={MODULE}&pin-source=file:{}",
        hsm.dir().join("wrong").display()
    );
    let request = || hsm.kcsr(&args::request("alice", &[], "media", &["--pkcs11", &uri]));
    // A PIN file others may read is refused before the token is asked anything.
    let r = request();
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.refused("has mode 0644", "chmod 600");
    assert!(!r.stderr.contains("0000-wrong"), "{}", r.stderr);
    assert!(hsm.objects().is_empty());
    std::fs::set_permissions(
        hsm.dir().join("wrong"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let r = request();
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.refused("token \"kcsr\"", "the PIN for token \"kcsr\" is wrong");
    assert!(!r.stderr.contains("0000-wrong"), "{}", r.stderr);
    assert!(hsm.objects().is_empty());
    assert!(!hsm.dir().join("media").exists());
    assert!(!hsm.dir().join("keys").exists());

    // Without pin-source, and no terminal to ask on: the fix is named.
    let uri = format!("pkcs11:token=kcsr;object=alice?module-path={MODULE}");
    let r = hsm.kcsr(&args::request("alice", &[], "media", &["--pkcs11", &uri]));
    r.refused("token \"kcsr\"", "standard input is not a terminal");
    r.stderr_has("pin-source=file:");

    // A URI carrying the PIN itself is refused before anything is loaded.
    let r = hsm.kcsr(&args::request(
        "alice",
        &[],
        "media",
        &[
            "--pkcs11",
            &format!("pkcs11:token=kcsr;object=alice?module-path={MODULE}&pin-value={PIN}"),
        ],
    ));
    assert_eq!(r.code, 2, "{}", r.stderr);
    r.stderr_has("pin-value puts the PIN");
    assert!(!r.stderr.contains(PIN), "the PIN was echoed: {}", r.stderr);
}

#[test]
fn a_request_the_cluster_would_refuse_or_a_dry_run_leaves_no_key_in_the_token() {
    let hsm = Hsm::new();
    // server auth on the client signer: refused by the checks (exit 3).
    let r = hsm.request("alice", &["--usage", "server auth"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(hsm.objects().is_empty(), "{:?}", hsm.objects());

    let r = hsm.request("alice", &["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stderr_has("would be generated in the token");
    assert!(hsm.objects().is_empty(), "{:?}", hsm.objects());
    assert!(!hsm.dir().join("media/alice.csr.yaml").exists());

    // Another request of the user on the media: refused before a key is made.
    std::fs::create_dir_all(hsm.dir().join("media")).unwrap();
    std::fs::write(hsm.dir().join("media/alice.csr.yaml"), "other\n").unwrap();
    let r = hsm.request("alice", &[]);
    r.refused("media/alice.csr.yaml", "already holds a different request");
    assert!(hsm.objects().is_empty(), "{:?}", hsm.objects());
}

#[test]
fn verify_checks_a_certificate_against_the_key_in_the_token() {
    let hsm = Hsm::new();
    assert_eq!(hsm.request("alice", &[]).code, 0);
    let cert = hsm.issue("alice");
    let uri = hsm.uri("alice");
    let ok = hsm.kcsr_ok(&[
        "verify", "--pkcs11", &uri, "--cert", &cert, "--ca", "ca.crt", "--json",
    ]);
    assert_eq!(json(&ok)["ok"], true);

    // A certificate for another key (a file key) does not match the token's.
    hsm.kcsr_ok(&args::request("mallory", &[], "media", &[]));
    let other = hsm.issue("mallory");
    let r = hsm.kcsr(&["verify", "--pkcs11", &uri, "--cert", &other]);
    assert_eq!(r.code, 3, "{}", r.stderr);

    // A key the token does not hold.
    let r = hsm.kcsr(&["verify", "--pkcs11", &hsm.uri("nobody"), "--cert", &cert]);
    r.refused("token \"kcsr\"", "holds no private key object=\"nobody\"");
    hsm.assert_nothing_secret(&[&ok, &r], &["keys/mallory.key.pem"]);
}

/// The bundle the connected side brings back for `stem`, listed in `RETURNED.SHA256SUMS`.
fn bring_back(hsm: &Hsm, stem: &str, cert_file: &str) {
    bring_back_saying(hsm, stem, cert_file, "https://127.0.0.1:6443");
}

/// [`bring_back`] with a bundle that names `server` as the cluster's (the media's word only).
fn bring_back_saying(hsm: &Hsm, stem: &str, cert_file: &str, server: &str) {
    let cert = hsm.read(cert_file);
    let ca = hsm.read("ca.crt");
    let docs = kcsr_core::manifest::parse_documents(
        hsm.read(&format!("media/{stem}.csr.yaml")).as_bytes(),
    )
    .unwrap();
    let kcsr_core::manifest::Document::Csr(m) = &docs[0] else {
        panic!("not a CSR manifest")
    };
    let bundle = support::bundle(
        &m.metadata.name,
        stem,
        &["dev"],
        support::bundle_cluster("test", server, Some(&ca)),
        &cert,
        Some(&ca),
        "2026-11-29T00:00:00Z",
    );
    let yaml = bundle.to_yaml().unwrap();
    let media = hsm.dir().join("media");
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

#[test]
fn assemble_writes_a_kubeconfig_for_kcsr_agent_from_the_stations_pin() {
    let hsm = Hsm::new();
    hsm.sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -subj /CN=test-ca -days 30 2>&1");
    std::fs::write(
        hsm.dir().join("leaf.cnf"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    hsm.kcsr_ok(&[
        "cluster",
        "add",
        "test",
        "--server",
        "https://127.0.0.1:6443",
        "--ca",
        "ca.crt",
        "--client-ca",
        "ca.crt",
        "--keys",
        "keys",
    ]);
    assert_eq!(hsm.request("alice", &["--cluster", "test"]).code, 0);
    let cert = hsm.issue("alice");
    // The media names another server: the kubeconfig's upstream is the station's pin.
    bring_back_saying(&hsm, "alice", &cert, "https://evil.example:6443");

    // The agent listens only on loopback: refused at the command line.
    let r = hsm.kcsr(&assemble_args(
        "--out",
        "alice.kubeconfig",
        &["--agent-address", "0.0.0.0:16443"],
    ));
    assert_eq!(r.code, 2, "{}", r.stderr);
    r.stderr_has("not a loopback address");

    let r = hsm.kcsr_ok(&assemble_args(
        "--out",
        "alice.kubeconfig",
        &["--pkcs11-pin-file", "pin"],
    ));
    assert!(
        r.stderr
            .contains("next: kcsr-agent --kubeconfig ./alice.kubeconfig"),
        "{}",
        r.stderr
    );
    let path = hsm.dir().join("alice.kubeconfig");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = hsm.read("alice.kubeconfig");
    let k: serde_json::Value =
        kcsr_core::yaml::parse_one(text.as_bytes(), kcsr_core::yaml::Snippets::Hide).unwrap();
    let b64 = |s: &serde_json::Value| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(s.as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(k["clusters"][0]["name"], "test@kcsr-agent", "{text}");
    assert_eq!(
        k["clusters"][0]["cluster"]["server"], "https://127.0.0.1:16443",
        "{text}"
    );
    // kubectl pins the agent's own loopback certificate, which names the agent's address.
    let agent_ca = b64(&k["clusters"][0]["cluster"]["certificate-authority-data"]);
    let info = kcsr_core::cert::parse_first(agent_ca.as_bytes()).unwrap();
    assert_eq!(
        info.sans.ip,
        ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(
        k["contexts"][0]["context"]["cluster"], "test@kcsr-agent",
        "{text}"
    );
    let user = &k["users"][0]["user"];
    let token = user["token"].as_str().unwrap();
    assert!(
        token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "{text}"
    );
    assert!(!r.stderr.contains(token) && !r.stdout.contains(token));
    assert!(user.get("client-key-data").is_none() && user.get("client-certificate-data").is_none());
    let ext = &user["extensions"][0];
    assert_eq!(ext["name"], "kcsr.io/agent");
    let ext = &ext["extension"];
    assert_eq!(ext["upstream"], "https://127.0.0.1:6443", "{text}");
    assert_eq!(b64(&ext["certificate-authority-data"]), hsm.read("ca.crt"));
    assert_eq!(
        b64(&ext["client-certificate-data"]).trim(),
        hsm.read(&cert).trim()
    );
    let pkcs11 = ext["pkcs11"].as_str().unwrap();
    assert!(
        pkcs11.starts_with("pkcs11:token=kcsr;object=alice?"),
        "{pkcs11}"
    );
    assert!(
        pkcs11.contains(&format!(
            "pin-source=file:{}",
            hsm.dir().join("pin").display()
        )),
        "{pkcs11}"
    );
    assert!(!pkcs11.contains("pin-value") && !text.contains(PIN));
    assert_eq!(b64(&ext["serving-certificate-data"]), agent_ca);
    // Decision 0010's record-keeping: a kubeconfig was written, so the record is `assembled`.
    let rec = record(&hsm);
    assert!(!rec["assembled"].is_null(), "{rec}");

    // Merging the same user into a file twice keeps its bearer token: the entry is unchanged.
    for _ in 0..2 {
        hsm.kcsr_ok(&assemble_args(
            "--merge-into",
            "merged.kubeconfig",
            &["--pkcs11-pin-file", "pin"],
        ));
    }
    let merged = hsm.read("merged.kubeconfig");
    assert_eq!(merged.matches("kcsr.io/agent").count(), 1, "{merged}");
    // A file others could read may have given its bearer token away: merging into it again
    // writes a new token (and says so) instead of keeping the old one.
    let token_of = |text: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix("token: "))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no token in {text}"))
    };
    let before = token_of(&merged);
    std::fs::set_permissions(
        hsm.dir().join("merged.kubeconfig"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let r = hsm.kcsr(&[
        "assemble",
        "--media",
        "media",
        "--keys",
        "keys",
        "--merge-into",
        "merged.kubeconfig",
        "--force",
        "--pkcs11-pin-file",
        "pin",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stderr_has("readable by others");
    let after = token_of(&hsm.read("merged.kubeconfig"));
    assert_ne!(before, after);
    assert!(
        !r.stderr.contains(&before) && !r.stderr.contains(&after),
        "{}",
        r.stderr
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(hsm.dir().join("merged.kubeconfig"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // The user's key is still in the token, and cannot leave it.
    let objects = hsm.objects();
    assert!(
        objects.iter().any(|o| o.private && o.label == "alice"),
        "{objects:?}"
    );
    for o in objects.iter().filter(|o| o.private) {
        assert_eq!(o.extractable, Some(false), "{o:?}");
    }
    hsm.assert_nothing_secret(&[&r], &[]);

    // A forged certificate for the token user (another CA) is still refused as forged.
    hsm.sh("mkdir evil && cd evil && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -subj /CN=evil -days 30 2>&1");
    hsm.sh(
        "openssl x509 -req -in alice.csr -CA evil/ca.crt -CAkey evil/ca.key -CAcreateserial -days 10 -extfile leaf.cnf -out forged.crt 2>&1",
    );
    bring_back(&hsm, "alice", "forged.crt");
    let r = hsm.kcsr(&assemble_args("--out", "alice.kubeconfig", &[]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    r.stderr_has("chain");
    hsm.assert_nothing_secret(&[&r], &[]);
}

#[test]
fn renew_keeps_a_token_key_in_the_token() {
    let hsm = Hsm::new();
    let alice = json(&hsm.request("alice", &["--json"]));
    let bob = json(&hsm.request("bob", &["--json", "--key-type", "rsa2048"]));
    let certs = [hsm.issue("alice"), hsm.issue("bob")];
    let renew = |more: &[&str]| {
        let mut args = vec![
            "renew", "--keys", "keys", "--media", "media", "--within", "30d", &certs[0], &certs[1],
        ];
        args.extend_from_slice(more);
        hsm.kcsr(&args)
    };
    // A new key would be a file, out of the hardware: refused, with the way to renew.
    let r = renew(&[]);
    r.refused(
        "pkcs11:token=kcsr;object=alice",
        "a new key for the renewal would be a file",
    );
    r.stderr_has("--reuse-key");

    // Both keys in one run: the module is opened once per key.
    let pin = hsm.dir().join("pin");
    let r = renew(&[
        "--reuse-key",
        "--pkcs11-pin-file",
        pin.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = json(&r);
    let mut renewed = Vec::new();
    for c in out["certificates"].as_array().unwrap() {
        assert_eq!(c["request"]["written"], true, "{out}");
        // A renewal is a new request even with the same key: its own stem (so its own object
        // name and record), never the original's.
        let stem = c["request"]["stem"].as_str().unwrap().to_owned();
        let user = if stem.starts_with("alice-") {
            "alice"
        } else {
            "bob"
        };
        assert!(
            stem.starts_with(&format!("{user}-renew-")) && stem.ends_with("-samekey"),
            "{out}"
        );
        renewed.push((stem, user));
    }
    assert_eq!(renewed.len(), 2, "{out}");
    // The renewals are signed by the same token keys, and recorded as such.
    for (stem, user) in &renewed {
        let csr = hsm.csr_file(stem);
        let verified = hsm.sh(&format!("openssl req -in {csr} -verify -noout 2>&1"));
        assert!(verified.contains("verify OK"), "{verified}");
        let first = if *user == "alice" { &alice } else { &bob };
        let docs = kcsr_core::manifest::parse_documents(
            hsm.read(&format!("media/{stem}.csr.yaml")).as_bytes(),
        )
        .unwrap();
        let kcsr_core::manifest::Document::Csr(m) = &docs[0] else {
            panic!("{stem}: not a CSR manifest")
        };
        assert_eq!(
            m.decode_request().unwrap().public_key.fingerprint,
            first["publicKeySha256"].as_str().unwrap(),
            "{stem}"
        );
    }
    let records: Vec<serde_json::Value> =
        std::fs::read_dir(hsm.dir().join("keys/station/requests"))
            .unwrap()
            .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
            .collect();
    // The originals' records are kept beside the renewals'.
    assert_eq!(records.len(), 4, "{records:?}");
    for (stem, _) in &renewed {
        assert!(records.iter().any(|r| r["stem"] == stem.as_str()), "{stem}");
    }
    for rec in &records {
        let (user, first) = if rec["user"] == "alice" {
            ("alice", &alice)
        } else {
            ("bob", &bob)
        };
        assert_eq!(rec["keyFile"], "pkcs11", "{rec}");
        assert_eq!(rec["publicKeySha256"], first["publicKeySha256"], "{rec}");
        assert!(
            rec["pkcs11Uri"]
                .as_str()
                .unwrap()
                .starts_with(&format!("pkcs11:token=kcsr;object={user}?")),
            "{rec}"
        );
    }
    assert_eq!(hsm.objects().iter().filter(|o| o.private).count(), 2);
    hsm.assert_nothing_secret(&[&r], &[]);
}

#[test]
fn a_token_key_request_carries_ticket_operator_and_grants_and_obeys_the_site_policy() {
    let hsm = Hsm::new();
    std::fs::create_dir_all(hsm.dir().join("keys/station")).unwrap();
    std::fs::write(
        hsm.dir().join("keys/station/policy.yaml"),
        "apiVersion: kcsr.dev/v1\nkind: StationPolicy\nmaxLifetime: 30d\nticketRequiredFor: [cluster-admin]\n",
    )
    .unwrap();
    // The policy refuses before the token is asked for a key.
    let r = hsm.request(
        "ops",
        &["--clusterrole", "cluster-admin", "--expiration", "90d"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    r.refused("keys/station/policy.yaml", "breaks the station policy");
    r.stderr_has("maxLifetime");
    r.stderr_has("needs a change ticket");
    assert!(hsm.objects().is_empty(), "{:?}", hsm.objects());
    assert!(!hsm.dir().join("media").exists());

    let r = hsm.request(
        "ops",
        &[
            "--clusterrole",
            "cluster-admin",
            "--role",
            "team-b/deployer",
            "--ticket",
            "CHG-77",
            "--operator",
            "dana",
            "--expiration",
            "7d",
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(v["ticket"], "CHG-77");
    assert_eq!(v["operator"], "dana");
    assert_eq!(
        v["grants"],
        serde_json::json!(["ClusterRole/cluster-admin", "Role/team-b/deployer"])
    );
    let rec = record(&hsm);
    assert_eq!(rec["keyFile"], "pkcs11", "{rec}");
    assert_eq!(rec["ticket"], "CHG-77", "{rec}");
    assert_eq!(rec["operator"], "dana", "{rec}");
    assert_eq!(rec["grants"], v["grants"], "{rec}");
    let manifest = hsm.read("media/ops.csr.yaml");
    assert!(manifest.contains("kcsr.dev/ticket: CHG-77"), "{manifest}");
    assert!(hsm.dir().join("media/ops.binding.yaml").exists());
    assert!(hsm.dir().join("media/station-policy.yaml").exists());
    assert_eq!(hsm.objects().iter().filter(|o| o.private).count(), 1);
    hsm.assert_nothing_secret(&[&r], &[]);
}

/// The station's records, by user.
fn records_by_user(hsm: &Hsm) -> std::collections::BTreeMap<String, serde_json::Value> {
    std::fs::read_dir(hsm.dir().join("keys/station/requests"))
        .unwrap()
        .map(|e| {
            let rec: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
            (rec["user"].as_str().unwrap().to_owned(), rec)
        })
        .collect()
}

/// `kcsr batch` with a `pkcs11` column: each token user's key is generated in the token (one
/// at a time), signs a CSR OpenSSL verifies, is recorded by URI without the PIN's source, and
/// no key file is written for it; a file-key user in the same roster gets a key file as ever.
#[test]
fn batch_generates_each_token_users_key_in_the_token() {
    let hsm = Hsm::new();
    let roster = format!(
        "user,groups,key_type,pkcs11\nalice,dev,p256,{}\nbob,dev,rsa2048,{}\ncarol,dev,p256,{}\ndave,dev,p256,\n",
        hsm.uri("alice"),
        hsm.uri("bob"),
        hsm.uri("carol")
    );
    std::fs::write(hsm.dir().join("team.csv"), roster).unwrap();
    let batch = |more: &[&str]| {
        let mut args = vec![
            "batch", "--roster", "team.csv", "--keys", "keys", "--media", "media", "--jobs", "4",
        ];
        args.extend_from_slice(more);
        hsm.kcsr(&args)
    };
    // The plan says which keys are in the token, and generates nothing.
    let plan = batch(&["--dry-run"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    plan.stdout_has("p256 (token, new)");
    plan.stdout_has("p256 (new)");
    assert!(hsm.objects().is_empty());

    let r = batch(&["--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = json(&r);
    assert_eq!(out["written"], 4, "{out}");
    let users = out["users"].as_array().unwrap();
    let records = records_by_user(&hsm);
    for (user, kind) in [
        ("alice", "id-ecPublicKey"),
        ("bob", "rsaEncryption"),
        ("carol", "id-ecPublicKey"),
    ] {
        let u = users.iter().find(|u| u["user"] == user).unwrap();
        let uri = format!("pkcs11:token=kcsr;object={user}?module-path={MODULE}");
        assert_eq!(u["pkcs11"], uri.as_str(), "{u}");
        assert_eq!(u["keySource"], "new");
        let rec = &records[user];
        assert_eq!(rec["keyFile"], "pkcs11", "{rec}");
        assert_eq!(rec["pkcs11Uri"], uri.as_str(), "{rec}");
        assert_eq!(rec["publicKeySha256"], u["publicKeySha256"], "{rec}");
        let csr = hsm.csr_file(user);
        let text = hsm.sh(&format!("openssl req -in {csr} -verify -noout -text 2>&1"));
        assert!(text.contains("verify OK"), "{text}");
        assert!(text.contains(kind), "{text}");
        // The CSR's key is the token's: the fingerprint the operator compares is its own.
        let fp = hsm.sh(&format!(
            "openssl req -in {csr} -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum"
        ));
        assert!(
            fp.starts_with(u["publicKeySha256"].as_str().unwrap()),
            "{fp} {u}"
        );
    }
    let dave = users.iter().find(|u| u["user"] == "dave").unwrap();
    assert_eq!(dave["pkcs11"], serde_json::Value::Null);
    // One non-extractable key pair per token user; a key file only for dave.
    let objects = hsm.objects();
    let mut private: Vec<&str> = objects
        .iter()
        .filter(|o| o.private)
        .map(|o| o.label.as_str())
        .collect();
    private.sort_unstable();
    assert_eq!(private, ["alice", "bob", "carol"], "{objects:?}");
    assert!(
        objects
            .iter()
            .filter(|o| o.private)
            .all(|o| o.extractable == Some(false) && o.sensitive == Some(true)),
        "{objects:?}"
    );
    let mut entries: Vec<String> = std::fs::read_dir(hsm.dir().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["dave.key.pem", "station"]);
    support::sha256sum_ok(&hsm.dir().join("media"));
    support::assert_consistent(&hsm.dir().join("keys"), &hsm.dir().join("media"));

    // The text output shows every user's public-key fingerprint, token keys too; a re-run
    // uses the keys already in the token and changes nothing.
    let again = batch(&[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    for user in ["alice", "bob", "carol", "dave"] {
        let u = users.iter().find(|u| u["user"] == user).unwrap();
        let line = again
            .stdout
            .lines()
            .find(|l| l.starts_with(user))
            .unwrap_or_else(|| panic!("{}", again.stdout));
        assert!(line.contains("unchanged"), "{line}");
        assert!(
            line.contains(u["publicKeySha256"].as_str().unwrap()),
            "{line}"
        );
    }
    assert_eq!(hsm.objects().iter().filter(|o| o.private).count(), 3);
    hsm.assert_nothing_secret(&[&plan, &r, &again], &["keys/dave.key.pem"]);
}

/// A row with both a token key and a passphrase file, or two rows naming one token key, is a
/// roster error naming the row and the column; nothing is written, nothing generated.
#[test]
fn batch_refuses_a_token_row_with_a_passphrase_file_or_a_shared_token_key() {
    let hsm = Hsm::new();
    std::fs::write(hsm.dir().join("pass"), "a long passphrase\n").unwrap();
    std::fs::write(
        hsm.dir().join("team.csv"),
        format!(
            "user,pkcs11,passphrase_file\nalice,{},\nbob,{},pass\ncarol,{},\n",
            hsm.uri("alice"),
            hsm.uri("bob"),
            hsm.uri("alice"),
        ),
    )
    .unwrap();
    let r = hsm.kcsr(&[
        "batch",
        "--roster",
        "team.csv",
        "--keys",
        "keys",
        "--media",
        "media",
        "--encrypt-key",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    for line in [
        "has 2 bad row(s); nothing was written",
        "line 3: columns pkcs11 and passphrase_file are both given",
        "line 4: column pkcs11 names the token key of line 2 (pkcs11:token=kcsr;object=alice)",
    ] {
        assert!(r.stderr.contains(line), "{line}:\n{}", r.stderr);
    }
    assert!(!hsm.dir().join("media").exists());
    assert!(!hsm.dir().join("keys").exists());
    assert!(hsm.objects().is_empty());
    assert!(!r.stderr.contains(PIN), "{}", r.stderr);
}

/// `kcsr batch --pkcs11 URI`: the token for every user without a `pkcs11` column, each key the
/// object labelled with the user's stem; a row's own URI still wins. A `--pkcs11` that names an
/// object would give every user one key: refused.
#[test]
fn batch_pkcs11_default_puts_each_users_key_under_their_stem() {
    let hsm = Hsm::new();
    std::fs::write(
        hsm.dir().join("team.csv"),
        format!(
            "user,groups,pkcs11\nerin,dev,\nfrank,dev,{}\n",
            hsm.uri("frank-own")
        ),
    )
    .unwrap();
    let token = format!(
        "pkcs11:token=kcsr?module-path={MODULE}&pin-source=file:{}",
        hsm.dir().join("pin").display()
    );
    let batch = |uri: &str| {
        hsm.kcsr(&[
            "batch", "--roster", "team.csv", "--keys", "keys", "--media", "media", "--pkcs11", uri,
            "--json",
        ])
    };
    let r = batch(&hsm.uri("everyone"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.stderr_has("--pkcs11 names a key object");
    assert!(hsm.objects().is_empty());

    let r = batch(&token);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let records = records_by_user(&hsm);
    for (user, object) in [("erin", "erin"), ("frank", "frank-own")] {
        assert_eq!(
            records[user]["pkcs11Uri"],
            format!("pkcs11:token=kcsr;object={object}?module-path={MODULE}"),
            "{user}"
        );
    }
    let mut labels: Vec<String> = hsm
        .objects()
        .into_iter()
        .filter(|o| o.private)
        .map(|o| o.label)
        .collect();
    labels.sort();
    assert_eq!(labels, ["erin", "frank-own"]);
    assert_eq!(
        std::fs::read_dir(hsm.dir().join("keys")).unwrap().count(),
        1,
        "only the station's directory"
    );
    hsm.assert_nothing_secret(&[&r], &[]);
}

#[test]
fn a_request_from_the_users_own_csr_cannot_also_name_a_token_key() {
    let hsm = Hsm::new();
    hsm.sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout own.key -out own.csr -subj /CN=alice/O=dev 2>&1");
    let uri = hsm.uri("alice");
    let r = hsm.kcsr(&args::request(
        "alice",
        &["dev"],
        "media",
        &["--csr", "own.csr", "--pkcs11", &uri],
    ));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--csr") && r.stderr.contains("--pkcs11"),
        "{}",
        r.stderr
    );
    r.stderr_has("cannot be used with");
    // Nothing was written, and the token holds no key for it.
    assert!(!hsm.dir().join("media").exists());
    assert!(hsm.objects().iter().all(|o| o.label != "alice"));
}

/// `kcsr batch` with the PIN typed on a terminal (no `pin-source`): asked once for the token,
/// not once per user (on a pseudo-terminal from util-linux `script`; the PIN is typed only
/// when a prompt shows, and typed again at any further prompt, so that a regression shows as
/// a second prompt rather than a hang).
#[test]
fn batch_asks_a_typed_pin_once_per_token() {
    use std::io::Write as _;
    use std::time::{Duration, Instant};

    use kcsr_testkit::Background;

    let hsm = Hsm::new();
    std::fs::write(
        hsm.dir().join("team.csv"),
        "user,groups\nana,dev\nben,dev\ncid,dev\n",
    )
    .unwrap();
    let command = format!(
        "{} batch --roster team.csv --keys keys --media media --pkcs11 'pkcs11:token=kcsr?module-path={MODULE}'",
        support::KCSR
    );
    let mut script = kcsr_testkit::command("script");
    script
        .args(["-qec", &command, "/dev/null"])
        .current_dir(hsm.dir())
        .env("SOFTHSM2_CONF", hsm.conf())
        .stdin(Stdio::piped())
        .stderr(Stdio::null());
    let mut batch = Background::start(script, "kcsr batch (in util-linux script)");
    let mut stdin = batch.take_stdin().unwrap();
    let prompts = |batch: &Background| batch.stdout().matches("PIN for token \"kcsr\"").count();
    let mut typed = 0;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = batch.try_wait() {
            break status;
        }
        if prompts(&batch) > typed {
            stdin.write_all(format!("{PIN}\n").as_bytes()).unwrap();
            typed += 1;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "kcsr batch did not end: {}",
            batch.stdout()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // Once it has ended, its output has been read to the end.
    let out = batch.stdout();
    assert!(status.success(), "{out}");
    assert_eq!(prompts(&batch), 1, "{out}");
    let mut labels: Vec<String> = hsm
        .objects()
        .into_iter()
        .filter(|o| o.private)
        .map(|o| o.label)
        .collect();
    labels.sort();
    assert_eq!(labels, ["ana", "ben", "cid"]);
    assert!(!out.contains(PIN), "the PIN was echoed: {out}");
}

//! `kcsr assemble` against an adversary on the media (issue 12, decision 0009): whoever carries
//! the media can rewrite any file on it and recompute `SHA256SUMS` and `RETURNED.SHA256SUMS`,
//! and reads the operator's public CSR there; it cannot touch the key directory. Each attack is
//! played with only that, and must leave nothing written: the kubeconfig comes from the
//! station's pin and record, never from the bundle.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use kcsr_testkit::args::request;
use support::station::{pin, record};
use support::{Run, bundle, bundle_cluster, kcsr, list_returned};

const PROD: &str = "https://prod.example:6443";
const EVIL: &str = "https://evil.example:6443";

/// `sh -c CMD` in `dir`, which must succeed: its stdout and stderr.
fn sh(dir: &Path, cmd: &str) -> String {
    let r = kcsr_testkit::sh(dir, cmd).expect_code(0, cmd);
    r.stdout + &r.stderr
}

/// An isolated station that requested a certificate for alice (group dev), and the certificate
/// authorities of the real cluster and of an attacker.
struct Trip {
    t: tempfile::TempDir,
}

impl Trip {
    fn new() -> Self {
        let t = tempfile::tempdir().unwrap();
        let trip = Self { t };
        trip.request("alice", &["--group", "dev"]);
        std::fs::write(
            trip.dir().join("leaf.cnf"),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
        )
        .unwrap();
        std::fs::write(
            trip.dir().join("ca.cnf"),
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n",
        )
        .unwrap();
        trip
    }

    fn dir(&self) -> &Path {
        self.t.path()
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir().join(p)
    }

    fn request(&self, stem: &str, more: &[&str]) {
        let user = if stem.starts_with("alice") {
            "alice"
        } else {
            stem
        };
        let mut args = request(user, &[], "media", &[]);
        if stem != user {
            args.extend(["--name", stem]);
        }
        args.extend_from_slice(more);
        let r = kcsr(self.dir(), &args);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }

    /// A self-signed CA `NAME.crt` (key `NAME.key`); its PEM.
    fn ca(&self, name: &str) -> String {
        if !self.path(&format!("{name}.crt")).exists() {
            sh(
                self.dir(),
                &format!(
                    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {name}.key -out {name}.crt -subj /CN={name} -days 30 2>&1"
                ),
            );
        }
        self.read(&format!("{name}.crt"))
    }

    /// An intermediate CA `NAME.crt` signed by `by`.
    fn intermediate(&self, name: &str, by: &str) -> String {
        sh(
            self.dir(),
            &format!(
                "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {name}.key -out {name}.csr -subj /CN={name} 2>&1 && openssl x509 -req -in {name}.csr -CA {by}.crt -CAkey {by}.key -CAcreateserial -days 20 -extfile ca.cnf -out {name}.crt 2>&1"
            ),
        );
        self.read(&format!("{name}.crt"))
    }

    /// The certificate `ca` issues for the public CSR of `media/<stem>.csr.yaml` (as anyone
    /// holding the media can), valid `days` days.
    fn issue(&self, stem: &str, ca: &str, days: u32) -> String {
        let manifest = self.read(&format!("media/{stem}.csr.yaml"));
        let b64 = manifest
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("request:"))
            .unwrap()
            .trim();
        std::fs::write(
            self.path("issue.csr"),
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap();
        sh(
            self.dir(),
            &format!(
                "openssl x509 -req -in issue.csr -CA {ca}.crt -CAkey {ca}.key -CAcreateserial -days {days} -extfile leaf.cnf -out issued.crt 2>&1"
            ),
        );
        self.read("issued.crt")
    }

    fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.path(p)).unwrap()
    }

    fn object_name(&self, stem: &str) -> String {
        let docs = kcsr_core::manifest::parse_documents(
            &std::fs::read(self.path(&format!("media/{stem}.csr.yaml"))).unwrap(),
        )
        .unwrap();
        let kcsr_core::manifest::Document::Csr(m) = &docs[0] else {
            panic!("not a CSR manifest")
        };
        m.metadata.name.clone()
    }

    /// Writes `<stem>.bundle.yaml` and `<stem>.crt` onto the media and lists them in
    /// `RETURNED.SHA256SUMS`: what the connected side does, and what an attacker can do.
    fn bring_back(&self, stem: &str, back: &Back<'_>) {
        let bundle = bundle(
            &self.object_name(stem),
            "alice",
            &["dev"],
            bundle_cluster(back.cluster_name, back.server, back.ca),
            back.cert,
            back.client_ca,
            "2026-11-29T00:00:00Z",
        );
        let yaml = bundle.to_yaml().unwrap();
        let media = self.path("media");
        std::fs::write(media.join(format!("{stem}.bundle.yaml")), &yaml).unwrap();
        std::fs::write(media.join(format!("{stem}.crt")), back.cert).unwrap();
        list_returned(
            &media,
            &[
                (format!("{stem}.bundle.yaml"), yaml.as_str()),
                (format!("{stem}.crt"), back.cert),
            ],
        );
    }

    /// The attacker's return for `stem`: its own CA signs the operator's public CSR, and the
    /// bundle points at its server and CA, under the cluster name `prod`.
    fn forge(&self, stem: &str) -> String {
        let evil = self.ca("evil");
        let cert = self.issue(stem, "evil", 10);
        self.bring_back(
            stem,
            &Back {
                cluster_name: "prod",
                server: EVIL,
                ca: Some(&evil),
                client_ca: Some(&evil),
                cert: &cert,
            },
        );
        fingerprint(&evil)
    }

    /// The genuine return for `stem`, issued by the real cluster's CA `real`.
    fn genuine(&self, stem: &str, days: u32) -> String {
        let real = self.ca("real");
        let cert = self.issue(stem, "real", days);
        self.bring_back(
            stem,
            &Back {
                cluster_name: "kubernetes",
                server: PROD,
                ca: Some(&real),
                client_ca: Some(&real),
                cert: &cert,
            },
        );
        cert
    }

    /// The station pins the real cluster as `prod` (its CA as server and client CA) and records
    /// alice's request for it.
    fn pin_and_record(&self) {
        let real = self.ca("real");
        pin(&self.path("keys"), "prod", PROD, &real, &real);
        record(self.dir(), "alice", Some("prod"));
    }

    fn assemble(&self, more: &[&str]) -> Run {
        let mut args = vec!["assemble", "--media", "media", "--keys", "keys"];
        args.extend_from_slice(more);
        kcsr(self.dir(), &args)
    }

    fn kubeconfig(&self, p: &str) -> serde_json::Value {
        kcsr_core::yaml::parse_one(
            &std::fs::read(self.path(p)).unwrap(),
            kcsr_core::yaml::Snippets::Show,
        )
        .unwrap()
    }

    fn pinned(&self, name: &str) -> bool {
        self.path(&format!("keys/station/clusters/{name}.json"))
            .exists()
    }
}

struct Back<'a> {
    cluster_name: &'a str,
    server: &'a str,
    ca: Option<&'a str>,
    client_ca: Option<&'a str>,
    cert: &'a str,
}

/// The CA fingerprint as the operator gets it out of band, computed with OpenSSL alone
/// (kubeadm's `--discovery-token-ca-cert-hash` recipe).
fn fingerprint(pem: &str) -> String {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("ca.crt"), pem).unwrap();
    let hex = sh(
        t.path(),
        "openssl x509 -in ca.crt -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum",
    );
    format!("sha256:{}", hex.split_whitespace().next().unwrap())
}

fn refused(r: &Run, says: &[&str]) {
    r.refused_with(3, says);
}

fn b64(v: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

#[test]
fn a_genuine_return_is_assembled_from_the_pin_never_from_the_bundle() {
    let trip = Trip::new();
    trip.pin_and_record();
    let cert = trip.genuine("alice", 10);
    // The connected side reached the cluster through another URL (a load balancer), and its
    // kubeconfig calls the cluster "kubernetes": both are the bundle's, not the pin's.
    let r = trip.assemble(&["--out", "alice.kubeconfig", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = trip.kubeconfig("alice.kubeconfig");
    assert_eq!(v["clusters"][0]["name"], "prod");
    assert_eq!(v["clusters"][0]["cluster"]["server"], PROD);
    assert_eq!(
        b64(&v["clusters"][0]["cluster"]["certificate-authority-data"]),
        trip.read("real.crt").as_bytes()
    );
    assert_eq!(v["users"][0]["name"], "alice@prod");
    assert_eq!(v["contexts"][0]["name"], "alice@prod");
    assert_eq!(v["current-context"], "alice@prod");
    assert_eq!(
        b64(&v["users"][0]["user"]["client-certificate-data"]),
        cert.as_bytes()
    );
    assert_eq!(
        b64(&v["users"][0]["user"]["client-key-data"]),
        std::fs::read(trip.path("keys/alice.key.pem")).unwrap()
    );
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["users"][0]["cluster"], "prod");
    assert_eq!(out["users"][0]["recorded"], true);
    assert_eq!(out["pinned"], serde_json::json!([]));

    // A different server URL is reported, and the pin's is used.
    let lb = "https://lb.example:443";
    let real = trip.read("real.crt");
    trip.bring_back(
        "alice",
        &Back {
            cluster_name: "kubernetes",
            server: lb,
            ca: Some(&real),
            client_ca: Some(&real),
            cert: &cert,
        },
    );
    let r = trip.assemble(&["--out", "again.kubeconfig"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stderr_has(&format!(
            "warning: alice.bundle.yaml: the bundle names the server {lb}, cluster prod is pinned with {PROD}"
        ));
    assert_eq!(
        trip.kubeconfig("again.kubeconfig")["clusters"][0]["cluster"]["server"],
        PROD
    );
}

#[test]
fn a_forged_return_with_a_pin_is_refused_showing_both_fingerprints() {
    let trip = Trip::new();
    trip.pin_and_record();
    let evil = trip.forge("alice");
    let real = fingerprint(&trip.read("real.crt"));
    let r = trip.assemble(&["--out", "alice.kubeconfig"]);
    refused(
        &r,
        &[
            "alice.bundle.yaml: cluster: the bundle's server CA is",
            &evil,
            &real,
            "nothing was written",
        ],
    );
    assert!(!trip.path("alice.kubeconfig").exists());

    // Without CAs in the bundle there is nothing to compare: the chain to the pinned CA
    // refuses the attacker's certificate.
    let cert = trip.read("issued.crt");
    trip.bring_back(
        "alice",
        &Back {
            cluster_name: "prod",
            server: EVIL,
            ca: None,
            client_ca: None,
            cert: &cert,
        },
    );
    let r = trip.assemble(&["--out", "alice.kubeconfig"]);
    refused(
        &r,
        &[
            "alice.bundle.yaml: chain: the certificate is not signed by the pinned CA",
            &real,
        ],
    );
    // The real CAs in the bundle and the attacker's CA behind the leaf do not help either.
    let evil_pem = trip.read("evil.crt");
    let real_pem = trip.read("real.crt");
    let chain = format!("{cert}{evil_pem}");
    trip.bring_back(
        "alice",
        &Back {
            cluster_name: "prod",
            server: PROD,
            ca: Some(&real_pem),
            client_ca: Some(&real_pem),
            cert: &chain,
        },
    );
    let r = trip.assemble(&["--out", "alice.kubeconfig"]);
    refused(
        &r,
        &["alice.bundle.yaml: chain:", "not signed by the pinned CA"],
    );
    assert!(!trip.path("alice.kubeconfig").exists());
    assert!(!trip.pinned("evil"), "nothing is pinned from the media");
}

#[test]
fn the_merge_redirect_is_refused_and_the_kubeconfig_stays_byte_identical() {
    let trip = Trip::new();
    trip.pin_and_record();
    let existing = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: {PROD}\n    certificate-authority-data: {}\nusers:\n- name: admin\n  user:\n    token: secret-bearer-token\ncontexts:\n- name: prod\n  context:\n    cluster: prod\n    user: admin\ncurrent-context: prod\n",
        base64::engine::general_purpose::STANDARD.encode(trip.read("real.crt"))
    );
    std::fs::write(trip.path("config"), &existing).unwrap();
    let evil = trip.forge("alice");
    let r = trip.assemble(&["--merge-into", "config", "--set-current"]);
    refused(&r, &[&evil, "nothing was written"]);
    assert_eq!(trip.read("config"), existing, "the kubeconfig changed");
    // --force does not override a verification.
    let r = trip.assemble(&["--merge-into", "config", "--force"]);
    refused(&r, &[&evil]);
    assert_eq!(trip.read("config"), existing, "the kubeconfig changed");

    // The same on a first trip (no pin, a record without a cluster): the forged bundle names
    // the cluster prod, but entry names come only from --cluster, and nothing is pinned
    // without the fingerprints.
    std::fs::remove_dir_all(trip.path("keys/station")).unwrap();
    record(trip.dir(), "alice", None);
    let r = trip.assemble(&["--merge-into", "config", "--cluster", "prod"]);
    refused(&r, &["not pinned", &evil, EVIL]);
    assert_eq!(trip.read("config"), existing, "the kubeconfig changed");
    assert!(!trip.pinned("prod"));
}

#[test]
fn merging_never_changes_an_existing_entry_that_differs_unless_forced() {
    let trip = Trip::new();
    trip.pin_and_record();
    trip.genuine("alice", 10);
    // An unrelated cluster also called prod in the operator's kubeconfig, used by a context.
    let existing = "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://other.example:6443\nusers:\n- name: admin\n  user:\n    token: abc\ncontexts:\n- name: prod\n  context:\n    cluster: prod\n    user: admin\ncurrent-context: prod\n";
    std::fs::write(trip.path("config"), existing).unwrap();
    let r = trip.assemble(&["--merge-into", "config"]);
    refused(
        &r,
        &[
            "config already holds an entry with other content; nothing was written",
            "cluster \"prod\"",
            "--force",
        ],
    );
    assert!(!r.stderr.contains("user \"alice@prod\""), "{}", r.stderr);
    assert_eq!(trip.read("config"), existing);

    // A context of the same name that points elsewhere is refused too.
    let existing = "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts:\n- name: alice@prod\n  context:\n    cluster: somewhere\n    user: someone\ncurrent-context: alice@prod\n";
    std::fs::write(trip.path("config"), existing).unwrap();
    let r = trip.assemble(&["--merge-into", "config"]);
    refused(&r, &["context \"alice@prod\""]);
    assert_eq!(trip.read("config"), existing);

    // --force replaces and says what it replaced; current-context stays without --set-current.
    let r = trip.assemble(&["--merge-into", "config", "--force", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("replaced context \"alice@prod\" (--force)"),
        "{}",
        r.stderr
    );
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        out["replaced"],
        serde_json::json!([{"kind": "context", "name": "alice@prod"}])
    );
    let v = trip.kubeconfig("config");
    assert_eq!(v["contexts"][0]["context"]["cluster"], "prod");
    assert_eq!(v["current-context"], "alice@prod");

    // Identical entries are kept as they are: the same run again succeeds.
    let r = trip.assemble(&["--merge-into", "config"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn a_renewal_replaces_the_user_entry_and_is_reported_an_older_certificate_does_not() {
    let trip = Trip::new();
    trip.pin_and_record();
    trip.genuine("alice", 10);
    std::fs::write(trip.path("config"), "").unwrap();
    let r = trip.assemble(&["--merge-into", "config"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // The renewal: a new key and request for alice on fresh media, for the same pin.
    std::fs::rename(trip.path("media"), trip.path("media-1")).unwrap();
    trip.request("alice-2", &["--group", "dev"]);
    record(trip.dir(), "alice-2", Some("prod"));
    let renewed = trip.genuine("alice-2", 20);
    let r = trip.assemble(&["--merge-into", "config", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stderr_has("renewed user \"alice@prod\"");
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        out["renewed"],
        serde_json::json!([{"kind": "user", "name": "alice@prod"}])
    );
    let v = trip.kubeconfig("config");
    assert_eq!(v["users"].as_array().unwrap().len(), 1);
    assert_eq!(
        b64(&v["users"][0]["user"]["client-certificate-data"]),
        renewed.as_bytes()
    );
    assert_eq!(
        b64(&v["users"][0]["user"]["client-key-data"]),
        std::fs::read(trip.path("keys/alice-2.key.pem")).unwrap()
    );

    // The first certificate expires earlier: bringing it back is no renewal.
    let before = trip.read("config");
    std::fs::rename(trip.path("media"), trip.path("media-2")).unwrap();
    std::fs::rename(trip.path("media-1"), trip.path("media")).unwrap();
    let r = trip.assemble(&["--merge-into", "config"]);
    refused(&r, &["user \"alice@prod\"", "--force"]);
    assert_eq!(trip.read("config"), before);
}

#[test]
fn a_first_trip_with_a_wrong_pasted_fingerprint_pins_and_writes_nothing() {
    let trip = Trip::new();
    // Requested before any pin: the record names no cluster.
    record(trip.dir(), "alice", None);
    let real = fingerprint(&trip.ca("real"));
    let evil = trip.forge("alice");

    // Without a cluster name there is nothing to pin under.
    let r = trip.assemble(&["--out", "alice.kubeconfig"]);
    refused(&r, &["names no pinned cluster", "--cluster"]);

    // Without fingerprints: shown, nothing pinned.
    let r = trip.assemble(&["--out", "alice.kubeconfig", "--cluster", "prod"]);
    refused(&r, &["is not pinned", EVIL, &evil, "--trust-cluster"]);
    assert!(!trip.pinned("prod"));

    // The operator pastes the real cluster's fingerprint, read out of band: it is not the
    // forged bundle's, so nothing is pinned or written.
    let r = trip.assemble(&[
        "--out",
        "alice.kubeconfig",
        "--cluster",
        "prod",
        "--trust-cluster",
        &real,
    ]);
    refused(
        &r,
        &[
            &format!("{real} is not a fingerprint of the cluster"),
            &evil,
            "nothing was pinned or written",
        ],
    );
    assert!(!trip.pinned("prod"));
    assert!(!trip.path("alice.kubeconfig").exists());
    assert!(
        !trip.path("keys/station/clusters").exists() || {
            std::fs::read_dir(trip.path("keys/station/clusters"))
                .unwrap()
                .next()
                .is_none()
        }
    );
}

#[test]
fn a_first_trip_pins_only_with_every_fingerprint_and_later_trips_are_checked_against_it() {
    let trip = Trip::new();
    record(trip.dir(), "alice", None);
    // A cluster whose API server CA is not the client CA.
    let server_ca = trip.ca("server-ca");
    let client_ca = trip.ca("real");
    let cert = trip.issue("alice", "real", 10);
    trip.bring_back(
        "alice",
        &Back {
            cluster_name: "kubernetes",
            server: PROD,
            ca: Some(&server_ca),
            client_ca: Some(&client_ca),
            cert: &cert,
        },
    );
    let (server_fp, client_fp) = (fingerprint(&server_ca), fingerprint(&client_ca));
    let base = ["--out", "alice.kubeconfig", "--cluster", "prod"];
    let r = trip.assemble(&[&base[..], &["--trust-cluster", &server_fp]].concat());
    refused(
        &r,
        &[
            "1 of its fingerprints was not given",
            &client_fp,
            "nothing was pinned",
        ],
    );
    assert!(!trip.pinned("prod"));
    // Upper case, as some tools print it, is the same fingerprint.
    let upper = client_fp.to_uppercase().replacen("SHA256:", "sha256:", 1);
    let r = trip.assemble(
        &[
            &base[..],
            &[
                "--trust-cluster",
                &server_fp,
                "--trust-cluster",
                &upper,
                "--json",
            ],
        ]
        .concat(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stderr_has("pinned cluster prod");
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["pinned"], serde_json::json!(["prod"]));
    let pinned: serde_json::Value =
        serde_json::from_str(&trip.read("keys/station/clusters/prod.json")).unwrap();
    assert_eq!(pinned["server"], PROD);
    assert_eq!(pinned["certificateAuthority"], server_ca);
    assert_eq!(
        pinned["signerCAs"]["kubernetes.io/kube-apiserver-client"],
        client_ca
    );
    assert_eq!(
        super_mode(&trip.path("keys/station/clusters/prod.json")),
        0o600
    );
    assert_eq!(
        trip.kubeconfig("alice.kubeconfig")["clusters"][0]["name"],
        "prod"
    );

    // The next trip is checked against the pin: a forged return is refused without any
    // fingerprint being asked.
    let evil = trip.forge("alice");
    let r = trip.assemble(&["--out", "next.kubeconfig", "--cluster", "prod"]);
    refused(&r, &[&evil, &server_fp]);
    assert!(!trip.path("next.kubeconfig").exists());
    // Re-running the first command (the pin exists now) still works: its fingerprints match.
    trip.bring_back(
        "alice",
        &Back {
            cluster_name: "kubernetes",
            server: PROD,
            ca: Some(&server_ca),
            client_ca: Some(&client_ca),
            cert: &cert,
        },
    );
    let r = trip.assemble(
        &[
            &base[..],
            &[
                "--force",
                "--trust-cluster",
                &server_fp,
                "--trust-cluster",
                &client_fp,
            ],
        ]
        .concat(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

fn super_mode(p: &Path) -> u32 {
    support::mode(p)
}

#[test]
fn on_a_terminal_the_fingerprints_are_typed_and_a_bare_yes_pins_nothing() {
    let trip = Trip::new();
    record(trip.dir(), "alice", None);
    let real = fingerprint(&trip.ca("real"));
    trip.genuine("alice", 10);
    let on_tty = |typed: &str| {
        let cmd = format!(
            "{} assemble --media media --keys keys --out alice.kubeconfig --cluster prod",
            support::KCSR
        );
        let mut child = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .current_dir(trip.dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{typed}\n").as_bytes())
            .unwrap();
        support::finish(child)
    };
    let r = on_tty("y");
    r.stdout_has("Type or paste every fingerprint");
    r.stdout_has(&real);
    assert!(
        r.stdout
            .contains("a confirmation such as \"y\" does not pin a cluster"),
        "{}",
        r.stdout
    );
    assert_eq!(r.code, 3, "{}", r.stdout);
    assert!(!trip.pinned("prod"));
    assert!(!trip.path("alice.kubeconfig").exists());
    let r = on_tty(&real);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(trip.pinned("prod"));
    assert!(trip.path("alice.kubeconfig").exists());
}

#[test]
fn a_bundle_without_a_record_is_refused_unless_no_record_which_still_needs_the_pin() {
    let trip = Trip::new();
    let real = trip.ca("real");
    pin(&trip.path("keys"), "prod", PROD, &real, &real);
    trip.genuine("alice", 10);
    // As a request made before the station kept records.
    std::fs::remove_dir_all(trip.path("keys/station/requests")).unwrap();
    let r = trip.assemble(&["--out", "alice.kubeconfig"]);
    refused(
        &r,
        &[
            "alice.bundle.yaml: record: the station has no record of a request named",
            "hint: pass --no-record",
        ],
    );
    // Requests made before the station kept records: checked against the media, with a warning,
    // and still built from the pin.
    let r = trip.assemble(&[
        "--out",
        "alice.kubeconfig",
        "--no-record",
        "--cluster",
        "prod",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("warning: alice.bundle.yaml: no station record"),
        "{}",
        r.stderr
    );
    assert_eq!(
        trip.kubeconfig("alice.kubeconfig")["clusters"][0]["cluster"]["server"],
        PROD
    );
    // ...so the forged return is refused there too.
    let evil = trip.forge("alice");
    let r = trip.assemble(&[
        "--out",
        "forged.kubeconfig",
        "--no-record",
        "--cluster",
        "prod",
    ]);
    refused(&r, &[&evil, &fingerprint(&real)]);
    assert!(!trip.path("forged.kubeconfig").exists());
}

#[test]
fn the_record_decides_key_user_groups_and_the_cluster_cas() {
    let trip = Trip::new();
    trip.pin_and_record();
    trip.genuine("alice", 10);
    let path = trip.path(&format!(
        "keys/station/requests/{}.json",
        trip.object_name("alice")
    ));
    let original = trip.read(&path.display().to_string());
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&original).unwrap();
        f(&mut v);
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    };
    // The groups the station asked for, not those of the media's request or bundle.
    edit(&|v| v["groups"] = serde_json::json!(["ops"]));
    let r = trip.assemble(&["--out", "k"]);
    refused(
        &r,
        &[
            "alice.bundle.yaml: record:",
            "the station recorded \"alice\" (groups [\"ops\"])",
        ],
    );
    // The key file the record names, absolute or relative to the key directory.
    let absolute = trip.path("keys/alice.key.pem").display().to_string();
    edit(&|v| v["keyFile"] = serde_json::json!(absolute));
    let r = trip.assemble(&["--out", "k"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The cluster was pinned again with other CAs since the request: refused.
    let other = fingerprint(&trip.ca("other"));
    edit(&|v| v["clusterCaSha256"] = serde_json::json!([other]));
    let r = trip.assemble(&["--out", "k2"]);
    refused(&r, &["pinned again with other CAs", &other]);
    // A record with the fingerprints of the pin passes.
    std::fs::write(&path, &original).unwrap();
    let r = trip.assemble(&["--out", "k2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn intermediates_count_only_when_each_signs_the_one_before_and_a_signer_needs_a_pinned_ca() {
    let trip = Trip::new();
    trip.pin_and_record();
    let real = trip.read("real.crt");
    let mid = trip.intermediate("mid", "real");
    let leaf = trip.issue("alice", "mid", 10);
    let back = |cert: &str| {
        trip.bring_back(
            "alice",
            &Back {
                cluster_name: "prod",
                server: PROD,
                ca: Some(&real),
                client_ca: Some(&real),
                cert,
            },
        );
    };
    back(&format!("{leaf}{mid}"));
    let r = trip.assemble(&["--out", "k"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        b64(&trip.kubeconfig("k")["users"][0]["user"]["client-certificate-data"]),
        format!("{leaf}{mid}").as_bytes()
    );
    // Without the intermediate, the leaf does not chain to the pin.
    back(&leaf);
    refused(
        &trip.assemble(&["--out", "k2"]),
        &["chain:", "not signed by the pinned CA"],
    );
    // An unrelated certificate after the chain's end is refused, not carried along.
    let stray = trip.ca("stray");
    back(&format!("{leaf}{mid}{stray}"));
    refused(
        &trip.assemble(&["--out", "k2"]),
        &["chain:", "follows the end of the chain"],
    );
    // A pin without a CA for the record's signer trusts no certificate of it.
    pin(&trip.path("keys"), "prod", PROD, &real, &real);
    let mut p: serde_json::Value =
        serde_json::from_str(&trip.read("keys/station/clusters/prod.json")).unwrap();
    p["signerCAs"] = serde_json::json!({});
    std::fs::write(
        trip.path("keys/station/clusters/prod.json"),
        serde_json::to_string_pretty(&p).unwrap(),
    )
    .unwrap();
    record(trip.dir(), "alice", Some("prod"));
    back(&format!("{leaf}{mid}"));
    let r = trip.assemble(&["--out", "k2"]);
    refused(
        &r,
        &["has no pinned CA for signer \"kubernetes.io/kube-apiserver-client\""],
    );
    assert!(!trip.path("k2").exists());
}

#[test]
fn the_media_is_read_from_both_sums_files_and_nothing_else() {
    let trip = Trip::new();
    trip.pin_and_record();
    trip.genuine("alice", 10);
    // The station's signature is a control file: ignored, never "unlisted".
    std::fs::write(
        trip.path("media/SHA256SUMS.sig"),
        "-----BEGIN SSH SIGNATURE-----\n",
    )
    .unwrap();
    let r = trip.assemble(&["--out", "k"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A file listed in neither list.
    std::fs::write(trip.path("media/notes.txt"), "x").unwrap();
    let r = trip.assemble(&["--out", "k2"]);
    refused(
        &r,
        &["notes.txt: present but listed in neither SHA256SUMS nor RETURNED.SHA256SUMS"],
    );
    // The connected side listing something other than certificates and bundles.
    list_returned(&trip.path("media"), &[("notes.txt".to_owned(), "x")]);
    let r = trip.assemble(&["--out", "k2"]);
    refused(
        &r,
        &[
            "notes.txt: listed in RETURNED.SHA256SUMS, which may list only <stem>.crt, <stem>.bundle.yaml and <stem>.denied.yaml",
        ],
    );
    std::fs::remove_file(trip.path("media/notes.txt")).unwrap();
    // A damaged RETURNED.SHA256SUMS: refused naming the file and its line, with the fix.
    std::fs::write(trip.path("media/RETURNED.SHA256SUMS"), "not a sums line\n").unwrap();
    let r = trip.assemble(&["--out", "k2"]);
    refused(&r, &["RETURNED.SHA256SUMS: RETURNED.SHA256SUMS line 1: "]);
    r.stderr_has("fetch the certificates again");
    std::fs::remove_file(trip.path("media/RETURNED.SHA256SUMS")).unwrap();
    // Results for a request the station's SHA256SUMS does not hold.
    trip.genuine("alice", 10);
    std::fs::copy(
        trip.path("media/alice.bundle.yaml"),
        trip.path("media/bob.bundle.yaml"),
    )
    .unwrap();
    list_returned(
        &trip.path("media"),
        &[(
            "bob.bundle.yaml".to_owned(),
            &trip.read("media/alice.bundle.yaml"),
        )],
    );
    let r = trip.assemble(&["--out-dir", "out"]);
    refused(
        &r,
        &[
            "bob.bundle.yaml: listed in RETURNED.SHA256SUMS, but SHA256SUMS lists no request bob.csr.yaml",
        ],
    );
    assert!(!trip.path("out").exists());
    // Renamed under the stem of another request the station did write: the record knows the
    // stem it wrote.
    std::fs::remove_file(trip.path("media/bob.bundle.yaml")).unwrap();
    std::fs::remove_file(trip.path("media/RETURNED.SHA256SUMS")).unwrap();
    // (A media holding results is never written into again, issue 14: bob's request joins
    // alice's while none is back, and while the station has recorded none of its results, so
    // alice's assembly above is taken out of her record.)
    for f in ["alice.crt", "alice.bundle.yaml"] {
        std::fs::remove_file(trip.path(&format!("media/{f}"))).unwrap();
    }
    for e in std::fs::read_dir(trip.path("keys/station/requests")).unwrap() {
        let p = e.unwrap().path();
        let mut rec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        if rec["stem"] == "alice" {
            rec["state"] = "written".into();
            rec.as_object_mut().unwrap().remove("assembled");
            std::fs::write(&p, rec.to_string()).unwrap();
        }
    }
    trip.request("bob", &[]);
    record(trip.dir(), "bob", Some("prod"));
    trip.genuine("alice", 10);
    let alice = trip.read("media/alice.bundle.yaml");
    std::fs::write(trip.path("media/bob.bundle.yaml"), &alice).unwrap();
    list_returned(
        &trip.path("media"),
        &[("bob.bundle.yaml".to_owned(), &alice)],
    );
    let r = trip.assemble(&["--out-dir", "out"]);
    refused(
        &r,
        &["bob.bundle.yaml: record:", "with the file stem \"alice\""],
    );
    assert!(!trip.path("out").exists());
}

/// Issue 12 review, finding M2: `--name` picks bundles by the user they claim, so a bundle that
/// claims another user than its record must be refused, or alice's key lands in the
/// kubeconfig the operator asked for bob.
#[test]
fn a_bundle_claiming_another_user_than_its_record_is_refused_and_nothing_is_written() {
    let trip = Trip::new();
    trip.pin_and_record();
    let bundle_path = trip.path("media/alice.bundle.yaml");
    trip.genuine("alice", 10);
    // The attacker relabels alice's genuine bundle as bob's and lists it again.
    let relabeled = trip
        .read("media/alice.bundle.yaml")
        .replace("user: alice", "user: bob");
    std::fs::write(&bundle_path, relabeled).unwrap();
    let returned: String = trip
        .read("media/RETURNED.SHA256SUMS")
        .lines()
        .map(|l| {
            if l.ends_with("alice.bundle.yaml") {
                format!(
                    "{}  alice.bundle.yaml\n",
                    kcsr_core::digest::sha256_hex(&std::fs::read(&bundle_path).unwrap())
                )
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(trip.path("media/RETURNED.SHA256SUMS"), returned).unwrap();
    let r = trip.assemble(&["--name", "bob", "--out", "bob.kubeconfig"]);
    refused(
        &r,
        &[
            "the bundle claims user \"bob\"",
            "the station recorded \"alice\"",
        ],
    );
    assert!(!trip.path("bob.kubeconfig").exists(), "nothing written");
}

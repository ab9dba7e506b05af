//! Whole-gap tests: two hosts (directory trees), media carried between them by copying,
//! `kcsr` offline, `kcsr-submit` against the test API server with real TLS, `kcsr assemble`,
//! and real kubectl using the assembled kubeconfig.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests

use std::path::{Path, PathBuf};

use kcsr_e2e::{
    Host, Run, assert_no_key_material, binary, carry, hand_out_cluster_files, kubectl, run,
};
use kcsr_testapi::{Config, TestServer};
use kcsr_testkit::args::{self, request};

struct Gap {
    _tmp: tempfile::TempDir,
    offline: Host,
    connected: Host,
    server: TestServer,
    kcsr: PathBuf,
    submit: PathBuf,
    outputs: Vec<String>,
}

impl Gap {
    fn new(config: Config) -> Self {
        let legacy = config.legacy;
        let tmp = tempfile::tempdir().unwrap();
        let offline = Host::new(tmp.path(), "offline");
        let connected = Host::new(tmp.path(), "connected");
        let server = TestServer::start(config).unwrap();
        hand_out_cluster_files(&server, &offline.root, &connected.root);
        let url = server.url();
        let mut gap = Self {
            _tmp: tmp,
            offline,
            connected,
            server,
            kcsr: binary("kcsr"),
            submit: binary("kcsr-submit"),
            outputs: Vec::new(),
        };
        let mut more = vec![];
        if legacy {
            // Before 1.22 a v1beta1 request without a signer is signed as legacy-unknown,
            // by the same cluster-signing CA.
            more.extend(["--signer-ca", "legacy-unknown=client-ca.crt"]);
        }
        gap.kcsr(&args::cluster_add("kcsr-testapi", &url, &more))
            .expect_code(0, "kcsr cluster add");
        gap
    }

    fn kcsr(&mut self, args: &[&str]) -> Run {
        let r = run(&self.kcsr, args, &self.offline.root, &self.offline.home());
        self.outputs.push(format!("{}{}", r.stdout, r.stderr));
        r
    }

    fn submit(&mut self, args: &[&str]) -> Run {
        let mut full = vec!["--kubeconfig", "admin.kubeconfig"];
        full.extend_from_slice(args);
        let r = run(
            &self.submit,
            &full,
            &self.connected.root,
            &self.connected.home(),
        );
        self.outputs.push(format!("{}{}", r.stdout, r.stderr));
        r
    }

    fn to_connected(&self) {
        carry(&self.offline.path("media"), &self.connected.path("media"));
    }

    fn back_to_offline(&self) {
        carry(&self.connected.path("media"), &self.offline.path("media"));
    }

    /// apply --approve --yes --wait on the connected host.
    fn cross(&mut self) {
        self.to_connected();
        self.submit(&args::apply_approved("media"))
            .expect_code(0, "kcsr-submit apply");
        self.back_to_offline();
    }

    fn kubectl_as(&self, kubeconfig: &Path, args: &[&str]) -> Run {
        kubectl(kubeconfig, args, &self.offline.home())
    }

    /// The guarantees of every run: no key material on the media, on the connected host, or
    /// in anything printed.
    fn assert_keys_stayed(&self) {
        let keys = self.offline.path("keys");
        assert_no_key_material(&self.offline.path("media"), &keys);
        assert_no_key_material(&self.connected.root, &keys);
        for out in &self.outputs {
            assert!(
                !out.contains("PRIVATE KEY"),
                "output holds key material: {out}"
            );
        }
    }
}

fn whoami(r: &Run) -> (String, Vec<String>) {
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
    let info = &v["status"]["userInfo"];
    let groups = info["groups"]
        .as_array()
        .map(|g| g.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    (info["username"].as_str().unwrap().to_owned(), groups)
}

#[test]
fn every_key_type_crosses_the_gap_and_kubectl_authenticates() {
    let mut gap = Gap::new(Config::default());
    let users = [
        ("alice", "p256"),
        ("bob", "p384"),
        ("carol", "ed25519"),
        ("dave", "rsa2048"),
    ];
    for (user, kt) in users {
        gap.kcsr(&request(
            user,
            &["dev", "ops"],
            "media",
            &["--key-type", kt, "--clusterrole", "cluster-admin"],
        ))
        .expect_code(0, "kcsr request");
    }
    // One more with its key encrypted at rest (PBKDF2-SHA256 + AES-256-CBC PKCS#8).
    std::fs::write(gap.offline.path("pass"), "correct horse battery staple\n").unwrap();
    gap.kcsr(&request(
        "erin",
        &["dev", "ops"],
        "media",
        &[
            "--clusterrole",
            "cluster-admin",
            "--encrypt-key",
            "--passphrase-file",
            "pass",
        ],
    ))
    .expect_code(0, "kcsr request --encrypt-key");
    gap.cross();
    for user in ["alice", "bob", "carol", "dave", "erin"] {
        let out = format!("{user}.kubeconfig");
        gap.kcsr(&args::assemble(
            "--name",
            user,
            &["--out", &out, "--passphrase-file", "pass"],
        ))
        .expect_code(0, "kcsr assemble");
        let kc = gap.offline.path(&out);
        let r = gap
            .kubectl_as(&kc, &["auth", "whoami", "-o", "json"])
            .expect_code(0, "kubectl auth whoami");
        let (name, groups) = whoami(&r);
        assert_eq!(name, user);
        assert!(
            groups.contains(&"dev".to_owned()) && groups.contains(&"ops".to_owned()),
            "{groups:?}"
        );
        gap.kubectl_as(&kc, &["get", "csr"])
            .expect_code(0, "an authorized call");
    }
    gap.assert_keys_stayed();
}

#[test]
fn a_batch_of_users_crosses_the_gap_once() {
    let mut gap = Gap::new(Config::default());
    let roster = "user,groups,key_type,clusterrole\nu1,team;dev,p256,cluster-admin\nu2,team,p256,cluster-admin\nu3,team,ed25519,cluster-admin\nu4,team,p384,cluster-admin\nu5,team,p256,cluster-admin\n";
    std::fs::write(gap.offline.path("roster.csv"), roster).unwrap();
    gap.kcsr(&[
        "batch",
        "--roster",
        "roster.csv",
        "--keys",
        "keys",
        "--media",
        "media",
    ])
    .expect_code(0, "kcsr batch");
    gap.cross();
    gap.kcsr(&args::assemble("--out-dir", "kubeconfigs", &[]))
        .expect_code(0, "kcsr assemble --out-dir");
    for u in ["u1", "u2", "u3", "u4", "u5"] {
        let kc = gap.offline.path(&format!("kubeconfigs/{u}.kubeconfig"));
        let (name, groups) = whoami(
            &gap.kubectl_as(&kc, &["auth", "whoami", "-o", "json"])
                .expect_code(0, "whoami"),
        );
        assert_eq!(name, u);
        assert!(groups.contains(&"team".to_owned()), "{groups:?}");
    }
    // One merged kubeconfig for everyone, too.
    gap.kcsr(&args::assemble("--merge-into", "all.kubeconfig", &[]))
        .expect_code(0, "merge");
    let r = gap
        .kubectl_as(
            &gap.offline.path("all.kubeconfig"),
            &["config", "get-contexts", "-o", "name"],
        )
        .expect_code(0, "contexts");
    assert_eq!(r.stdout.lines().count(), 5, "{}", r.stdout);
    // Re-running the connected step changes nothing and creates no duplicate object.
    let before = gap.server.csrs().len();
    gap.to_connected();
    gap.submit(&args::apply_approved("media"))
        .expect_code(0, "re-run");
    assert_eq!(gap.server.csrs().len(), before);
    gap.assert_keys_stayed();
}

/// The classic walk-through, first way: a user with CN only, bound to cluster-admin.
#[test]
fn classic_walkthrough_with_a_clusterrolebinding() {
    let mut gap = Gap::new(Config::default());
    gap.kcsr(&request(
        "john",
        &[],
        "media",
        &["--clusterrole", "cluster-admin"],
    ))
    .expect_code(0, "request");
    gap.cross();
    gap.kcsr(&args::assemble("--out", "john.kubeconfig", &[]))
        .expect_code(0, "assemble");
    let john = gap.offline.path("john.kubeconfig");
    gap.kubectl_as(&john, &["get", "csr"])
        .expect_code(0, "john lists CSRs with the binding");

    // Without the binding the same call is refused; re-applying the manifest from the media
    // (what kcsr-submit created) restores it.
    let admin = gap.connected.path("admin.kubeconfig");
    let binding = std::fs::read_to_string(gap.offline.path("media/john.binding.yaml")).unwrap();
    let name = binding
        .lines()
        .find(|l| l.trim_start().starts_with("name: john"))
        .unwrap()
        .trim()
        .trim_start_matches("name: ")
        .to_owned();
    kubectl(
        &admin,
        &["delete", "clusterrolebinding", &name],
        &gap.connected.home(),
    )
    .expect_code(0, "delete binding");
    let r = gap.kubectl_as(&john, &["get", "csr"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("forbidden")
            && r.stderr
                .contains("User \"john\" cannot list resource \"certificatesigningrequests\""),
        "{}",
        r.stderr
    );
    kubectl(
        &admin,
        &[
            "apply",
            "-f",
            gap.connected
                .path("media/john.binding.yaml")
                .to_str()
                .unwrap(),
        ],
        &gap.connected.home(),
    )
    .expect_code(0, "kubectl apply binding");
    gap.kubectl_as(&john, &["get", "csr"])
        .expect_code(0, "allowed again");
    gap.assert_keys_stayed();
}

/// The classic walk-through, second way: a user in system:masters.
#[test]
fn classic_walkthrough_with_system_masters() {
    // Modern cluster: refused offline, before the media leaves, with the alternative.
    let mut gap = Gap::new(Config::default());
    let r = gap
        .kcsr(&request("root", &["system:masters"], "media", &[]))
        .expect_code(3, "refused");
    assert!(
        r.stderr.contains("system:masters group is not allowed")
            && r.stderr.contains("--clusterrole cluster-admin"),
        "{}",
        r.stderr
    );
    // Nothing written: no media, no key, no record, no signing key (only the pin made first).
    assert!(!gap.offline.path("media").exists());
    for p in [
        "keys/root.key.pem",
        "keys/station/requests",
        "keys/station/signing-key.pem",
    ] {
        assert!(!gap.offline.path(p).exists(), "{p}");
    }

    // A 1.19-1.21 cluster with v1beta1: it goes through, and the user is an administrator
    // without any binding.
    let mut legacy = Gap::new(Config {
        legacy: true,
        ..Config::default()
    });
    let r = legacy
        .kcsr(&request(
            "root",
            &["system:masters"],
            "media",
            &["--api-version", "v1beta1", "--no-signer"],
        ))
        .expect_code(0, "v1beta1 request");
    r.stderr_has("WARNING: group system:masters");
    legacy.cross();
    legacy
        .kcsr(&args::assemble("--out", "root.kubeconfig", &[]))
        .expect_code(0, "assemble");
    let kc = legacy.offline.path("root.kubeconfig");
    let (name, groups) = whoami(
        &legacy
            .kubectl_as(&kc, &["auth", "whoami", "-o", "json"])
            .expect_code(0, "whoami"),
    );
    assert_eq!(name, "root");
    assert!(groups.contains(&"system:masters".to_owned()), "{groups:?}");
    legacy
        .kubectl_as(&kc, &["get", "csr"])
        .expect_code(0, "admin without a binding");
    legacy.assert_keys_stayed();
}

/// The classic procedure's tools accept what kcsr writes: `kubectl apply -f` (with kubectl's
/// strict server-side field validation) takes the CSR and binding manifests, `kubectl
/// certificate approve` approves, and the certificate kubectl fetches verifies against the
/// client CA with openssl and against the key with `kcsr verify`.
#[test]
fn kubectl_apply_accepts_the_media_as_written() {
    let mut gap = Gap::new(Config::default());
    gap.kcsr(&request(
        "alice",
        &["dev"],
        "media",
        &["--clusterrole", "view"],
    ))
    .expect_code(0, "request");
    gap.to_connected();
    let admin = gap.connected.path("admin.kubeconfig");
    let home = gap.connected.home();
    for file in ["media/alice.csr.yaml", "media/alice.binding.yaml"] {
        let r = kubectl(
            &admin,
            &["apply", "-f", gap.connected.path(file).to_str().unwrap()],
            &home,
        )
        .expect_code(0, "kubectl apply");
        r.stdout_has("created");
    }
    let name = gap.server.csrs()[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    kubectl(&admin, &["certificate", "approve", &name], &home)
        .expect_code(0, "kubectl certificate approve");
    let mut cert = String::new();
    for _ in 0..50 {
        let r = kubectl(
            &admin,
            &["get", "csr", &name, "-o", "jsonpath={.status.certificate}"],
            &home,
        )
        .expect_code(0, "get csr");
        if !r.stdout.is_empty() {
            cert = r.stdout;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    use base64::Engine as _;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(cert.trim())
        .expect("issued certificate");
    std::fs::write(gap.offline.path("alice.crt"), &pem).unwrap();
    std::fs::write(
        gap.offline.path("client-ca.crt"),
        gap.server.client_ca_pem(),
    )
    .unwrap();
    let out = std::process::Command::new("openssl")
        .args(["verify", "-CAfile", "client-ca.crt", "alice.crt"])
        .current_dir(&gap.offline.root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    gap.kcsr(&[
        "verify",
        "--cert",
        "alice.crt",
        "--manifest",
        "media/alice.csr.yaml",
        "--ca",
        "client-ca.crt",
    ])
    .expect_code(0, "kcsr verify");
}

/// `RETURNED.SHA256SUMS` of `dir` recomputed over every other file in it, as whoever carries
/// the media can.
fn resum(dir: &Path) {
    let mut sums = kcsr_core::sums::Sums::default();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name != "RETURNED.SHA256SUMS" {
            sums.insert(&name, &std::fs::read(dir.join(&name)).unwrap());
        }
    }
    std::fs::write(dir.join("RETURNED.SHA256SUMS"), sums.render()).unwrap();
}

fn stem_of(dir: &Path, user: &str) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find_map(|n| {
            n.strip_suffix(".bundle.yaml")
                .filter(|s| *s == user || s.starts_with(&format!("{user}-")))
                .map(str::to_owned)
        })
        .unwrap()
}

/// Write-once and one-way media: the request media is only read on the connected side, the
/// results come back in a return directory of their own (no requests, no `SHA256SUMS`), and
/// `kcsr assemble` verifies them from that directory alone against the station's records and
/// pin. A return directory rewritten by whoever carries it is refused as a whole.
#[test]
fn a_one_way_trip_is_assembled_from_the_return_directory_alone() {
    let mut gap = Gap::new(Config::default());
    for user in ["alice", "bob", "carol"] {
        gap.kcsr(&request(
            user,
            &["dev"],
            "media",
            &["--clusterrole", "cluster-admin"],
        ))
        .expect_code(0, "kcsr request");
    }
    gap.to_connected();
    let media = gap.connected.path("media");
    let before: Vec<_> = kcsr_e2e::files_below(&media)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect();
    let applied = gap
        .submit(&["apply", "media", "--out", "return", "--json"])
        .expect_code(0, "apply --out");
    let applied: serde_json::Value = serde_json::from_str(&applied.stdout).unwrap();
    let name = |user: &str| {
        applied
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["user"] == user)
            .unwrap()["name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // carol is denied: her denial comes back in the return directory too.
    let carol = name("carol");
    gap.submit(&["deny", &carol]).expect_code(0, "deny");
    gap.submit(&["approve", &name("alice"), &name("bob"), "--yes"])
        .expect_code(0, "approve");
    gap.submit(&[
        "fetch",
        "media",
        "--out",
        "return",
        "--wait",
        "60s",
        "--client-ca",
        "client-ca.crt",
    ])
    .expect_code(3, "fetch --out (carol denied)");
    let after: Vec<_> = kcsr_e2e::files_below(&media)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect();
    assert_eq!(after, before, "the request media changed");
    // Only the return directory crosses back.
    let back = gap.offline.path("return");
    carry(&gap.connected.path("return"), &back);
    let mut names: Vec<String> = std::fs::read_dir(&back)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 6, "{names:?}");
    assert!(
        names.iter().all(|n| n.ends_with(".crt")
            || n.ends_with(".bundle.yaml")
            || n == "carol.denied.yaml"
            || n == "RETURNED.SHA256SUMS"),
        "{names:?}"
    );
    let (alice, bob) = (stem_of(&back, "alice"), stem_of(&back, "bob"));

    // The attacker positions, each on a copy of the return directory with its sums recomputed:
    // a bundle for a request the station never wrote, a bundle pointing at another cluster,
    // and alice's bundle holding bob's certificate. Each is refused (exit 3) and nothing is
    // written: no kubeconfig, no pin, no record changed.
    let station = gap.offline.path("keys/station");
    let records = || {
        kcsr_e2e::files_below(&station)
            .into_iter()
            .map(|p| (p.clone(), std::fs::read(p).unwrap()))
            .collect::<Vec<_>>()
    };
    let station_before = records();
    let bundle_of = |dir: &Path, stem: &str| {
        kcsr_core::bundle::Bundle::parse(
            &std::fs::read(dir.join(format!("{stem}.bundle.yaml"))).unwrap(),
        )
        .unwrap()
    };
    type Forge<'a> = &'a dyn Fn(&Path);
    let forgeries: [(&str, &str, Forge<'_>); 3] = [
        ("a request the station never wrote", "mallory", &|d| {
            let mut b = bundle_of(d, &alice);
            b.name = "mallory-0123456789".into();
            b.user = "mallory".into();
            std::fs::write(d.join("mallory.bundle.yaml"), b.to_yaml().unwrap()).unwrap();
            std::fs::copy(d.join(format!("{alice}.crt")), d.join("mallory.crt")).unwrap();
        }),
        ("another cluster", "not from the pinned cluster", &|d| {
            let mut b = bundle_of(d, &alice);
            b.cluster.server = "https://evil.example:6443".into();
            b.cluster.certificate_authority = b.client_ca.clone();
            std::fs::write(d.join(format!("{alice}.bundle.yaml")), b.to_yaml().unwrap()).unwrap();
        }),
        ("another key's certificate", "public key", &|d| {
            let mut b = bundle_of(d, &alice);
            b.certificate = bundle_of(d, &bob).certificate;
            std::fs::write(d.join(format!("{alice}.bundle.yaml")), b.to_yaml().unwrap()).unwrap();
            std::fs::copy(d.join(format!("{bob}.crt")), d.join(format!("{alice}.crt"))).unwrap();
        }),
    ];
    for (what, says, forge) in forgeries {
        let forged = gap.offline.path("forged");
        carry(&back, &forged);
        forge(&forged);
        resum(&forged);
        let r = gap.kcsr(&[
            "assemble",
            "--media",
            "forged",
            "--keys",
            "keys",
            "--out-dir",
            "forged-kubeconfigs",
        ]);
        assert_eq!(r.code, 3, "{what}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(says), "{what}: {}", r.stderr);
        assert!(
            !gap.offline.path("forged-kubeconfigs").exists(),
            "{what}: a kubeconfig was written"
        );
        assert_eq!(records(), station_before, "{what}: the station changed");
    }

    // The return directory as it came: every user gets a kubeconfig that works, and the
    // station records carol's denial.
    let assembled = gap
        .kcsr(&[
            "assemble",
            "--media",
            "return",
            "--keys",
            "keys",
            "--out-dir",
            "kubeconfigs",
            "--json",
        ])
        .expect_code(0, "assemble --media RETURN_DIR");
    let assembled: serde_json::Value = serde_json::from_str(&assembled.stdout).unwrap();
    let not = &assembled["notAssembled"];
    assert_eq!(not.as_array().unwrap().len(), 1, "{not}");
    assert_eq!(
        (&not[0]["user"], &not[0]["reason"]),
        (&"carol".into(), &"denied".into())
    );
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(station.join(format!("requests/{carol}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(record["state"], "denied", "{record}");
    for user in ["alice", "bob"] {
        let kc = gap.offline.path(&format!("kubeconfigs/{user}.kubeconfig"));
        let r = gap
            .kubectl_as(&kc, &["auth", "whoami", "-o", "json"])
            .expect_code(0, "kubectl auth whoami");
        assert_eq!(
            whoami(&r),
            (
                user.to_owned(),
                vec!["dev".to_owned(), "system:authenticated".to_owned()]
            )
        );
    }
    gap.assert_keys_stayed();
    assert_no_key_material(&back, &gap.offline.path("keys"));
}

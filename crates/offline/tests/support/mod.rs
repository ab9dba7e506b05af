//! Helpers shared by the cli, crash and filesystem tests: running `kcsr`, media holding issued
//! certificates, and checks that what it wrote is complete.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests
#![allow(dead_code, unreachable_pub)] // each test binary uses a part

mod child;
pub mod station;

#[allow(unused_imports)] // the filesystem tests use it, crash and cli do not
pub use child::sha256sum_ok;

use std::path::Path;
use std::process::Child;

pub use kcsr_testkit::Run;

pub const KCSR: &str = env!("CARGO_BIN_EXE_kcsr");

/// `kcsr ARGS` in `dir`, to the end, in the kit's clean environment (see [`finish`]).
pub fn kcsr(dir: &Path, args: &[&str]) -> Run {
    kcsr_testkit::run(KCSR, dir, args)
}

/// Waits for `child`, killing it after a generous deadline: a read of a FIFO would block
/// forever, and a test must fail rather than hang.
pub fn finish(child: Child) -> Run {
    kcsr_testkit::finish(child, "kcsr (a blocking read of a FIFO?)")
}

/// `batch --roster ROSTER --keys keys --media MEDIA`
pub fn batch_args<'a>(roster: &'a str, media: &'a str) -> [&'a str; 7] {
    kcsr_testkit::args::batch(roster, media)
}

/// `assemble --media media --keys keys FLAG TO MORE...`, FLAG one of `--out`, `--out-dir`,
/// `--merge-into`.
pub fn assemble_args<'a>(flag: &'a str, to: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    kcsr_testkit::args::assemble(flag, to, more)
}

/// `dir/roster.csv` with `users` users `user0`, `user1`, … in group `dev`.
pub fn roster(dir: &Path, users: usize) {
    let mut roster = String::from("user,groups\n");
    for i in 0..users {
        roster.push_str(&format!("user{i},dev\n"));
    }
    std::fs::write(dir.join("roster.csv"), roster).unwrap();
}

/// Runs `kcsr ARGS` in `dir` and insists it succeeds.
pub fn kcsr_ok(dir: &Path, args: &[&str]) -> Run {
    let r = kcsr(dir, args);
    assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    r
}

/// Nothing half-written: keys parse, manifests parse, the station's files parse, every
/// request on the media has the station's record (same name and key), `SHA256SUMS` parses
/// and every entry matches its file.
pub fn assert_consistent(keys: &Path, media: &Path) {
    assert_station_consistent(&keys.join("station"));
    for dir in [keys, media] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            if name.starts_with(".kcsr-") {
                continue; // an interrupted temp file: never listed, never trusted
            }
            if e.file_type().unwrap().is_dir() {
                continue; // the station, checked above
            }
            let data = std::fs::read(e.path()).unwrap();
            if name.ends_with(".csr.yaml") {
                let docs = kcsr_core::manifest::parse_documents(&data)
                    .unwrap_or_else(|err| panic!("{name}: {err}"));
                if let [kcsr_core::manifest::Document::Csr(m)] = docs.as_slice() {
                    let record = keys
                        .join("station/requests")
                        .join(format!("{}.json", m.metadata.name));
                    let record = std::fs::read(&record)
                        .unwrap_or_else(|e| panic!("{name} on the media without its record: {e}"));
                    let record = kcsr_core::station::RequestRecord::parse(&record).unwrap();
                    assert_eq!(
                        record.public_key_sha256,
                        m.decode_request().unwrap().public_key.fingerprint,
                        "{name}: the record is for another key"
                    );
                }
            }
            if name.ends_with(".key.pem") {
                kcsr_core::key::PrivateKey::from_bytes(&data, None)
                    .unwrap_or_else(|err| panic!("{name}: {err}"));
            } else if name.ends_with(".yaml")
                && !name.ends_with(".bundle.yaml")
                && !name.ends_with(".denied.yaml")
                && !name.ends_with(".offboard.yaml")
                && name != "station-policy.yaml"
            {
                kcsr_core::manifest::parse_documents(&data)
                    .unwrap_or_else(|err| panic!("{name}: {err}"));
            }
        }
    }
    let sums_path = media.join("SHA256SUMS");
    if let Ok(data) = std::fs::read(&sums_path) {
        let sums = kcsr_core::sums::Sums::parse(&data).unwrap();
        for name in sums.names() {
            let content = std::fs::read(media.join(name))
                .unwrap_or_else(|_| panic!("{name} listed but missing"));
            assert!(
                sums.matches(name, &content),
                "{name} does not match SHA256SUMS"
            );
        }
    }
}

/// The station's files parse: records, pins, the signing key and its public line.
fn assert_station_consistent(station: &Path) {
    for (sub, check) in [
        (
            "requests",
            (|d: &[u8]| {
                kcsr_core::station::RequestRecord::parse(d)
                    .map(drop)
                    .map_err(|e| e.to_string())
            }) as fn(&[u8]) -> Result<(), String>,
        ),
        ("clusters", |d: &[u8]| {
            kcsr_core::station::ClusterPin::parse(d)
                .map(drop)
                .map_err(|e| e.to_string())
        }),
    ] {
        let Ok(entries) = std::fs::read_dir(station.join(sub)) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            if name.starts_with(".kcsr-") {
                continue;
            }
            check(&std::fs::read(e.path()).unwrap()).unwrap_or_else(|err| panic!("{name}: {err}"));
        }
    }
    if let Ok(key) = std::fs::read(station.join("signing-key.pem")) {
        let key = kcsr_core::key::PrivateKey::from_bytes(&key, None).unwrap();
        if let Ok(line) = std::fs::read_to_string(station.join("signing-key.pub")) {
            assert_eq!(
                kcsr_core::sshsig::PublicKey::from_openssh(line.trim()).unwrap(),
                kcsr_core::sshsig::ed25519_public_key(&key).unwrap(),
                "signing-key.pub is not signing-key.pem's"
            );
        }
    }
}

/// The object names of the requests on the media (none when it does not exist).
pub fn object_names(media: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let Ok(entries) = std::fs::read_dir(media) else {
        return names;
    };
    for e in entries {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().ends_with(".csr.yaml") {
            let docs =
                kcsr_core::manifest::parse_documents(&std::fs::read(e.path()).unwrap()).unwrap();
            if let [kcsr_core::manifest::Document::Csr(m)] = docs.as_slice() {
                names.push(m.metadata.name.clone());
            }
        }
    }
    names.sort();
    names
}

/// Every request on the media is for the key of the same stem in `keys` (no request orphaned
/// by a lost key); returns how many there are.
pub fn requests_match_keys(keys: &Path, media: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(media).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".csr.yaml") else {
            continue;
        };
        let key = std::fs::read(keys.join(format!("{stem}.key.pem")))
            .unwrap_or_else(|e| panic!("{name} on the media but no key for it: {e}"));
        let key = kcsr_core::key::PrivateKey::from_bytes(&key, None).unwrap();
        let docs = kcsr_core::manifest::parse_documents(&std::fs::read(media.join(&name)).unwrap())
            .unwrap();
        let kcsr_core::manifest::Document::Csr(m) = &docs[0] else {
            panic!("{name}: not a CSR manifest")
        };
        assert_eq!(
            m.decode_request().unwrap().public_key.fingerprint,
            key.public_key().fingerprint,
            "{name} is not for the key on disk"
        );
        n += 1;
    }
    n
}

/// Lists `files` (name, content) in the media's `RETURNED.SHA256SUMS`, as the connected side
/// does with what it writes back.
pub fn list_returned(media: &Path, files: &[(String, &str)]) {
    let path = media.join("RETURNED.SHA256SUMS");
    let mut sums = std::fs::read(&path)
        .map(|d| kcsr_core::sums::Sums::parse(&d).unwrap())
        .unwrap_or_default();
    for (name, content) in files {
        sums.insert(name, content.as_bytes());
    }
    std::fs::write(path, sums.render()).unwrap();
}

/// The bundle the connected side writes for `cert` (its audit fields read from the
/// certificate), fetched at `fetched_at` by kcsr-submit "test".
pub fn bundle(
    name: &str,
    user: &str,
    groups: &[&str],
    cluster: kcsr_core::bundle::BundleCluster,
    cert: &str,
    client_ca: Option<&str>,
    fetched_at: &str,
) -> kcsr_core::bundle::Bundle {
    let info = kcsr_core::cert::parse_first(cert.as_bytes()).unwrap();
    kcsr_core::bundle::Bundle {
        api_version: kcsr_core::bundle::API_VERSION.to_owned(),
        kind: kcsr_core::bundle::KIND.to_owned(),
        name: name.to_owned(),
        user: user.to_owned(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        signer_name: "kubernetes.io/kube-apiserver-client".to_owned(),
        cluster,
        certificate: cert.to_owned(),
        client_ca: client_ca.map(str::to_owned),
        audit: kcsr_core::bundle::Audit {
            public_key_sha256: info.public_key.fingerprint.clone(),
            serial: info.serial.clone(),
            not_before: kcsr_core::time::format_rfc3339(info.not_before),
            not_after: kcsr_core::time::format_rfc3339(info.not_after),
            fetched_at: fetched_at.to_owned(),
            kcsr_version: "test".to_owned(),
            ..kcsr_core::bundle::Audit::default()
        },
    }
}

/// A bundle's cluster `name` at `server`, its CA `ca`, no `tls-server-name`.
pub fn bundle_cluster(
    name: &str,
    server: &str,
    ca: Option<&str>,
) -> kcsr_core::bundle::BundleCluster {
    kcsr_core::bundle::BundleCluster {
        name: name.to_owned(),
        server: server.to_owned(),
        certificate_authority: ca.map(str::to_owned),
        tls_server_name: None,
    }
}

/// A media directory as it comes back from the connected side: `n` users' requests, each with
/// a certificate issued by OpenSSL (one test CA) and its bundle, listed in
/// `RETURNED.SHA256SUMS`; the station has the pin `test` (that CA as server and client CA) and
/// a record of each request. Returns the certificates by stem.
pub fn media_with_bundles(dir: &Path, n: usize) -> std::collections::BTreeMap<String, String> {
    use base64::Engine as _;
    roster(dir, n);
    kcsr_ok(
        dir,
        &[&batch_args("roster.csv", "media")[..], &["--quiet"]].concat(),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    let openssl = |args: &str| {
        kcsr_testkit::sh(dir, &format!("openssl {args} 2>&1"))
            .expect_code(0, &format!("openssl {args}"));
    };
    openssl(
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -subj /CN=test-client-ca -days 30",
    );
    let ca = std::fs::read_to_string(dir.join("ca.crt")).unwrap();
    let media = dir.join("media");
    station::pin(
        &dir.join("keys"),
        "test",
        "https://127.0.0.1:6443",
        &ca,
        &ca,
    );
    let mut certs = std::collections::BTreeMap::new();
    for i in 0..n {
        let stem = format!("user{i}");
        station::record(dir, &stem, Some("test"));
        let docs = kcsr_core::manifest::parse_documents(
            &std::fs::read(media.join(format!("{stem}.csr.yaml"))).unwrap(),
        )
        .unwrap();
        let kcsr_core::manifest::Document::Csr(m) = &docs[0] else {
            panic!("{stem}: not a CSR manifest")
        };
        let pem = base64::engine::general_purpose::STANDARD
            .decode(&m.spec.request)
            .unwrap();
        std::fs::write(dir.join("issue.csr"), pem).unwrap();
        openssl(
            "x509 -req -in issue.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 10 -extfile ext.cnf -out issued.crt",
        );
        let cert = std::fs::read_to_string(dir.join("issued.crt")).unwrap();
        let bundle = bundle(
            &m.metadata.name,
            &stem,
            &["dev"],
            bundle_cluster("test", "https://127.0.0.1:6443", Some(&ca)),
            &cert,
            Some(&ca),
            "2026-11-28T00:00:00Z",
        );
        let yaml = bundle.to_yaml().unwrap();
        let files = [
            (format!("{stem}.bundle.yaml"), yaml.as_str()),
            (format!("{stem}.crt"), cert.as_str()),
        ];
        for (name, content) in &files {
            std::fs::write(media.join(name), content).unwrap();
        }
        list_returned(&media, &files);
        certs.insert(stem, cert);
    }
    certs
}

pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The users a kubeconfig holds, each checked complete: its certificate is the one issued for
/// it and its key is the one in `keys/`.
pub fn kubeconfig_users(
    dir: &Path,
    path: &Path,
    certs: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    use base64::Engine as _;
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(
                v.as_str()
                    .unwrap_or_else(|| panic!("{}: {v}", path.display())),
            )
            .unwrap()
    };
    let v: serde_json::Value = kcsr_core::yaml::parse_one(
        &std::fs::read(path).unwrap(),
        kcsr_core::yaml::Snippets::Show,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut users = Vec::new();
    for u in v["users"].as_array().unwrap() {
        let Some(stem) = u["name"].as_str().and_then(|n| n.strip_suffix("@test")) else {
            continue; // an entry that was there before
        };
        assert_eq!(
            b64(&u["user"]["client-certificate-data"]),
            certs[stem].as_bytes(),
            "{}: {stem}",
            path.display()
        );
        assert_eq!(
            b64(&u["user"]["client-key-data"]),
            std::fs::read(dir.join(format!("keys/{stem}.key.pem"))).unwrap(),
            "{}: {stem}",
            path.display()
        );
        users.push(stem.to_owned());
    }
    for (list, key) in [("clusters", "cluster"), ("contexts", "context")] {
        assert!(
            v[list]
                .as_array()
                .is_some_and(|l| l.iter().all(|e| e[key].is_object())),
            "{}: {list}",
            path.display()
        );
    }
    users
}

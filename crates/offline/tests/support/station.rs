//! STATION FIXTURE (issue 12, temporary): writes the station's pins and request records into
//! `KEY_DIR/station/` exactly as decision 0009 defines them (through `kcsr_core::station`'s
//! own types and `to_json`), because `kcsr cluster add` and the record-writing `kcsr request`
//! / `kcsr batch` are built on another branch. COORDINATOR: after merging, switch the callers
//! to `kcsr cluster add NAME --server URL --ca FILE --client-ca FILE --keys keys` (pin first)
//! and drop `record` where `kcsr request`/`batch` wrote the record already.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests
#![allow(dead_code, unreachable_pub)] // each test binary uses a part

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use kcsr_core::station::{
    API_VERSION, CLIENT_SIGNERS, ClusterPin, PIN_KIND, RECORD_KIND, RequestRecord,
};

fn write(keys: &Path, sub: &str, name: &str, text: &str) {
    let dir = keys.join("station").join(sub);
    std::fs::create_dir_all(&dir).unwrap();
    for d in [keys.join("station"), dir.clone()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// As `kcsr cluster add NAME --server SERVER --ca CA --client-ca CLIENT_CA --keys KEYS`:
/// the server CA, and the client CA for both client signers.
pub fn pin(keys: &Path, name: &str, server: &str, ca_pem: &str, client_ca_pem: &str) -> ClusterPin {
    let pin = ClusterPin {
        api_version: API_VERSION.to_owned(),
        kind: PIN_KIND.to_owned(),
        name: name.parse().unwrap(),
        server: server.to_owned(),
        tls_server_name: None,
        certificate_authority: ca_pem.to_owned(),
        signer_cas: CLIENT_SIGNERS
            .iter()
            .map(|s| ((*s).to_owned(), client_ca_pem.to_owned()))
            .collect(),
        added_at: "2026-11-29T00:00:00Z".to_owned(),
        source: "test fixture (kcsr cluster add)".to_owned(),
    };
    // What the binary reads must parse as a pin.
    ClusterPin::parse(pin.to_json().as_bytes()).unwrap();
    write(keys, "clusters", &format!("{name}.json"), &pin.to_json());
    pin
}

/// The record `kcsr request` writes for `media/<stem>.csr.yaml` and `keys/<stem>.key.pem`
/// (run in `dir`), for the pinned cluster `cluster` (its fingerprints at request time) or none.
pub fn record(dir: &Path, stem: &str, cluster: Option<&str>) -> RequestRecord {
    let manifest_bytes = std::fs::read(dir.join(format!("media/{stem}.csr.yaml"))).unwrap();
    let docs = kcsr_core::manifest::parse_documents(&manifest_bytes).unwrap();
    let kcsr_core::manifest::Document::Csr(m) = &docs[0] else {
        panic!("{stem}: not a CSR manifest")
    };
    let csr = m.decode_request().unwrap();
    let keys = dir.join("keys");
    let pinned = cluster.map(|c| {
        ClusterPin::parse(&std::fs::read(keys.join(format!("station/clusters/{c}.json"))).unwrap())
            .unwrap()
    });
    let signer = m.spec.signer_name.clone();
    let record = RequestRecord {
        api_version: API_VERSION.to_owned(),
        kind: RECORD_KIND.to_owned(),
        name: m.metadata.name.clone(),
        stem: stem.to_owned(),
        user: csr.subject.user().unwrap().to_owned(),
        groups: csr.subject.organizations.clone(),
        csr_api_version: m.api_version.clone(),
        signer_name: signer.clone(),
        usages: m.spec.usages.clone(),
        expiration_seconds: m.spec.expiration_seconds,
        public_key_sha256: csr.public_key.fingerprint.clone(),
        key_file: format!("{stem}.key.pem"),
        pkcs11_uri: None,
        manifest_sha256: kcsr_core::digest::sha256_hex(&manifest_bytes),
        grant: None,
        cluster: cluster.map(|c| c.parse().unwrap()),
        cluster_ca_sha256: pinned
            .as_ref()
            .map(|p| p.server_fingerprints().unwrap())
            .unwrap_or_default(),
        signer_ca_sha256: pinned
            .as_ref()
            .and_then(|p| p.signer_cas(signer.as_deref()?).unwrap())
            .map(|cas| kcsr_core::station::fingerprints(&cas))
            .unwrap_or_default(),
        created: "2026-11-29T00:00:00Z".to_owned(),
        not_after: "2026-12-13T00:00:00Z".to_owned(),
        station: "SHA256:test-fixture".to_owned(),
        ..RequestRecord::default()
    };
    write(
        &keys,
        "requests",
        &format!("{}.json", record.name),
        &record.to_json(),
    );
    record
}

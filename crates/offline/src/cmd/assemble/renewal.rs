//! Renewals: a newer certificate the station issued for the same user and pinned cluster
//! replaces the older one, in a `--merge-into` entry or an `--out-dir` file.

use std::path::Path;

use serde_json::{Value, json};

use super::check::{self, Verified};
use crate::kubeconfig;
use crate::station::Station;
use kcsr_fs as output;

/// Which `--out-dir` files hold an older certificate of the same user and pinned cluster
/// (issued for a key the station requested): a renewal replaces them, as `--merge-into`
/// replaces the user entry.
pub(super) fn renewals(
    dir: &Path,
    verified: &[Verified],
    names: &[String],
    station: &Station,
) -> Vec<bool> {
    let records = std::cell::OnceCell::new();
    verified
        .iter()
        .zip(names)
        .map(|(v, name)| {
            let path = dir.join(name);
            let Ok(data) = output::read_secret(
                &path,
                kcsr_core::yaml::MAX_YAML_BYTES as u64,
                output::Links::Refuse,
            ) else {
                return false;
            };
            let records = records.get_or_init(|| station.records().unwrap_or_default());
            let old = kubeconfig::user_certificates(&data)
                .ok()
                .and_then(|users| users.into_iter().find(|(n, _)| *n == v.entry.user_entry))
                .and_then(|(_, c)| match c {
                    kubeconfig::UserCertificate::Data(pem) => Some(pem),
                    kubeconfig::UserCertificate::File(_) => None,
                });
            old.is_some_and(|pem| {
                use base64::Engine as _;
                let body = json!({"client-certificate-data": base64::engine::general_purpose::STANDARD.encode(pem)});
                is_renewal(v, &body, records)
            })
        })
        .collect()
}

/// Whether the existing user body `old` holds a certificate the station issued earlier for
/// the same user and pinned cluster, expiring before the new one: a renewal replaces it.
pub(super) fn is_renewal(
    v: &Verified,
    old: &Value,
    records: &[kcsr_core::station::RequestRecord],
) -> bool {
    if !v.recorded {
        return false;
    }
    let Some(old_cert) =
        kubeconfig::client_certificate(old).and_then(|p| check::parse_existing(&p))
    else {
        return false;
    };
    old_cert.not_after < v.not_after
        && old_cert.subject.user() == Some(v.user.as_str())
        && records.iter().any(|r| {
            r.public_key_sha256 == old_cert.public_key.fingerprint
                && r.user == v.user
                && r.cluster.as_ref() == Some(&v.cluster)
        })
}

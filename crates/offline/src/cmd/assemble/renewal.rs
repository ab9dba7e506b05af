//! Renewals: a newer certificate the station issued for the same user and pinned cluster
//! replaces the older one, in a `--merge-into` entry or an `--out-dir` file.

use std::path::Path;

use serde_json::Value;

use super::check::{self, Verified};
use crate::fail::Result;
use crate::kubeconfig;
use crate::station::Station;
use kcsr_fs as output;

/// Which `--out-dir` files hold an older certificate of the same user and pinned cluster
/// (issued for a key the station requested): a renewal replaces them, as `--merge-into`
/// replaces the user entry. The station's records are read once, and only when a file is
/// there to judge.
pub(super) fn renewals(
    dir: &Path,
    verified: &[Verified],
    names: &[String],
    station: &Station,
) -> Result<Vec<bool>> {
    let mut records = None;
    let mut out = Vec::with_capacity(verified.len());
    for (v, name) in verified.iter().zip(names) {
        let Ok(data) = output::read_secret(
            &dir.join(name),
            kcsr_core::yaml::MAX_YAML_BYTES as u64,
            output::Links::Refuse,
        ) else {
            out.push(false);
            continue;
        };
        let old = kubeconfig::user_certificates(&data)
            .ok()
            .and_then(|users| users.into_iter().find(|(n, _)| *n == v.entry.user_entry))
            .and_then(|(_, c)| match c {
                kubeconfig::UserCertificate::Data(pem) => Some(pem),
                kubeconfig::UserCertificate::File(_) => None,
            });
        let renews = match old {
            Some(pem) => {
                if records.is_none() {
                    records = Some(station.records()?);
                }
                is_renewal_of(v, &pem, records.as_deref().unwrap_or_default())
            }
            None => false,
        };
        out.push(renews);
    }
    Ok(out)
}

/// Whether the existing user body `old` holds a certificate the station issued earlier for
/// the same user and pinned cluster, expiring before the new one: a renewal replaces it.
pub(super) fn is_renewal(
    v: &Verified,
    old: &Value,
    records: &[kcsr_core::station::RequestRecord],
) -> bool {
    kubeconfig::client_certificate(old).is_some_and(|pem| is_renewal_of(v, &pem, records))
}

/// [`is_renewal`] for the certificate's PEM.
fn is_renewal_of(v: &Verified, pem: &[u8], records: &[kcsr_core::station::RequestRecord]) -> bool {
    if !v.recorded {
        return false;
    }
    let Some(old_cert) = check::parse_existing(pem) else {
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

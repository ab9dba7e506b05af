//! The station's record of a request.

use kcsr_core::station::{self, RequestRecord};

use super::build::Built;
use super::media::Existing;
use super::spec::{Spec, Stamp};

/// The station's record of a request: of the manifest built now, or of the one `existing`
/// on the media that is kept.
pub(crate) fn record(
    spec: &Spec,
    built: &Built,
    stamp: &Stamp,
    key_file: String,
    existing: Option<&Existing>,
) -> RequestRecord {
    let (manifest_sha256, created, not_after) = match existing {
        Some(e) => (
            e.manifest_sha256.clone(),
            e.created.clone(),
            e.not_after.clone(),
        ),
        None => (
            kcsr_core::digest::sha256_hex(built.manifest_yaml.as_bytes()),
            built.created.clone(),
            built.not_after.clone(),
        ),
    };
    RequestRecord {
        api_version: station::API_VERSION.to_owned(),
        kind: station::RECORD_KIND.to_owned(),
        name: built.name.as_str().to_owned(),
        stem: spec.stem(),
        user: spec.user.as_str().to_owned(),
        groups: spec.groups.iter().map(|g| g.as_str().to_owned()).collect(),
        csr_api_version: built.manifest.api_version.clone(),
        signer_name: built.manifest.spec.signer_name.clone(),
        usages: built.manifest.spec.usages.clone(),
        expiration_seconds: built.manifest.spec.expiration_seconds,
        public_key_sha256: built.csr.public_key.fingerprint.clone(),
        key_file,
        pkcs11_uri: None,
        manifest_sha256,
        grant: match spec.grants.as_slice() {
            [one] => Some(one.to_string()),
            _ => None,
        },
        grants: spec.grants.iter().map(ToString::to_string).collect(),
        ticket: spec.ticket.as_ref().map(ToString::to_string),
        operator: Some(stamp.operator.to_string()),
        cluster: stamp.cluster.as_ref().map(|p| p.name.clone()),
        cluster_ca_sha256: stamp.cluster_cas.clone(),
        signer_ca_sha256: stamp.signer_cas(spec.signer.as_ref()),
        created,
        not_after,
        station: stamp.station.clone(),
        state: station::RequestState::Written,
        state_at: None,
        assembled: None,
        denied: None,
    }
}

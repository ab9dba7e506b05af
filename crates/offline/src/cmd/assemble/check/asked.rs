//! What a bundle is checked against: the request as the station recorded it, or
//! (`--no-record`) as the media's own manifest says.

use std::path::{Path, PathBuf};

use kcsr_core::bundle::Bundle;
use kcsr_core::manifest::{self, Document};
use kcsr_core::media::CSR_MANIFEST_SUFFIX;
use kcsr_core::station::{ClusterName, RequestRecord, RequestState};

use super::super::media::Checked;
use crate::passphrase;
use crate::plan;
use crate::report;

/// What the request asked for, from the station's record or (`--no-record`) the media.
pub(super) struct Asked {
    /// `None` for a request made from the user's own CSR: the key was never here.
    pub(super) key_path: Option<PathBuf>,
    pub(super) public_key: String,
    pub(super) user: String,
    pub(super) groups: Vec<String>,
    pub(super) signer: String,
    pub(super) cluster: Option<ClusterName>,
    pub(super) cluster_cas: Vec<String>,
    pub(super) signer_cas: Vec<String>,
    pub(super) expiration_seconds: Option<i64>,
    pub(super) recorded: bool,
    pub(super) pkcs11: Option<String>,
}

pub(super) fn from_record(
    keys: &Path,
    stem: &str,
    b: &Bundle,
    r: &RequestRecord,
) -> Result<Asked, String> {
    if r.stem != stem {
        return Err(format!(
            "the station recorded request {:?} with the file stem {:?}, not {stem:?}",
            r.name, r.stem
        ));
    }
    // The station took it back: a copy of the signed media kept by whoever carried it may
    // still have been submitted and approved, but its certificate is never assembled.
    if matches!(
        r.state,
        RequestState::Withdrawn | RequestState::Offboarded | RequestState::Retired
    ) {
        return Err(format!(
            "the station recorded request {:?} as {} (at {}): a certificate issued for it is not turned into a kubeconfig",
            r.name,
            r.state.as_str(),
            r.state_at.as_deref().unwrap_or("an unrecorded time")
        ));
    }
    // `--name` picks bundles by the user they claim; a bundle must claim exactly its record's
    // user and groups, or one user's key could be written into a kubeconfig asked for another.
    if b.user != r.user || b.groups != r.groups {
        return Err(format!(
            "the bundle claims user {:?} (groups {:?}), the station recorded {:?} (groups {:?}) for request {:?}",
            report::sanitize(&b.user),
            b.groups
                .iter()
                .map(|g| report::sanitize(g))
                .collect::<Vec<_>>(),
            r.user,
            r.groups,
            r.name
        ));
    }
    let signer = match &r.signer_name {
        Some(s) if *s != b.signer_name => {
            return Err(format!(
                "the request asked signer {s:?}, the bundle names {:?}",
                report::sanitize(&b.signer_name)
            ));
        }
        Some(s) => s.clone(),
        // A v1beta1 request without a signer: the server chose it; the chain to the CA pinned
        // for that signer is what is trusted.
        None => b.signer_name.clone(),
    };
    let key_file = Path::new(&r.key_file);
    Ok(Asked {
        key_path: if r.key_file == plan::EXTERNAL_CSR || r.pkcs11_uri.is_some() {
            None
        } else if key_file.is_absolute() {
            Some(key_file.to_owned())
        } else {
            Some(keys.join(key_file))
        },
        public_key: r.public_key_sha256.clone(),
        user: r.user.clone(),
        groups: r.groups.clone(),
        signer,
        cluster: r.cluster.clone(),
        cluster_cas: r.cluster_ca_sha256.clone(),
        signer_cas: r.signer_ca_sha256.clone(),
        expiration_seconds: r.expiration_seconds,
        recorded: true,
        pkcs11: r.pkcs11_uri.clone(),
    })
}

/// `--no-record`: the key of the stem in the key directory, and the media's own request
/// (which must be for that key), as assemble checked before the station kept records.
pub(super) fn from_media(
    keys: &Path,
    passphrase: &passphrase::Source,
    checked: &Checked,
    stem: &str,
    b: &Bundle,
) -> Result<Asked, String> {
    let key_path = keys.join(format!("{stem}.key.pem"));
    let key = plan::read_key(&key_path, passphrase).map_err(|f| f.message)?;
    let public_key = key.public_key().fingerprint.clone();
    let manifest_file = format!("{stem}{CSR_MANIFEST_SUFFIX}");
    let (user, groups) = if let Some(data) = checked.get(&manifest_file) {
        let docs = manifest::parse_documents(data).map_err(|e| e.to_string())?;
        let Some(Document::Csr(m)) = docs.into_iter().next() else {
            return Err(format!(
                "{manifest_file} holds no CertificateSigningRequest"
            ));
        };
        let csr = m.decode_request().map_err(|e| e.to_string())?;
        if csr.public_key.fingerprint != public_key {
            return Err(format!(
                "{manifest_file} is not for the key {}",
                key_path.display()
            ));
        }
        (
            csr.subject.user().unwrap_or_default().to_owned(),
            csr.subject.organizations.clone(),
        )
    } else {
        (b.user.clone(), b.groups.clone())
    };
    Ok(Asked {
        key_path: Some(key_path),
        public_key,
        user,
        groups,
        signer: b.signer_name.clone(),
        cluster: None,
        cluster_cas: Vec::new(),
        signer_cas: Vec::new(),
        expiration_seconds: None,
        recorded: false,
        pkcs11: None,
    })
}

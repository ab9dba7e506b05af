//! One bundle against the station's state: the record of its request (key, user, groups,
//! signer), the pin of its cluster (server CA, client CA), and the chain to the pinned CA. The
//! bundle only proposes a certificate; everything the kubeconfig holds besides that
//! certificate comes from the station.

use std::path::{Path, PathBuf};

use kcsr_core::bundle::Bundle;
use kcsr_core::cert::{self, CertInfo};
use kcsr_core::manifest::{self, Document};
use kcsr_core::media::{BUNDLE_SUFFIX, CSR_MANIFEST_SUFFIX};
use kcsr_core::station::{ClusterName, ClusterPin, RequestRecord};
use kcsr_core::usage::Usage;
use kcsr_core::verify::{self as check, Expected};
use kcsr_core::{chain, pem};

use super::media::Checked;
use super::pins::{self, Pins};
use crate::cli::AssembleArgs;
use crate::fail::{Fail, Result};
use crate::kubeconfig::Entry;
use crate::passphrase;
use crate::plan;
use crate::report;

/// A bundle that holds against the station's state.
pub(super) struct Verified {
    pub(super) stem: String,
    pub(super) entry: Entry,
    pub(super) user: String,
    pub(super) groups: Vec<String>,
    pub(super) signer: String,
    pub(super) cluster: ClusterName,
    pub(super) not_after: i64,
    pub(super) fingerprint: String,
    /// Checked against the station's record (false: `--no-record`, against the media).
    pub(super) recorded: bool,
    /// What the operator should know (a server URL that differs from the pin, no record).
    pub(super) warnings: Vec<String>,
    /// The recorded PKCS#11 URI when the key is in a token (no key in the entry then).
    pub(super) pkcs11: Option<String>,
}

/// What every bundle is checked with.
pub(super) struct Context<'a> {
    pub(super) args: &'a AssembleArgs,
    pub(super) checked: &'a Checked,
    pub(super) passphrase: &'a passphrase::Source,
    pub(super) now: i64,
}

/// What the request asked for, from the station's record or (`--no-record`) the media.
struct Asked {
    key_path: PathBuf,
    public_key: String,
    user: String,
    groups: Vec<String>,
    signer: String,
    cluster: Option<ClusterName>,
    cluster_cas: Vec<String>,
    signer_cas: Vec<String>,
    expiration_seconds: Option<i64>,
    recorded: bool,
    pkcs11: Option<String>,
}

pub(super) fn verify(
    cx: &Context<'_>,
    pins: &mut Pins,
    stem: &str,
    b: &Bundle,
) -> Result<Verified> {
    let file = format!("{stem}{BUNDLE_SUFFIX}");
    let fail = |check: &str, why: String| Fail::new(format!("{file}: {check}: {why}"));
    let mut warnings = Vec::new();
    let asked = match pins.station().record(&b.name)? {
        Some(r) => from_record(cx, stem, b, &r).map_err(|why| fail("record", why))?,
        None if cx.args.no_record => {
            warnings.push(format!(
                "no station record of {:?}: checked against the media's own request (--no-record), which whoever carried the media could have rewritten",
                report::sanitize(&b.name)
            ));
            from_media(cx, stem, b).map_err(|why| fail("request", why))?
        }
        None => {
            return Err(fail(
                "record",
                format!(
                    "the station has no record of a request named {:?} (in {}): it did not write this request, or wrote it before kcsr kept records",
                    report::sanitize(&b.name),
                    pins.station().requests_dir().display()
                ),
            )
            .hint("pass --no-record only for requests made before kcsr kept records (it checks against the media instead); otherwise do not use this bundle"));
        }
    };
    // A key in a token is known by the station's own record of its public key; there is no
    // file to read (decision 0011).
    let key = match &asked.pkcs11 {
        Some(_) => None,
        None => Some(
            plan::read_key(&asked.key_path, cx.passphrase).map_err(|f| fail("key", f.message))?,
        ),
    };
    if let Some(key) = &key
        && key.public_key().fingerprint != asked.public_key
    {
        return Err(fail(
            "key",
            format!(
                "{} holds the key sha256 {}, not the key {} the request was made for",
                asked.key_path.display(),
                key.public_key().fingerprint,
                asked.public_key
            ),
        ));
    }
    let cluster = match (&asked.cluster, &cx.args.cluster) {
        (Some(r), Some(c)) if r != c => {
            return Err(fail(
                "cluster",
                format!("the station recorded the request for cluster {r}, not {c} (--cluster)"),
            ));
        }
        (Some(r), _) => r.clone(),
        (None, Some(c)) => c.clone(),
        (None, None) => {
            return Err(fail(
                "cluster",
                "the request names no pinned cluster (it was made before the cluster was pinned)"
                    .to_owned(),
            )
            .hint("pass --cluster NAME: a pinned cluster (kcsr cluster list), or a new name to pin with --trust-cluster"));
        }
    };
    let slot = pins.get(&cluster, &asked.signer, (&file, b), cx.now)?;
    let pin = &slot.pin;
    let anchors = pin
        .signer_cas(&asked.signer)
        .map_err(|e| fail("chain", format!("pin {cluster}: {e}")))?
        .ok_or_else(|| {
            fail(
                "chain",
                format!(
                    "cluster {cluster} has no pinned CA for signer {:?}, so no certificate of that signer is trusted",
                    report::sanitize(&asked.signer)
                ),
            )
            .hint(format!(
                "pin the signer's CA: kcsr cluster remove {cluster}, then kcsr cluster add {cluster} … --signer-ca SIGNER=FILE"
            ))
        })?;
    let pinned_signer = kcsr_core::station::fingerprints(&anchors);
    against_pin(pin, &pinned_signer, &asked, b, &mut warnings)
        .map_err(|why| fail("cluster", why))?;

    let certs = cert::parse_all(b.certificate.as_bytes())
        .map_err(|e| fail("certificate", e.to_string()))?;
    let Some(leaf) = certs.first() else {
        return Err(fail("certificate", "no certificate".to_owned()));
    };
    let expected = Expected {
        fingerprint: asked.public_key.clone(),
        user: Some(asked.user.clone()),
        groups: Some(asked.groups.clone()),
        usages: vec![Usage::ClientAuth.as_str().to_owned()],
        expiration_seconds: asked.expiration_seconds,
    };
    let steps = check::certificate(leaf, &expected, None, cx.now, cx.args.skew.seconds());
    if let Some(bad) = steps.iter().find(|s| !s.ok) {
        return Err(fail(bad.check, report::sanitize(&bad.detail)));
    }
    chain::verify(&certs, &anchors, cx.now, cx.args.skew.seconds())
        .map_err(|e| fail("chain", report::sanitize(&e.0)))?;

    let user_entry = format!("{}@{cluster}", asked.user);
    let context = cx
        .args
        .context
        .clone()
        .unwrap_or_else(|| user_entry.clone());
    Ok(Verified {
        stem: stem.to_owned(),
        entry: Entry {
            cluster_name: cluster.to_string(),
            server: pin.server.clone(),
            ca_pem: Some(pin.certificate_authority.clone()),
            tls_server_name: pin.tls_server_name.clone(),
            user_entry,
            context,
            // Re-encoded from what was verified: nothing unchecked reaches the kubeconfig.
            cert_pem: certs
                .iter()
                .map(|c| pem::encode("CERTIFICATE", &c.der))
                .collect(),
            key_pem: key.map(|k| k.to_pem()).unwrap_or_default(),
        },
        user: asked.user,
        groups: asked.groups,
        signer: asked.signer,
        cluster,
        not_after: leaf.not_after,
        fingerprint: leaf.public_key.fingerprint.clone(),
        recorded: asked.recorded,
        warnings,
        pkcs11: asked.pkcs11,
    })
}

fn from_record(
    cx: &Context<'_>,
    stem: &str,
    b: &Bundle,
    r: &RequestRecord,
) -> std::result::Result<Asked, String> {
    if r.stem != stem {
        return Err(format!(
            "the station recorded request {:?} with the file stem {:?}, not {stem:?}",
            r.name, r.stem
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
        key_path: if key_file.is_absolute() {
            key_file.to_owned()
        } else {
            cx.args.keys.join(key_file)
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
fn from_media(cx: &Context<'_>, stem: &str, b: &Bundle) -> std::result::Result<Asked, String> {
    let key_path = cx.args.keys.join(format!("{stem}.key.pem"));
    let key = plan::read_key(&key_path, cx.passphrase).map_err(|f| f.message)?;
    let public_key = key.public_key().fingerprint.clone();
    let manifest_file = format!("{stem}{CSR_MANIFEST_SUFFIX}");
    let (user, groups) = if let Some(data) = cx.checked.get(&manifest_file) {
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
        key_path,
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

/// The bundle's CAs must be the pin's, and the pin must still hold the CAs the request was
/// made for; a different server URL is only reported (a load balancer or bastion), the pin's
/// is used.
fn against_pin(
    pin: &ClusterPin,
    pinned_signer: &[String],
    asked: &Asked,
    b: &Bundle,
    warnings: &mut Vec<String>,
) -> std::result::Result<(), String> {
    let name = &pin.name;
    let pinned_server = pin.server_fingerprints().map_err(|e| e.to_string())?;
    if !asked.cluster_cas.is_empty() && sorted(&asked.cluster_cas) != pinned_server {
        return Err(format!(
            "the request was made when cluster {name}'s server CA was {}, but the pin now holds {}: the cluster was pinned again with other CAs",
            sorted(&asked.cluster_cas).join(", "),
            pinned_server.join(", ")
        ));
    }
    if !asked.signer_cas.is_empty() && sorted(&asked.signer_cas) != pinned_signer {
        return Err(format!(
            "the request was made when cluster {name}'s client CA was {}, but the pin now holds {}: the cluster was pinned again with other CAs",
            sorted(&asked.signer_cas).join(", "),
            pinned_signer.join(", ")
        ));
    }
    if let Some(ca) = &b.cluster.certificate_authority {
        let bundle = pins::fingerprints_of(ca).map_err(|e| format!("server CA: {e}"))?;
        if bundle != pinned_server {
            return Err(format!(
                "the bundle's server CA is {}, but cluster {name} is pinned with {}: this bundle is not from the pinned cluster (a forged or misdirected return); do not use it",
                bundle.join(", "),
                pinned_server.join(", ")
            ));
        }
    }
    if let Some(ca) = &b.client_ca {
        let bundle = pins::fingerprints_of(ca).map_err(|e| format!("client CA: {e}"))?;
        if bundle != pinned_signer {
            return Err(format!(
                "the bundle's client CA is {}, but cluster {name} is pinned with {} for signer {}: this bundle is not from the pinned cluster (a forged or misdirected return); do not use it",
                bundle.join(", "),
                pinned_signer.join(", "),
                report::sanitize(&asked.signer)
            ));
        }
    }
    if b.cluster.server != pin.server {
        warnings.push(format!(
            "the bundle names the server {}, cluster {name} is pinned with {}: the kubeconfig uses the pinned one",
            report::sanitize(&b.cluster.server),
            pin.server
        ));
    }
    Ok(())
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

/// The certificate of an existing kubeconfig user entry, if it is one kcsr can read.
pub(super) fn parse_existing(pem: &[u8]) -> Option<CertInfo> {
    cert::parse_first(pem).ok()
}

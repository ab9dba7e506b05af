//! The certificates a station is shown (`kcsr renew`, `kcsr key retire`): certificate files,
//! bundles, and kubeconfigs (what the station keeps after `kcsr assemble`), given or found in
//! directories. Only certificates are taken: a kubeconfig's keys and tokens are read with the
//! file and wiped, never kept. Nothing a certificate says is believed before [`trust`] has
//! checked it against the station's own record and pin.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kcsr_core::bundle::Bundle;
use kcsr_core::cert::{self, CertInfo};
use kcsr_core::media::{BUNDLE_SUFFIX, CERT_SUFFIX, MAX_MEDIA_FILE_BYTES};
use kcsr_core::signer::SignerName;
use kcsr_core::station::RequestRecord;

use crate::fail::{Context as _, Fail, Result};
use crate::kubeconfig::{self, UserCertificate};
use crate::report;
use crate::station::Station;
use kcsr_fs as output;

/// Suffix of the kubeconfigs `kcsr assemble --out-dir` writes.
pub(crate) const KUBECONFIG_SUFFIX: &str = ".kubeconfig";

/// One certificate and where it was found.
pub(crate) struct Found {
    /// The file, and for a kubeconfig the user entry (`alice.kubeconfig (user alice@prod)`).
    pub(crate) source: String,
    pub(crate) cert: CertInfo,
    /// Every certificate as found, the leaf first: what `kcsr renew` checks against the pin.
    pub(crate) chain: Vec<CertInfo>,
}

/// The leaf and the whole chain of PEM certificates.
fn leaf_and_chain(data: &[u8]) -> std::result::Result<(CertInfo, Vec<CertInfo>), cert::CertError> {
    let chain = cert::parse_all(data)?;
    let leaf = chain.first().cloned().ok_or(cert::CertError::NoBlock)?;
    Ok((leaf, chain))
}

/// Every certificate in `paths` (files, or directories holding `*.crt`, `*.bundle.yaml` and
/// `*.kubeconfig`), each once: a bundle and its `.crt` hold the same certificate, the bundle
/// is preferred.
pub(crate) fn collect(paths: &[PathBuf]) -> Result<Vec<Found>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let has = |e: &Path, suffix: &str| e.to_string_lossy().ends_with(suffix);
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .context(|| format!("failed to list {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|e| {
                    has(e, BUNDLE_SUFFIX) || has(e, CERT_SUFFIX) || has(e, KUBECONFIG_SUFFIX)
                })
                .collect();
            entries.sort();
            let bundles: BTreeSet<String> = entries
                .iter()
                .filter_map(|e| {
                    e.to_string_lossy()
                        .strip_suffix(BUNDLE_SUFFIX)
                        .map(str::to_owned)
                })
                .collect();
            files.extend(
                entries
                    .into_iter()
                    .filter(|e| {
                        e.to_string_lossy()
                            .strip_suffix(CERT_SUFFIX)
                            .is_none_or(|stem| !bundles.contains(stem))
                    })
                    .map(|e| (e, false)),
            );
        } else {
            files.push((p.clone(), true));
        }
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (f, given) in files {
        for found in read_one(&f, given)? {
            if seen.insert(found.cert.fingerprint.clone()) {
                out.push(found);
            }
        }
    }
    Ok(out)
}

/// The certificates of one file; `given` when it was named rather than found in a directory
/// (a kubeconfig found there without any certificate, e.g. a token's, is passed over).
fn read_one(f: &Path, given: bool) -> Result<Vec<Found>> {
    let name = f.to_string_lossy();
    let limit = if name.ends_with(KUBECONFIG_SUFFIX) {
        kcsr_core::yaml::MAX_YAML_BYTES as u64
    } else {
        // A kubeconfig under another name is recognised by its content, within this limit.
        MAX_MEDIA_FILE_BYTES.max(kcsr_core::yaml::MAX_YAML_BYTES as u64)
    };
    // A kubeconfig holds keys: the bytes are wiped when dropped.
    let data = output::read_secret(f, limit, output::Links::Refuse)
        .context(|| format!("failed to read {}", f.display()))?;
    let bad = |e: &dyn std::fmt::Display| Fail::new(format!("{}: {e}", f.display()));
    let one = |(cert, chain): (CertInfo, Vec<CertInfo>)| {
        vec![Found {
            source: f.display().to_string(),
            cert,
            chain,
        }]
    };
    if name.ends_with(BUNDLE_SUFFIX) {
        let b = Bundle::parse(&data).map_err(|e| bad(&e))?;
        return Ok(one(
            leaf_and_chain(b.certificate.as_bytes()).map_err(|e| bad(&e))?
        ));
    }
    if name.ends_with(KUBECONFIG_SUFFIX) || kubeconfig::looks_like_kubeconfig(&data) {
        return from_kubeconfig(f, &data, given);
    }
    Ok(one(leaf_and_chain(&data).map_err(|e| bad(&e))?))
}

/// The certificates of a kubeconfig's user entries: embedded, or the file `client-certificate`
/// names (relative to the kubeconfig's directory, as kubectl reads it).
fn from_kubeconfig(f: &Path, data: &[u8], given: bool) -> Result<Vec<Found>> {
    let users = kubeconfig::user_certificates(data)
        .map_err(|e| Fail::new(format!("{}: {e}", f.display())))?;
    let dir = f.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (user, c) in users {
        let pem = match c {
            UserCertificate::Data(pem) => pem,
            UserCertificate::File(file) => {
                let path = dir.join(&file);
                output::read_limited(&path, MAX_MEDIA_FILE_BYTES).context(|| {
                    format!(
                        "{}: user {:?}: failed to read client-certificate {}",
                        f.display(),
                        report::sanitize(&user),
                        path.display()
                    )
                })?
            }
        };
        let (cert, chain) = leaf_and_chain(&pem).map_err(|e| {
            Fail::new(format!(
                "{}: user {:?}: {e}",
                f.display(),
                report::sanitize(&user)
            ))
        })?;
        out.push(Found {
            source: format!("{} (user {})", f.display(), report::sanitize(&user)),
            cert,
            chain,
        });
    }
    if out.is_empty() && given {
        return Err(Fail::new(format!(
            "{}: no user entry with a client certificate",
            f.display()
        ))
        .hint("pass kubeconfigs kcsr assemble wrote, or the certificates and bundles themselves"));
    }
    Ok(out)
}

/// Whether a certificate's expiry may be believed.
pub(crate) enum Trust {
    /// It chains to the pinned CA of its signer and names the recorded user and groups.
    Verified,
    /// Its request names no pinned cluster, so there is no CA to check it against.
    Unpinned(String),
    /// It is not the station's certificate for the record (forged, or of another CA).
    Refused(String),
}

/// Checks the certificate `f`, found by its key to be for the request `r`, against what the
/// station itself holds: the recorded user and groups, and the pinned CA of the request's
/// cluster for its signer (never a CA that came with the certificate). The chain is checked
/// at `now`, the real time (a command's `--at` only moves its expiry judgement).
pub(crate) fn trust(station: &Station, f: &Found, r: &RequestRecord, now: i64) -> Result<Trust> {
    let mut groups = f.cert.subject.organizations.clone();
    groups.sort();
    let mut recorded = r.groups.clone();
    recorded.sort();
    if f.cert.subject.user() != Some(r.user.as_str()) || groups != recorded {
        return Ok(Trust::Refused(format!(
            "the certificate names {} but the station's record {} of its key is for user {:?} (groups {})",
            report::sanitize(&f.cert.subject.display),
            r.name,
            report::sanitize(&r.user),
            if recorded.is_empty() {
                "none".to_owned()
            } else {
                report::sanitize(&recorded.join(", "))
            }
        )));
    }
    let Some(cluster) = &r.cluster else {
        return Ok(Trust::Unpinned(format!(
            "request {} was made before a cluster was pinned, so the certificate's chain cannot be checked; pin the cluster (kcsr cluster add) and renew from what kcsr assemble verified",
            r.name
        )));
    };
    let signer = r
        .signer_name
        .clone()
        .unwrap_or_else(|| SignerName::client().as_str().to_owned());
    let anchors = match station.pin(cluster)? {
        None => {
            return Ok(Trust::Refused(format!(
                "cluster {cluster} of request {} is no longer pinned on this station, so the certificate's chain cannot be checked",
                r.name
            )));
        }
        Some(pin) => pin
            .signer_cas(&signer)
            .map_err(|e| Fail::new(format!("pin {cluster}: {e}")))?
            .unwrap_or_default(),
    };
    if anchors.is_empty() {
        return Ok(Trust::Refused(format!(
            "cluster {cluster} has no pinned CA for signer {:?}, so the certificate's chain cannot be checked",
            report::sanitize(&signer)
        )));
    }
    Ok(
        match kcsr_core::chain::verify(
            &f.chain,
            &anchors,
            now,
            kcsr_core::verify::DEFAULT_SKEW_SECONDS,
        ) {
            Ok(_) => Trust::Verified,
            Err(e) => Trust::Refused(format!(
                "the certificate does not chain to cluster {cluster}'s pinned CA for signer {:?}: {}",
                report::sanitize(&signer),
                report::sanitize(&e.0)
            )),
        },
    )
}

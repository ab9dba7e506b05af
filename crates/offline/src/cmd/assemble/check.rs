//! One bundle against the station's state: the record of its request (key, user, groups,
//! signer), the pin of its cluster (server CA, client CA), and the chain to the pinned CA. The
//! bundle only proposes a certificate; everything the kubeconfig holds besides that
//! certificate comes from the station.

use std::path::{Path, PathBuf};

use kcsr_core::bundle::Bundle;
use kcsr_core::cert::{self, CertInfo};
use kcsr_core::manifest::{self, Document};
use kcsr_core::media::{BUNDLE_SUFFIX, CSR_MANIFEST_SUFFIX};
use kcsr_core::station::{ClusterName, ClusterPin, RequestRecord, RequestState};
use kcsr_core::usage::Usage;
use kcsr_core::verify::{self as check, Expected};
use kcsr_core::{chain, pem};

use super::media::Checked;
use super::pins::{self, Pins};
use crate::cli::AssembleArgs;
use crate::fail::{Fail, Result};
use crate::kubeconfig::{AgentServing, Credential, Entry};
use crate::passphrase;
use crate::plan;
use crate::report;
use zeroize::Zeroizing;

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
    /// What was verified, in words, for the summary ("verified" says what).
    pub(super) checked: Vec<String>,
    /// The key the kubeconfig holds or names, for the summary.
    pub(super) key: KeyShown,
}

/// How the kubeconfig of a verified bundle gets its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum KeyShown {
    /// Embedded, from this key file of the key directory (decrypted if it is encrypted).
    Embedded(PathBuf),
    /// Named with `client-key:` (`--key-path`); whether the file was found here and checked.
    Path { path: String, checked: bool },
    /// None: the request came from the user's own CSR and no `--key-path` was given.
    Absent,
    /// In the PKCS#11 token of this URI (recorded, without pin-source): kcsr-agent signs.
    Token(String),
}

/// The caller's secret for kcsr-agent: 32 random bytes, hex. Never printed.
fn bearer_token() -> Result<Zeroizing<String>> {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut bytes = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::SystemRandom::new()
        .fill(bytes.as_mut())
        .map_err(|_| Fail::new("the system's random number generator failed"))?;
    Ok(Zeroizing::new(kcsr_core::digest::hex(bytes.as_ref())))
}

/// The recorded URI (which has no pin-source) with `pin-source=file:` the operator named, so
/// that the agent can start without a terminal. A PIN itself is never written.
fn agent_uri(recorded: &str, pin_file: Option<&Path>) -> Result<String> {
    let mut uri: kcsr_core::pkcs11_uri::Pkcs11Uri = recorded.parse().map_err(|e| {
        Fail::new(format!(
            "the station's record has a PKCS#11 URI that does not parse: {e}"
        ))
    })?;
    if let Some(file) = pin_file {
        let abs = std::path::absolute(file)
            .map_err(|e| Fail::new(format!("--pkcs11-pin-file {}: {e}", file.display())))?;
        let abs = abs.to_str().ok_or_else(|| {
            Fail::new(format!("--pkcs11-pin-file {} is not UTF-8", file.display()))
        })?;
        uri.pin_source = Some(format!("file:{abs}"));
    }
    Ok(uri.to_string())
}

/// What one bundle came to.
pub(super) enum Outcome {
    /// Verified; its kubeconfig can be written.
    Verified(Box<Verified>),
    /// The certificate verified against the station's record, but the key is not in the key
    /// directory: nothing is written for it, the others are.
    NoKey {
        stem: String,
        user: String,
        key_path: PathBuf,
    },
}

/// What every bundle is checked with.
pub(super) struct Context<'a> {
    pub(super) args: &'a AssembleArgs,
    pub(super) checked: &'a Checked,
    pub(super) passphrase: &'a passphrase::Source,
    pub(super) now: i64,
}

/// `--key-path` for one user: `{user}` becomes the user's file-name form.
pub(super) fn key_path_for(template: &str, user: &str) -> String {
    let slug = user
        .parse::<kcsr_core::names::UserName>()
        .map(|u| u.slug())
        .unwrap_or_else(|_| "user".to_owned());
    template.replace("{user}", &slug)
}

/// What the request asked for, from the station's record or (`--no-record`) the media.
struct Asked {
    /// `None` for a request made from the user's own CSR: the key was never here.
    key_path: Option<PathBuf>,
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

pub(super) fn verify(cx: &Context<'_>, pins: &mut Pins, stem: &str, b: &Bundle) -> Result<Outcome> {
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
    // The key file is needed only to embed the key: with --key-path the kubeconfig names the
    // user's file instead, and a key that is not here is reported after the certificate
    // itself was verified (it does not stop the other users).
    let key_file = asked
        .key_path
        .clone()
        .filter(|_| cx.args.key_path.is_none());
    let missing = key_file
        .as_ref()
        .is_some_and(|p| std::fs::symlink_metadata(p).is_err());
    let key = match &key_file {
        Some(path) if !missing => {
            let key = plan::read_key(path, cx.passphrase).map_err(|f| fail("key", f.message))?;
            if key.public_key().fingerprint != asked.public_key {
                return Err(fail(
                    "key",
                    format!(
                        "{} holds the key sha256 {}, not the key {} the request was made for",
                        path.display(),
                        key.public_key().fingerprint,
                        asked.public_key
                    ),
                ));
            }
            Some(key)
        }
        _ => None,
    };
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
        user: Some(
            asked
                .user
                .parse()
                .map_err(|e: kcsr_core::names::NameError| fail("user", e.to_string()))?,
        ),
        groups: Some(asked.groups.clone()),
        usages: vec![Usage::ClientAuth],
        expiration_seconds: asked.expiration_seconds,
    };
    let steps = check::certificate(leaf, &expected, None, cx.now, cx.args.skew.seconds());
    if let Some(bad) = steps.iter().find(|s| !s.ok) {
        return Err(fail(bad.check, report::sanitize(&bad.detail)));
    }
    chain::verify(&certs, &anchors, cx.now, cx.args.skew.seconds())
        .map_err(|e| fail("chain", report::sanitize(&e.0)))?;

    if missing && let Some(path) = key_file {
        return Ok(Outcome::NoKey {
            stem: stem.to_owned(),
            user: asked.user,
            key_path: path,
        });
    }
    let (credential, shown) = match (&cx.args.key_path, key) {
        // A key in a token has no file to embed or name: kubectl reaches it through kcsr-agent
        // (decision 0012).
        _ if asked.pkcs11.is_some() => {
            let uri = asked.pkcs11.clone().unwrap_or_default();
            (
                Credential::Agent {
                    bearer: bearer_token()?,
                    address: cx.args.agent_address,
                    pkcs11: agent_uri(&uri, cx.args.pkcs11_pin_file.as_deref())?,
                    serving: AgentServing::new(cx.args.agent_address).map_err(|e| {
                        Fail::new(format!(
                            "failed to make kcsr-agent's loopback certificate: {e}"
                        ))
                    })?,
                },
                KeyShown::Token(uri),
            )
        }
        (Some(template), _) => {
            let path = key_path_for(template, &asked.user);
            let checked = key_at_path(&path, &here(cx.args, &path), &asked.public_key)
                .map_err(|why| fail("key-path", why))?;
            if !checked {
                warnings.push(format!(
                    "--key-path {path} is not on this machine: the kubeconfig names it, and kubectl reads it where the kubeconfig is used (unencrypted PEM of the key sha256 {}); not checked here",
                    asked.public_key
                ));
            }
            (
                Credential::Path(path.clone()),
                KeyShown::Path { path, checked },
            )
        }
        (None, Some(key)) => (
            Credential::Embedded(key.to_pem()),
            KeyShown::Embedded(asked.key_path.clone().unwrap_or_default()),
        ),
        (None, None) => (Credential::Absent, KeyShown::Absent),
    };
    let mut checked = vec![match &shown {
        KeyShown::Embedded(p) => format!(
            "the certificate is for the recorded key, held in {}",
            p.display()
        ),
        KeyShown::Path {
            path,
            checked: true,
        } => {
            format!("the certificate is for the recorded key, held in {path}")
        }
        KeyShown::Token(uri) => {
            format!("the certificate is for the recorded key, held in the PKCS#11 token {uri}")
        }
        _ => format!(
            "the certificate is for the recorded public key sha256 {} (the user's own; the key is not on this machine)",
            asked.public_key
        ),
    }];
    checked.push(if asked.recorded {
        "user and groups as the station recorded".to_owned()
    } else {
        "user and groups as the media's own request says (no station record)".to_owned()
    });
    checked.push(format!(
        "chain to cluster {cluster}'s pinned {} CA {}",
        if kcsr_core::station::CLIENT_SIGNERS.contains(&asked.signer.as_str()) {
            "client"
        } else {
            "signer"
        },
        pinned_signer.join(", ")
    ));
    let user_entry = format!("{}@{cluster}", asked.user);
    let context = cx
        .args
        .context
        .clone()
        .unwrap_or_else(|| user_entry.clone());
    Ok(Outcome::Verified(Box::new(Verified {
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
            key: credential,
        },
        user: asked.user,
        groups: asked.groups,
        signer: asked.signer,
        cluster,
        not_after: leaf.not_after,
        fingerprint: leaf.public_key.fingerprint.clone(),
        recorded: asked.recorded,
        warnings,
        checked,
        key: shown,
    })))
}

/// Where `--key-path` is on this machine: kubectl reads a relative `client-key` relative to
/// the kubeconfig's own directory.
fn here(args: &AssembleArgs, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_owned();
    }
    let dir = match (&args.out, &args.out_dir, &args.merge_into) {
        (Some(f), _, _) | (_, _, Some(f)) => f.parent().map(Path::to_owned).unwrap_or_default(),
        (_, Some(d), _) => d.clone(),
        _ => PathBuf::new(),
    };
    dir.join(p)
}

/// `--key-path` as kubectl will read it: when the file is on this machine, it must be an
/// unencrypted PEM key (client-go reads PKCS#1, PKCS#8 and SEC1 PEM, never an encrypted
/// PKCS#8 or DER key) whose public key is `public_key`. `Ok(false)`: not here, not checked.
fn key_at_path(path: &str, p: &Path, public_key: &str) -> std::result::Result<bool, String> {
    if std::fs::symlink_metadata(p).is_err() {
        return Ok(false);
    }
    let data = kcsr_fs::read_secret(p, 1 << 20, kcsr_fs::Links::Refuse)
        .map_err(|e| format!("{path}: {e}"))?;
    if !pem::looks_like_pem(&data) {
        return Err(format!(
            "{path} is not a PEM key: kubectl reads only PEM keys (convert it with openssl pkey -in {path} -out KEY.pem)"
        ));
    }
    match kcsr_core::key::PrivateKey::from_bytes(&data, None) {
        Err(kcsr_core::key::KeyError::NeedPassphrase) => Err(format!(
            "{path} is an encrypted key: kubectl cannot read encrypted keys, so a kubeconfig naming it would not work; leave out --key-path (the kubeconfig then holds the key, decrypted, 0600), or point it at an unencrypted copy (openssl pkey -in {path} -out KEY.pem, chmod 600)"
        )),
        Err(e) => Err(format!("{path}: {e}")),
        Ok(k) if k.public_key().fingerprint != public_key => Err(format!(
            "{path} holds the key sha256 {}, not the key {public_key} the certificate is for",
            k.public_key().fingerprint
        )),
        Ok(_) => Ok(true),
    }
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
            Some(cx.args.keys.join(key_file))
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

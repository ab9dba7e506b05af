//! One bundle against the station's state: the record of its request (key, user, groups,
//! signer), the pin of its cluster (server CA, client CA), and the chain to the pinned CA. The
//! bundle only proposes a certificate; everything the kubeconfig holds besides that
//! certificate comes from the station.

mod asked;
mod credential;
mod pin;

use std::path::PathBuf;

use kcsr_core::bundle::Bundle;
use kcsr_core::cert::{self, CertInfo};
use kcsr_core::key::PrivateKey;
use kcsr_core::media::BUNDLE_SUFFIX;
use kcsr_core::station::{ClusterName, ClusterPin};
use kcsr_core::usage::Usage;
use kcsr_core::verify::{self as check, Expected};
use kcsr_core::{chain, pem};

use super::media::Checked;
use super::pins::Pins;
use crate::cli::AssembleArgs;
use crate::fail::{Fail, Result};
use crate::kubeconfig::{AgentServing, Credential, Entry};
use crate::passphrase;
use crate::plan;
use crate::report;
use asked::Asked;

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

pub(super) fn verify(cx: &Context<'_>, pins: &mut Pins, stem: &str, b: &Bundle) -> Result<Outcome> {
    let file = format!("{stem}{BUNDLE_SUFFIX}");
    let fail = |check: &str, why: String| Fail::new(format!("{file}: {check}: {why}"));
    let mut warnings = Vec::new();
    let asked = asked(cx, pins, stem, b, &fail, &mut warnings)?;
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
        Some(path) if !missing => Some(own_key(cx, path, &asked, &fail)?),
        _ => None,
    };
    let cluster = cluster(cx, &asked, &fail)?;
    let slot = pins.get(&cluster, &asked.signer, (&file, b), cx.now)?;
    let pin = &slot.pin;
    let anchors = anchors(pin, &cluster, &asked, &fail)?;
    let pinned_signer = kcsr_core::station::fingerprints(&anchors);
    pin::against_pin(pin, &pinned_signer, &asked, b, &mut warnings)
        .map_err(|why| fail("cluster", why))?;
    let certs = certificate(cx, b, &asked, &anchors, &fail)?;

    if missing && let Some(path) = key_file {
        return Ok(Outcome::NoKey {
            stem: stem.to_owned(),
            user: asked.user,
            key_path: path,
        });
    }
    let (credential, shown) = credential(cx, &asked, key, &fail, &mut warnings)?;
    let checked = said(&shown, &asked, &cluster, &pinned_signer);
    let parts = Parts {
        asked,
        cluster,
        certs,
        credential,
        shown,
        warnings,
        checked,
    };
    Ok(Outcome::Verified(Box::new(verified(cx, stem, pin, parts))))
}

/// What the request asked for: the station's record, or (`--no-record`) the media's request.
fn asked(
    cx: &Context<'_>,
    pins: &Pins,
    stem: &str,
    b: &Bundle,
    fail: &impl Fn(&str, String) -> Fail,
    warnings: &mut Vec<String>,
) -> Result<Asked> {
    match pins.station().record(&b.name)? {
        Some(r) => asked::from_record(&cx.args.keys, stem, b, &r).map_err(|why| fail("record", why)),
        None if cx.args.no_record => {
            warnings.push(format!(
                "no station record of {:?}: checked against the media's own request (--no-record), which whoever carried the media could have rewritten",
                report::sanitize(&b.name)
            ));
            asked::from_media(&cx.args.keys, cx.passphrase, cx.checked, stem, b).map_err(|why| fail("request", why))
        }
        None => {
            Err(fail(
                "record",
                format!(
                    "the station has no record of a request named {:?} (in {}): it did not write this request, or wrote it before kcsr kept records",
                    report::sanitize(&b.name),
                    pins.station().requests_dir().display()
                ),
            )
            .hint("pass --no-record only for requests made before kcsr kept records (it checks against the media instead); otherwise do not use this bundle"))
        }
    }
}

/// The key of the key directory, which must be the key the request was made for.
fn own_key(
    cx: &Context<'_>,
    path: &std::path::Path,
    asked: &Asked,
    fail: &impl Fn(&str, String) -> Fail,
) -> Result<PrivateKey> {
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
    Ok(key)
}

/// The pinned cluster the certificate must be from: the recorded one, or `--cluster`.
fn cluster(
    cx: &Context<'_>,
    asked: &Asked,
    fail: &impl Fn(&str, String) -> Fail,
) -> Result<ClusterName> {
    match (&asked.cluster, &cx.args.cluster) {
        (Some(r), Some(c)) if r != c => Err(fail(
            "cluster",
            format!("the station recorded the request for cluster {r}, not {c} (--cluster)"),
        )),
        (Some(r), _) => Ok(r.clone()),
        (None, Some(c)) => Ok(c.clone()),
        (None, None) => Err(fail(
            "cluster",
            "the request names no pinned cluster (it was made before the cluster was pinned)"
                .to_owned(),
        )
        .hint("pass --cluster NAME: a pinned cluster (kcsr cluster list), or a new name to pin with --trust-cluster")),
    }
}

/// The CAs pinned for the request's signer: the chain must end at one of them.
fn anchors(
    pin: &ClusterPin,
    cluster: &ClusterName,
    asked: &Asked,
    fail: &impl Fn(&str, String) -> Fail,
) -> Result<Vec<CertInfo>> {
    pin.signer_cas(&asked.signer)
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
        })
}

/// The bundle's certificates, checked against what was asked and chained to the pinned CA;
/// the leaf first.
fn certificate(
    cx: &Context<'_>,
    b: &Bundle,
    asked: &Asked,
    anchors: &[CertInfo],
    fail: &impl Fn(&str, String) -> Fail,
) -> Result<Vec<CertInfo>> {
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
    chain::verify(&certs, anchors, cx.now, cx.args.skew.seconds())
        .map_err(|e| fail("chain", report::sanitize(&e.0)))?;
    Ok(certs)
}

/// How the kubeconfig gets the key, and how the summary shows it.
fn credential(
    cx: &Context<'_>,
    asked: &Asked,
    key: Option<PrivateKey>,
    fail: &impl Fn(&str, String) -> Fail,
    warnings: &mut Vec<String>,
) -> Result<(Credential, KeyShown)> {
    Ok(match (&cx.args.key_path, key) {
        // A key in a token has no file to embed or name: kubectl reaches it through kcsr-agent
        // (decision 0012).
        _ if asked.pkcs11.is_some() => {
            let uri = asked.pkcs11.clone().unwrap_or_default();
            (
                Credential::Agent {
                    bearer: credential::bearer_token()?,
                    address: cx.args.agent_address,
                    pkcs11: credential::agent_uri(&uri, cx.args.pkcs11_pin_file.as_deref())?,
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
            let checked = credential::key_at_path(
                &path,
                &credential::here(cx.args, &path),
                &asked.public_key,
            )
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
    })
}

/// What was verified, in words, for the summary.
fn said(
    shown: &KeyShown,
    asked: &Asked,
    cluster: &ClusterName,
    pinned_signer: &[String],
) -> Vec<String> {
    let mut checked = vec![match shown {
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
    checked
}

/// What the checks of one bundle found, for its `Verified`.
struct Parts {
    asked: Asked,
    cluster: ClusterName,
    /// The chain as verified, the leaf first.
    certs: Vec<CertInfo>,
    credential: Credential,
    shown: KeyShown,
    warnings: Vec<String>,
    checked: Vec<String>,
}

/// The verified bundle: everything its kubeconfig holds besides the certificate comes from
/// the station.
fn verified(cx: &Context<'_>, stem: &str, pin: &ClusterPin, p: Parts) -> Verified {
    let Parts {
        asked,
        cluster,
        certs,
        credential,
        shown,
        warnings,
        checked,
    } = p;
    let user_entry = format!("{}@{cluster}", asked.user);
    let context = cx
        .args
        .context
        .clone()
        .unwrap_or_else(|| user_entry.clone());
    let leaf = &certs[0];
    Verified {
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
    }
}

/// The certificate of an existing kubeconfig user entry, if it is one kcsr can read.
pub(super) fn parse_existing(pem: &[u8]) -> Option<CertInfo> {
    cert::parse_first(pem).ok()
}

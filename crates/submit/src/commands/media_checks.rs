//! Opening the media and the checks before anything is sent: its signature, freshness, the
//! station's policy, the cluster it is for, the roles its grants name.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use kcsr_core::exit::Exit;

use super::session::{Fatal, Session};
use super::slot::Slot;
use crate::client::Client;
use crate::media::{Media, MediaError, MediaOffboard, MediaRequest};
use crate::ops;
use crate::rbac;
use crate::sanitize::one_line;
use crate::signers::{self, MediaSigner, Trust};
use crate::station;

pub(super) fn open_media(dir: &Path) -> anyhow::Result<Media> {
    open_media_verified(dir, None, |_| Ok(())).map(|(m, ())| m)
}

/// [`Media::open_verified`]; refusals exit 3, and a media without requests (or offboarding
/// requests) is an error. Filesystem artifacts left alone are said once.
pub(super) fn open_media_verified<T>(
    dir: &Path,
    out: Option<&Path>,
    verify: impl FnOnce(&crate::media::Signed<'_>) -> Result<T, MediaError>,
) -> anyhow::Result<(Media, T)> {
    let out = return_dir(dir, out)?;
    let (media, verified) =
        Media::open_verified(dir, out.as_deref(), verify).map_err(|e| -> anyhow::Error {
            if e.refused {
                let MediaError { message, hint, .. } = e;
                Fatal {
                    code: Exit::Refused,
                    message,
                    hint,
                }
                .into()
            } else {
                e.into()
            }
        })?;
    for note in media.ignored_notes() {
        eprintln!("{note}");
    }
    if media.requests.is_empty() && media.offboards.is_empty() {
        return Err(Fatal::new(
            Exit::Failed,
            format!("the media {} holds no *.csr.yaml requests", dir.display()),
            Some("write requests onto it with kcsr request on the isolated machine"),
        )
        .into());
    }
    Ok((media, verified))
}

/// Where results go for `--out OUT` (`None`: onto the media). `OUT` naming the media itself is
/// the same as no `--out`. One inside the other is refused (exit 2): a directory inside the
/// media is something neither side wrote there, and both refuse such media on the next run.
pub(super) fn return_dir(media: &Path, out: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    let Some(out) = out else { return Ok(None) };
    let (m, o) = (kcsr_fs::resolve(media), kcsr_fs::resolve(out));
    if m == o {
        return Ok(None);
    }
    if o.starts_with(&m) || m.starts_with(&o) {
        return Err(Fatal::new(
            Exit::Usage,
            format!(
                "--out {} and the media {} are inside one another",
                out.display(),
                media.display()
            ),
            Some("give --out a directory beside the media (another stick, or another directory on this one), never inside it"),
        )
        .into());
    }
    Ok(Some(out.to_owned()))
}

/// The trusted station keys; a configured source that cannot be used is an error (exit 1).
pub(super) fn load_trust(flag: Option<&Path>) -> anyhow::Result<Trust> {
    Trust::load(flag).map_err(|e| Fatal::new(Exit::Failed, e.message, Some(&e.hint)).into())
}

/// Opens the media and checks its signature before anything is sent: refused (exit 3)
/// unless signed by a trusted station key when any is configured; with none configured, the
/// operator is warned that the media is unauthenticated.
pub(super) fn open_signed(
    dir: &Path,
    out: Option<&Path>,
    trust: &Trust,
) -> anyhow::Result<(Media, Option<MediaSigner>)> {
    open_media_verified(dir, out, |signed| {
        let signer = signers::verify(signed, trust, ops::now_unix())?;
        Ok(if trust.is_configured() {
            signer
        } else {
            signers::warn_unauthenticated(signed, trust, signer)
        })
    })
}

/// Refuses (exit 3, before anything is sent) requests and offboarding requests past their
/// `kcsr.dev/not-after` (`notAfter`).
pub(super) fn check_fresh<'a>(
    requests: impl IntoIterator<Item = &'a MediaRequest>,
    offboards: &[MediaOffboard],
) -> anyhow::Result<()> {
    let now = ops::now_unix();
    let mut stale: Vec<String> = requests
        .into_iter()
        .filter_map(|r| {
            r.notes
                .expired(now)
                .map(|why| format!("{} ({}): {why}", one_line(r.name()), r.stem))
        })
        .collect();
    stale.extend(
        offboards
            .iter()
            .filter_map(|o| o.expired(now).map(|why| format!("{}: {why}", o.file))),
    );
    refuse_listed(
        &stale,
        |n| format!("{n} request(s) on the media are past their validity; nothing was sent"),
        "old media is never sent again (a replay would re-create requests and bindings): make new requests on the isolated machine (kcsr request, or kcsr renew)",
    )
}

/// Refuses (exit 3, before anything is sent) requests that break the station's policy as it
/// travels on the media.
pub(super) fn check_policy<'a>(
    media: &Media,
    requests: impl IntoIterator<Item = &'a MediaRequest>,
) -> anyhow::Result<()> {
    let Some(policy) = &media.policy else {
        return Ok(());
    };
    let broken: Vec<String> = requests
        .into_iter()
        .flat_map(|r| {
            crate::policy::violations(policy, r)
                .into_iter()
                .map(move |v| format!("{} ({}): {v}", one_line(r.name()), r.stem))
        })
        .collect();
    refuse_listed(
        &broken,
        |n| {
            format!(
                "{n} rule(s) of the station's policy ({}) are broken by requests on the media; nothing was sent",
                kcsr_core::media::POLICY_FILE
            )
        },
        "the station should have refused these: make the requests again on the isolated machine within its policy (or change the policy there)",
    )
}

/// Refuses (exit 3, before anything is created) requests whose grants name a role the
/// cluster does not have (a `veiw` for `view`). Credentials that may not read roles cannot
/// tell: said once, and the approver's run checks again before it creates the bindings.
pub(super) fn check_roles<'a>(
    slots: impl IntoIterator<Item = &'a Slot>,
    client: &Client,
) -> anyhow::Result<()> {
    let mut seen: BTreeMap<String, rbac::Role> = BTreeMap::new();
    let mut missing = Vec::new();
    for slot in slots {
        for b in slot.planned() {
            let path = rbac::role_path(&b.grant);
            let found = match seen.get(&path) {
                Some(r) => r.clone(),
                None => {
                    let r = rbac::role(client, &b.grant).map_err(|p| {
                        Fatal::new(
                            Exit::Failed,
                            format!("cannot look up the role of {}: {}", b.grant, p.message),
                            p.hint.as_deref(),
                        )
                    })?;
                    seen.insert(path, r.clone());
                    r
                }
            };
            if found == rbac::Role::Missing {
                let kind = match b.grant {
                    kcsr_core::rbac::Grant::Role(_, ref ns) => {
                        format!("Role in namespace {}", one_line(ns))
                    }
                    _ => "ClusterRole".to_owned(),
                };
                missing.push(format!(
                    "{} ({}): grant {}: the cluster has no {kind} {:?}",
                    one_line(&slot.report.name),
                    slot.report.stem,
                    one_line(&b.grant.to_string()),
                    one_line(b.grant.role())
                ));
            }
        }
    }
    if seen.values().any(|r| *r == rbac::Role::Unreadable) {
        eprintln!(
            "note: these credentials may not read roles, so whether the granted roles exist is checked by the approver's run (kcsr-submit approve MEDIA_DIR) before it creates the bindings"
        );
    }
    refuse_listed(
        &missing,
        |n| {
            format!(
                "{n} grant(s) name a role that does not exist on this cluster; nothing was created"
            )
        },
        "a typo in --clusterrole/--role? take the request off the media and make it again on the isolated machine with the right role; or create the role on the cluster first",
    )
}

/// The refusal (exit 3) of what a check found, one finding a line under `headline` (given how
/// many there are); `Ok` when it found nothing.
fn refuse_listed(
    found: &[String],
    headline: impl FnOnce(usize) -> String,
    hint: &str,
) -> anyhow::Result<()> {
    if found.is_empty() {
        return Ok(());
    }
    Err(Fatal::new(
        Exit::Refused,
        format!("{}\n  {}", headline(found.len()), found.join("\n  ")),
        Some(hint),
    )
    .into())
}

/// Refuses (exit 3, before anything is sent) requests for another cluster than the
/// context's: its CA bundle must hold one of the fingerprints the station pinned.
pub(super) fn check_cluster<'a>(
    requests: impl IntoIterator<Item = &'a MediaRequest>,
    session: &Session,
) -> anyhow::Result<()> {
    station::check_cluster(
        requests.into_iter().map(|r| (r.name(), &r.notes)),
        session.cluster.ca_pem.as_deref().map(str::as_bytes),
        &session.cluster.name,
    )
    .map_err(|e| {
        Fatal::new(
            Exit::Refused,
            e,
            Some("use the context of the cluster the requests were made for (--context NAME, with its certificate-authority-data; not --insecure-skip-tls-verify), or make new requests for this cluster on the isolated machine"),
        )
        .into()
    })
}

pub(super) fn check_confirmable(yes: bool) -> anyhow::Result<()> {
    if !yes && !std::io::stdin().is_terminal() {
        return Err(Fatal::new(
            Exit::Usage,
            "approving needs a confirmation, and stdin is not a terminal",
            Some("review the requests (kcsr-submit status MEDIA_DIR) and pass --yes to approve without asking"),
        )
        .into());
    }
    Ok(())
}

//! `kcsr withdraw`: takes a mistaken request off the media before it leaves. The station's
//! record is marked `withdrawn` first (so an interrupted run is finished by the next one and
//! renew and assemble leave it alone), then the manifest and binding are removed, then
//! `SHA256SUMS` is rewritten without them and signed again.
//!
//! The station signs again only media it signed itself: a `SHA256SUMS` whose signature is not
//! the station's key is refused (re-signing it would vouch for what someone else wrote).

use kcsr_core::manifest::{self, Document};
use kcsr_core::media::{
    self as layout, BINDING_SUFFIX, BUNDLE_SUFFIX, CERT_SUFFIX, CSR_MANIFEST_SUFFIX,
    RETURNED_SUMS_FILE,
};
use kcsr_core::station::{RequestRecord, RequestState};
use kcsr_core::{sums, time};
use serde_json::json;

use crate::cli::WithdrawArgs;
use crate::cmd::verify::unix_now;
use crate::fail::{Context as _, Fail, Result};
use crate::media_dir::MediaDir;
use crate::signing::SigningKey;
use crate::station::Station;
use crate::{passphrase, policy, report, signing};

/// One request of the user on the media.
struct Found {
    stem: String,
    name: String,
}

pub(crate) fn run(args: WithdrawArgs) -> Result<()> {
    let station = Station::new(&args.keys);
    if !station.requests_dir().is_dir() {
        return Err(Fail::new(format!(
            "{} holds no station records (no {})",
            args.keys.display(),
            station.requests_dir().display()
        ))
        .hint(
            "pass the key directory kcsr request wrote the keys and records to (--keys KEY_DIR)",
        ));
    }
    let mut media = MediaDir::open(&args.media, false)?;
    let records = station.records()?;
    let found = candidates(&args, &media, &records)?;
    let Some(found) = pick(&args, &records, found)? else {
        return Ok(());
    };
    let (record, files) = withdrawable(&station, &media, &found)?;
    if args.dry_run {
        return summarize(&args, &record, &files, true);
    }
    let signer = re_signer(&args, &station, &media)?;
    if record.state != RequestState::Withdrawn {
        station.set_state(
            &record,
            RequestState::Withdrawn,
            &time::format_rfc3339(unix_now()),
        )?;
    }
    for name in &files {
        if std::fs::symlink_metadata(media.path.join(name)).is_ok() {
            kcsr_fs::remove_file(&media.path, name)
                .context(|| format!("failed to remove {}", media.path.join(name).display()))?;
        }
        media.sums.remove(name);
    }
    // The station signs only what it vouches for now: its policy copy as the policy is today.
    policy::sync(&mut media, policy::load(&station)?.as_ref())?;
    media.save_sums(&signer)?;
    summarize(&args, &record, &files, false)
}

/// The user's requests on the media (`--name` picks among them), with those a stopped run
/// left listed.
fn candidates(
    args: &WithdrawArgs,
    media: &MediaDir,
    records: &[RequestRecord],
) -> Result<Vec<Found>> {
    let user = args.user.as_str();
    let mut found = on_media(media, user)?;
    // A run stopped after the files were removed: the record is withdrawn, SHA256SUMS still
    // lists its request.
    for r in records.iter().filter(|r| {
        r.user == user
            && r.state == RequestState::Withdrawn
            && media
                .sums
                .get(&format!("{}{CSR_MANIFEST_SUFFIX}", r.stem))
                .is_some()
    }) {
        if !found.iter().any(|f| f.stem == r.stem) {
            found.push(Found {
                stem: r.stem.clone(),
                name: r.name.clone(),
            });
        }
    }
    if let Some(n) = &args.name {
        found.retain(|f| f.stem == *n || f.name == *n);
    }
    Ok(found)
}

/// The one request to withdraw; `None` when the user's is withdrawn already (and said so).
fn pick(
    args: &WithdrawArgs,
    records: &[RequestRecord],
    found: Vec<Found>,
) -> Result<Option<Found>> {
    let user = args.user.as_str();
    let shown = report::sanitize(user);
    match found.len() {
        0 => {
            let withdrawn = records
                .iter()
                .any(|r| r.user == user && r.state == RequestState::Withdrawn);
            if withdrawn {
                if !args.output.quiet {
                    report::say(&format!(
                        "kcsr withdraw: no request for user {shown:?} is on {} any more; its record is withdrawn",
                        args.media.display()
                    ));
                }
                if args.output.json {
                    report::json(&json!({"user": user, "withdrawn": [], "dryRun": args.dry_run}))?;
                }
                return Ok(None);
            }
            Err(Fail::new(format!(
                "no request for user {shown:?}{} on {}",
                args.name
                    .as_deref()
                    .map(|n| format!(" named {:?}", report::sanitize(n)))
                    .unwrap_or_default(),
                args.media.display()
            ))
            .hint("kcsr check --media MEDIA_DIR lists the requests on the media"))
        }
        1 => Ok(Some(
            found
                .into_iter()
                .next()
                .ok_or_else(|| Fail::new("vanished"))?,
        )),
        _ => Err(Fail::new(format!(
            "{} requests for user {shown:?} on {}: {}",
            found.len(),
            args.media.display(),
            found
                .iter()
                .map(|f| format!("{} ({})", f.stem, f.name))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .hint("say which with --name STEM (or the object name)")),
    }
}

/// The station's record of the request and its files on the media, if it may be withdrawn:
/// not come back yet, and written by this station.
fn withdrawable(
    station: &Station,
    media: &MediaDir,
    found: &Found,
) -> Result<(RequestRecord, Vec<String>)> {
    let manifest_file = format!("{}{CSR_MANIFEST_SUFFIX}", found.stem);
    let binding_file = format!("{}{BINDING_SUFFIX}", found.stem);
    if let Some(r) = returned(media, &found.stem) {
        return Err(Fail::new(format!(
            "the request {} already came back ({r}): taking it off the media would not undo its certificate",
            found.name
        ))
        .hint("a certificate cannot be revoked: let it expire, or offboard the user (kcsr offboard) to remove its bindings")
        .refused());
    }
    let Some(record) = station.record(&found.name)? else {
        return Err(Fail::new(format!(
            "this station has no record of the request {} ({manifest_file}): it did not write it, so it does not sign the media without it",
            found.name
        ))
        .hint("withdraw it with the key directory that made it (--keys), or start the media afresh")
        .refused());
    };
    let files: Vec<String> = [&manifest_file, &binding_file]
        .into_iter()
        .filter(|n| {
            media.sums.get(n).is_some() || std::fs::symlink_metadata(media.path.join(n)).is_ok()
        })
        .cloned()
        .collect();
    Ok((record, files))
}

/// The station's key, to sign the media again: only media it signed itself as it is.
fn re_signer(args: &WithdrawArgs, station: &Station, media: &MediaDir) -> Result<SigningKey> {
    let passphrases = passphrase::Source::new(args.passphrase_file.as_deref());
    let Some(public) = signing::public_key(station)? else {
        return Err(Fail::new(format!(
            "{} has no signing key: it never signed media",
            args.keys.display()
        )));
    };
    let sig_ok = media.is_signed_by(&public);
    if !sig_ok {
        return Err(Fail::new(format!(
            "{} on {} is not signed by this station's key {} as it is: withdrawing would sign what the station did not write",
            sums::FILE_NAME,
            args.media.display(),
            public.fingerprint()
        ))
        .hint("run kcsr check --media MEDIA_DIR --keys KEY_DIR to see what changed; write the trip afresh if in doubt")
        .refused());
    }
    signing::obtain(
        station,
        None,
        args.passphrase_file.as_deref(),
        &passphrases,
        args.output.quiet,
    )
}

/// The user's requests on the media: every `*.csr.yaml` whose CSR names the user (listed or
/// not: a file left by an interrupted run is found too).
fn on_media(media: &MediaDir, user: &str) -> Result<Vec<Found>> {
    let (entries, _) = media.scan()?;
    let mut out = Vec::new();
    for e in entries {
        let (Some(stem), Some(data)) = (layout::stem(&e.name, CSR_MANIFEST_SUFFIX), &e.data) else {
            continue;
        };
        let Ok(docs) = manifest::parse_documents(data) else {
            continue;
        };
        let Some(Document::Csr(m)) = docs.first() else {
            continue;
        };
        let named = m
            .decode_request()
            .is_ok_and(|c| c.subject.user() == Some(user));
        if named {
            out.push(Found {
                stem: stem.to_owned(),
                name: m.metadata.name.clone(),
            });
        }
    }
    Ok(out)
}

/// What came back for `stem`, if anything: a result on the media or in `RETURNED.SHA256SUMS`.
fn returned(media: &MediaDir, stem: &str) -> Option<String> {
    let listed = kcsr_fs::read_limited(
        &media.path.join(RETURNED_SUMS_FILE),
        layout::MAX_SUMS_FILE_BYTES,
    )
    .ok()
    .and_then(|d| sums::Sums::parse(&d).ok())
    .unwrap_or_default();
    [CERT_SUFFIX, BUNDLE_SUFFIX, layout::DENIED_SUFFIX]
        .iter()
        .map(|s| format!("{stem}{s}"))
        .find(|n| listed.get(n).is_some() || media.path.join(n).is_file())
}

fn summarize(
    args: &WithdrawArgs,
    record: &RequestRecord,
    files: &[String],
    dry: bool,
) -> Result<()> {
    if args.output.json {
        report::json(&json!({
            "user": record.user,
            "dryRun": dry,
            "withdrawn": [{
                "name": record.name,
                "stem": record.stem,
                "files": files,
                "record": record.name,
            }],
        }))?;
    }
    if args.output.quiet {
        return Ok(());
    }
    let user = report::sanitize(&record.user);
    if dry {
        report::say(&format!(
            "kcsr withdraw: would take request {} (user {user:?}) off {}: remove {}, sign SHA256SUMS again, mark the record withdrawn; nothing was changed (--dry-run)",
            record.name,
            args.media.display(),
            files.join(", ")
        ));
    } else {
        report::say(&format!(
            "kcsr withdraw: request {} (user {user:?}) taken off {}: removed {}; SHA256SUMS signed again; the station's record is withdrawn",
            record.name,
            args.media.display(),
            if files.is_empty() {
                "nothing left to remove".to_owned()
            } else {
                files.join(", ")
            }
        ));
    }
    Ok(())
}

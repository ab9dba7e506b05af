//! `kcsr assemble`: verify the certificates brought back across the gap against the station's
//! own state (the keys that never left, the record of every request, the pinned clusters),
//! and write kubeconfigs built from the pins. Everything is verified before anything is
//! written; the media only proposes certificates (decision 0009).

mod check;
mod media;
mod merge;
mod pins;
mod renewal;
mod summary;
mod trail;
mod write;

use std::path::PathBuf;

use kcsr_core::bundle::Bundle;
use kcsr_core::media::BUNDLE_SUFFIX;

use crate::cli::AssembleArgs;
use crate::cmd::verify::unix_now;
use crate::fail::{Fail, Result};
use crate::media_dir::MediaDir;
use crate::passphrase;
use crate::station::Station;
use crate::{paths, report};
use check::Verified;

pub(crate) fn run(args: AssembleArgs) -> Result<()> {
    refuse_media_targets(&args)?;
    let media = MediaDir::open(&args.media, false)?;
    // Decision 0010: what the station asked for on this media and did not get back.
    let station = Station::new(&args.keys);
    let (checked, ignored, return_only) = media::check(&media, &station)?;
    if !args.output.quiet
        && let Some(note) = crate::media_dir::ignored_note(&args.media, &ignored)
    {
        report::say(&note);
    }
    let (bundles, unmatched) = media::bundles(&media, &checked, &args.names)?;
    let mut outstanding =
        trail::outstanding(&station, &args.keys, &checked, &args.names, return_only)?;
    if bundles.is_empty() {
        trail::record(&station, &[], &[], &outstanding, unix_now())?;
        return Err(trail::nothing_back(
            &args.media,
            &args.names,
            &outstanding,
            return_only,
        ));
    }
    if let Some(missing) = unmatched {
        return Err(Fail::new(format!(
            "no bundle on the media matches --name {missing:?}"
        )));
    }
    refuse_shape(&args, &bundles)?;
    refuse_other_key_dir(&args, &station, &bundles)?;

    let passphrase = passphrase::Source::new(args.passphrase_file.as_deref());
    let cx = check::Context {
        args: &args,
        checked: &checked,
        passphrase: &passphrase,
        now: unix_now(),
    };
    let mut pins = pins::Pins::new(Station::new(&args.keys));
    let (verified, no_key) = verify_all(&cx, &mut pins, &bundles)?;
    // A verified certificate whose key is not here did not become a kubeconfig either.
    for NoKey { stem, key_path, .. } in &no_key {
        if let Some((_, b)) = bundles.iter().find(|(s, _)| s == stem) {
            outstanding.extend(trail::no_key(&station, &b.name, key_path)?);
        }
    }
    if verified.is_empty() {
        trail::record(&station, &[], &[], &outstanding, cx.now)?;
        return Err(missing_keys(&args, &no_key, "; nothing was written"));
    }
    pin_and_write(
        &args,
        pins,
        &station,
        &verified,
        &bundles,
        &outstanding,
        cx.now,
    )?;
    if no_key.is_empty() {
        Ok(())
    } else {
        Err(missing_keys(
            &args,
            &no_key,
            &format!("; the other {} kubeconfig(s) were written", verified.len()),
        )
        .incomplete())
    }
}

/// A kubeconfig holds the private key: none is written onto the media.
fn refuse_media_targets(args: &AssembleArgs) -> Result<()> {
    for target in [&args.out, &args.out_dir, &args.merge_into]
        .into_iter()
        .flatten()
    {
        if paths::resolve(target).starts_with(paths::resolve(&args.media)) {
            return Err(Fail::new(format!(
                "{} is on the media {}: a kubeconfig holds the private key and must never travel",
                target.display(),
                args.media.display()
            ))
            .hint("write the kubeconfig on this machine's own disk"));
        }
    }
    Ok(())
}

/// `--out`, `--context` and a `--key-path` without `{user}` take one bundle.
fn refuse_shape(args: &AssembleArgs, bundles: &[(String, Bundle)]) -> Result<()> {
    if bundles.len() > 1 && (args.out.is_some() || args.context.is_some()) {
        return Err(Fail::new(format!(
            "{} bundles on the media, but --out and --context take one",
            bundles.len()
        ))
        .hint("pick one with --name, or use --out-dir or --merge-into"));
    }
    if let Some(p) = &args.key_path
        && bundles.len() > 1
        && !p.contains("{user}")
    {
        return Err(Fail::new(format!(
            "{} bundles on the media, but --key-path {p} names one file",
            bundles.len()
        ))
        .hint("put {user} in it for each user's file, e.g. --key-path '/home/{user}/.kube/{user}.key', or pick one with --name"));
    }
    Ok(())
}

fn refuse_other_key_dir(
    args: &AssembleArgs,
    station: &Station,
    bundles: &[(String, Bundle)],
) -> Result<()> {
    let no_keys = bundles.iter().all(|(stem, _)| {
        std::fs::symlink_metadata(args.keys.join(format!("{stem}.key.pem"))).is_err()
    });
    if !args.no_record && !station.requests_dir().is_dir() && no_keys {
        // A wrong --keys: not a verification failure of the certificates, which are not in
        // question, but no key and no record here at all. (Keys without records are a key
        // directory from before the station kept records: --no-record is for those.)
        let mut users: Vec<String> = bundles
            .iter()
            .map(|(_, b)| format!("{:?}", report::sanitize(&b.user)))
            .collect();
        users.dedup();
        return Err(Fail::new(format!(
            "no key for {} in {}: it holds no station (no {}), so it is not the key directory these requests were made with",
            users.join(", "),
            args.keys.display(),
            station.requests_dir().display()
        ))
        .hint("pass the key directory kcsr request wrote the keys and records to (--keys KEY_DIR); nothing is wrong with the certificates"));
    }
    Ok(())
}

/// A verified certificate whose key is not in the key directory.
struct NoKey {
    stem: String,
    user: String,
    key_path: PathBuf,
}

/// Every bundle verified, or the refusal naming each that did not verify.
fn verify_all(
    cx: &check::Context<'_>,
    pins: &mut pins::Pins,
    bundles: &[(String, Bundle)],
) -> Result<(Vec<Verified>, Vec<NoKey>)> {
    let mut verified = Vec::new();
    let mut no_key = Vec::new();
    let mut failures = Vec::new();
    for (stem, bundle) in bundles {
        match check::verify(cx, pins, stem, bundle) {
            Ok(check::Outcome::Verified(v)) => verified.push(*v),
            Ok(check::Outcome::NoKey {
                stem,
                user,
                key_path,
            }) => no_key.push(NoKey {
                stem,
                user,
                key_path,
            }),
            Err(f) => failures.push(f),
        }
    }
    if failures.is_empty() {
        return Ok((verified, no_key));
    }
    let mut hints: Vec<String> = Vec::new();
    for h in failures.iter().filter_map(|f| f.hint.clone()) {
        if !hints.contains(&h) {
            hints.push(h);
        }
    }
    hints.push(
        "do not use these certificates; see docs/operator-guide.md, \"When something fails\""
            .to_owned(),
    );
    Err(Fail::new(format!(
        "{} of {} certificates did not verify; nothing was written\n  {}",
        failures.len(),
        bundles.len(),
        failures
            .iter()
            .map(|f| f.message.replace('\n', "\n    "))
            .collect::<Vec<_>>()
            .join("\n  ")
    ))
    .hint(hints.join("\n      "))
    .refused())
}

fn missing_keys(args: &AssembleArgs, no_key: &[NoKey], what: &str) -> Fail {
    Fail::new(format!(
        "no key for {} in {}{what}\n  {}",
        no_key
            .iter()
            .map(|k| format!("{:?}", report::sanitize(&k.user)))
            .collect::<Vec<_>>()
            .join(", "),
        args.keys.display(),
        no_key
            .iter()
            .map(|k| format!("{}{BUNDLE_SUFFIX}: its certificate verified, but {} is not there", k.stem, k.key_path.display()))
            .collect::<Vec<_>>()
            .join("\n  ")
    ))
    .hint("put the key back where the station recorded it (or pass the key directory it is in with --keys) and run the same command again; or write a kubeconfig that names the user's own key file with --key-path")
}

/// Pins what the operator trusted, writes the kubeconfigs, records the trail and reports.
fn pin_and_write(
    args: &AssembleArgs,
    pins: pins::Pins,
    station: &Station,
    verified: &[Verified],
    bundles: &[(String, Bundle)],
    outstanding: &[trail::Outstanding],
    now: i64,
) -> Result<()> {
    // Nothing is pinned or written unless the operator's fingerprints match and no existing
    // kubeconfig entry would change.
    pins.trust(&args.trust_cluster)?;
    let merged = match &args.merge_into {
        Some(target) => Some(merge::merge(args, target, verified, pins.station())?),
        None => None,
    };
    let names = write::out_names(verified);
    let replaces = match &args.out_dir {
        Some(dir) if !args.force => renewal::renewals(dir, verified, &names, pins.station())?,
        _ => Vec::new(),
    };
    let pinned = pins.save()?;
    let written = write::write(
        args,
        verified,
        &names,
        &replaces,
        merged.as_ref().map(|m| &m.text),
    )?;
    trail::record(station, verified, bundles, outstanding, now)?;
    summary::summarize(
        args,
        verified,
        &written,
        &pinned,
        merged.as_ref(),
        &replaces,
        outstanding,
    )
}

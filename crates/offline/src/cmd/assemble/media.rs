//! The media as it comes back: the station's `SHA256SUMS` and the connected side's
//! `RETURNED.SHA256SUMS` together list every file; a file listed in neither is refused. The
//! digests catch accidents only: whoever carries the media can rewrite a file and its sums, so
//! nothing read here is trusted beyond being what is checked against the station's state.
//!
//! A return directory (`kcsr-submit apply --out DIR`, for write-once or one-way media) holds no
//! requests and no `SHA256SUMS`: only results and `RETURNED.SHA256SUMS`, each result for a
//! request the station recorded (its own records, never what the media says about itself).

use std::collections::{BTreeMap, BTreeSet};

use kcsr_core::bundle::Bundle;
use kcsr_core::media::{
    self, BUNDLE_SUFFIX, CERT_SUFFIX, CSR_MANIFEST_SUFFIX, DENIED_SUFFIX, RETURNED_SUMS_FILE,
    SUMS_SIGNATURE_FILE,
};
use kcsr_core::sums::{self, Sums};

use crate::fail::{Fail, Result};
use crate::media_dir::MediaDir;
use crate::report;
use crate::station::Station;
use kcsr_fs as output;

/// The files the sums list, with their content: what is used is exactly what was checked
/// (no second read that could see other bytes).
pub(super) type Checked = BTreeMap<String, Vec<u8>>;

/// Reads and checks the media: every file listed in one of the two sums files with its
/// digest, no symlinks, special files, keys or unlisted files.
/// Also returns what was left alone (filesystem artifacts, later trips' directories), to be
/// said once, and whether the media is a return directory of its own (no `SHA256SUMS`).
pub(super) fn check(media: &MediaDir, station: &Station) -> Result<(Checked, Vec<String>, bool)> {
    let (scanned, ignored) = media.scan()?;
    if std::fs::symlink_metadata(media.path.join(sums::FILE_NAME)).is_err() {
        return check_return_dir(media, station, scanned).map(|checked| (checked, ignored, true));
    }
    let control = |name: &str| {
        scanned
            .iter()
            .find(|e| e.name == name && e.kind == output::EntryKind::File)
            .and_then(|e| e.data.as_deref())
    };
    let mut problems = Vec::new();
    let returned = returned_sums(media, control(RETURNED_SUMS_FILE))?;
    problems.extend(returned_problems(&media.sums, &returned));
    // One list for the audit; the control files are listed with their own digests so that
    // they get the per-file checks (regular file, no key) without being "unlisted".
    let mut listed = media.sums.clone();
    for name in returned.names() {
        if let Some(d) = returned.get(name) {
            listed.insert_digest(name, *d);
        }
    }
    for name in [RETURNED_SUMS_FILE, SUMS_SIGNATURE_FILE] {
        if let Some(data) = control(name) {
            listed.insert(name, data);
        }
    }
    let from_returned: BTreeSet<&str> = returned.names().collect();
    problems.extend(
        media::audit(
            &listed,
            scanned.iter().map(|e| media::Found {
                name: &e.name,
                regular: e.kind == output::EntryKind::File,
                data: e.data.as_deref(),
            }),
        )
        .into_iter()
        .map(|p| name_the_list(&p, &from_returned)),
    );
    if problems.is_empty() {
        let checked = scanned
            .into_iter()
            .filter(|e| media.sums.get(&e.name).is_some() || returned.get(&e.name).is_some())
            .filter_map(|e| e.data.map(|d| (e.name, d)))
            .collect();
        return Ok((checked, ignored, false));
    }
    let problems: Vec<String> = problems.iter().map(|p| report::sanitize(p)).collect();
    Err(Fail::new(format!(
        "the media {} does not match its {} and {RETURNED_SUMS_FILE}; nothing was written\n  {}",
        media.path.display(),
        sums::FILE_NAME,
        problems.join("\n  ")
    ))
    .hint("compare the media with what the connected machine wrote, and carry it again")
    .refused())
}

/// A return directory: `RETURNED.SHA256SUMS` lists every file with its digest, and every file
/// is a result of a request the station recorded with that stem; nothing else may be there
/// (not even `SHA256SUMS` or its signature). Which record a bundle or denial is for is then
/// settled by the object name it holds, checked against the record's stem.
fn check_return_dir(
    media: &MediaDir,
    station: &Station,
    scanned: Vec<output::ScannedEntry>,
) -> Result<Checked> {
    let returned_file = scanned
        .iter()
        .find(|e| e.name == RETURNED_SUMS_FILE && e.kind == output::EntryKind::File)
        .and_then(|e| e.data.as_deref());
    let returned = returned_sums(media, returned_file)?;
    let stems: BTreeSet<String> = station.records()?.into_iter().map(|r| r.stem).collect();
    let problems = media::audit_return_dir(
        |stem| stems.contains(stem),
        &returned,
        scanned.iter().map(|e| media::Found {
            name: &e.name,
            regular: e.kind == output::EntryKind::File,
            data: e.data.as_deref(),
        }),
        false,
    );
    if problems.is_empty() {
        return Ok(scanned
            .into_iter()
            .filter(|e| returned.get(&e.name).is_some())
            .filter_map(|e| e.data.map(|d| (e.name, d)))
            .collect());
    }
    let problems: Vec<String> = problems.iter().map(|p| report::sanitize(p)).collect();
    Err(Fail::new(format!(
        "the return directory {} (no {}: only what the connected side brought back) does not hold only results of requests this station recorded, each listed in {RETURNED_SUMS_FILE}; nothing was written\n  {}",
        media.path.display(),
        sums::FILE_NAME,
        problems.join("\n  ")
    ))
    .hint(format!(
        "check --keys (the station that wrote these requests: {}), and compare the directory with what the connected machine wrote",
        station.requests_dir().display()
    ))
    .refused())
}

/// The connected side's `RETURNED.SHA256SUMS` as read in the scan (none: nothing came back
/// yet); a damaged one refuses the run, naming the file and its line.
fn returned_sums(media: &MediaDir, data: Option<&[u8]>) -> Result<Sums> {
    let Some(data) = data else {
        return Ok(Sums::default());
    };
    Sums::parse(data).map_err(|e| {
        Fail::new(format!(
            "{}: {RETURNED_SUMS_FILE} line {}: {}",
            media.path.join(RETURNED_SUMS_FILE).display(),
            e.line,
            e.why
        ))
        .hint("the connected side's checksum file is damaged; fetch the certificates again")
        .refused()
    })
}

/// What the connected side may list: `<stem>.crt` and `<stem>.bundle.yaml` for requests the
/// station's `SHA256SUMS` holds, and nothing the station listed itself.
fn returned_problems(signed: &Sums, returned: &Sums) -> Vec<String> {
    let mut problems = Vec::new();
    for name in returned.names() {
        let stem = media::RETURNED_SUFFIXES
            .iter()
            .find_map(|suffix| media::stem(name, suffix));
        match stem {
            None => problems.push(format!(
                "{name}: listed in {RETURNED_SUMS_FILE}, which may list only <stem>{CERT_SUFFIX}, <stem>{BUNDLE_SUFFIX} and <stem>{DENIED_SUFFIX}"
            )),
            Some(stem) if signed.get(&format!("{stem}{CSR_MANIFEST_SUFFIX}")).is_none() => {
                problems.push(format!(
                    "{name}: listed in {RETURNED_SUMS_FILE}, but {} lists no request {stem}{CSR_MANIFEST_SUFFIX}",
                    sums::FILE_NAME
                ));
            }
            Some(_) => {}
        }
        if signed.get(name).is_some() {
            problems.push(format!(
                "{name}: listed in both {} and {RETURNED_SUMS_FILE}",
                sums::FILE_NAME
            ));
        }
    }
    problems
}

/// The audit speaks of `SHA256SUMS`; say which list a file was in (the lines are those of
/// `kcsr_core::sums::Problem`).
fn name_the_list(problem: &str, from_returned: &BTreeSet<&str>) -> String {
    let Some((file, what)) = problem.split_once(": ") else {
        return problem.to_owned();
    };
    let what = if from_returned.contains(file) {
        what.replace(sums::FILE_NAME, RETURNED_SUMS_FILE)
    } else {
        what.replace(
            "present but not listed in SHA256SUMS",
            "present but listed in neither SHA256SUMS nor RETURNED.SHA256SUMS",
        )
    };
    format!("{file}: {what}")
}

/// The bundles on the media, by stem.
pub(super) type Bundles = Vec<(String, Bundle)>;

/// The bundles on the media, by stem, those matching `names` (stem, object name or user)
/// when any are given; and the first name no bundle matches (a request not back, or none).
pub(super) fn bundles(
    media: &MediaDir,
    checked: &Checked,
    names: &[String],
) -> Result<(Bundles, Option<String>)> {
    let mut out = Vec::new();
    let mut matched = BTreeSet::new();
    for (file, data) in checked {
        let Some(stem) = media::stem(file, BUNDLE_SUFFIX) else {
            continue;
        };
        let bundle = Bundle::parse(data).map_err(|e| {
            Fail::new(report::sanitize(&format!(
                "{}: {e}",
                media.path.join(file).display()
            )))
        })?;
        let wanted = names.is_empty()
            || names.iter().any(|n| {
                let hit = n == stem || *n == bundle.name || *n == bundle.user;
                if hit {
                    matched.insert(n.clone());
                }
                hit
            });
        if wanted {
            out.push((stem.to_owned(), bundle));
        }
    }
    let missing = names.iter().find(|n| !matched.contains(*n)).cloned();
    Ok((out, missing))
}

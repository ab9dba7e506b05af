//! The media as it comes back: the station's `SHA256SUMS` and the connected side's
//! `RETURNED.SHA256SUMS` together list every file; a file listed in neither is refused. The
//! digests catch accidents only: whoever carries the media can rewrite a file and its sums, so
//! nothing read here is trusted beyond being what is checked against the station's state.

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
use kcsr_fs as output;

/// The files the sums list, with their content: what is used is exactly what was checked
/// (no second read that could see other bytes).
pub(super) type Checked = BTreeMap<String, Vec<u8>>;

/// Reads and checks the media: every file listed in one of the two sums files with its
/// digest, no symlinks, special files, keys or unlisted files.
/// Also returns what was left alone (filesystem artifacts, later trips' directories), to be
/// said once.
pub(super) fn check(media: &MediaDir) -> Result<(Checked, Vec<String>)> {
    let (scanned, ignored) = media.scan()?;
    let control = |name: &str| {
        scanned
            .iter()
            .find(|e| e.name == name && e.kind == output::EntryKind::File)
            .and_then(|e| e.data.as_deref())
    };
    let mut problems = Vec::new();
    let returned = match control(RETURNED_SUMS_FILE) {
        Some(data) => Sums::parse(data).map_err(|e| {
            Fail::new(format!(
                "{}: {}",
                media.path.join(RETURNED_SUMS_FILE).display(),
                e.to_string()
                    .replacen("SHA256SUMS line", "RETURNED.SHA256SUMS line", 1)
            ))
            .hint("the connected side's checksum file is damaged; fetch the certificates again")
            .refused()
        })?,
        None => Sums::default(),
    };
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
        return Ok((checked, ignored));
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

/// The bundles on the media, by stem, those matching `names` (stem, object name or user)
/// when any are given.
pub(super) fn bundles(
    media: &MediaDir,
    checked: &Checked,
    names: &[String],
) -> Result<Vec<(String, Bundle)>> {
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
    if let Some(missing) = names.iter().find(|n| !matched.contains(*n)) {
        return Err(Fail::new(format!(
            "no bundle on the media matches --name {missing:?}"
        )));
    }
    Ok(out)
}

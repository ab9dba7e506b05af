//! The group commit of `kcsr batch` (docs/decisions/0008-group-commit.md): the users staged
//! by the workers made durable and visible together, a few syncs per group, and
//! `SHA256SUMS` listing them.

use std::path::Path;

use kcsr_core::sums::Sums;
use kcsr_fs::group::{self, Staged};

use super::output::UserReport;
use crate::fail::{Fail, Result};
use crate::media_dir::MediaDir;
use crate::signing::SigningKey;

/// One user's files, written under temporary names, waiting for the group commit.
pub(super) struct Pending {
    pub(super) key: Option<Staged>,
    /// The station's record of the request, published with the key, before the media files.
    pub(super) record: Option<Staged>,
    pub(super) media: Vec<Staged>,
    pub(super) files: Vec<(String, [u8; 32])>,
    /// A binding from an earlier request that must leave the media and `SHA256SUMS`.
    pub(super) removed: Option<String>,
    pub(super) report: Box<UserReport>,
}

/// `SHA256SUMS` and its signature (none in a dry run, which never saves).
pub(super) fn save(media: &MediaDir, signer: Option<&SigningKey>) -> Result<()> {
    match signer {
        Some(key) => media.save_sums(key).map(drop),
        None => Ok(()),
    }
}

/// Makes a group of staged users durable and visible: their data with one sync per
/// filesystem, then every key's and record's name, then every manifest's and binding's. A
/// user whose key or record cannot be published (say, the key was created meanwhile by
/// another run) fails alone and its media files are discarded. An error of the sync itself
/// stops the run: nothing after it could be trusted to be on the device.
pub(super) fn commit(
    keys: &Path,
    requests: &Path,
    media: &Path,
    pending: Vec<(usize, Pending)>,
) -> Result<Published> {
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let sync_failed = |what: &str, e: std::io::Error| {
        Fail::new(format!("failed to sync {what}: {e}")).hint(
            "the device may be failing or was removed; check it, then run the same command again",
        )
    };
    group::sync_data([keys, requests, media])
        .map_err(|e| sync_failed(&format!("{} and {}", keys.display(), media.display()), e))?;
    let (mut results, any_key) = publish_keys(pending)?;
    let names = if any_key {
        vec![keys, requests]
    } else {
        vec![requests]
    };
    group::sync_dirs(names).map_err(|e| sync_failed(&keys.display().to_string(), e))?;
    publish_media(media, &mut results)?;
    group::sync_dirs([media]).map_err(|e| sync_failed(&media.display().to_string(), e))?;
    Ok(results)
}

/// What a user's publication came to: the user, or why it failed alone.
type Published = Vec<(usize, std::result::Result<Pending, String>)>;

/// Gives every staged key and record its name; whether any key was among them.
fn publish_keys(pending: Vec<(usize, Pending)>) -> Result<(Published, bool)> {
    let mut results: Published = Vec::with_capacity(pending.len());
    let mut any_key = false;
    for (i, mut p) in pending {
        let mut published = match p.key.take() {
            Some(key) => {
                let path = key.target().to_path_buf();
                any_key = true;
                match group::publish(key) {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        let what = format!("failed to write key {}", path.display());
                        match write_fault(&what, &path, &e, "another key directory") {
                            (fail, true) => return Err(fail),
                            (fail, false) => Err(fail.message),
                        }
                    }
                }
            }
            None => Ok(()),
        };
        if published.is_ok()
            && let Some(record) = p.record.take()
        {
            let path = record.target().to_path_buf();
            if let Err(e) = group::publish(record) {
                let what = format!("failed to write the record {}", path.display());
                match write_fault(&what, &path, &e, "another key directory") {
                    (fail, true) => return Err(fail),
                    (fail, false) => published = Err(fail.message),
                }
            }
        }
        results.push((i, published.map(|()| p)));
    }
    Ok((results, any_key))
}

/// Gives every published user's manifest and binding its name, and takes a stale binding off.
fn publish_media(media: &Path, results: &mut Published) -> Result<()> {
    for (_, result) in results {
        let Ok(p) = result else { continue };
        let mut error = None;
        for staged in std::mem::take(&mut p.media) {
            let path = staged.target().to_path_buf();
            if let Err(e) = group::publish(staged) {
                let what = format!("failed to write {}", path.display());
                match write_fault(&what, &path, &e, "other media") {
                    (fail, true) => return Err(fail),
                    (fail, false) => error = Some(fail.message),
                }
                break; // the user's other staged files are dropped, i.e. removed
            }
        }
        if error.is_none()
            && let Some(name) = &p.removed
            && media.join(name).exists()
            && let Err(e) = kcsr_fs::remove_file(media, name)
        {
            error = Some(format!("failed to remove the stale {name}: {e}"));
        }
        if let Some(e) = error {
            *result = Err(e);
        }
    }
    Ok(())
}

/// Records a user's files; true when something changed.
pub(super) fn record(sums: &mut Sums, files: &[(String, [u8; 32])]) -> bool {
    let mut changed = false;
    for (name, digest) in files {
        if sums.get(name) != Some(digest) {
            sums.insert_digest(name, *digest);
            changed = true;
        }
    }
    changed
}

/// A failed write: its message and hint, and whether the device itself failed (full,
/// read-only), which stops the whole run.
pub(super) fn write_fault(
    what: &str,
    path: &Path,
    e: &std::io::Error,
    elsewhere: &str,
) -> (Fail, bool) {
    (
        crate::fail::write_failed(what, path, e, elsewhere, crate::fail::RESUME),
        kcsr_fs::device_fault(e).is_some(),
    )
}

//! A request against the media: whether the media holds it already, writing its files, and
//! refusing to replace another.

use std::path::{Path, PathBuf};

use kcsr_core::csr::CsrInfo;
use kcsr_core::manifest::{
    self, CLUSTER_ANNOTATION, CLUSTER_CA_ANNOTATION, CREATED_ANNOTATION, CsrManifest,
    GRANT_ANNOTATION, NOT_AFTER_ANNOTATION, TICKET_ANNOTATION,
};
use kcsr_core::media::CSR_MANIFEST_SUFFIX;
use kcsr_core::sums::Sums;
use kcsr_core::time;
use kcsr_fs as output;

use super::build::Built;
use super::spec::Spec;
use crate::fail::{self, Context as _, Fail, Result};
use crate::{media_file, report};

/// How the media compares with a built request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MediaState {
    /// No request for this stem.
    Absent,
    /// The same request, still fresh: kept as it is (with its own `created`/`not-after`).
    Same(Existing),
    /// The same request (name, key, spec), but past its `kcsr.dev/not-after` or written before
    /// requests were stamped: written again, with the same key and fresh times.
    Stale,
    /// Another request for this stem.
    Different,
}

/// A request already on the media, as it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Existing {
    /// The files' digests, to (re)list in `SHA256SUMS`.
    pub(crate) files: Vec<(String, [u8; 32])>,
    /// SHA-256 of the manifest as it is on the media, hex.
    pub(crate) manifest_sha256: String,
    pub(crate) created: String,
    pub(crate) not_after: String,
}

/// Whether the media already holds this request. A manifest with the same object name, key,
/// subject, signer, usages, lifetime, grant and cluster is the same request even if
/// `SHA256SUMS` does not list it yet (a run interrupted between the two writes): its digest
/// is returned so it gets listed.
pub(crate) fn media_state(media: &Path, built: &Built, now: i64) -> Result<MediaState> {
    let manifest_path = media.join(&built.manifest_file);
    // Not `exists()`: a dangling symlink must be refused here, before the key is written.
    if std::fs::symlink_metadata(&manifest_path).is_err() {
        return Ok(MediaState::Absent);
    }
    let (data, docs) = read_manifest(&manifest_path)?;
    let [manifest::Document::Csr(m)] = docs.as_slice() else {
        return Ok(MediaState::Different);
    };
    let (created, not_after) = match compare(m, built) {
        Ok(stamps) => stamps,
        Err(state) => return Ok(state),
    };
    if time::parse_rfc3339(&not_after).is_none_or(|t| t <= now) {
        return Ok(MediaState::Stale);
    }
    let mut files = vec![(
        built.manifest_file.clone(),
        kcsr_core::digest::sha256(&data),
    )];
    if let Some(state) = binding_state(media, built, &mut files) {
        return Ok(state);
    }
    Ok(MediaState::Same(Existing {
        files,
        manifest_sha256: kcsr_core::digest::sha256_hex(&data),
        created,
        not_after,
    }))
}

/// The manifest on the media, as read and as parsed.
fn read_manifest(path: &Path) -> Result<(Vec<u8>, Vec<manifest::Document>)> {
    let data = output::read_limited(path, kcsr_core::media::MAX_MEDIA_FILE_BYTES).map_err(|e| {
        let f = Fail::new(format!("failed to read {}: {e}", path.display()));
        match fail::not_regular_hint(path) {
            Some(hint) => f.hint(hint),
            None => f,
        }
    })?;
    let docs = manifest::parse_documents(&data).map_err(|e| {
        Fail::new(format!("{}: {e}", path.display()))
            .hint("the file on the media is damaged; pass --force to replace it")
    })?;
    Ok((data, docs))
}

/// The manifest `m` on the media against the one built: its `created` and `not-after` when
/// it is the same request, else what it is instead.
fn compare(m: &CsrManifest, built: &Built) -> std::result::Result<(String, String), MediaState> {
    let same_key = m.metadata.name == built.name.as_str()
        && m.decode_request().is_ok_and(|c| same_csr(&c, &built.csr));
    if !same_key {
        return Err(MediaState::Different);
    }
    let ours = &built.manifest;
    let same_spec = m.api_version == ours.api_version
        && m.spec.signer_name == ours.spec.signer_name
        && m.spec.usages == ours.spec.usages
        && m.spec.expiration_seconds == ours.spec.expiration_seconds;
    if !same_spec {
        return Err(MediaState::Different);
    }
    let stamped = |a: &str| m.metadata.annotations.get(a).cloned();
    let (Some(created), Some(not_after)) =
        (stamped(CREATED_ANNOTATION), stamped(NOT_AFTER_ANNOTATION))
    else {
        return Err(MediaState::Stale);
    };
    let same_target = [
        GRANT_ANNOTATION,
        TICKET_ANNOTATION,
        CLUSTER_ANNOTATION,
        CLUSTER_CA_ANNOTATION,
    ]
    .iter()
    .all(|a| m.metadata.annotations.get(*a) == ours.metadata.annotations.get(*a));
    if !same_target {
        return Err(MediaState::Different);
    }
    Ok((created, not_after))
}

/// The binding on the media against the one built: listed in `files` when it is the same,
/// else what the media's state is instead.
fn binding_state(
    media: &Path,
    built: &Built,
    files: &mut Vec<(String, [u8; 32])>,
) -> Option<MediaState> {
    let binding_path = media.join(&built.binding_file);
    match &built.binding_yaml {
        Some(b) => {
            match output::read_limited(&binding_path, kcsr_core::media::MAX_MEDIA_FILE_BYTES) {
                Ok(existing) if existing == b.as_bytes() => {
                    files.push((
                        built.binding_file.clone(),
                        kcsr_core::digest::sha256(&existing),
                    ));
                }
                // An earlier run stopped (crash, full disk) between the manifest and the
                // binding: writing both again finishes it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Some(MediaState::Absent);
                }
                _ => return Some(MediaState::Different),
            }
        }
        None if binding_path.exists() => return Some(MediaState::Different),
        None => {}
    }
    None
}

/// Whether two CSRs ask for the same thing: key, subject and SANs (signatures differ).
fn same_csr(a: &CsrInfo, b: &CsrInfo) -> bool {
    a.public_key.fingerprint == b.public_key.fingerprint
        && a.subject.common_names == b.subject.common_names
        && a.subject.organizations == b.subject.organizations
        && a.sans.dns == b.sans.dns
        && a.sans.ip == b.sans.ip
}

/// Writes the request's media files (manifest, binding; removes a stale binding) and records
/// their digests in `sums`. `SHA256SUMS` itself is the caller's to save.
pub(crate) fn write_media(media: &Path, built: &Built, sums: &mut Sums) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let write = |name: &str, content: &str| media_file::write(media, name, content.as_bytes());
    written.push(write(&built.manifest_file, &built.manifest_yaml)?);
    sums.insert(&built.manifest_file, built.manifest_yaml.as_bytes());
    match &built.binding_yaml {
        Some(b) => {
            written.push(write(&built.binding_file, b)?);
            sums.insert(&built.binding_file, b.as_bytes());
        }
        None => {
            if media.join(&built.binding_file).exists() {
                output::remove_file(media, &built.binding_file)
                    .context(|| format!("failed to remove the stale {}", built.binding_file))?;
            }
            sums.remove(&built.binding_file);
        }
    }
    Ok(written)
}

/// A request must not replace another on the media unless `--force` says so; checked before
/// a token generates a key (a new key's request is never the one on the media), so that the
/// refusal leaves no key behind in the token. `request` and `batch` both ask it.
pub(crate) fn refuse_other_request(media: &Path, spec: &Spec, force: bool) -> Result<()> {
    let manifest = media.join(format!("{}{CSR_MANIFEST_SUFFIX}", spec.stem()));
    if force || std::fs::symlink_metadata(&manifest).is_err() {
        return Ok(());
    }
    Err(Fail::new(format!(
        "the media already holds a different request for user {:?} ({})",
        report::sanitize(spec.user.as_str()),
        manifest.display()
    ))
    .hint("pass --force to replace it, or --name NAME (a roster's name column) to add a second request"))
}

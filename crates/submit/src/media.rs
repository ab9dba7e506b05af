//! The media as the connected side sees it: verified against `SHA256SUMS` and re-checked
//! before anything is sent, then written back (certificates and bundles) atomically and
//! recorded in `RETURNED.SHA256SUMS`. `SHA256SUMS` and its signature are the station's:
//! never rewritten here. With `--out DIR` the results and their `RETURNED.SHA256SUMS` go to a
//! return directory of their own and the request media is only read: it may be a write-once
//! disc, a read-only stick or the outbound side of a data diode.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kcsr_core::media::{
    self as layout, BINDING_SUFFIX, CSR_MANIFEST_SUFFIX, MAX_SUMS_FILE_BYTES, OFFBOARD_SUFFIX,
    POLICY_FILE, SUMS_SIGNATURE_FILE,
};
use kcsr_core::policy::StationPolicy;
use kcsr_core::sums::{self, Sums};

use crate::sanitize;

mod error;
mod offboard;
mod request;
mod return_dir;
mod scan;
mod write;

pub use error::MediaError;
pub use offboard::MediaOffboard;
pub use request::MediaRequest;
use request::{Bad, read_request};
use return_dir::read_return_dir;
use scan::{Scan, scan};

/// What the station signed, as read from the media: handed to the signature check first.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// The media directory.
    pub dir: &'a Path,
    /// The bytes of `SHA256SUMS`.
    pub sums: &'a [u8],
    /// The bytes of `SHA256SUMS.sig`, if there is one.
    pub signature: Option<&'a [u8]>,
}

/// A verified media directory.
#[derive(Debug)]
pub struct Media {
    /// Its path.
    pub path: PathBuf,
    /// Where results are read from and written to: `path` itself, or the return directory
    /// given with `--out` (created on the first write).
    pub out: PathBuf,
    /// The station's `SHA256SUMS`, never rewritten.
    pub sums: Sums,
    /// The exact bytes of `SHA256SUMS`, as read once (what its signature covers).
    pub sums_data: Vec<u8>,
    /// `SHA256SUMS.sig` as read, if present.
    pub signature: Option<Vec<u8>>,
    /// `RETURNED.SHA256SUMS` of [`Media::out`], updated in memory by [`Media::write_result`].
    pub returned: Sums,
    /// The results it lists (`<stem>.crt`, `<stem>.bundle.yaml`, `<stem>.denied.yaml`), as
    /// read and checked; with `--out`, those of the return directory only.
    pub results: BTreeMap<String, Vec<u8>>,
    /// Every request on it, sorted by stem.
    pub requests: Vec<MediaRequest>,
    /// The station's offboarding requests (`<slug>.offboard.yaml`), sorted by file name.
    pub offboards: Vec<MediaOffboard>,
    /// The station's policy (`station-policy.yaml`), when the media holds one.
    pub policy: Option<StationPolicy>,
    /// Filesystem artifacts at the media root that were left alone (`lost+found`, …).
    pub ignored: Vec<String>,
    /// The same at the root of the return directory (`--out`).
    pub ignored_out: Vec<String>,
}

impl Media {
    /// Reads and verifies the media: `SHA256SUMS` must list exactly the files present with
    /// their digests; no symlinks, special files or private key material; every manifest must
    /// parse, its CSR verify, and pass the same checks the offline side ran. Any problem is
    /// named and nothing is returned.
    pub fn open(path: &Path) -> Result<Self, MediaError> {
        Self::open_verified(path, None, |_| Ok(())).map(|(media, ())| media)
    }

    /// [`Media::open`], calling `verify` on `SHA256SUMS` and its signature as read, before
    /// anything else on the media is looked at: when the signature is wrong, that is what to
    /// say, not whatever the changed files hold. With `out` (a directory other than `path`),
    /// results are read from and written to it, checked against its own
    /// `RETURNED.SHA256SUMS` and the requests the signed `SHA256SUMS` lists.
    pub fn open_verified<T>(
        path: &Path,
        out: Option<&Path>,
        verify: impl FnOnce(&Signed<'_>) -> Result<T, MediaError>,
    ) -> Result<(Self, T), MediaError> {
        if !path.is_dir() {
            return Err(MediaError::new(
                format!("media directory {} does not exist", path.display()),
                Some("pass the directory kcsr request wrote to"),
            ));
        }
        let (sums_data, sums) = read_sums(path)?;
        let mut scanned = scan(path, |n| n == sums::FILE_NAME)?;
        let signature = scanned.file(SUMS_SIGNATURE_FILE).map(<[u8]>::to_vec);
        let verified = verify(&Signed {
            dir: path,
            sums: &sums_data,
            signature: signature.as_deref(),
        })?;
        let returned = scanned.returned(path, "kcsr-submit fetch MEDIA_DIR")?;
        audit(path, &sums, &returned, &scanned)?;
        let StationFiles {
            requests,
            offboards,
            policy,
        } = read_station_files(&sums, &scanned)?;
        let ignored = std::mem::take(&mut scanned.ignored);
        let (returned, results, ignored_out) = match out {
            Some(out) => read_return_dir(out, &sums)?,
            None => {
                let results = scanned.into_results(&returned);
                (returned, results, Vec::new())
            }
        };
        Ok((
            Self {
                path: path.to_owned(),
                out: out.unwrap_or(path).to_owned(),
                sums,
                sums_data,
                signature,
                returned,
                results,
                requests,
                offboards,
                policy,
                ignored,
                ignored_out,
            },
            verified,
        ))
    }

    /// The notes about filesystem artifacts left alone, one per directory that has any.
    pub fn ignored_notes(&self) -> Vec<String> {
        [(&self.ignored, &self.path), (&self.ignored_out, &self.out)]
            .into_iter()
            .filter(|(names, _)| !names.is_empty())
            .map(|(names, dir)| {
                let names: Vec<String> = names.iter().map(|n| sanitize::one_line(n)).collect();
                format!(
                    "note: ignoring {} at the root of {}: filesystem artifacts, not kcsr's",
                    names.join(", "),
                    dir.display()
                )
            })
            .collect()
    }

    /// The arguments that name this media to `kcsr-submit fetch`: `MEDIA_DIR`, and
    /// `--out DIR` when results go elsewhere.
    pub fn fetch_args(&self) -> String {
        if self.out == self.path {
            self.path.display().to_string()
        } else {
            format!("{} --out {}", self.path.display(), self.out.display())
        }
    }
}

/// The station's `SHA256SUMS`: its exact bytes (what the signature covers) and its entries.
fn read_sums(path: &Path) -> Result<(Vec<u8>, Sums), MediaError> {
    let sums_path = path.join(sums::FILE_NAME);
    let sums_data = kcsr_fs::read_limited(&sums_path, MAX_SUMS_FILE_BYTES).map_err(|e| {
        MediaError::new(
            format!("cannot read {}: {e}", sums_path.display()),
            Some("the media must hold the SHA256SUMS that kcsr request wrote"),
        )
    })?;
    let sums = Sums::parse(&sums_data).map_err(|e| {
        MediaError::new(
            format!("{}: {e}", sums_path.display()),
            Some("the checksum file is damaged; carry the media again"),
        )
    })?;
    Ok((sums_data, sums))
}

/// The media must hold exactly what the two sums files list. A run interrupted between
/// writing `<stem>.crt`/`<stem>.bundle.yaml` and recording them leaves results neither sums
/// file lists: not tampering, never trusted, and fetch overwrites them.
fn audit(path: &Path, sums: &Sums, returned: &Sums, scanned: &Scan) -> Result<(), MediaError> {
    let problems = layout::audit_returned(sums, returned, scanned.found(), true);
    if problems.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = problems.iter().map(|p| sanitize::one_line(p)).collect();
    // Links and special files are removed, not re-carried: kcsr never writes them.
    let odd: Vec<String> = scanned
        .entries
        .iter()
        .filter(|e| e.kind != kcsr_fs::EntryKind::File)
        .map(|e| sanitize::one_line(&e.name))
        .collect();
    let hint = if odd.is_empty() {
        "the media changed after kcsr wrote it: compare it with the isolated machine's copy and carry it again".to_owned()
    } else {
        format!(
            "remove {} from {} (kcsr-submit reads only regular files and never follows links), then compare the media with the isolated machine's copy",
            odd.join(", "),
            path.display()
        )
    };
    Err(MediaError {
        message: format!(
            "the media {} does not match its SHA256SUMS; nothing was sent\n  {}",
            path.display(),
            list.join("\n  ")
        ),
        hint: Some(hint),
        refused: false,
    })
}

/// What the station wrote onto the media.
#[derive(Default)]
struct StationFiles {
    requests: Vec<MediaRequest>,
    offboards: Vec<MediaOffboard>,
    policy: Option<StationPolicy>,
}

/// The requests, offboarding requests and policy, read only from the files the signed
/// `SHA256SUMS` lists. Every bad one is named; then nothing is returned.
fn read_station_files(sums: &Sums, scanned: &Scan) -> Result<StationFiles, MediaError> {
    let mut files = StationFiles::default();
    let mut errors = Vec::new();
    let mut refusals = Vec::new();
    for entry in &scanned.entries {
        // Only what the signed SHA256SUMS lists is read as the station's.
        if sums.get(&entry.name).is_none() {
            continue;
        }
        let data = entry.data.as_deref().unwrap_or_default();
        if layout::stem(&entry.name, OFFBOARD_SUFFIX).is_some() {
            match MediaOffboard::read(&entry.name, data) {
                Ok(o) => files.offboards.push(o),
                Err(e) => errors.push(e),
            }
            continue;
        }
        if entry.name == POLICY_FILE {
            match StationPolicy::parse(data) {
                Ok(p) => files.policy = Some(p),
                Err(e) => errors.push(format!(
                    "{POLICY_FILE}: {}",
                    sanitize::one_line(&e.to_string())
                )),
            }
            continue;
        }
        let Some(stem) = layout::stem(&entry.name, CSR_MANIFEST_SUFFIX) else {
            continue;
        };
        // The binding as scanned and checked against SHA256SUMS above, not read again.
        let binding = scanned.file(&format!("{stem}{BINDING_SUFFIX}"));
        match read_request(stem, data, binding) {
            Ok(r) => files.requests.push(r),
            Err(Bad::Unreadable(e)) => errors.push(e),
            Err(Bad::Refused(e)) => refusals.push(e),
        }
    }
    refuse(&refusals, &errors)?;
    files.requests.sort_by(|a, b| a.stem.cmp(&b.stem));
    files.offboards.sort_by(|a, b| a.file.cmp(&b.file));
    // The station takes an offboarded user's rights away: no run may grant them again
    // (an approver's second `approve` would otherwise re-create what it just deleted).
    for r in &mut files.requests {
        let user = r.csr.subject.user();
        if files.offboards.iter().any(|o| Some(o.user()) == user) {
            r.bindings.clear();
        }
    }
    Ok(files)
}

/// Bindings that are not the requests' (exit 3) before requests that cannot be used.
fn refuse(refusals: &[String], errors: &[String]) -> Result<(), MediaError> {
    if !refusals.is_empty() {
        return Err(MediaError {
            message: format!(
                "{} binding(s) on the media are not the ones the requests ask for; nothing was sent\n  {}",
                refusals.len(),
                refusals.join("\n  ")
            ),
            hint: Some("a binding is created only when it is exactly the binding of the request's kcsr.dev/grant for the request's user: the media was changed after the station wrote it; carry it again from the isolated machine".to_owned()),
            refused: true,
        });
    }
    if !errors.is_empty() {
        return Err(MediaError::new(
            format!(
                "{} request(s) on the media would be refused; nothing was sent\n  {}",
                errors.len(),
                errors.join("\n  ")
            ),
            Some("re-create these requests with kcsr request on the isolated machine"),
        ));
    }
    Ok(())
}

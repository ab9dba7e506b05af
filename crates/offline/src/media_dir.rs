//! The media directory as the offline side sees it: its `SHA256SUMS` and the files it lists.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kcsr_core::media::{
    self as layout, BUNDLE_SUFFIX, CERT_SUFFIX, CSR_MANIFEST_SUFFIX, DENIED_SUFFIX,
    MAX_MEDIA_FILE_BYTES, MAX_SUMS_FILE_BYTES, RETURNED_SUMS_FILE, SUMS_SIGNATURE_FILE,
};
use kcsr_core::station::{RequestRecord, RequestState};
use kcsr_core::sums::{self, Sums};

use crate::fail::{self, Fail, Result};
use crate::media_file;
use crate::signing::SigningKey;
use crate::station::Station;
use kcsr_fs as output;

/// The media's control files (decision 0009): the sums, their signature, and what the
/// connected side lists of what it returned. Never listed in a sums file, never a request.
pub(crate) fn is_control_file(name: &str) -> bool {
    [sums::FILE_NAME, SUMS_SIGNATURE_FILE, RETURNED_SUMS_FILE].contains(&name)
}

pub(crate) struct MediaDir {
    pub(crate) path: PathBuf,
    pub(crate) sums: Sums,
    /// What the station's records already vouched for in this run ([`crate::vouch`]).
    vouched: std::cell::RefCell<crate::vouch::Cache>,
}

impl MediaDir {
    /// Opens (creating if missing) the media directory and reads its `SHA256SUMS`.
    pub(crate) fn open(path: &Path, create: bool) -> Result<Self> {
        if create {
            output::create_dir(path, 0o755).map_err(|e| {
                fail::write_failed(
                    &format!("failed to create media directory {}", path.display()),
                    path,
                    &e,
                    "other media",
                    fail::RESUME,
                )
            })?;
        } else if !path.is_dir() {
            return Err(Fail::new(format!(
                "media directory {} does not exist",
                path.display()
            )));
        }
        let sums_path = path.join(sums::FILE_NAME);
        // Not `exists()`: a dangling symlink must be refused, not taken for a missing file.
        let sums = if std::fs::symlink_metadata(&sums_path).is_ok() {
            let data = output::read_limited(&sums_path, MAX_SUMS_FILE_BYTES).map_err(|e| {
                let f = Fail::new(format!("failed to read {}: {e}", sums_path.display()));
                match fail::not_regular_hint(&sums_path) {
                    Some(hint) => f.hint(hint),
                    None => f,
                }
            })?;
            let mut sums = Sums::parse(&data).map_err(|e| {
                Fail::new(format!("{}: {e}", sums_path.display())).hint(
                    "the checksum file is damaged; compare the media with its source before going on",
                )
            })?;
            // The station signs what it lists: never a control file (a sums file listing its
            // own signature could never verify).
            let control: Vec<String> = sums
                .names()
                .filter(|n| is_control_file(n))
                .map(str::to_owned)
                .collect();
            for name in control {
                sums.remove(&name);
            }
            sums
        } else {
            Sums::default()
        };
        Ok(Self {
            path: path.to_owned(),
            sums,
            vouched: Default::default(),
        })
    }

    /// The directory with the list `sums` (read and judged by the caller), to be scanned only.
    pub(crate) fn open_listing(path: &Path, sums: Sums) -> Self {
        Self {
            path: path.to_owned(),
            sums,
            vouched: Default::default(),
        }
    }

    /// The media as it is, or an empty one if the directory does not exist yet (dry runs).
    pub(crate) fn open_or_empty(path: &Path) -> Result<Self> {
        if path.is_dir() {
            Self::open(path, false)
        } else {
            Ok(Self {
                path: path.to_owned(),
                sums: Sums::default(),
                vouched: Default::default(),
            })
        }
    }

    /// Every entry of the media directory except `SHA256SUMS` (read by [`MediaDir::open`]), with
    /// the content of its regular files: read once, so that what is checked is what is used.
    /// Bounded: a directory of more entries or bytes than a scan reads is refused, naming the
    /// limit, before its content is read. Filesystem artifacts and later trips' directories
    /// are left out (and returned by name, to be said once): kcsr neither wrote nor lists
    /// them.
    pub(crate) fn scan(&self) -> Result<(Vec<output::ScannedEntry>, Vec<String>)> {
        let scanned = output::scan_dir(&self.path, kcsr_core::media::max_file_bytes, |n| {
            n == sums::FILE_NAME
        })
        .map_err(|e| match output::ScanLimitExceeded::of(&e) {
            Some(limit) => Fail::new(limit.to_string()).hint(limit.hint()),
            None => Fail::new(format!(
                "failed to list {}: {}",
                self.path.display(),
                fail::chain(&e)
            )),
        })?;
        let mut ignored = Vec::new();
        let mut entries = Vec::with_capacity(scanned.len());
        for e in scanned {
            // An artifact is still never a place for a key: one that holds key material stays
            // in the audit, which refuses it.
            let keyless = || {
                e.data
                    .as_deref()
                    .is_none_or(|d| !kcsr_core::pem::contains_private_key_marker(d))
            };
            let artifact = layout::is_filesystem_artifact(&e.name) && keyless();
            let trip = e.kind == output::EntryKind::Dir && layout::is_trip_dir_name(&e.name);
            if artifact || trip {
                ignored.push(e.name);
            } else {
                entries.push(e);
            }
        }
        ignored.sort();
        Ok((entries, ignored))
    }

    /// Writes `SHA256SUMS`, then its signature by the station's key over exactly those bytes
    /// (`SHA256SUMS.sig`), each atomically. A run stopped between the two leaves a signature
    /// that does not verify; the next run writes both again ([`MediaDir::is_signed_by`]).
    /// Returns both paths.
    /// Refuses (exit 3, nothing written) when the list holds a file the station's own records
    /// do not vouch for: the station never signs what it did not write, whatever the media's
    /// `SHA256SUMS` already says ([`crate::vouch`]).
    pub(crate) fn save_sums(&self, key: &SigningKey) -> Result<[PathBuf; 2]> {
        crate::vouch::check(
            &self.path,
            &self.sums,
            key.station(),
            &mut self.vouched.borrow_mut(),
        )?;
        let text = self.sums.render();
        let signature = key.sign(text.as_bytes())?;
        let sums = self.write(sums::FILE_NAME, text.as_bytes())?;
        let sig = self.write(SUMS_SIGNATURE_FILE, signature.as_bytes())?;
        Ok([sums, sig])
    }

    /// Whether the media's `SHA256SUMS` is the one held here and its signature is `key`'s
    /// (the station's public key: [`SigningKey::public`]).
    pub(crate) fn is_signed_by(&self, key: &kcsr_core::sshsig::PublicKey) -> bool {
        let read = |name: &str| output::read_limited(&self.path.join(name), MAX_MEDIA_FILE_BYTES);
        let (Ok(listed), Ok(signature)) = (read(sums::FILE_NAME), read(SUMS_SIGNATURE_FILE)) else {
            return false;
        };
        listed == self.sums.render().as_bytes()
            && kcsr_core::sshsig::Signature::parse_armored(&signature).is_ok_and(|s| {
                &s.public_key == key
                    && s.verify(&listed, kcsr_core::media::SIGNATURE_NAMESPACE)
                        .is_ok()
            })
    }

    fn write(&self, name: &str, content: &[u8]) -> Result<PathBuf> {
        media_file::write(&self.path, name, content)
    }
}

/// The filesystem artifacts at the root of `dir` (decision 0010), sorted.
pub(crate) fn artifacts(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| layout::is_filesystem_artifact(n))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The one line that says what on the media is not kcsr's and left alone: filesystem
/// artifacts (both sides ignore them) and later trips' directories.
pub(crate) fn ignored_note(dir: &Path, names: &[String]) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    let (trips, artifacts): (Vec<&String>, Vec<&String>) =
        names.iter().partition(|n| layout::is_trip_dir_name(n));
    let mut parts = Vec::new();
    if !artifacts.is_empty() {
        parts.push(format!(
            "{} (filesystem artifacts, not kcsr's; the connected side ignores them too)",
            artifacts
                .iter()
                .map(|n| crate::report::sanitize(n))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !trips.is_empty() {
        parts.push(format!(
            "{} (later trips: use --media {}/NAME for them)",
            trips
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            dir.display()
        ));
    }
    Some(format!(
        "note: ignoring on {}: {}",
        dir.display(),
        parts.join("; ")
    ))
}

/// Where one trip's requests go (docs/formats.md, "Trips").
struct Trip {
    /// The directory requests are written to.
    path: PathBuf,
    /// Why it is not the directory given, for the operator.
    moved: Option<String>,
}

/// The directory of this trip's requests on the media `given`. A trip that has been across
/// is never written into again: that trip's requests are past, and the connected side would
/// send or refuse them again with the new ones. It has been across when it came back with
/// results at its root (certificates, bundles, denials, `RETURNED.SHA256SUMS` listing them),
/// or when the station recorded a result for one of its requests (assembled or denied: the
/// results came back apart, in a return directory of `kcsr-submit --out`, and the request
/// stick itself never changed). This trip goes into a subdirectory `trip-YYYYMMDD-HHMMSS` of
/// it instead (the newest such subdirectory that has not been across yet, so several
/// `kcsr request` runs make one trip), and says so.
fn trip(given: &Path, now: i64, station: &Station) -> Result<Trip> {
    let records = station.records()?;
    let by_manifest: HashMap<&str, &RequestRecord> = records
        .iter()
        .map(|r| (r.manifest_sha256.as_str(), r))
        .collect();
    let across = |dir: &Path| {
        if holds_results(dir) {
            Some("holds an earlier trip's results")
        } else if results_recorded(dir, &by_manifest) {
            Some(
                "holds an earlier trip whose results the station has recorded (assembled or denied, from a return directory)",
            )
        } else {
            None
        }
    };
    let Some(why) = across(given) else {
        return Ok(Trip {
            path: given.to_owned(),
            moved: None,
        });
    };
    // A trip directory given that has been across: its sibling, never a nested one.
    let base = match (given.file_name(), given.parent()) {
        (Some(n), Some(parent)) if layout::is_trip_dir_name(&n.to_string_lossy()) => {
            parent.to_owned()
        }
        _ => given.to_owned(),
    };
    let mut trips: Vec<String> = std::fs::read_dir(&base)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| layout::is_trip_dir_name(n))
                .collect()
        })
        .unwrap_or_default();
    trips.sort();
    let open = trips
        .iter()
        .rev()
        .map(|n| base.join(n))
        .find(|p| across(p).is_none());
    let path = open.unwrap_or_else(|| {
        let name = |t: i64| {
            let stamp = kcsr_core::time::format_rfc3339(t);
            // 2026-11-29T10:11:12Z -> 20261129-101112
            let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
            let (day, clock) = digits.split_at(8.min(digits.len()));
            base.join(format!("{}{day}-{clock}", layout::TRIP_DIR_PREFIX))
        };
        // A trip that came back within the same second holds that name already.
        (now..)
            .map(name)
            .find(|p| std::fs::symlink_metadata(p).is_err())
            .unwrap_or_else(|| name(now))
    });
    Ok(Trip {
        moved: Some(format!(
            "{} {why}; this trip's requests go to {} (carry the stick and give that directory to kcsr-submit and kcsr assemble)",
            given.display(),
            path.display()
        )),
        path,
    })
}

/// A trip entered: the media this run writes to, and what to tell the operator about it.
pub(crate) struct Entered {
    /// The directory given on the command line.
    given: PathBuf,
    /// Why this trip does not go into `given` ([`Trip::moved`]).
    moved: Option<String>,
    /// The filesystem artifacts at the root of `given`, left alone.
    ignored: Vec<String>,
}

impl Entered {
    /// The notes of [`enter_trip`]: where this trip goes and what on the media is not kcsr's.
    pub(crate) fn say(&self, quiet: bool) {
        if quiet {
            return;
        }
        if let Some(why) = &self.moved {
            crate::report::say(&format!("kcsr: {why}"));
        }
        if let Some(note) = ignored_note(&self.given, &self.ignored) {
            crate::report::say(&note);
        }
    }
}

/// A stick back from an earlier trip: this trip gets a directory of its own ([`trip`]), and
/// `media` becomes it. The caller says why with [`Entered::say`] when its run gets that far.
pub(crate) fn enter_trip(media: &mut PathBuf, now: i64, station: &Station) -> Result<Entered> {
    let trip = trip(media, now, station)?;
    let given = std::mem::replace(media, trip.path);
    Ok(Entered {
        ignored: artifacts(&given),
        given,
        moved: trip.moved,
    })
}

/// Whether the station recorded a result for a request `dir`'s `SHA256SUMS` lists (matched by
/// the listed digest and the stem, against the station's own records).
fn results_recorded(dir: &Path, by_manifest: &HashMap<&str, &RequestRecord>) -> bool {
    let Ok(data) = output::read_limited(&dir.join(sums::FILE_NAME), MAX_SUMS_FILE_BYTES) else {
        return false;
    };
    let Ok(listed) = Sums::parse(&data) else {
        return false;
    };
    listed.names().any(|name| {
        let (Some(stem), Some(digest)) =
            (layout::stem(name, CSR_MANIFEST_SUFFIX), listed.get(name))
        else {
            return false;
        };
        by_manifest
            .get(kcsr_core::digest::hex(digest).as_str())
            .is_some_and(|r| {
                r.stem == stem
                    && (r.assembled.is_some()
                        || r.denied.is_some()
                        || matches!(r.state, RequestState::Assembled | RequestState::Denied))
            })
    })
}

/// Whether `dir` has been across and back: results at its root, or `RETURNED.SHA256SUMS`
/// listing any.
pub(crate) fn holds_results(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let result = [CERT_SUFFIX, BUNDLE_SUFFIX, DENIED_SUFFIX]
            .iter()
            .any(|s| layout::stem(&name, s).is_some());
        if result && e.file_type().is_ok_and(|t| t.is_file()) {
            return true;
        }
        if name == RETURNED_SUMS_FILE {
            // Unreadable or damaged: the connected side was there all the same.
            let listed = output::read_limited(&e.path(), MAX_SUMS_FILE_BYTES)
                .ok()
                .map(|d| Sums::parse(&d).map(|s| s.names().next().is_some()));
            if !matches!(listed, Some(Ok(false))) {
                return true;
            }
        }
    }
    false
}

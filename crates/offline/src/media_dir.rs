//! The media directory as the offline side sees it: its `SHA256SUMS` and the files it lists.

use std::path::{Path, PathBuf};

use kcsr_core::media::{
    MAX_MEDIA_FILE_BYTES, MAX_SUMS_FILE_BYTES, RETURNED_SUMS_FILE, SUMS_SIGNATURE_FILE,
};
use kcsr_core::sums::{self, Sums};

use crate::fail::{self, Fail, Result};
use crate::signing::SigningKey;
use kcsr_fs::{self as output, Mode, Overwrite};

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
    /// limit, before its content is read.
    pub(crate) fn scan(&self) -> Result<Vec<output::ScannedEntry>> {
        output::scan_dir(&self.path, kcsr_core::media::max_file_bytes, |n| {
            n == sums::FILE_NAME
        })
        .map_err(|e| match output::ScanLimitExceeded::of(&e) {
            Some(limit) => Fail::new(limit.to_string()).hint(limit.hint()),
            None => Fail::new(format!(
                "failed to list {}: {}",
                self.path.display(),
                fail::chain(&e)
            )),
        })
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

    /// Whether the media's `SHA256SUMS` is the one held here and its signature is `key`'s.
    pub(crate) fn is_signed_by(&self, key: &SigningKey) -> bool {
        let read = |name: &str| output::read_limited(&self.path.join(name), MAX_MEDIA_FILE_BYTES);
        let (Ok(listed), Ok(signature)) = (read(sums::FILE_NAME), read(SUMS_SIGNATURE_FILE)) else {
            return false;
        };
        listed == self.sums.render().as_bytes()
            && kcsr_core::sshsig::Signature::parse_armored(&signature).is_ok_and(|s| {
                &s.public_key == key.public()
                    && s.verify(&listed, kcsr_core::media::SIGNATURE_NAMESPACE)
                        .is_ok()
            })
    }

    fn write(&self, name: &str, content: &[u8]) -> Result<PathBuf> {
        output::write_file(&self.path, name, content, Mode::Public, Overwrite::Allow).map_err(|e| {
            let path = self.path.join(name);
            fail::write_failed(
                &format!("failed to write {}", path.display()),
                &path,
                &e,
                "other media",
                fail::RESUME,
            )
        })
    }
}

//! Results written back: certificates, bundles and denials, each atomically, then recorded in
//! `RETURNED.SHA256SUMS` (never `SHA256SUMS`: that is the station's).

use std::path::PathBuf;

use kcsr_core::media::{BUNDLE_SUFFIX, CERT_SUFFIX, DENIED_SUFFIX, RETURNED_SUMS_FILE};
use kcsr_fs::{DeviceFault, Mode, Overwrite};

use super::Media;
use super::error::MediaError;

impl Media {
    /// Writes `<stem>.denied.yaml` atomically and records it in the in-memory
    /// `RETURNED.SHA256SUMS`; call [`Media::save_returned`] after.
    pub fn write_denied(&mut self, stem: &str, yaml: &str) -> Result<PathBuf, MediaError> {
        self.write_result_file(format!("{stem}{DENIED_SUFFIX}"), yaml)
    }

    /// Rewrites `<stem>.bundle.yaml` (after the bindings were seen again) and records it.
    pub fn rewrite_bundle(&mut self, stem: &str, yaml: &str) -> Result<PathBuf, MediaError> {
        self.write_result_file(format!("{stem}{BUNDLE_SUFFIX}"), yaml)
    }

    /// Writes `<stem>.crt` and `<stem>.bundle.yaml` atomically and records them in the
    /// in-memory `RETURNED.SHA256SUMS`; call [`Media::save_returned`] after.
    pub fn write_result(
        &mut self,
        stem: &str,
        cert_pem: &str,
        bundle_yaml: &str,
    ) -> Result<Vec<PathBuf>, MediaError> {
        let mut written = Vec::new();
        for (name, content) in [
            (format!("{stem}{CERT_SUFFIX}"), cert_pem),
            (format!("{stem}{BUNDLE_SUFFIX}"), bundle_yaml),
        ] {
            written.push(self.write_result_file(name, content)?);
        }
        Ok(written)
    }

    /// Writes one result file atomically and records it in the in-memory
    /// `RETURNED.SHA256SUMS` and among the results.
    fn write_result_file(&mut self, name: String, content: &str) -> Result<PathBuf, MediaError> {
        let written = self.write(&name, content)?;
        self.returned.insert(&name, content.as_bytes());
        self.results.insert(name, content.as_bytes().to_vec());
        Ok(written)
    }

    /// Writes `RETURNED.SHA256SUMS` atomically (never `SHA256SUMS`: that is the station's).
    pub fn save_returned(&self) -> Result<PathBuf, MediaError> {
        self.write(RETURNED_SUMS_FILE, &self.returned.render())
    }

    fn write(&self, name: &str, content: &str) -> Result<PathBuf, MediaError> {
        if self.out != self.path {
            kcsr_fs::create_dir(&self.out, 0o755).map_err(|e| self.write_error(name, &e))?;
        }
        kcsr_fs::write_file(
            &self.out,
            name,
            content.as_bytes(),
            Mode::Public,
            Overwrite::Allow,
        )
        .map_err(|e| self.write_error(name, &e))
    }

    /// A failed write back onto the media. The certificate stays on the cluster and writes
    /// are atomic, so the fix is always the device's and `fetch` finishes the job.
    fn write_error(&self, name: &str, err: &std::io::Error) -> MediaError {
        let (dir, path) = (self.out.display(), self.out.join(name));
        let what = format!("cannot write {}", path.display());
        let resume = format!(
            "then run kcsr-submit fetch {}: the certificates stay on the cluster and nothing is created twice",
            self.fetch_args()
        );
        match kcsr_fs::device_fault(err) {
            Some(DeviceFault::Full) => MediaError::new(
                format!("{what}: no space left on the device ({dir} is full)"),
                Some(&format!(
                    "free space on {dir} (or copy its files to larger media and use those), {resume}"
                )),
            ),
            Some(DeviceFault::ReadOnly) => MediaError::new(
                format!("{what}: {dir} is on a read-only filesystem"),
                Some(&format!(
                    "make {dir} writable (remount it read-write, or release the media's write-protect switch), {resume}"
                )),
            ),
            // NoPermissions: only secrets, which kcsr-submit never writes.
            Some(DeviceFault::NoPermissions) | None => MediaError::new(
                format!("{what}: {err}"),
                Some(&format!(
                    "check that the media is mounted writable and nothing on it is a symlink or special file, {resume}"
                )),
            ),
        }
    }
}

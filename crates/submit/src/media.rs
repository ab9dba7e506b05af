//! The media as the connected side sees it: verified against `SHA256SUMS` and re-checked
//! before anything is sent, then written back (certificates and bundles) atomically and
//! recorded in `RETURNED.SHA256SUMS`. `SHA256SUMS` and its signature are the station's:
//! never rewritten here. With `--out DIR` the results and their `RETURNED.SHA256SUMS` go to a
//! return directory of their own and the request media is only read: it may be a write-once
//! disc, a read-only stick or the outbound side of a data diode.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kcsr_core::checks::{self, Finding, Request};
use kcsr_core::csr::CsrInfo;
use kcsr_core::digest;
use kcsr_core::manifest::{self, CsrManifest, Document};
use kcsr_core::media::{
    self as layout, BINDING_SUFFIX, BUNDLE_SUFFIX, CERT_SUFFIX, CSR_MANIFEST_SUFFIX, DENIED_SUFFIX,
    MAX_SUMS_FILE_BYTES, OFFBOARD_SUFFIX, POLICY_FILE, RETURNED_SUMS_FILE, SUMS_SIGNATURE_FILE,
};
use kcsr_core::signer::SignerName;
use kcsr_core::sums::{self, Sums};
use kcsr_core::usage::Usage;
use kcsr_fs::{DeviceFault, EntryKind, Mode, Overwrite};

use crate::binding::{self, PlannedBinding};
use crate::offboard::MediaOffboard;
use crate::policy::StationPolicy;
use crate::sanitize;
use crate::station::StationNotes;

/// Why the media cannot be used. Carries the fix.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct MediaError {
    /// What is wrong, naming the files.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
    /// Refused (exit 3: what the media asks for is not what the station wrote), rather than
    /// unreadable or damaged (exit 1).
    pub refused: bool,
}

impl MediaError {
    fn new(message: impl Into<String>, hint: Option<&str>) -> Self {
        Self {
            message: message.into(),
            hint: hint.map(str::to_owned),
            refused: false,
        }
    }
}

/// One CSR manifest on the media, parsed, decoded and checked.
#[derive(Debug, Clone)]
pub struct MediaRequest {
    /// File stem (`alice` for `alice.csr.yaml`).
    pub stem: String,
    /// The manifest as written.
    pub manifest: CsrManifest,
    /// SHA-256 of the manifest file.
    pub manifest_sha256: String,
    /// The CSR in `spec.request`.
    pub csr: CsrInfo,
    /// `spec.signerName`.
    pub signer: Option<SignerName>,
    /// `spec.usages`.
    pub usages: Vec<Usage>,
    /// The bindings travelling with it, checked against the request's grants, in grant
    /// order.
    pub bindings: Vec<PlannedBinding>,
    /// The station's annotations.
    pub notes: StationNotes,
    /// Warnings from the checks (errors stop [`Media::open`]).
    pub findings: Vec<Finding>,
}

impl MediaRequest {
    /// The object name.
    pub fn name(&self) -> &str {
        &self.manifest.metadata.name
    }
}

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

impl MediaError {
    /// A refusal (exit 3).
    pub fn refusal(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: Some(hint.into()),
            refused: true,
        }
    }
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
        // What filesystems and operating systems put on removable media by themselves is left
        // alone, unread (decision 0010); the caller says so once.
        let ignored = std::cell::RefCell::new(Vec::new());
        let scanned = kcsr_fs::scan_dir(path, layout::max_file_bytes, |n| {
            if layout::is_filesystem_artifact(n) {
                ignored.borrow_mut().push(n.to_owned());
                return true;
            }
            n == sums::FILE_NAME
        })
        .map_err(|e| match kcsr_fs::ScanLimitExceeded::of(&e) {
            Some(limit) => MediaError::new(limit.to_string(), Some(&limit.hint())),
            None => MediaError::new(format!("cannot list {}: {e}", path.display()), None),
        })?;
        let control = |name: &str| {
            scanned
                .iter()
                .find(|e| e.name == name && e.kind == EntryKind::File)
                .and_then(|e| e.data.clone())
        };
        let signature = control(SUMS_SIGNATURE_FILE);
        let verified = verify(&Signed {
            dir: path,
            sums: &sums_data,
            signature: signature.as_deref(),
        })?;
        let returned = match control(RETURNED_SUMS_FILE) {
            None => Sums::default(),
            Some(data) => Sums::parse(&data).map_err(|e| {
                MediaError::new(
                    format!("{}: {e}", path.join(RETURNED_SUMS_FILE).display()),
                    Some("kcsr-submit writes it; remove it and run kcsr-submit fetch MEDIA_DIR to write the results again"),
                )
            })?,
        };
        // A run interrupted between writing `<stem>.crt`/`<stem>.bundle.yaml` and recording
        // them leaves results neither sums file lists: not tampering, never trusted, and
        // fetch overwrites them.
        let problems = layout::audit_returned(
            &sums,
            &returned,
            scanned.iter().map(|e| layout::Found {
                name: &e.name,
                regular: e.kind == EntryKind::File,
                data: e.data.as_deref(),
            }),
            true,
        );
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(|p| sanitize::one_line(p)).collect();
            // Links and special files are removed, not re-carried: kcsr never writes them.
            let odd: Vec<String> = scanned
                .iter()
                .filter(|e| e.kind != EntryKind::File)
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
            return Err(MediaError {
                message: format!(
                    "the media {} does not match its SHA256SUMS; nothing was sent\n  {}",
                    path.display(),
                    list.join("\n  ")
                ),
                hint: Some(hint),
                refused: false,
            });
        }
        let mut requests = Vec::new();
        let mut offboards = Vec::new();
        let mut policy = None;
        let mut errors = Vec::new();
        let mut refusals = Vec::new();
        for entry in &scanned {
            // Only what the signed SHA256SUMS lists is read as the station's.
            if sums.get(&entry.name).is_none() {
                continue;
            }
            let data = entry.data.as_deref().unwrap_or_default();
            if layout::stem(&entry.name, OFFBOARD_SUFFIX).is_some() {
                match MediaOffboard::read(&entry.name, data) {
                    Ok(o) => offboards.push(o),
                    Err(e) => errors.push(e),
                }
                continue;
            }
            if entry.name == POLICY_FILE {
                match crate::policy::parse(data) {
                    Ok(p) => policy = Some(p),
                    Err(e) => errors.push(format!("{POLICY_FILE}: {}", sanitize::one_line(&e))),
                }
                continue;
            }
            let Some(stem) = layout::stem(&entry.name, CSR_MANIFEST_SUFFIX) else {
                continue;
            };
            // The binding as scanned and checked against SHA256SUMS above, not read again.
            let binding_name = format!("{stem}{BINDING_SUFFIX}");
            let binding = scanned
                .iter()
                .find(|e| e.name == binding_name)
                .and_then(|e| e.data.as_deref());
            match read_request(stem, data, binding) {
                Ok(r) => requests.push(r),
                Err(Bad::Unreadable(e)) => errors.push(e),
                Err(Bad::Refused(e)) => refusals.push(e),
            }
        }
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
        requests.sort_by(|a, b| a.stem.cmp(&b.stem));
        offboards.sort_by(|a, b| a.file.cmp(&b.file));
        // The station takes an offboarded user's rights away: no run may grant them again
        // (an approver's second `approve` would otherwise re-create what it just deleted).
        for r in &mut requests {
            let user = r.csr.subject.user();
            if offboards.iter().any(|o| Some(o.user()) == user) {
                r.bindings.clear();
            }
        }
        let mut ignored = ignored.into_inner();
        ignored.sort();
        let (returned, results, ignored_out) = match out {
            Some(out) => read_return_dir(out, &sums)?,
            None => {
                let results = scanned
                    .into_iter()
                    .filter(|e| returned.get(&e.name).is_some())
                    .filter_map(|e| e.data.map(|d| (e.name, d)))
                    .collect();
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

    /// Writes `<stem>.denied.yaml` atomically and records it in the in-memory
    /// `RETURNED.SHA256SUMS`; call [`Media::save_returned`] after.
    pub fn write_denied(&mut self, stem: &str, yaml: &str) -> Result<PathBuf, MediaError> {
        let name = format!("{stem}{DENIED_SUFFIX}");
        let written = self.write(&name, yaml)?;
        self.returned.insert(&name, yaml.as_bytes());
        self.results.insert(name, yaml.as_bytes().to_vec());
        Ok(written)
    }

    /// Rewrites `<stem>.bundle.yaml` (after the bindings were seen again) and records it.
    pub fn rewrite_bundle(&mut self, stem: &str, yaml: &str) -> Result<PathBuf, MediaError> {
        let name = format!("{stem}{BUNDLE_SUFFIX}");
        let written = self.write(&name, yaml)?;
        self.returned.insert(&name, yaml.as_bytes());
        self.results.insert(name, yaml.as_bytes().to_vec());
        Ok(written)
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
            written.push(self.write(&name, content)?);
            self.returned.insert(&name, content.as_bytes());
            self.results.insert(name, content.as_bytes().to_vec());
        }
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

/// A return directory as read: its `RETURNED.SHA256SUMS`, the results it lists (by name), and
/// the filesystem artifacts left alone.
type ReturnDir = (Sums, BTreeMap<String, Vec<u8>>, Vec<String>);

/// The return directory `out` (`--out`): its `RETURNED.SHA256SUMS`, the results it lists,
/// and the filesystem artifacts left alone. Missing: nothing came back yet (it is created on
/// the first write). It may hold only results of the requests `signed` lists.
fn read_return_dir(out: &Path, signed: &Sums) -> Result<ReturnDir, MediaError> {
    if !out.exists() {
        return Ok(Default::default());
    }
    if !out.is_dir() {
        return Err(MediaError::new(
            format!("--out {} is not a directory", out.display()),
            Some("give --out the directory the results go to (made if missing)"),
        ));
    }
    let ignored = std::cell::RefCell::new(Vec::new());
    let scanned = kcsr_fs::scan_dir(out, layout::max_file_bytes, |n| {
        let artifact = layout::is_filesystem_artifact(n);
        if artifact {
            ignored.borrow_mut().push(n.to_owned());
        }
        artifact
    })
    .map_err(|e| match kcsr_fs::ScanLimitExceeded::of(&e) {
        Some(limit) => MediaError::new(limit.to_string(), Some(&limit.hint())),
        None => MediaError::new(format!("cannot list {}: {e}", out.display()), None),
    })?;
    let sums_file = scanned
        .iter()
        .find(|e| e.name == RETURNED_SUMS_FILE && e.kind == EntryKind::File)
        .and_then(|e| e.data.as_deref());
    let returned = match sums_file {
        None => Sums::default(),
        Some(data) => Sums::parse(data).map_err(|e| {
            MediaError::new(
                format!("{}: {e}", out.join(RETURNED_SUMS_FILE).display()),
                Some("kcsr-submit writes it; remove it and run kcsr-submit fetch MEDIA_DIR --out DIR to write the results again"),
            )
        })?,
    };
    let is_request = |stem: &str| {
        signed
            .get(&format!("{stem}{CSR_MANIFEST_SUFFIX}"))
            .is_some()
    };
    let problems = layout::audit_return_dir(
        is_request,
        &returned,
        scanned.iter().map(|e| layout::Found {
            name: &e.name,
            regular: e.kind == EntryKind::File,
            data: e.data.as_deref(),
        }),
        true,
    );
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| sanitize::one_line(p)).collect();
        return Err(MediaError {
            message: format!(
                "the return directory {} holds what this trip did not write there; nothing was sent\n  {}",
                out.display(),
                list.join("\n  ")
            ),
            hint: Some("--out takes an empty directory (one per trip) or the one an earlier run of this trip wrote to; kcsr-submit writes only <stem>.crt, <stem>.bundle.yaml, <stem>.denied.yaml and RETURNED.SHA256SUMS there".to_owned()),
            refused: false,
        });
    }
    let results = scanned
        .into_iter()
        .filter(|e| returned.get(&e.name).is_some())
        .filter_map(|e| e.data.map(|d| (e.name, d)))
        .collect();
    let mut ignored = ignored.into_inner();
    ignored.sort();
    Ok((returned, results, ignored))
}

/// Why a request on the media cannot be used.
enum Bad {
    /// Malformed, or the cluster would refuse it (exit 1).
    Unreadable(String),
    /// Its binding is not the one its grant asks for (exit 3).
    Refused(String),
}

impl From<String> for Bad {
    fn from(e: String) -> Self {
        Self::Unreadable(e)
    }
}

fn read_request(stem: &str, data: &[u8], binding: Option<&[u8]>) -> Result<MediaRequest, Bad> {
    let file = format!("{stem}{CSR_MANIFEST_SUFFIX}");
    let fail = |e: String| format!("{file}: {}", sanitize::one_line(&e));
    let docs = manifest::parse_documents(data).map_err(|e| fail(e.to_string()))?;
    let manifest = match docs.as_slice() {
        [Document::Csr(m)] => m.clone(),
        _ => {
            return Err(fail("must hold exactly one CertificateSigningRequest".to_owned()).into());
        }
    };
    let version = manifest.version().ok_or_else(|| {
        fail(format!(
            "apiVersion {:?} is not certificates.k8s.io/v1 or v1beta1",
            manifest.api_version
        ))
    })?;
    if manifest
        .metadata
        .name
        .parse::<kcsr_core::names::ObjectName>()
        .is_err()
    {
        return Err(fail(format!(
            "metadata.name {:?} is not a DNS-1123 subdomain",
            manifest.metadata.name
        ))
        .into());
    }
    let csr = manifest.decode_request().map_err(|e| fail(e.to_string()))?;
    let signer = manifest.signer().map_err(|e| fail(e.to_string()))?;
    let usages = manifest.usages().map_err(|e| fail(e.to_string()))?;
    if let Some(fp) = manifest
        .metadata
        .annotations
        .get(manifest::FINGERPRINT_ANNOTATION)
        && fp != &csr.public_key.fingerprint
    {
        return Err(fail(format!(
            "annotation {} says {fp} but the request's key is {}: the manifest was altered",
            manifest::FINGERPRINT_ANNOTATION,
            csr.public_key.fingerprint
        ))
        .into());
    }
    let notes = StationNotes::read(&manifest.metadata.annotations).map_err(fail)?;
    let findings = checks::check(&Request {
        api_version: version,
        signer: signer.as_ref(),
        usages: &usages,
        expiration_seconds: manifest.spec.expiration_seconds,
        csr: &csr,
    });
    if checks::has_errors(&findings) {
        let list: Vec<String> = findings
            .iter()
            .filter(|f| f.level == checks::Level::Error)
            .map(|f| format!("[{}] {}", f.rule, f.message))
            .collect();
        return Err(fail(list.join("; ")).into());
    }
    let binding_file = format!("{stem}{BINDING_SUFFIX}");
    let bindings = match binding {
        Some(data) => {
            let docs = manifest::parse_documents(data)
                .map_err(|e| format!("{binding_file}: {}", sanitize::one_line(&e.to_string())))?;
            let mut on_media = Vec::new();
            for doc in docs {
                match doc {
                    Document::Binding(b) => on_media.push(b),
                    Document::Csr(_) => {
                        return Err(Bad::Refused(format!(
                            "{binding_file}: holds a CertificateSigningRequest; it may hold only the request's bindings"
                        )));
                    }
                }
            }
            binding::check(
                &manifest.metadata.name,
                csr.subject.user(),
                &notes.grants,
                &on_media,
            )
            .map_err(|e| Bad::Refused(format!("{binding_file}: {}", sanitize::one_line(&e))))?
        }
        None if !notes.grants.is_empty() => {
            return Err(Bad::Refused(format!(
                "{file}: its {} asks for {} binding(s), but the media holds no {binding_file}",
                manifest::GRANT_ANNOTATION,
                notes.grants.len()
            )));
        }
        None => Vec::new(),
    };
    Ok(MediaRequest {
        stem: stem.to_owned(),
        manifest_sha256: digest::sha256_hex(data),
        manifest,
        csr,
        signer,
        usages,
        bindings,
        notes,
        findings,
    })
}

//! The media layout: which files travel and how they are named (docs/formats.md).

/// Suffix of a CSR manifest: `<stem>.csr.yaml`.
pub const CSR_MANIFEST_SUFFIX: &str = ".csr.yaml";
/// Suffix of a binding manifest: `<stem>.binding.yaml`.
pub const BINDING_SUFFIX: &str = ".binding.yaml";
/// Suffix of an issued certificate: `<stem>.crt`.
pub const CERT_SUFFIX: &str = ".crt";
/// Suffix of a certificate bundle: `<stem>.bundle.yaml`.
pub const BUNDLE_SUFFIX: &str = ".bundle.yaml";
/// Suffix of a request that came back Denied or Failed: `<stem>.denied.yaml` (decision 0010).
pub const DENIED_SUFFIX: &str = ".denied.yaml";
/// Suffix of a signed request to remove a user's bindings: `<slug>.offboard.yaml`.
pub const OFFBOARD_SUFFIX: &str = ".offboard.yaml";
/// The station's policy as it travels with the requests (listed, so signed).
pub const POLICY_FILE: &str = "station-policy.yaml";

/// Whether `name`, at the media's root, is something a filesystem or an operating system puts
/// on removable media by itself; both sides ignore these, and say so (decision 0010).
pub fn is_filesystem_artifact(name: &str) -> bool {
    matches!(
        name,
        "lost+found"
            | "System Volume Information"
            | "$RECYCLE.BIN"
            | ".Trashes"
            | ".Spotlight-V100"
            | ".fseventsd"
            | ".DS_Store"
    ) || name.starts_with("._")
}

/// Prefix of a trip's own subdirectory on a stick that already holds an earlier trip's
/// results: `trip-YYYYMMDD-HHMMSS` (UTC), made and named by `kcsr request`, `batch` and
/// `renew` (docs/formats.md, "Trips"). Neither side reads into it from the stick's root.
pub const TRIP_DIR_PREFIX: &str = "trip-";

/// Whether `name` is a trip subdirectory's name: [`TRIP_DIR_PREFIX`], 8 digits, `-`, 6 digits.
pub fn is_trip_dir_name(name: &str) -> bool {
    name.strip_prefix(TRIP_DIR_PREFIX).is_some_and(|rest| {
        let b = rest.as_bytes();
        b.len() == 15
            && b[8] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 8 || c.is_ascii_digit())
    })
}

/// The station's SSHSIG signature over `SHA256SUMS` (decision 0009); never listed in a sums file.
pub const SUMS_SIGNATURE_FILE: &str = "SHA256SUMS.sig";
/// What the connected side wrote back (certificates, bundles), in `sha256sum -c` form; the
/// connected side never rewrites `SHA256SUMS` or its signature.
pub const RETURNED_SUMS_FILE: &str = "RETURNED.SHA256SUMS";
/// The namespace of media signatures (`ssh-keygen -Y verify -n kcsr-media`).
pub const SIGNATURE_NAMESPACE: &str = "kcsr-media";
/// Largest file kcsr reads from the media.
pub const MAX_MEDIA_FILE_BYTES: u64 = 1 << 20;
/// Largest checksum file kcsr reads from the media (`SHA256SUMS`, `RETURNED.SHA256SUMS`): a
/// line is about 90 bytes, so a 10,000-user batch with bindings, certificates and bundles
/// (40,000 lines) needs about 3.6 MB.
pub const MAX_SUMS_FILE_BYTES: u64 = 8 << 20;

/// The largest a media file named `name` may be: the sums files list every file of a
/// 10,000-user trip, so they get more room than one request or result.
pub fn max_file_bytes(name: &str) -> u64 {
    if name == crate::sums::FILE_NAME || name == RETURNED_SUMS_FILE {
        MAX_SUMS_FILE_BYTES
    } else {
        MAX_MEDIA_FILE_BYTES
    }
}

// In its own leaf module: `sums` checks names too, and `media` reads `sums`.
pub use crate::file_name::is_safe_file_name;

/// The stem of a media file with a known suffix.
pub fn stem<'a>(name: &'a str, suffix: &str) -> Option<&'a str> {
    name.strip_suffix(suffix).filter(|s| !s.is_empty())
}

/// One file found on the media, as the binaries scanned it.
#[derive(Debug, Clone, Copy)]
pub struct Found<'a> {
    /// Its name.
    pub name: &'a str,
    /// Whether it is a regular file (not a symlink, directory or device).
    pub regular: bool,
    /// Its content, if it could be read.
    pub data: Option<&'a [u8]>,
}

/// Everything wrong with the media before anything is trusted: files that are not regular,
/// names kcsr never writes, unreadable files, private key material, and every difference
/// from `SHA256SUMS` (missing, extra, changed). Empty means the media is as written.
pub fn audit<'a>(
    sums: &crate::sums::Sums,
    found: impl IntoIterator<Item = Found<'a>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let present = digests(found, &mut problems);
    problems.extend(sums.compare(&present).iter().map(ToString::to_string));
    problems
}

/// The digests of the files found, with every problem of a file itself (not regular, a name
/// kcsr never writes, unreadable, private key material) added to `problems`.
/// The files a sums file does not list that are fine unlisted (`aside`: the control files,
/// results not recorded yet), checked only for what must never be on the media (a link or
/// device, private key material); the rest is returned to be compared with the sums.
fn set_aside<'a>(
    found: impl IntoIterator<Item = Found<'a>>,
    aside: impl Fn(&str) -> bool,
    problems: &mut Vec<String>,
) -> Vec<Found<'a>> {
    let mut rest = Vec::new();
    for f in found {
        if !aside(f.name) {
            rest.push(f);
        } else if !f.regular {
            problems.push(format!(
                "{:?}: not a regular file (a symlink, directory or device)",
                f.name
            ));
        } else if f.data.is_some_and(crate::pem::contains_private_key_marker) {
            problems.push(format!(
                "{}: contains private key material; it must not be on the media",
                f.name
            ));
        }
    }
    rest
}

fn digests<'a>(
    found: impl IntoIterator<Item = Found<'a>>,
    problems: &mut Vec<String>,
) -> std::collections::BTreeMap<String, [u8; 32]> {
    let mut present = std::collections::BTreeMap::new();
    for f in found {
        // A temporary file left by an interrupted atomic write (kcsr-fs names them
        // `.kcsr-*.tmp`): never listed, never trusted, ignored unless it holds a key.
        if f.name.starts_with(".kcsr-") && f.name.ends_with(".tmp") && f.regular {
            if f.data.is_some_and(crate::pem::contains_private_key_marker) {
                problems.push(format!(
                    "{}: contains private key material; it must not be on the media",
                    f.name
                ));
            }
            continue;
        }
        if !f.regular {
            problems.push(format!(
                "{:?}: not a regular file (a symlink, directory or device)",
                f.name
            ));
            continue;
        }
        if !is_safe_file_name(f.name) {
            problems.push(format!("{:?}: not a file name kcsr writes", f.name));
            continue;
        }
        let Some(data) = f.data else {
            problems.push(format!(
                "{}: unreadable or larger than {MAX_MEDIA_FILE_BYTES} bytes",
                f.name
            ));
            continue;
        };
        if crate::pem::contains_private_key_marker(data) {
            problems.push(format!(
                "{}: contains private key material; it must not be on the media",
                f.name
            ));
        }
        present.insert(f.name.to_owned(), crate::digest::sha256(data));
    }
    present
}

/// Whether `name` is a control file of the media (`SHA256SUMS`, its signature,
/// `RETURNED.SHA256SUMS`): never listed in a sums file, never a result.
pub fn is_control_file(name: &str) -> bool {
    [
        crate::sums::FILE_NAME,
        SUMS_SIGNATURE_FILE,
        RETURNED_SUMS_FILE,
    ]
    .contains(&name)
}

/// The suffixes of what the connected side writes back for a request.
pub const RETURNED_SUFFIXES: [&str; 3] = [CERT_SUFFIX, BUNDLE_SUFFIX, DENIED_SUFFIX];

/// Whether the connected side may list `name` in `RETURNED.SHA256SUMS`: `<stem>.crt`,
/// `<stem>.bundle.yaml` or `<stem>.denied.yaml` for a stem whose `<stem>.csr.yaml` the signed
/// `SHA256SUMS` lists.
pub fn is_returnable(signed: &crate::sums::Sums, name: &str) -> bool {
    is_result_for(name, |s| {
        signed.get(&format!("{s}{CSR_MANIFEST_SUFFIX}")).is_some()
    })
}

/// Whether `name` is `<stem>.crt`, `<stem>.bundle.yaml` or `<stem>.denied.yaml` for a stem
/// `is_request` accepts: the one rule behind [`is_returnable`] and [`audit_return_dir`].
pub(crate) fn is_result_for(name: &str, is_request: impl Fn(&str) -> bool) -> bool {
    RETURNED_SUFFIXES
        .iter()
        .any(|suffix| stem(name, suffix).is_some_and(&is_request))
}

/// [`audit`] for media that has been to the connected side: every file must be listed in
/// `SHA256SUMS` (`signed`) or in `RETURNED.SHA256SUMS` (`returned`), and `returned` may list
/// only [`is_returnable`] names that `signed` does not. Control files are checked for being
/// regular files, never compared. With `unrecorded_ok`, a returnable result that neither file
/// lists yet (a run interrupted between writing it and recording it) is not a problem; it is
/// still checked for key material, and it is not trusted.
pub fn audit_returned<'a>(
    signed: &crate::sums::Sums,
    returned: &crate::sums::Sums,
    found: impl IntoIterator<Item = Found<'a>>,
    unrecorded_ok: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    for name in signed.names().chain(returned.names()) {
        if is_control_file(name) {
            problems.push(format!(
                "{name}: a control file, listed in a sums file (kcsr never lists it)"
            ));
        }
    }
    for name in returned.names() {
        if signed.get(name).is_some() {
            problems.push(format!(
                "{name}: listed in both {} and {RETURNED_SUMS_FILE}",
                crate::sums::FILE_NAME
            ));
        } else if !is_returnable(signed, name) && !is_control_file(name) {
            problems.push(format!(
                "{name}: listed in {RETURNED_SUMS_FILE}, which may list only <stem>{CERT_SUFFIX}, <stem>{BUNDLE_SUFFIX} and <stem>{DENIED_SUFFIX} for requests {} lists",
                crate::sums::FILE_NAME
            ));
        }
    }
    let mut listed = signed.clone();
    for name in returned.names() {
        if let Some(d) = returned.get(name) {
            listed.insert_digest(name, *d);
        }
    }
    let rest = set_aside(
        found,
        |name| {
            is_control_file(name)
                || (unrecorded_ok && listed.get(name).is_none() && is_returnable(signed, name))
        },
        &mut problems,
    );
    let present = digests(rest, &mut problems);
    let which = |name: &str| {
        if returned.get(name).is_some() {
            RETURNED_SUMS_FILE
        } else {
            crate::sums::FILE_NAME
        }
    };
    for p in listed.compare(&present) {
        problems.push(match p {
            crate::sums::Problem::Missing { file } => {
                format!("{file}: listed in {} but missing", which(&file))
            }
            crate::sums::Problem::Extra { file } => format!(
                "{file}: present but listed in neither {} nor {RETURNED_SUMS_FILE}",
                crate::sums::FILE_NAME
            ),
            crate::sums::Problem::Changed {
                file,
                expected,
                actual,
            } => format!(
                "{file}: content changed ({} says {expected}, the file is {actual})",
                which(&file)
            ),
        });
    }
    problems
}

/// [`audit_returned`] for a return directory of its own (`kcsr-submit apply --out DIR`, for a
/// request media that may be read-only): it holds only the results of requests and
/// `RETURNED.SHA256SUMS`. `is_request(stem)` says which stems results may be for: the
/// requests the signed `SHA256SUMS` lists (the connected side), or those the station recorded
/// (`kcsr assemble`). Every other file, including `SHA256SUMS` and its signature, is refused.
/// With `unrecorded_ok`, a result not listed yet (a run interrupted between writing and
/// recording it) is not a problem, but it is still checked for key material and not trusted.
pub fn audit_return_dir<'a>(
    is_request: impl Fn(&str) -> bool,
    returned: &crate::sums::Sums,
    found: impl IntoIterator<Item = Found<'a>>,
    unrecorded_ok: bool,
) -> Vec<String> {
    let returnable = |name: &str| is_result_for(name, &is_request);
    let mut problems = Vec::new();
    for name in returned.names() {
        if is_control_file(name) {
            problems.push(format!(
                "{name}: a control file, listed in a sums file (kcsr never lists it)"
            ));
        } else if !returnable(name) {
            problems.push(format!(
                "{name}: listed in {RETURNED_SUMS_FILE}, which may list only <stem>{CERT_SUFFIX}, <stem>{BUNDLE_SUFFIX} and <stem>{DENIED_SUFFIX} for requests the station wrote"
            ));
        }
    }
    let rest = set_aside(
        found,
        |name| {
            name == RETURNED_SUMS_FILE
                || (unrecorded_ok && returned.get(name).is_none() && returnable(name))
        },
        &mut problems,
    );
    let present = digests(rest, &mut problems);
    for p in returned.compare(&present) {
        problems.push(match p {
            crate::sums::Problem::Missing { file } => {
                format!("{file}: listed in {RETURNED_SUMS_FILE} but missing")
            }
            crate::sums::Problem::Extra { file } => format!(
                "{file}: present but not listed in {RETURNED_SUMS_FILE} (a return directory holds only results)"
            ),
            crate::sums::Problem::Changed {
                file,
                expected,
                actual,
            } => format!(
                "{file}: content changed ({RETURNED_SUMS_FILE} says {expected}, the file is {actual})"
            ),
        });
    }
    problems
}

#[cfg(test)]
mod tests;

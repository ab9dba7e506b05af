//! The media layout: which files travel and how they are named (docs/formats.md).

/// Suffix of a CSR manifest: `<stem>.csr.yaml`.
pub const CSR_MANIFEST_SUFFIX: &str = ".csr.yaml";
/// Suffix of a binding manifest: `<stem>.binding.yaml`.
pub const BINDING_SUFFIX: &str = ".binding.yaml";
/// Suffix of an issued certificate: `<stem>.crt`.
pub const CERT_SUFFIX: &str = ".crt";
/// Suffix of a certificate bundle: `<stem>.bundle.yaml`.
pub const BUNDLE_SUFFIX: &str = ".bundle.yaml";
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

/// Whether `name` is a plain file name kcsr may create or read on the media: 1-255 of
/// `[A-Za-z0-9._-]`, not starting with `.` (so never `.`, `..` or a hidden temp file).
pub fn is_safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

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
    problems.extend(sums.compare(&present).iter().map(ToString::to_string));
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_safe_file_name("alice-1a2b.csr.yaml"));
        assert!(is_safe_file_name("SHA256SUMS"));
        for bad in ["", ".", "..", ".tmp123", "a/b", "a b", "é", "a\\b"] {
            assert!(!is_safe_file_name(bad), "{bad:?}");
        }
        assert_eq!(stem("alice.csr.yaml", CSR_MANIFEST_SUFFIX), Some("alice"));
        assert_eq!(stem(".csr.yaml", CSR_MANIFEST_SUFFIX), None);
    }
}

//! The one rule for the names of files on the media, shared by the media layout ([`crate::media`],
//! which re-exports it) and `SHA256SUMS` ([`crate::sums`]).

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

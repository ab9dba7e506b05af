//! Comparing paths as the filesystem sees them: is one directory inside another, when some of
//! them do not exist yet.

use std::path::{Component, Path, PathBuf};

/// The absolute, symlink-resolved form of `p`, resolving the longest existing ancestor so
/// that directories not yet created compare correctly.
pub fn resolve(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_owned()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut existing = abs.clone();
    let mut tail = Vec::new();
    while !existing.exists() {
        match (
            existing.file_name().map(ToOwned::to_owned),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                tail.push(name);
                existing = parent.to_owned();
            }
            _ => break,
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for part in tail.iter().rev() {
        out.push(part);
    }
    // Lexically fold any remaining `..` from the part that does not exist yet.
    let mut clean = PathBuf::new();
    for c in out.components() {
        match c {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    clean
}

//! Path rules: the key directory is never the media or inside it.

use std::path::{Component, Path, PathBuf};

use crate::fail::{Fail, Result};

/// The absolute, symlink-resolved form of `p`, resolving the longest existing ancestor so
/// that directories not yet created compare correctly.
pub(crate) fn resolve(p: &Path) -> PathBuf {
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

/// Refuses a key directory that is the media directory or inside it.
pub(crate) fn check_key_dir_outside_media(keys: &Path, media: &Path) -> Result<()> {
    let k = resolve(keys);
    let m = resolve(media);
    if k.starts_with(&m) {
        return Err(Fail::new(format!(
            "the key directory {} is {} the media directory {}; private keys must never reach the media",
            keys.display(),
            if k == m { "the same as" } else { "inside" },
            media.display()
        ))
        .hint("choose a key directory on the isolated machine's own disk, e.g. --keys ~/kcsr-keys"));
    }
    Ok(())
}

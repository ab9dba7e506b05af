//! Path rules: the key directory is never the media or inside it.

use std::path::Path;

pub(crate) use kcsr_fs::resolve;

use crate::fail::{Fail, Result};

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

//! Writing one file onto the media: public, replacing what is there (what the station writes
//! onto the media it can write again), atomic through kcsr-fs. A leaf: the media directory,
//! the request writer and the policy copy all use it.

use std::path::{Path, PathBuf};

use crate::fail::{self, Result};
use kcsr_fs::{self as output, Mode, Overwrite};

/// Writes `name` in `dir` atomically; a failure names the file and how to go on.
pub(crate) fn write(dir: &Path, name: &str, content: &[u8]) -> Result<PathBuf> {
    output::write_file(dir, name, content, Mode::Public, Overwrite::Allow).map_err(|e| {
        let path = dir.join(name);
        fail::write_failed(
            &format!("failed to write {}", path.display()),
            &path,
            &e,
            "other media",
            fail::RESUME,
        )
    })
}

//! Other programs run by the tests: `sha256sum -c` as the independent check of
//! `SHA256SUMS` (waiting without letting a hang hang the test is the kit's). Shared with
//! crates/submit/tests/support/gap.rs by `#[path]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests
#![allow(dead_code, unreachable_pub)] // each test binary uses a part

use std::path::Path;
use std::process::Command;

/// `sha256sum -c --strict SHA256SUMS` in `media` succeeds.
pub fn sha256sum_ok(media: &Path) {
    let out = Command::new("sha256sum")
        .args(["-c", "--strict", "--quiet", "SHA256SUMS"])
        .current_dir(media)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sha256sum -c in {}: {}{}",
        media.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

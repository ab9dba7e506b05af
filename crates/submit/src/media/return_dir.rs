//! The return directory (`--out DIR`): where results go when the media is only read.

use std::collections::BTreeMap;
use std::path::Path;

use kcsr_core::media::{self as layout, CSR_MANIFEST_SUFFIX};
use kcsr_core::sums::Sums;

use super::error::MediaError;
use super::scan::scan;
use crate::sanitize;

/// A return directory as read: its `RETURNED.SHA256SUMS`, the results it lists (by name), and
/// the filesystem artifacts left alone.
pub(super) type ReturnDir = (Sums, BTreeMap<String, Vec<u8>>, Vec<String>);

/// The return directory `out` (`--out`): its `RETURNED.SHA256SUMS`, the results it lists,
/// and the filesystem artifacts left alone. Missing: nothing came back yet (it is created on
/// the first write). It may hold only results of the requests `signed` lists.
pub(super) fn read_return_dir(out: &Path, signed: &Sums) -> Result<ReturnDir, MediaError> {
    if !out.exists() {
        return Ok(Default::default());
    }
    if !out.is_dir() {
        return Err(MediaError::new(
            format!("--out {} is not a directory", out.display()),
            Some("give --out the directory the results go to (made if missing)"),
        ));
    }
    let mut scanned = scan(out, |_| false)?;
    let returned = scanned.returned(out, "kcsr-submit fetch MEDIA_DIR --out DIR")?;
    let is_request = |stem: &str| {
        signed
            .get(&format!("{stem}{CSR_MANIFEST_SUFFIX}"))
            .is_some()
    };
    let problems = layout::audit_return_dir(is_request, &returned, scanned.found(), true);
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
    let ignored = std::mem::take(&mut scanned.ignored);
    let results = scanned.into_results(&returned);
    Ok((returned, results, ignored))
}

//! Writing the kubeconfigs: owner-only, create-new unless `--force` (or a renewal) replaces.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::check::Verified;
use crate::cli::AssembleArgs;
use crate::fail::{self, Fail, Result};
use crate::{kubeconfig, plan};
use kcsr_fs::{self as output, Mode, Overwrite};

/// The file name of each verified bundle's kubeconfig in `--out-dir`: the request's first
/// stem (`alice` also for the renewal `alice-renew-YYYYMMDD`), so renewals replace the file
/// instead of piling up beside it; the full stems when two bundles of this run would share one.
pub(super) fn out_names(verified: &[Verified]) -> Vec<String> {
    let bases: Vec<&str> = verified.iter().map(|v| plan::base_stem(&v.stem)).collect();
    verified
        .iter()
        .zip(&bases)
        .map(|(v, base)| {
            let shared = bases.iter().filter(|b| *b == base).count() > 1;
            format!("{}.kubeconfig", if shared { v.stem.as_str() } else { base })
        })
        .collect()
}

pub(super) fn write(
    args: &AssembleArgs,
    verified: &[Verified],
    names: &[String],
    replaces: &[bool],
    merged: Option<&Zeroizing<String>>,
) -> Result<Vec<PathBuf>> {
    let overwrite = if args.force {
        Overwrite::Allow
    } else {
        Overwrite::Deny
    };
    let mut written = Vec::new();
    let encode =
        |e: kcsr_core::yaml::YamlError| Fail::new(format!("failed to encode the kubeconfig: {e}"));
    if let Some(out) = &args.out {
        let text = kubeconfig::complete(&verified[0].entry).map_err(encode)?;
        written.push(write_secret_file(out, &text, overwrite)?);
    } else if let Some(dir) = &args.out_dir {
        create_dir(dir)?;
        for (i, (v, name)) in verified.iter().zip(names).enumerate() {
            let text = kubeconfig::complete(&v.entry).map_err(encode)?;
            let overwrite = if replaces.get(i).copied().unwrap_or(false) {
                Overwrite::Allow
            } else {
                overwrite
            };
            written.push(write_secret_file(&dir.join(name), &text, overwrite)?);
        }
    } else if let (Some(target), Some(text)) = (&args.merge_into, merged) {
        written.push(write_secret_file(target, text, Overwrite::Allow)?);
    }
    Ok(written)
}

fn write_secret_file(path: &Path, text: &str, overwrite: Overwrite) -> Result<PathBuf> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Fail::new(format!("{} is not a file path", path.display())))?;
    create_dir(dir)?;
    output::write_file(dir, name, text.as_bytes(), Mode::Secret, overwrite).map_err(|e| {
        let what = format!("failed to write {}", path.display());
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Fail::new(format!("{what}: {e}")).hint("pass --force to replace it")
        } else {
            fail::write_failed(&what, path, &e, "another directory", AGAIN)
        }
    })
}

/// Kubeconfigs written before the failure are complete; `--force` replaces them with the same.
const AGAIN: &str =
    "then run the same command again (with --force if some kubeconfigs were written already)";

fn create_dir(dir: &Path) -> Result<()> {
    output::create_dir(dir, 0o700).map_err(|e| {
        fail::write_failed(
            &format!("failed to create {}", dir.display()),
            dir,
            &e,
            "another directory",
            AGAIN,
        )
    })
}

//! Writing the kubeconfigs: owner-only, create-new unless `--force` (or a renewal) replaces.

use std::path::PathBuf;

use zeroize::Zeroizing;

use super::check::Verified;
use crate::cli::AssembleArgs;
use crate::fail::{Fail, Result};
use crate::{kubeconfig, plan, secret_file};
use kcsr_fs::Overwrite;

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
        written.push(secret_file::write(
            out,
            text.as_bytes(),
            overwrite,
            &KUBECONFIG,
        )?);
    } else if let Some(dir) = &args.out_dir {
        secret_file::create_dir(dir, &KUBECONFIG)?;
        for (i, (v, name)) in verified.iter().zip(names).enumerate() {
            let text = kubeconfig::complete(&v.entry).map_err(encode)?;
            let overwrite = if replaces.get(i).copied().unwrap_or(false) {
                Overwrite::Allow
            } else {
                overwrite
            };
            written.push(secret_file::write(
                &dir.join(name),
                text.as_bytes(),
                overwrite,
                &KUBECONFIG,
            )?);
        }
    } else if let (Some(target), Some(text)) = (&args.merge_into, merged) {
        written.push(secret_file::write(
            target,
            text.as_bytes(),
            Overwrite::Allow,
            &KUBECONFIG,
        )?);
    }
    Ok(written)
}

/// A kubeconfig holds the key (or the agent's token): written as every secret file is.
const KUBECONFIG: secret_file::Words = secret_file::Words {
    file: "",
    dir: "",
    exists: "pass --force to replace it",
    elsewhere: "another directory",
    // Kubeconfigs written before the failure are complete; `--force` replaces them with the
    // same.
    again: "then run the same command again (with --force if some kubeconfigs were written already)",
};

//! `--merge-into`: the new entries in an existing kubeconfig, refused when an entry would
//! change (unless it is a renewal, or `--force`).

use std::path::Path;

use serde_json::Value;
use zeroize::Zeroizing;

use super::check::Verified;
use super::renewal::is_renewal;
use crate::cli::AssembleArgs;
use crate::fail::{Context as _, Fail, Result};
use crate::kubeconfig::{self, Entry, MergeError, Policy};
use crate::report;
use crate::station::Station;
use kcsr_fs as output;

/// The kubeconfig of `--merge-into` with the new entries, or the refusal naming the entries
/// that would change.
pub(super) fn merge(
    args: &AssembleArgs,
    target: &Path,
    verified: &[Verified],
    station: &Station,
) -> Result<kubeconfig::Merged> {
    // The agent's bearer token and loopback key are reused only from a file no one else could
    // read (0600, the caller's: kcsr-fs's owner-only rule, on the file read): from any other,
    // they may be known, and new ones are written.
    let (existing, others_could_read) = if target.exists() {
        let (data, not_owner_only) =
            output::read_secret_noting_owner(target, kcsr_core::yaml::MAX_YAML_BYTES as u64)
                .context(|| format!("failed to read {}", target.display()))?;
        (data, not_owner_only.is_some())
    } else {
        (Zeroizing::new(Vec::new()), false)
    };
    // Only an existing file can hold an entry a renewal replaces.
    let records = if existing.is_empty() {
        Vec::new()
    } else {
        station.records()?
    };
    let renews = |i: usize, old: &Value| -> bool {
        verified
            .get(i)
            .is_some_and(|v| is_renewal(v, old, &records))
    };
    let entries = agent_entries(target, verified, &existing, others_could_read);
    let entries: Vec<&Entry> = entries.iter().collect();
    kubeconfig::merge(
        &existing,
        &entries,
        args.set_current,
        &Policy {
            force: args.force,
            renews: &renews,
        },
    )
    .map_err(|e| refusal(target, e))
}

/// The verified entries, each token user keeping the kcsr-agent state `existing` has for it.
fn agent_entries(
    target: &Path,
    verified: &[Verified],
    existing: &[u8],
    others_could_read: bool,
) -> Vec<Entry> {
    // A token user assembled into the file again keeps the bearer token it has there (the
    // running agent and the file stay in step, and the entry is unchanged).
    verified
        .iter()
        .map(|v| {
            let mut e = v.entry.clone();
            if let kubeconfig::Credential::Agent {
                bearer,
                address,
                serving,
                ..
            } = &mut e.key
            {
                if others_could_read {
                    report::say(&format!(
                        "note: {} is readable by others than its owner, so the kcsr-agent bearer token and loopback key in it may be known: {} gets new ones (restart kcsr-agent after this)",
                        target.display(),
                        report::sanitize(&e.user_entry)
                    ));
                    return e;
                }
                let (token, old) = kubeconfig::agent_state(existing, &e.user_entry, *address);
                if let Some(token) = token {
                    *bearer = token;
                }
                if let Some(old) = old {
                    *serving = old;
                }
            }
            e
        })
        .collect()
}

/// The refusal of a merge: the entries that would change, or a kubeconfig that is not one.
fn refusal(target: &Path, e: MergeError) -> Fail {
    match e {
        MergeError::Conflicts(names) => Fail::new(format!(
            "{} already holds {} with other content; nothing was written\n  {}",
            target.display(),
            if names.len() == 1 { "an entry" } else { "entries" },
            names
                .iter()
                .map(|(k, n)| format!("{} {:?}", k.as_str(), report::sanitize(n)))
                .collect::<Vec<_>>()
                .join("\n  ")
        ))
        .hint("other contexts may use these entries: pick another --context, remove or rename the entries yourself, or pass --force to replace them")
        .refused(),
        other => Fail::new(format!("{}: {other}", target.display()))
            .hint("fix the kubeconfig, or write a new one with --out"),
    }
}

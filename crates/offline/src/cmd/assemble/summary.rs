//! What `kcsr assemble` reports: the verified users, the files written, the pins, renewals
//! and replacements, and what is still outstanding.

use std::path::PathBuf;

use kcsr_core::media::BUNDLE_SUFFIX;
use kcsr_core::station::ClusterName;
use kcsr_core::time;
use serde_json::{Value, json};

use super::check::{KeyShown, Verified};
use super::trail;
use crate::cli::AssembleArgs;
use crate::fail::Result;
use crate::kubeconfig::{self, Outcome};
use crate::report;

pub(super) fn summarize(
    args: &AssembleArgs,
    verified: &[Verified],
    written: &[PathBuf],
    pinned: &[ClusterName],
    merged: Option<&kubeconfig::Merged>,
    replaces: &[bool],
    outstanding: &[trail::Outstanding],
) -> Result<()> {
    let changes = |outcome: Outcome| -> Vec<&kubeconfig::Change> {
        merged
            .map(|m| m.changes.iter().filter(|c| c.outcome == outcome).collect())
            .unwrap_or_default()
    };
    let changed = Changed {
        renewed: changes(Outcome::Renewed),
        replaced: changes(Outcome::Replaced),
        files: written
            .iter()
            .zip(replaces.iter().chain(std::iter::repeat(&false)))
            .filter(|(_, r)| **r)
            .map(|(p, _)| p)
            .collect(),
    };
    if args.output.json {
        json(verified, written, pinned, &changed, outstanding)?;
    }
    // Warnings are for the operator even with --quiet: they say what was not checked.
    for v in verified {
        for w in &v.warnings {
            report::say(&format!("warning: {}{BUNDLE_SUFFIX}: {w}", v.stem));
        }
    }
    if args.output.quiet {
        return Ok(());
    }
    if !args.output.json {
        trail::say(outstanding);
    }
    say_verified(pinned, verified);
    say_changed(&changed);
    say_written(verified, written);
    Ok(())
}

/// What a renewal or `--force` replaced.
struct Changed<'a> {
    /// `--merge-into` user entries whose older certificate a newer one replaced.
    renewed: Vec<&'a kubeconfig::Change>,
    /// `--merge-into` entries `--force` replaced.
    replaced: Vec<&'a kubeconfig::Change>,
    /// `--out-dir` files whose older certificate a newer one replaced.
    files: Vec<&'a PathBuf>,
}

fn json(
    verified: &[Verified],
    written: &[PathBuf],
    pinned: &[ClusterName],
    changed: &Changed<'_>,
    outstanding: &[trail::Outstanding],
) -> Result<()> {
    let entry = |c: &&kubeconfig::Change| json!({"kind": c.kind.as_str(), "name": c.name});
    report::json(&json!({
        "written": written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "users": verified.iter().map(|v| json!({
            "name": v.stem,
            "user": v.user,
            "groups": v.groups,
            "context": v.entry.context,
            "cluster": v.entry.cluster_name,
            "server": v.entry.server,
            "notAfter": time::format_rfc3339(v.not_after),
            "publicKeySha256": v.fingerprint,
            "signerName": v.signer,
            "recorded": v.recorded,
            "verified": v.checked,
            "key": match &v.key {
                KeyShown::Embedded(p) => json!({"embedded": p.display().to_string()}),
                KeyShown::Path { path, checked } => json!({"path": path, "checked": checked}),
                KeyShown::Absent => Value::Null,
                KeyShown::Token(uri) => json!({"pkcs11": uri, "agent": v.entry.server_for_kubectl()}),
            },
            "warnings": v.warnings,
        })).collect::<Vec<_>>(),
        "pinned": pinned.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "renewed": changed.renewed.iter().map(entry).chain(changed.files.iter().map(|p| json!({"kind": "file", "name": p.display().to_string()}))).collect::<Vec<_>>(),
        "replaced": changed.replaced.iter().map(entry).collect::<Vec<_>>(),
        "notAssembled": outstanding.iter().map(trail::Outstanding::json).collect::<Vec<_>>(),
    }))
}

fn say_verified(pinned: &[ClusterName], verified: &[Verified]) {
    for name in pinned {
        report::say(&format!(
            "kcsr: pinned cluster {name} (the fingerprints you gave match); later trips are checked against it"
        ));
    }
    for v in verified {
        report::say(&format!(
            "kcsr: verified {:?} (groups: {}) for cluster {} ({}), valid until {}: {}",
            report::sanitize(&v.user),
            if v.groups.is_empty() {
                "none".to_owned()
            } else {
                v.groups
                    .iter()
                    .map(|g| report::sanitize(g))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            v.cluster,
            report::sanitize(&v.entry.server),
            time::format_rfc3339(v.not_after),
            v.checked.join("; ")
        ));
    }
}

fn say_changed(changed: &Changed<'_>) {
    for c in &changed.renewed {
        report::say(&format!(
            "  renewed user {:?}: its certificate is replaced by the newer one",
            report::sanitize(&c.name)
        ));
    }
    for p in &changed.files {
        report::say(&format!(
            "  renewed {}: the same file, its older certificate replaced by the newer one",
            p.display()
        ));
    }
    for c in &changed.replaced {
        report::say(&format!(
            "  replaced {} {:?} (--force): it held other content",
            c.kind.as_str(),
            report::sanitize(&c.name)
        ));
    }
}

/// The files written, how each reaches its key, and what to do next.
fn say_written(verified: &[Verified], written: &[PathBuf]) {
    let embedded = verified
        .iter()
        .any(|v| matches!(v.key, KeyShown::Embedded(_)));
    let agent = verified.iter().any(|v| matches!(v.key, KeyShown::Token(_)));
    for p in written {
        report::say(&format!(
            "  kubeconfig {}  (0600; {})",
            p.display(),
            if embedded {
                "holds the private key: keep it on this machine"
            } else if agent {
                "holds no key: kubectl reaches the token through kcsr-agent, which it authenticates to with a token this file holds"
            } else {
                "names the key file, holds no key"
            }
        ));
    }
    for v in verified {
        match &v.key {
            KeyShown::Path { path, .. } => report::say(&format!(
                "  {}: client-key {path} (kubectl reads it where the kubeconfig is used; it must be the unencrypted PEM key there)",
                report::sanitize(&v.entry.user_entry)
            )),
            KeyShown::Absent => report::say(&format!(
                "note: {}: the request came from the user's own CSR, so the kubeconfig holds the certificate alone; add the key where it is used: kubectl config set-credentials {} --client-key=PATH --kubeconfig FILE (or assemble again with --key-path PATH)",
                report::sanitize(&v.entry.user_entry),
                report::sanitize(&v.entry.user_entry)
            )),
            KeyShown::Token(uri) => report::say(&format!(
                "  {}: the key stays in the PKCS#11 token {uri}; kubectl works while kcsr-agent runs and serves it on {}",
                report::sanitize(&v.entry.user_entry),
                v.entry.server_for_kubectl()
            )),
            KeyShown::Embedded(_) => {}
        }
    }
    if agent && let Some(p) = written.first() {
        report::say(&format!("next: kcsr-agent --kubeconfig {}", p.display()));
    }
    if let (Some(v), Some(p)) = (verified.first(), written.first()) {
        report::say(&format!(
            "try: kubectl --kubeconfig {} --context {} auth whoami",
            p.display(),
            report::sanitize(&v.entry.context)
        ));
    }
}

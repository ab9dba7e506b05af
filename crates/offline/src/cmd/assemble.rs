//! `kcsr assemble`: verify the certificates brought back across the gap against the station's
//! own state (the keys that never left, the record of every request, the pinned clusters),
//! and write kubeconfigs built from the pins. Everything is verified before anything is
//! written; the media only proposes certificates (decision 0009).

mod check;
mod media;
mod pins;
mod trail;

use std::path::{Path, PathBuf};

use kcsr_core::media::BUNDLE_SUFFIX;
use kcsr_core::station::ClusterName;
use kcsr_core::time;

use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cli::AssembleArgs;
use crate::cmd::verify::unix_now;
use crate::fail::{self, Context as _, Fail, Result};
use crate::kubeconfig::{self, Entry, MergeError, Outcome, Policy};
use crate::media_dir::MediaDir;
use crate::passphrase;
use crate::station::Station;
use crate::{paths, plan, report};
use check::{KeyShown, Verified};
use kcsr_fs::{self as output, Mode, Overwrite};

pub(crate) fn run(args: AssembleArgs) -> Result<()> {
    for target in [&args.out, &args.out_dir, &args.merge_into]
        .into_iter()
        .flatten()
    {
        if paths::resolve(target).starts_with(paths::resolve(&args.media)) {
            return Err(Fail::new(format!(
                "{} is on the media {}: a kubeconfig holds the private key and must never travel",
                target.display(),
                args.media.display()
            ))
            .hint("write the kubeconfig on this machine's own disk"));
        }
    }
    let media = MediaDir::open(&args.media, false)?;
    // Decision 0010: what the station asked for on this media and did not get back.
    let station = Station::new(&args.keys);
    let (checked, ignored, return_only) = media::check(&media, &station)?;
    if !args.output.quiet
        && let Some(note) = crate::media_dir::ignored_note(&args.media, &ignored)
    {
        report::say(&note);
    }
    let (bundles, unmatched) = media::bundles(&media, &checked, &args.names)?;
    let outstanding = trail::outstanding(&station, &args.keys, &checked, &args.names, return_only)?;
    if bundles.is_empty() {
        trail::record(&station, &[], &[], &outstanding, unix_now())?;
        return Err(trail::nothing_back(
            &args.media,
            &args.names,
            &outstanding,
            return_only,
        ));
    }
    if let Some(missing) = unmatched {
        return Err(Fail::new(format!(
            "no bundle on the media matches --name {missing:?}"
        )));
    }
    if bundles.len() > 1 && (args.out.is_some() || args.context.is_some()) {
        return Err(Fail::new(format!(
            "{} bundles on the media, but --out and --context take one",
            bundles.len()
        ))
        .hint("pick one with --name, or use --out-dir or --merge-into"));
    }
    if let Some(p) = &args.key_path
        && bundles.len() > 1
        && !p.contains("{user}")
    {
        return Err(Fail::new(format!(
            "{} bundles on the media, but --key-path {p} names one file",
            bundles.len()
        ))
        .hint("put {user} in it for each user's file, e.g. --key-path '/home/{user}/.kube/{user}.key', or pick one with --name"));
    }
    let no_keys = bundles.iter().all(|(stem, _)| {
        std::fs::symlink_metadata(args.keys.join(format!("{stem}.key.pem"))).is_err()
    });
    if !args.no_record && !station.requests_dir().is_dir() && no_keys {
        // A wrong --keys: not a verification failure of the certificates, which are not in
        // question, but no key and no record here at all. (Keys without records are a key
        // directory from before the station kept records: --no-record is for those.)
        let mut users: Vec<String> = bundles
            .iter()
            .map(|(_, b)| format!("{:?}", report::sanitize(&b.user)))
            .collect();
        users.dedup();
        return Err(Fail::new(format!(
            "no key for {} in {}: it holds no station (no {}), so it is not the key directory these requests were made with",
            users.join(", "),
            args.keys.display(),
            station.requests_dir().display()
        ))
        .hint("pass the key directory kcsr request wrote the keys and records to (--keys KEY_DIR); nothing is wrong with the certificates"));
    }

    let passphrase = passphrase::Source::new(args.passphrase_file.as_deref());
    let cx = check::Context {
        args: &args,
        checked: &checked,
        passphrase: &passphrase,
        now: unix_now(),
    };
    let mut pins = pins::Pins::new(Station::new(&args.keys));
    let mut verified = Vec::new();
    let mut no_key = Vec::new();
    let mut failures = Vec::new();
    for (stem, bundle) in &bundles {
        match check::verify(&cx, &mut pins, stem, bundle) {
            Ok(check::Outcome::Verified(v)) => verified.push(*v),
            Ok(check::Outcome::NoKey {
                stem,
                user,
                key_path,
            }) => no_key.push((stem, user, key_path)),
            Err(f) => failures.push(f),
        }
    }
    if !failures.is_empty() {
        let mut hints: Vec<String> = Vec::new();
        for h in failures.iter().filter_map(|f| f.hint.clone()) {
            if !hints.contains(&h) {
                hints.push(h);
            }
        }
        hints.push(
            "do not use these certificates; see docs/operator-guide.md, \"When something fails\""
                .to_owned(),
        );
        return Err(Fail::new(format!(
            "{} of {} certificates did not verify; nothing was written\n  {}",
            failures.len(),
            bundles.len(),
            failures
                .iter()
                .map(|f| f.message.replace('\n', "\n    "))
                .collect::<Vec<_>>()
                .join("\n  ")
        ))
        .hint(hints.join("\n      "))
        .refused());
    }

    let missing = |what: &str| {
        Fail::new(format!(
            "no key for {} in {}{what}\n  {}",
            no_key
                .iter()
                .map(|(_, u, _)| format!("{:?}", report::sanitize(u)))
                .collect::<Vec<_>>()
                .join(", "),
            args.keys.display(),
            no_key
                .iter()
                .map(|(stem, _, p)| format!("{stem}{BUNDLE_SUFFIX}: its certificate verified, but {} is not there", p.display()))
                .collect::<Vec<_>>()
                .join("\n  ")
        ))
        .hint("put the key back where the station recorded it (or pass the key directory it is in with --keys) and run the same command again; or write a kubeconfig that names the user's own key file with --key-path")
    };
    // A verified certificate whose key is not here did not become a kubeconfig either.
    let mut outstanding = outstanding;
    for (stem, _, key_path) in &no_key {
        if let Some((_, b)) = bundles.iter().find(|(s, _)| s == stem) {
            outstanding.extend(trail::no_key(&station, &b.name, key_path)?);
        }
    }
    if verified.is_empty() {
        trail::record(&station, &[], &[], &outstanding, cx.now)?;
        return Err(missing("; nothing was written"));
    }

    // Nothing is pinned or written unless the operator's fingerprints match and no existing
    // kubeconfig entry would change.
    pins.trust(&args.trust_cluster)?;
    let merged = match &args.merge_into {
        Some(target) => Some(merge(&args, target, &verified, pins.station())?),
        None => None,
    };
    let names = out_names(&verified);
    let replaces = match &args.out_dir {
        Some(dir) if !args.force => renewals(dir, &verified, &names, pins.station()),
        _ => Vec::new(),
    };
    let pinned = pins.save()?;
    let written = write(
        &args,
        &verified,
        &names,
        &replaces,
        merged.as_ref().map(|m| &m.text),
    )?;
    trail::record(&station, &verified, &bundles, &outstanding, cx.now)?;
    summarize(
        &args,
        &verified,
        &written,
        &pinned,
        merged.as_ref(),
        &replaces,
        &outstanding,
    )?;
    if no_key.is_empty() {
        Ok(())
    } else {
        Err(missing(&format!(
            "; the other {} kubeconfig(s) were written",
            verified.len()
        ))
        .incomplete())
    }
}

/// The file name of each verified bundle's kubeconfig in `--out-dir`: the request's first
/// stem (`alice` also for the renewal `alice-renew-YYYYMMDD`), so renewals replace the file
/// instead of piling up beside it; the full stems when two bundles of this run would share one.
fn out_names(verified: &[Verified]) -> Vec<String> {
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

/// Which `--out-dir` files hold an older certificate of the same user and pinned cluster
/// (issued for a key the station requested): a renewal replaces them, as `--merge-into`
/// replaces the user entry.
fn renewals(dir: &Path, verified: &[Verified], names: &[String], station: &Station) -> Vec<bool> {
    let records = std::cell::OnceCell::new();
    verified
        .iter()
        .zip(names)
        .map(|(v, name)| {
            let path = dir.join(name);
            let Ok(data) = output::read_limited(&path, kcsr_core::yaml::MAX_YAML_BYTES as u64)
            else {
                return false;
            };
            let data = Zeroizing::new(data);
            let records = records.get_or_init(|| station.records().unwrap_or_default());
            let old = kubeconfig::user_certificates(&data)
                .ok()
                .and_then(|users| users.into_iter().find(|(n, _)| *n == v.entry.user_entry))
                .and_then(|(_, c)| match c {
                    kubeconfig::UserCertificate::Data(pem) => Some(pem),
                    kubeconfig::UserCertificate::File(_) => None,
                });
            old.is_some_and(|pem| {
                use base64::Engine as _;
                let body = json!({"client-certificate-data": base64::engine::general_purpose::STANDARD.encode(pem)});
                is_renewal(v, &body, records)
            })
        })
        .collect()
}

/// The kubeconfig of `--merge-into` with the new entries, or the refusal naming the entries
/// that would change.
fn merge(
    args: &AssembleArgs,
    target: &Path,
    verified: &[Verified],
    station: &Station,
) -> Result<kubeconfig::Merged> {
    let existing = if target.exists() {
        output::read_secret(
            target,
            kcsr_core::yaml::MAX_YAML_BYTES as u64,
            output::Links::Refuse,
        )
        .context(|| format!("failed to read {}", target.display()))?
    } else {
        Zeroizing::new(Vec::new())
    };
    // The agent's bearer token and loopback key are reused only from a file others could not
    // read: from any other, they may be known, and new ones are written.
    let others_could_read = {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(target).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
    };
    let records = std::cell::OnceCell::new();
    let renews = |i: usize, old: &Value| -> bool {
        let Some(v) = verified.get(i) else {
            return false;
        };
        let records = records.get_or_init(|| station.records().unwrap_or_default());
        is_renewal(v, old, records)
    };
    // A token user assembled into the file again keeps the bearer token it has there (the
    // running agent and the file stay in step, and the entry is unchanged).
    let entries: Vec<Entry> = verified
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
                let (token, old) = kubeconfig::agent_state(&existing, &e.user_entry, *address);
                if let Some(token) = token {
                    *bearer = token;
                }
                if let Some(old) = old {
                    *serving = old;
                }
            }
            e
        })
        .collect();
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
    .map_err(|e| match e {
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
    })
}

/// Whether the existing user body `old` holds a certificate the station issued earlier for
/// the same user and pinned cluster, expiring before the new one: a renewal replaces it.
fn is_renewal(v: &Verified, old: &Value, records: &[kcsr_core::station::RequestRecord]) -> bool {
    if !v.recorded {
        return false;
    }
    let Some(old_cert) =
        kubeconfig::client_certificate(old).and_then(|p| check::parse_existing(&p))
    else {
        return false;
    };
    old_cert.not_after < v.not_after
        && old_cert.subject.user() == Some(v.user.as_str())
        && records.iter().any(|r| {
            r.public_key_sha256 == old_cert.public_key.fingerprint
                && r.user == v.user
                && r.cluster.as_ref() == Some(&v.cluster)
        })
}

fn write(
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

fn summarize(
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
    let (renewed, replaced) = (changes(Outcome::Renewed), changes(Outcome::Replaced));
    let renewed_files: Vec<&PathBuf> = written
        .iter()
        .zip(replaces.iter().chain(std::iter::repeat(&false)))
        .filter(|(_, r)| **r)
        .map(|(p, _)| p)
        .collect();
    if args.output.json {
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
            "renewed": renewed.iter().map(entry).chain(renewed_files.iter().map(|p| json!({"kind": "file", "name": p.display().to_string()}))).collect::<Vec<_>>(),
            "replaced": replaced.iter().map(entry).collect::<Vec<_>>(),
            "notAssembled": outstanding.iter().map(trail::Outstanding::json).collect::<Vec<_>>(),
        }))?;
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
    for c in &renewed {
        report::say(&format!(
            "  renewed user {:?}: its certificate is replaced by the newer one",
            report::sanitize(&c.name)
        ));
    }
    for p in &renewed_files {
        report::say(&format!(
            "  renewed {}: the same file, its older certificate replaced by the newer one",
            p.display()
        ));
    }
    for c in &replaced {
        report::say(&format!(
            "  replaced {} {:?} (--force): it held other content",
            c.kind.as_str(),
            report::sanitize(&c.name)
        ));
    }
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
    Ok(())
}

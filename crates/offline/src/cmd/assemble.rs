//! `kcsr assemble`: verify the certificates brought back across the gap against the keys
//! that never left, and write kubeconfigs. Everything is verified before anything is written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kcsr_core::bundle::Bundle;
use kcsr_core::cert::{self, CertInfo};

use kcsr_core::manifest::{self, Document};
use kcsr_core::media::{self, BUNDLE_SUFFIX, CSR_MANIFEST_SUFFIX};
use kcsr_core::time;
use kcsr_core::usage::Usage;
use kcsr_core::verify::{self as check, Expected};

use serde_json::json;
use zeroize::Zeroizing;

use crate::cli::AssembleArgs;
use crate::cmd::verify::unix_now;
use crate::fail::{self, Context as _, Fail, Result};
use crate::kubeconfig::{self, Entry};
use crate::media_dir::MediaDir;
use crate::passphrase;
use crate::plan;
use crate::{paths, report};
use kcsr_fs::{self as output, Mode, Overwrite};

struct Verified {
    stem: String,
    entry: Entry,
    user: String,
    groups: Vec<String>,
    not_after: i64,
    fingerprint: String,
}

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
    let checked = check_media(&media)?;
    let bundles = find_bundles(&media, &checked, &args.names)?;
    if bundles.is_empty() {
        return Err(Fail::new(format!(
            "no certificate bundles (*{BUNDLE_SUFFIX}) on {}{}",
            args.media.display(),
            if args.names.is_empty() { String::new() } else { format!(" matching {:?}", args.names) }
        ))
        .hint("on the connected machine, run kcsr-submit apply --wait (or kcsr-submit fetch) before bringing the media back"));
    }
    if bundles.len() > 1 && (args.out.is_some() || args.context.is_some()) {
        return Err(Fail::new(format!(
            "{} bundles on the media, but --out and --context take one",
            bundles.len()
        ))
        .hint("pick one with --name, or use --out-dir or --merge-into"));
    }

    let passphrase = passphrase::Source::new(args.passphrase_file.as_deref());
    let now = unix_now();
    let mut verified = Vec::new();
    let mut failures = Vec::new();
    for (stem, bundle) in &bundles {
        match verify_one(&args, &checked, stem, bundle, &passphrase, now) {
            Ok(v) => verified.push(v),
            Err(f) => failures.push(f.message),
        }
    }
    if !failures.is_empty() {
        return Err(Fail::new(format!(
            "{} of {} certificates did not verify; nothing was written\n  {}",
            failures.len(),
            bundles.len(),
            failures.join("\n  ")
        ))
        .hint("do not use these certificates; see docs/operator-guide.md, \"When something fails\"")
        .refused());
    }

    let written = write(&args, &verified)?;
    summarize(&args, &verified, &written)?;
    Ok(())
}

/// The files the media's `SHA256SUMS` lists, with their content.
type Checked = BTreeMap<String, Vec<u8>>;

/// `SHA256SUMS` against the files present; no symlinks, special files or keys on the media.
/// Returns the content that was checked, so that what is used is exactly what was verified
/// (no second read that could see other bytes).
fn check_media(media: &MediaDir) -> Result<Checked> {
    let scanned = media.scan()?;
    let problems = media::audit(
        &media.sums,
        scanned.iter().map(|e| media::Found {
            name: &e.name,
            regular: e.kind == output::EntryKind::File,
            data: e.data.as_deref(),
        }),
    );
    if problems.is_empty() {
        return Ok(scanned
            .into_iter()
            .filter(|e| media.sums.get(&e.name).is_some())
            .filter_map(|e| e.data.map(|d| (e.name, d)))
            .collect());
    }
    let problems: Vec<String> = problems.iter().map(|p| report::sanitize(p)).collect();
    Err(Fail::new(format!(
        "the media {} does not match its SHA256SUMS; nothing was written\n  {}",
        media.path.display(),
        problems.join("\n  ")
    ))
    .hint("compare the media with what the connected machine wrote, and carry it again")
    .refused())
}

fn find_bundles(
    media: &MediaDir,
    checked: &Checked,
    names: &[String],
) -> Result<Vec<(String, Bundle)>> {
    let mut out = Vec::new();
    let mut matched = BTreeSet::new();
    for (file, data) in checked {
        let Some(stem) = media::stem(file, BUNDLE_SUFFIX) else {
            continue;
        };
        let bundle = Bundle::parse(data)
            .map_err(|e| Fail::new(format!("{}: {e}", media.path.join(file).display())))?;
        let wanted = names.is_empty()
            || names.iter().any(|n| {
                let hit = n == stem || *n == bundle.name || *n == bundle.user;
                if hit {
                    matched.insert(n.clone());
                }
                hit
            });
        if wanted {
            out.push((stem.to_owned(), bundle));
        }
    }
    if let Some(missing) = names.iter().find(|n| !matched.contains(*n)) {
        return Err(Fail::new(format!(
            "no bundle on the media matches --name {missing:?}"
        )));
    }
    Ok(out)
}

fn verify_one(
    args: &AssembleArgs,
    checked: &Checked,
    stem: &str,
    b: &Bundle,
    passphrase: &passphrase::Source,
    now: i64,
) -> Result<Verified> {
    let file = format!("{stem}{BUNDLE_SUFFIX}");
    let fail = |check: &str, why: String| Fail::new(format!("{file}: {check}: {why}"));
    let key_path = args.keys.join(format!("{stem}.key.pem"));
    let key = plan::read_key(&key_path, passphrase).map_err(|f| fail("key", f.message))?;
    let leaf: CertInfo = cert::parse_first(b.certificate.as_bytes())
        .map_err(|e| fail("certificate", e.to_string()))?;
    // What was requested: the CSR manifest on the media, which must be for the same key.
    let manifest_file = format!("{stem}{CSR_MANIFEST_SUFFIX}");
    let (want_user, want_groups) = if let Some(data) = checked.get(&manifest_file) {
        let docs = manifest::parse_documents(data).map_err(|e| fail("request", e.to_string()))?;
        let Some(Document::Csr(m)) = docs.into_iter().next() else {
            return Err(fail(
                "request",
                format!("{manifest_file} holds no CertificateSigningRequest"),
            ));
        };
        let csr = m
            .decode_request()
            .map_err(|e| fail("request", e.to_string()))?;
        if csr.public_key.fingerprint != key.public_key().fingerprint {
            return Err(fail(
                "request",
                format!("{manifest_file} is not for the key {}", key_path.display()),
            ));
        }
        (
            csr.subject.user().unwrap_or_default().to_owned(),
            csr.subject.organizations.clone(),
        )
    } else {
        (b.user.clone(), b.groups.clone())
    };
    if b.user != want_user {
        return Err(fail(
            "user",
            format!(
                "the bundle names {:?}, the request asked for {want_user:?}",
                b.user
            ),
        ));
    }
    let cas = b
        .client_ca
        .as_ref()
        .map(|pem| cert::parse_all(pem.as_bytes()))
        .transpose()
        .map_err(|e| fail("client CA", e.to_string()))?;
    let expected = Expected {
        fingerprint: key.public_key().fingerprint.clone(),
        user: Some(want_user.clone()),
        groups: Some(want_groups.clone()),
        usages: vec![Usage::ClientAuth.as_str().to_owned()],
        expiration_seconds: None,
    };
    let steps = check::certificate(&leaf, &expected, cas.as_deref(), now, args.skew.seconds());
    if let Some(bad) = steps.iter().find(|s| !s.ok) {
        return Err(fail(bad.check, bad.detail.clone()));
    }
    if !b.cluster.server.starts_with("https://") {
        return Err(fail(
            "cluster",
            format!("server {:?} is not an https:// URL", b.cluster.server),
        ));
    }
    if let Some(ca) = &b.cluster.certificate_authority {
        cert::parse_all(ca.as_bytes()).map_err(|e| fail("cluster CA", e.to_string()))?;
    }
    let cluster_name = b.cluster.name.clone();
    let user_entry = format!("{want_user}@{cluster_name}");
    let context = args.context.clone().unwrap_or_else(|| user_entry.clone());
    Ok(Verified {
        stem: stem.to_owned(),
        entry: Entry {
            cluster_name,
            server: b.cluster.server.clone(),
            ca_pem: b.cluster.certificate_authority.clone(),
            tls_server_name: b.cluster.tls_server_name.clone(),
            user_entry,
            context,
            cert_pem: b.certificate.clone(),
            key_pem: key.to_pem(),
        },
        user: want_user,
        groups: want_groups,
        not_after: leaf.not_after,
        fingerprint: leaf.public_key.fingerprint.clone(),
    })
}

fn write(args: &AssembleArgs, verified: &[Verified]) -> Result<Vec<PathBuf>> {
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
        for v in verified {
            let text = kubeconfig::complete(&v.entry).map_err(encode)?;
            written.push(write_secret_file(
                &dir.join(format!("{}.kubeconfig", v.stem)),
                &text,
                overwrite,
            )?);
        }
    } else if let Some(target) = &args.merge_into {
        let existing = if target.exists() {
            Zeroizing::new(
                output::read_limited(target, kcsr_core::yaml::MAX_YAML_BYTES as u64)
                    .context(|| format!("failed to read {}", target.display()))?,
            )
        } else {
            Zeroizing::new(Vec::new())
        };
        let entries: Vec<&Entry> = verified.iter().map(|v| &v.entry).collect();
        let text = kubeconfig::merge(&existing, &entries, args.set_current).map_err(|e| {
            Fail::new(format!("{}: {e}", target.display()))
                .hint("fix the kubeconfig, or write a new one with --out")
        })?;
        written.push(write_secret_file(target, &text, Overwrite::Allow)?);
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

fn summarize(args: &AssembleArgs, verified: &[Verified], written: &[PathBuf]) -> Result<()> {
    if args.output.json {
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
            })).collect::<Vec<_>>(),
        }))?;
    }
    if args.output.quiet {
        return Ok(());
    }
    for v in verified {
        report::say(&format!(
            "kcsr: verified {:?} (groups: {}) for {} — valid until {}",
            report::sanitize(&v.user),
            if v.groups.is_empty() {
                "none".to_owned()
            } else {
                v.groups.join(", ")
            },
            report::sanitize(&v.entry.server),
            time::format_rfc3339(v.not_after)
        ));
    }
    for p in written {
        report::say(&format!(
            "  kubeconfig {}  (0600; holds the private key: keep it on this machine)",
            p.display()
        ));
    }
    if let (Some(v), Some(p)) = (verified.first(), written.first()) {
        report::say(&format!(
            "try: kubectl --kubeconfig {} --context {} auth whoami",
            p.display(),
            v.entry.context
        ));
    }
    Ok(())
}

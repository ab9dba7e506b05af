//! `kcsr renew`: requests for the certificates that expire soon, from certificates or bundles
//! brought back earlier. New keys by default (under a new stem, so the current key stays in
//! place until the new certificate is assembled), or the existing key with `--reuse-key`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kcsr_core::bundle::Bundle;
use kcsr_core::cert::{self, CertInfo};
use kcsr_core::expiry::{Expiration, human_seconds};
use kcsr_core::key::{KeyType, PrivateKey};
use kcsr_core::manifest::ApiVersion;
use kcsr_core::media::{BUNDLE_SUFFIX, CERT_SUFFIX, MAX_MEDIA_FILE_BYTES};
use kcsr_core::names::{GroupName, UserName};
use kcsr_core::signer::SignerName;
use kcsr_core::time;
use serde_json::json;

use crate::cli::RenewArgs;
use crate::cmd::verify::unix_now;
use crate::fail::{Context as _, Fail, Result};
use crate::media_dir::MediaDir;
use crate::passphrase::{self, Purpose};
use crate::plan::{self, KeySource, MediaState, Spec};
use crate::{paths, report};
use kcsr_fs as output;

struct Found {
    source: PathBuf,
    cert: CertInfo,
    bundle: Option<Bundle>,
}

pub(crate) fn run(args: RenewArgs) -> Result<()> {
    paths::check_key_dir_outside_media(&args.keys, &args.media)?;
    let now = args.at.unwrap_or_else(unix_now);
    let found = collect(&args.from)?;
    if found.is_empty() {
        return Err(
            Fail::new("no certificates or bundles found in the given paths")
                .hint("pass *.crt or *.bundle.yaml files, or the directories holding them"),
        );
    }
    let passphrase = if args.encrypt_key {
        Some(passphrase::obtain(
            args.passphrase_file.as_deref(),
            Purpose::NewKey,
            "the new keys",
        )?)
    } else {
        None
    };
    let existing = passphrase::Source::new(args.passphrase_file.as_deref());
    let mut media = if args.dry_run {
        MediaDir::open_or_empty(&args.media)?
    } else {
        MediaDir::open(&args.media, true)?
    };
    let mut report_rows = Vec::new();
    let mut failures = Vec::new();
    let mut changed = false;
    for f in &found {
        let left = f.cert.not_after - now;
        let due = left <= args.within.seconds();
        let user = f.cert.subject.common_names.join(",");
        let mut row = json!({
            "source": f.source.display().to_string(),
            "user": user,
            "notAfter": time::format_rfc3339(f.cert.not_after),
            "due": due,
        });
        if due {
            match renew_one(&args, f, now, passphrase.as_ref(), &existing, &mut media) {
                Ok((stem, name, wrote)) => {
                    changed |= wrote;
                    row["request"] = json!({"stem": stem, "name": name, "written": wrote});
                }
                Err(e) => {
                    row["error"] = json!(e.message);
                    failures.push(format!("{}: {}", f.source.display(), e.message));
                }
            }
        }
        if !args.output.quiet && !args.output.json {
            let state = if !due {
                format!(
                    "not due (expires {}, in {})",
                    time::format_rfc3339(f.cert.not_after),
                    human_seconds(left)
                )
            } else if let Some(e) = row.get("error") {
                format!("FAILED: {}", e.as_str().unwrap_or_default())
            } else if args.dry_run {
                format!(
                    "due (expires {}): would request a renewal",
                    time::format_rfc3339(f.cert.not_after)
                )
            } else {
                format!(
                    "due (expires {}): request {} written",
                    time::format_rfc3339(f.cert.not_after),
                    row["request"]["name"].as_str().unwrap_or_default()
                )
            };
            report::say(&format!(
                "kcsr renew: {:?} ({}): {state}",
                report::sanitize(&user),
                f.source.display()
            ));
        }
        report_rows.push(row);
    }
    if changed {
        media.save_sums()?;
    }
    if args.output.json {
        report::json(
            &json!({"at": time::format_rfc3339(now), "within": args.within.seconds(), "certificates": report_rows}),
        )?;
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Fail::new(format!(
            "{} renewal(s) failed\n  {}",
            failures.len(),
            failures.join("\n  ")
        )))
    }
}

fn collect(paths: &[PathBuf]) -> Result<Vec<Found>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .context(|| format!("failed to list {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|e| {
                    e.to_string_lossy().ends_with(BUNDLE_SUFFIX)
                        || e.to_string_lossy().ends_with(CERT_SUFFIX)
                })
                .collect();
            entries.sort();
            // A bundle and its .crt hold the same certificate: prefer the bundle.
            let bundles: BTreeSet<String> = entries
                .iter()
                .filter_map(|e| {
                    e.to_string_lossy()
                        .strip_suffix(BUNDLE_SUFFIX)
                        .map(str::to_owned)
                })
                .collect();
            files.extend(entries.into_iter().filter(|e| {
                e.to_string_lossy()
                    .strip_suffix(CERT_SUFFIX)
                    .is_none_or(|stem| !bundles.contains(stem))
            }));
        } else {
            files.push(p.clone());
        }
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for f in files {
        let data = output::read_limited(&f, MAX_MEDIA_FILE_BYTES)
            .context(|| format!("failed to read {}", f.display()))?;
        let (cert, bundle) = if f.to_string_lossy().ends_with(BUNDLE_SUFFIX) {
            let b = Bundle::parse(&data).map_err(|e| Fail::new(format!("{}: {e}", f.display())))?;
            let c = cert::parse_first(b.certificate.as_bytes())
                .map_err(|e| Fail::new(format!("{}: {e}", f.display())))?;
            (c, Some(b))
        } else {
            (
                cert::parse_first(&data).map_err(|e| Fail::new(format!("{}: {e}", f.display())))?,
                None,
            )
        };
        if seen.insert(cert.fingerprint.clone()) {
            out.push(Found {
                source: f,
                cert,
                bundle,
            });
        }
    }
    Ok(out)
}

/// Builds and writes one renewal request; returns (stem, object name, whether anything was written).
fn renew_one(
    args: &RenewArgs,
    f: &Found,
    now: i64,
    passphrase: Option<&secrecy::SecretString>,
    existing: &passphrase::Source,
    media: &mut MediaDir,
) -> Result<(String, String, bool)> {
    let user: UserName = f
        .cert
        .subject
        .user()
        .ok_or_else(|| {
            Fail::new(format!(
                "the certificate names {:?} as CN; a client certificate names exactly one user",
                f.cert.subject.common_names
            ))
        })?
        .parse()
        .map_err(|e: kcsr_core::names::NameError| Fail::new(e.to_string()))?;
    let groups = f
        .cert
        .subject
        .organizations
        .iter()
        .map(|g| g.parse::<GroupName>().map_err(|e| Fail::new(e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    let signer: SignerName = match &f.bundle {
        Some(b) => b
            .signer_name
            .parse()
            .map_err(|e: kcsr_core::signer::SignerError| Fail::new(e.to_string()))?,
        None => SignerName::client(),
    };
    let expiration = f
        .bundle
        .as_ref()
        .and_then(|b| b.audit.requested_expiration_seconds)
        .map(Expiration::from_seconds);
    let (key, stem, source) = if args.reuse_key {
        let (key, stem) = find_key(&args.keys, &f.cert.public_key.fingerprint, existing)?;
        (key, stem, KeySource::Reused)
    } else {
        let day = time::format_rfc3339(now)[..10].replace('-', "");
        let key_type = match f.cert.public_key.kind {
            kcsr_core::x509::KeyKind::Rsa { bits } if bits >= 4096 => KeyType::Rsa4096,
            kcsr_core::x509::KeyKind::Rsa { bits } if bits >= 3072 => KeyType::Rsa3072,
            kcsr_core::x509::KeyKind::Rsa { .. } => KeyType::Rsa2048,
            kcsr_core::x509::KeyKind::EcdsaP384 => KeyType::P384,
            kcsr_core::x509::KeyKind::Ed25519 => KeyType::Ed25519,
            _ => KeyType::P256,
        };
        let stem = format!("{}-renew-{day}", user.slug());
        let key_path = args.keys.join(format!("{stem}.key.pem"));
        let (key, source) = plan::obtain_key(key_type, &key_path, false, existing)?;
        (key, stem, source)
    };
    let key_type = KeyType::for_kind(key.kind()).unwrap_or(KeyType::P256);
    let spec = spec(&user, &groups, key_type, &signer, expiration, &stem);
    let built = plan::build(&spec, &key)?;
    if args.dry_run {
        return Ok((stem, built.name.as_str().to_owned(), false));
    }
    match plan::media_state(&media.path, &built)? {
        MediaState::Same(files) => {
            for (n, d) in files {
                media.sums.insert_digest(&n, d);
            }
            return Ok((stem, built.name.as_str().to_owned(), true));
        }
        MediaState::Different => {
            return Err(Fail::new(format!(
                "the media already holds a different request {}",
                built.manifest_file
            )));
        }
        MediaState::Absent => {}
    }
    if source == KeySource::New {
        plan::write_key(
            &key,
            &args.keys.join(format!("{stem}.key.pem")),
            passphrase,
            false,
        )?;
    }
    let path = media.path.clone();
    plan::write_media(&path, &built, &mut media.sums)?;
    Ok((stem, built.name.as_str().to_owned(), true))
}

fn spec(
    user: &UserName,
    groups: &[GroupName],
    key_type: KeyType,
    signer: &SignerName,
    expiration: Option<Expiration>,
    stem: &str,
) -> Spec {
    Spec {
        user: user.clone(),
        groups: groups.to_vec(),
        key_type,
        signer: Some(signer.clone()),
        usages: Vec::new(),
        dns: Vec::new(),
        ips: Vec::new(),
        expiration,
        api_version: ApiVersion::V1,
        grant: None,
        name: None,
        stem: Some(stem.to_owned()),
    }
}

/// The key in `dir` whose public key has `fingerprint`, and its stem.
fn find_key(
    dir: &Path,
    fingerprint: &str,
    passphrase: &passphrase::Source,
) -> Result<(PrivateKey, String)> {
    let entries = std::fs::read_dir(dir)
        .context(|| format!("failed to list key directory {}", dir.display()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".key.pem") else {
            continue;
        };
        // A key that cannot be read (another passphrase, damaged) is not the one sought.
        if let Ok(k) = plan::read_key(&e.path(), passphrase)
            && k.public_key().fingerprint == fingerprint
        {
            return Ok((k, stem.to_owned()));
        }
    }
    Err(Fail::new(format!("no key in {} has the certificate's public key (sha256 {fingerprint})", dir.display()))
        .hint("renew without --reuse-key to make a new key, or pass --passphrase-file if the keys are encrypted"))
}

//! `kcsr key retire`: removes the user keys of the key directory whose certificates have all
//! expired, and marks their records `retired` (decision 0010), so that renew never asks for a
//! certificate for them again and a lost backup holds fewer live keys.
//!
//! A key is retired only when the station can tell that no certificate of it is still valid:
//! every request the station made for it either ended without a certificate (withdrawn,
//! denied, already retired) or is covered by a certificate it was shown (a bundle, a
//! certificate, a kubeconfig: issued after the request was written), and every such
//! certificate has expired. A request whose certificate was never shown keeps its key: that
//! certificate may be out there, valid.
//!
//! Only a certificate shown to be the station's counts (the rule `kcsr renew` applies): it
//! names the recorded user and groups and chains to the pinned CA of its signer. Anyone who
//! can edit the media or a kubeconfig could otherwise get a key retired with a self-made,
//! expired certificate for it. One that cannot be verified is reported and never counts: one
//! that fails the check makes the run exit 3 (refused); one whose request names no pinned
//! cluster keeps its key with the reason.

use std::path::{Path, PathBuf};

use kcsr_core::cert::CertInfo;
use kcsr_core::key::KeyError;
use kcsr_core::station::{RequestRecord, RequestState};
use kcsr_core::time;
use serde_json::{Value, json};

use crate::cli::{KeyCommand, KeyRetireArgs};
use crate::cmd::verify::unix_now;
use crate::fail::{Context as _, Fail, Result};
use crate::passphrase;
use crate::station::Station;
use crate::{certs, plan, report};

pub(crate) fn run(command: KeyCommand) -> Result<()> {
    match command {
        KeyCommand::Retire(args) => retire(&args),
    }
}

/// One key file and what becomes of it.
struct Verdict {
    file: PathBuf,
    public_key: Option<String>,
    /// Why it stays; `None`: retired (or, in a dry run, would be).
    kept: Option<String>,
    records: Vec<String>,
    certificates: Vec<Shown>,
}

/// A certificate of the key that was shown, and whether it counts.
struct Shown {
    source: String,
    not_after: i64,
    /// Why it does not count; `None`: verified.
    unverified: Option<String>,
    /// It failed the check (forged, or of another CA), as opposed to being uncheckable.
    refused: bool,
}

fn retire(args: &KeyRetireArgs) -> Result<()> {
    let station = Station::new(&args.keys);
    if !station.requests_dir().is_dir() {
        return Err(Fail::new(format!(
            "{} holds no station records (no {}): nothing tells which keys are done",
            args.keys.display(),
            station.requests_dir().display()
        ))
        .hint(
            "pass the key directory kcsr request wrote the keys and records to (--keys KEY_DIR)",
        ));
    }
    let at = args.at.unwrap_or_else(unix_now);
    let records = station.records()?;
    let shown = certs::collect(&args.from)?;
    let passphrase = passphrase::Source::new(args.passphrase_file.as_deref());
    let mut verdicts = Vec::new();
    for file in key_files(&args.keys)? {
        verdicts.push(judge(
            &station,
            &file,
            &records,
            &shown,
            at,
            &passphrase,
            args,
        )?);
    }
    let stamp = time::format_rfc3339(unix_now());
    if !args.dry_run {
        for v in verdicts.iter().filter(|v| v.kept.is_none()) {
            // The records first: a run stopped before the key is removed finds every record
            // of it retired, and removes the key the next time.
            for r in records.iter().filter(|r| {
                Some(&r.public_key_sha256) == v.public_key.as_ref() && r.state.is_active()
            }) {
                station.set_state(r, RequestState::Retired, &stamp)?;
            }
            let name = v
                .file
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| Fail::new(format!("{} is not a file name", v.file.display())))?;
            kcsr_fs::remove_file(&args.keys, name)
                .context(|| format!("failed to remove {}", v.file.display()))?;
        }
    }
    summarize(args, at, &verdicts)
}

/// The user keys of the key directory: regular `*.key.pem` files at its top level only (never
/// the station's files, never through a link).
fn key_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .context(|| format!("failed to list key directory {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name().to_string_lossy().ends_with(".key.pem")
                && e.file_type().is_ok_and(|t| t.is_file())
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}

/// Whether the key `file` can be retired, and what was shown of it.
fn judge(
    station: &Station,
    file: &Path,
    records: &[RequestRecord],
    shown: &[certs::Found],
    at: i64,
    passphrase: &passphrase::Source,
    args: &KeyRetireArgs,
) -> Result<Verdict> {
    let mut v = Verdict {
        file: file.to_owned(),
        public_key: None,
        kept: None,
        records: Vec::new(),
        certificates: Vec::new(),
    };
    let fingerprint = match fingerprint(file, passphrase, args)? {
        Ok(fp) => fp,
        Err(kept) => {
            v.kept = Some(kept);
            return Ok(v);
        }
    };
    let mine: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| r.public_key_sha256 == fingerprint)
        .collect();
    v.public_key = Some(fingerprint.clone());
    // The records retiring marks: those still active (a withdrawn or denied one keeps saying
    // why it ended).
    v.records = mine
        .iter()
        .filter(|r| r.state.is_active())
        .map(|r| r.name.clone())
        .collect();
    let verified = certificates(station, shown, &mine, &fingerprint, &mut v)?;
    if mine.is_empty() {
        v.kept = Some("the station has no record of a request for this key".to_owned());
        return Ok(v);
    }
    if let Some(kept) = unshown(&mine, &verified, &v) {
        v.kept = Some(kept);
        return Ok(v);
    }
    if let Some(c) = verified
        .iter()
        .filter(|c| c.not_after > at)
        .max_by_key(|c| c.not_after)
    {
        v.kept = Some(format!(
            "a certificate of it is valid until {}",
            time::format_rfc3339(c.not_after)
        ));
    }
    Ok(v)
}

/// The public key's fingerprint of the key `file`, or (inner `Err`) why the key stays: it is
/// encrypted and no passphrase was given, or it cannot be read.
fn fingerprint(
    file: &Path,
    passphrase: &passphrase::Source,
    args: &KeyRetireArgs,
) -> Result<std::result::Result<String, String>> {
    // Never asked on the terminal: without --passphrase-file an encrypted key is kept.
    let key = plan::load_key(file, args.passphrase_file.is_some().then_some(passphrase))?;
    Ok(match key {
        Ok(k) => Ok(k.public_key().fingerprint.clone()),
        Err(KeyError::NeedPassphrase) => {
            Err("encrypted: pass --passphrase-file to check it".to_owned())
        }
        Err(e) => Err(format!("unreadable: {e}")),
    })
}

/// The certificates shown for the key, each judged (into `v`); returns those that count.
fn certificates<'a>(
    station: &Station,
    shown: &'a [certs::Found],
    mine: &[&RequestRecord],
    fingerprint: &str,
    v: &mut Verdict,
) -> Result<Vec<&'a CertInfo>> {
    let mut verified: Vec<&CertInfo> = Vec::new();
    for f in shown
        .iter()
        .filter(|f| f.cert.public_key.fingerprint == fingerprint)
    {
        let (unverified, refused) = match covered(mine, &f.cert) {
            None => (
                Some("the station has no record of a request for this key".to_owned()),
                false,
            ),
            Some(r) => match certs::trust(station, f, r, unix_now())? {
                certs::Trust::Verified => (None, false),
                certs::Trust::Unpinned(why) => (Some(why), false),
                certs::Trust::Refused(why) => (Some(why), true),
            },
        };
        if unverified.is_none() {
            verified.push(&f.cert);
        }
        v.certificates.push(Shown {
            source: f.source.clone(),
            not_after: f.cert.not_after,
            unverified,
            refused,
        });
    }
    Ok(verified)
}

/// Why the key stays when a request of it that did not end has no verified certificate
/// shown: that certificate may be out there, valid.
fn unshown(mine: &[&RequestRecord], verified: &[&CertInfo], v: &Verdict) -> Option<String> {
    let ended = |r: &RequestRecord| {
        matches!(
            r.state,
            RequestState::Withdrawn | RequestState::Denied | RequestState::Retired
        )
    };
    let r = mine.iter().find(|r| {
        let created = time::parse_rfc3339(&r.created).unwrap_or(i64::MIN);
        !ended(r)
            && !verified.iter().any(|c| {
                c.not_before >= created.saturating_sub(kcsr_core::verify::DEFAULT_SKEW_SECONDS)
            })
    })?;
    let not_counted = v.certificates.iter().any(|c| c.unverified.is_some());
    Some(format!(
        "no {}certificate shown for request {} ({}, written {}): show its bundle, certificate or kubeconfig{}",
        if not_counted { "verified " } else { "" },
        r.name,
        r.state,
        r.created,
        if not_counted {
            " as kcsr assemble verified it (the station's own copies)"
        } else {
            ""
        }
    ))
}

/// The request of `mine` a certificate is for: the newest written before it was issued (less
/// the skew), else the newest (whose check then names what is wrong).
fn covered<'a>(mine: &[&'a RequestRecord], cert: &CertInfo) -> Option<&'a RequestRecord> {
    let created = |r: &RequestRecord| time::parse_rfc3339(&r.created).unwrap_or(i64::MIN);
    mine.iter()
        .filter(|r| {
            created(r).saturating_sub(kcsr_core::verify::DEFAULT_SKEW_SECONDS) <= cert.not_before
        })
        .max_by_key(|r| created(r))
        .or_else(|| mine.iter().max_by_key(|r| created(r)))
        .copied()
}

fn summarize(args: &KeyRetireArgs, at: i64, verdicts: &[Verdict]) -> Result<()> {
    let retired = verdicts.iter().filter(|v| v.kept.is_none()).count();
    if args.output.json {
        report::json(&json!({
            "at": time::format_rfc3339(at),
            "dryRun": args.dry_run,
            "retired": retired,
            "keys": verdicts.iter().map(|v| json!({
                "file": v.file.display().to_string(),
                "publicKeySha256": v.public_key,
                "retired": v.kept.is_none(),
                "kept": v.kept,
                "records": v.records,
                "certificates": v.certificates.iter().map(|c| json!({
                    "source": c.source,
                    "notAfter": time::format_rfc3339(c.not_after),
                    "verified": c.unverified.is_none(),
                    "unverified": c.unverified,
                })).collect::<Vec<Value>>(),
            })).collect::<Vec<_>>(),
        }))?;
    }
    let refused: Vec<String> = verdicts
        .iter()
        .flat_map(|v| &v.certificates)
        .filter(|c| c.refused)
        .map(|c| {
            format!(
                "{}: {}",
                c.source,
                c.unverified.as_deref().unwrap_or_default()
            )
        })
        .collect();
    if !args.output.quiet {
        say(args, retired, verdicts);
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(Fail::new(format!(
        "{} certificate(s) shown are not the station's and were not counted\n  {}",
        refused.len(),
        refused.join("\n  ")
    ))
    .hint("do not use these certificates; show the certificates, bundles or kubeconfigs kcsr assemble verified (the station's own copies)")
    .refused())
}

fn say(args: &KeyRetireArgs, retired: usize, verdicts: &[Verdict]) {
    for v in verdicts {
        let marked = |would: &str| {
            if v.records.is_empty() {
                String::new()
            } else {
                format!("; records {} {would}marked retired", v.records.join(", "))
            }
        };
        let what = match (&v.kept, args.dry_run) {
            (Some(why), _) => format!("kept: {why}"),
            (None, true) => format!(
                "would be removed (no certificate of it can still be valid){}",
                marked("would be ")
            ),
            (None, false) => format!(
                "removed (no certificate of it can still be valid){}",
                marked("")
            ),
        };
        report::say(&format!("kcsr key retire: {}: {what}", v.file.display()));
        for c in &v.certificates {
            if let Some(why) = &c.unverified {
                report::say(&format!(
                    "  {}certificate not counted: {}: {why}",
                    if c.refused { "NOT TRUSTED, " } else { "" },
                    c.source
                ));
            }
        }
    }
    report::say(&format!(
        "kcsr key retire: {retired} of {} key(s) {}{}",
        verdicts.len(),
        if args.dry_run {
            "would be retired"
        } else {
            "retired"
        },
        if args.dry_run {
            "; nothing was changed (--dry-run)"
        } else {
            ""
        }
    ));
}

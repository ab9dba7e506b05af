//! `kcsr renew`: requests for the certificates that expire soon, from certificates or bundles
//! brought back earlier. New keys by default (under a new stem, so the current key stays in
//! place until the new certificate is assembled), or the existing key with `--reuse-key`.
//!
//! The certificate on the media only says which key and when it expires: the station's record
//! of the request for that key (found by its public key) gives every field of the renewal
//! (user, groups, signer, usages, lifetime, grant, cluster). A certificate with no record is
//! refused, whatever its subject says (decision 0009). Nor is its expiry believed before it
//! is shown to be the station's certificate: it must chain to the pinned CA of its signer and
//! name the recorded user and groups. One that does not is reported and not renewed (anyone
//! who can edit the media could otherwise make a renewal look not due with a self-made
//! certificate for a recorded key); one whose request names no pinned cluster (made before
//! any was pinned) cannot be checked and is judged with a warning saying so.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kcsr_core::cert::CertInfo;
use kcsr_core::expiry::{Expiration, human_seconds};
use kcsr_core::key::{CsrSigner as _, KeyType, PrivateKey};
use kcsr_core::manifest::ApiVersion;
use kcsr_core::names::{GroupName, UserName};
use kcsr_core::rbac::Grant;
use kcsr_core::signer::SignerName;
use kcsr_core::station::{ClusterPin, RequestRecord, RequestState};
use kcsr_core::time;
use kcsr_core::usage::Usage;
use serde_json::json;

use crate::cli::RenewArgs;
use crate::cmd::verify::unix_now;
use crate::fail::{Context as _, Exit, Fail, Result};
use crate::media_dir::MediaDir;
use crate::passphrase::{self, Purpose};
use crate::plan::{self, KeySource, MediaState, Spec, Stamp};
use crate::station::{self, Station};
use crate::user_key::{self, UserKey};
use crate::{certs, media_dir, paths, policy, report, signing};

/// What every renewal of a run shares.
struct Run<'a> {
    args: &'a RenewArgs,
    station: &'a Station,
    /// When the station writes the requests (the real time, also with `--at`).
    written_at: i64,
    /// The signing key's fingerprint, for the records.
    station_key: String,
    /// The cluster for records made before any was pinned: resolved on first need.
    fallback: Option<Option<ClusterPin>>,
    passphrase: Option<&'a secrecy::SecretString>,
    existing: &'a passphrase::Source,
    /// The site's policy (decision 0010) and who runs kcsr.
    policy: Option<&'a policy::Loaded>,
    operator: kcsr_core::manifest::Operator,
}

pub(crate) fn run(mut args: RenewArgs) -> Result<()> {
    paths::check_key_dir_outside_media(&args.keys, &args.media)?;
    let now = args.at.unwrap_or_else(unix_now);
    let found = certs::collect(&args.from)?;
    if found.is_empty() {
        return Err(
            Fail::new("no certificates, bundles or kubeconfigs found in the given paths").hint(
                "pass *.crt, *.bundle.yaml or *.kubeconfig files, or the directories holding them",
            ),
        );
    }
    // A stick back from an earlier trip: this trip gets a directory of its own.
    let station = Station::new(&args.keys);
    media_dir::enter_trip(&mut args.media, unix_now(), &station)?.say(args.output.quiet);
    let records = station.records()?;
    let site_policy = policy::load(&station)?;
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
    let signer = if args.dry_run {
        None
    } else {
        Some(signing::obtain(
            &station,
            passphrase.as_ref(),
            args.passphrase_file.as_deref(),
            &existing,
            args.output.quiet,
        )?)
    };
    let mut media = if args.dry_run {
        MediaDir::open_or_empty(&args.media)?
    } else {
        MediaDir::open(&args.media, true)?
    };
    let mut run = Run {
        args: &args,
        station: &station,
        written_at: unix_now(),
        station_key: signer.as_ref().map(|k| k.fingerprint()).unwrap_or_default(),
        fallback: None,
        passphrase: passphrase.as_ref(),
        existing: &existing,
        policy: site_policy.as_ref(),
        operator: plan::operator(None),
    };
    let mut report_rows = Vec::new();
    let mut failures = Vec::new();
    let mut refused = false;
    let mut changed = false;
    for f in &found {
        let left = f.cert.not_after - now;
        let within = window(args.within, &f.cert);
        let due = left <= within;
        let expired = left <= 0;
        let record = station::newest_for_key(&records, &f.cert.public_key.fingerprint);
        // The user as the station recorded it; the certificate's own CN only to name one the
        // station has no record of.
        let user = match record {
            Some(r) => r.user.clone(),
            None => f.cert.subject.common_names.join(","),
        };
        let inactive = record.and_then(|r| inactive(r, &records)).or_else(|| {
            // The user keeps the key: only they can make the renewal's CSR.
            record.filter(|r| r.key_file == plan::EXTERNAL_CSR).map(|_| {
                "the user keeps their own key: ask them for a new CSR and run kcsr request --csr"
                    .to_owned()
            })
        });
        let mut row = json!({
            "source": f.source,
            "user": user,
            "notAfter": time::format_rfc3339(f.cert.not_after),
            "within": within,
            "due": due,
            "expired": expired,
        });
        let trust = match (&inactive, record) {
            (None, Some(r)) => Some(certs::trust(&station, f, r, unix_now())?),
            _ => None,
        };
        match &trust {
            Some(certs::Trust::Verified) => row["verified"] = json!(true),
            Some(certs::Trust::Unpinned(why)) => {
                row["verified"] = json!(false);
                row["unverified"] = json!(why);
            }
            Some(certs::Trust::Refused(why)) => {
                row["verified"] = json!(false);
                row["error"] = json!(why);
                refused = true;
                failures.push((
                    format!("{}: {why}", f.source),
                    Some("do not use this certificate; renew from the certificates, bundles or kubeconfigs kcsr assemble verified (the station's own copies), or make a new request with kcsr request".to_owned()),
                ));
            }
            None => {}
        }
        if let Some(why) = &inactive {
            row["skipped"] = json!(why);
        } else if matches!(trust, Some(certs::Trust::Refused(_))) {
            // Its expiry is not believed: neither renewed nor passed over as not due.
        } else if due {
            let result = match record {
                Some(r) => renew_one(&mut run, f, r, now, &mut media),
                None => Err(no_record(f)),
            };
            match result {
                Ok(done) => {
                    changed |= done.wrote;
                    row["request"] = json!({
                        "stem": done.stem,
                        "name": done.name,
                        "written": done.wrote,
                        "cluster": done.cluster,
                        "kubeconfig": done.kubeconfig,
                    });
                }
                Err(e) => {
                    refused |= e.exit == Exit::Refused;
                    row["error"] = json!(e.message);
                    failures.push((format!("{}: {}", f.source, e.message), e.hint));
                }
            }
        }
        if !args.output.quiet && !args.output.json {
            let when = if expired {
                format!(
                    "expired {} ({} ago)",
                    time::format_rfc3339(f.cert.not_after),
                    human_seconds(-left)
                )
            } else {
                format!(
                    "expires {}, in {}",
                    time::format_rfc3339(f.cert.not_after),
                    human_seconds(left)
                )
            };
            let state = if let Some(why) = &inactive {
                format!("not renewed: {why} ({when})")
            } else if let Some(certs::Trust::Refused(why)) = &trust {
                format!(
                    "NOT TRUSTED, not renewed: {why}; its expiry ({}) is not believed",
                    time::format_rfc3339(f.cert.not_after)
                )
            } else if !due {
                format!("not due ({when}; due within {})", human_seconds(within))
            } else if let Some(e) = row.get("error") {
                format!("FAILED: {}", e.as_str().unwrap_or_default())
            } else if args.dry_run {
                format!(
                    "{} ({when}): would request a renewal",
                    if expired { "EXPIRED" } else { "due" }
                )
            } else {
                format!(
                    "{} ({when}): request {} written; kcsr assemble --out-dir names its kubeconfig {}, replacing the older one",
                    if expired { "EXPIRED" } else { "due" },
                    row["request"]["name"].as_str().unwrap_or_default(),
                    row["request"]["kubeconfig"].as_str().unwrap_or_default()
                )
            };
            report::say(&format!(
                "kcsr renew: {:?} ({}): {state}",
                report::sanitize(&user),
                f.source
            ));
            if let Some(certs::Trust::Unpinned(why)) = &trust {
                report::say(&format!("  warning: expiry not verified: {why}"));
            }
        }
        report_rows.push(row);
    }
    if changed && let Some(key) = &signer {
        policy::sync(&mut media, site_policy.as_ref())?;
        media.save_sums(key)?;
    }
    if args.output.json {
        report::json(&json!({
            "at": time::format_rfc3339(now),
            "within": args.within.map(Expiration::seconds),
            "media": args.media.display().to_string(),
            "certificates": report_rows,
        }))?;
    }
    if failures.is_empty() {
        return Ok(());
    }
    // One hint for all when they share it, else each failure's own under it.
    let hints: BTreeSet<&String> = failures.iter().filter_map(|(_, h)| h.as_ref()).collect();
    let lines: Vec<String> = failures
        .iter()
        .map(|(m, h)| match h {
            Some(h) if hints.len() > 1 => format!("{m}\n    hint: {h}"),
            _ => m.clone(),
        })
        .collect();
    let fail = Fail::new(format!(
        "{} renewal(s) failed\n  {}",
        failures.len(),
        lines.join("\n  ")
    ))
    .hint(match hints.iter().next() {
        Some(h) if hints.len() == 1 => (*h).clone(),
        _ => "fix what each line names and run the same kcsr renew again".to_owned(),
    });
    Err(if refused { fail.refused() } else { fail })
}

/// How long before its end a certificate is due: `--within`, else the last third of its own
/// lifetime (at least a minute), so that a fresh certificate is never due.
fn window(within: Option<Expiration>, cert: &CertInfo) -> i64 {
    match within {
        Some(w) => w.seconds(),
        None => ((cert.not_after - cert.not_before) / 3).max(60),
    }
}

/// Why the user of `rec` is no longer renewed, if they are not: the request withdrawn,
/// denied or retired, or the user offboarded (the newest record of the user says so).
fn inactive(rec: &RequestRecord, records: &[RequestRecord]) -> Option<String> {
    let at = |r: &RequestRecord| {
        r.state_at
            .as_deref()
            .map(|t| format!(" on {t}"))
            .unwrap_or_default()
    };
    let time = |r: &RequestRecord| time::parse_rfc3339(&r.created).unwrap_or(i64::MIN);
    if let Some(newest) = records
        .iter()
        .filter(|r| r.user == rec.user)
        .max_by_key(|r| time(r))
        && newest.state == RequestState::Offboarded
    {
        return Some(format!("user offboarded{}", at(newest)));
    }
    (!rec.state.is_active()).then(|| format!("request {} {}{}", rec.name, rec.state, at(rec)))
}

/// A certificate whose key the station never requested a certificate for.
fn no_record(f: &certs::Found) -> Fail {
    Fail::new(format!(
        "the station has no record of a request for this certificate's key (public key sha256 {}); its subject ({}) is not taken from the media",
        f.cert.public_key.fingerprint,
        report::sanitize(&f.cert.subject.display)
    ))
    .hint("renew only certificates this station requested (with this --keys); for another, make a new request with kcsr request")
    .refused()
}

/// One renewal written (or planned).
struct Done {
    stem: String,
    name: String,
    wrote: bool,
    cluster: Option<String>,
    /// The file name `kcsr assemble --out-dir` gives its kubeconfig (the first stem's).
    kubeconfig: String,
}

/// Builds and writes the renewal of the request `rec`, whose key the certificate `f` holds.
fn renew_one(
    run: &mut Run<'_>,
    f: &certs::Found,
    rec: &RequestRecord,
    now: i64,
    media: &mut MediaDir,
) -> Result<Done> {
    let args = run.args;
    let spec_from = spec_of(rec)?;
    // The site's rules of today, before any key is read or made.
    policy::enforce(run.policy, &spec_from)?;
    let pin = cluster_of(run, rec)?;
    let stamp = Stamp::new(
        run.written_at,
        args.trip.valid_for,
        pin,
        run.station_key.clone(),
        run.operator.clone(),
    )?;
    let day = time::format_rfc3339(now)[..10].replace('-', "");
    // A renewal is a new request under a new stem even with the same key: the old stem would
    // give it the old object name, so its record would replace the original's (which the
    // original's media still needs) and the connected side would resume the old object.
    // Named after the request it renews (`alice`, or `dana-chg1234`), never after a
    // renewal's renewal: `alice-renew-20261229`, not `alice-renew-20261129-renew-…`.
    let stem = format!("{}-renew-{day}", plan::base_stem(&rec.stem));
    let (key, stem, source) = if rec.pkcs11_uri.is_some() {
        // A key in a token is renewed in place or not at all: never by a key in a file.
        let key = user_key::recorded(rec, args.reuse_key, args.pkcs11_pin_file.as_deref())?;
        (key, format!("{stem}-samekey"), KeySource::Reused)
    } else if args.reuse_key {
        let key = reuse_key(&args.keys, rec, run.existing)?;
        (
            UserKey::File(key),
            format!("{stem}-samekey"),
            KeySource::Reused,
        )
    } else {
        // The record's key is the certificate's (that is how it was found): same type.
        let key_type = match f.cert.public_key.kind {
            kcsr_core::x509::KeyKind::Rsa { bits } if bits >= 4096 => KeyType::Rsa4096,
            kcsr_core::x509::KeyKind::Rsa { bits } if bits >= 3072 => KeyType::Rsa3072,
            kcsr_core::x509::KeyKind::Rsa { .. } => KeyType::Rsa2048,
            kcsr_core::x509::KeyKind::EcdsaP384 => KeyType::P384,
            kcsr_core::x509::KeyKind::Ed25519 => KeyType::Ed25519,
            _ => KeyType::P256,
        };
        let key_path = args.keys.join(format!("{stem}.key.pem"));
        let (key, source) = plan::obtain_key(key_type, &key_path, false, run.existing)?;
        (UserKey::File(key), stem, source)
    };
    let spec = Spec {
        key_type: KeyType::for_kind(key.kind()).unwrap_or(KeyType::P256),
        stem: Some(stem.clone()),
        ..spec_from
    };
    let built = plan::build(&spec, &key, &stamp)?;
    let done = |wrote| Done {
        stem: stem.clone(),
        name: built.name.as_str().to_owned(),
        wrote,
        cluster: stamp.cluster.as_ref().map(|p| p.name.to_string()),
        kubeconfig: format!("{}{}", plan::base_stem(&stem), certs::KUBECONFIG_SUFFIX),
    };
    if args.dry_run {
        return Ok(done(false));
    }
    let key_file = match source {
        KeySource::Reused if args.reuse_key => rec.key_file.clone(),
        _ => format!("{stem}.key.pem"),
    };
    let record = |existing| {
        let mut r = plan::record(&spec, &built, &stamp, key_file.clone(), existing);
        r.pkcs11_uri.clone_from(&rec.pkcs11_uri);
        r
    };
    match plan::media_state(&media.path, &built, run.written_at)? {
        MediaState::Same(existing) => {
            run.station.ensure_record(&record(Some(&existing)))?;
            for (n, d) in existing.files {
                media.sums.insert_digest(&n, d);
            }
            return Ok(done(true));
        }
        MediaState::Different => {
            return Err(Fail::new(format!(
                "the media already holds a different request {}",
                built.manifest_file
            )));
        }
        MediaState::Absent | MediaState::Stale => {}
    }
    if source == KeySource::New
        && let Some(key) = key.file()
    {
        plan::write_key(
            key,
            &args.keys.join(format!("{stem}.key.pem")),
            run.passphrase,
            false,
        )?;
    }
    run.station.ensure_record(&record(None))?;
    let path = media.path.clone();
    plan::write_media(&path, &built, &mut media.sums)?;
    Ok(done(true))
}

/// The renewal asks for what the recorded request asked for (the key and stem aside).
fn spec_of(rec: &RequestRecord) -> Result<Spec> {
    let bad = |field: &str, e: String| {
        Fail::new(format!(
            "the station's record {} has a bad {field}: {e}",
            rec.name
        ))
        .hint("the record is damaged; make a new request with kcsr request")
    };
    let user: UserName = rec
        .user
        .parse()
        .map_err(|e: kcsr_core::names::NameError| bad("user", e.to_string()))?;
    let groups = rec
        .groups
        .iter()
        .map(|g| {
            g.parse::<GroupName>()
                .map_err(|e| bad("group", e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let signer = rec
        .signer_name
        .as_deref()
        .map(|s| {
            s.parse::<SignerName>()
                .map_err(|e| bad("signerName", e.to_string()))
        })
        .transpose()?;
    let usages = rec
        .usages
        .iter()
        .map(|u| u.parse::<Usage>().map_err(|e| bad("usage", e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    let api_version: ApiVersion = rec
        .csr_api_version
        .parse()
        .map_err(|e: String| bad("csrApiVersion", e))?;
    let grants = rec
        .grant_list()
        .iter()
        .map(|g| g.parse::<Grant>().map_err(|e| bad("grants", e)))
        .collect::<Result<Vec<_>>>()?;
    let ticket = rec
        .ticket
        .as_deref()
        .map(|t| t.parse().map_err(|e| bad("ticket", e)))
        .transpose()?;
    Ok(Spec {
        user,
        groups,
        key_type: KeyType::P256,
        signer,
        usages,
        dns: Vec::new(),
        ips: Vec::new(),
        expiration: rec.expiration_seconds.map(Expiration::from_seconds),
        api_version,
        grants,
        ticket,
        name: None,
        stem: None,
    })
}

/// The cluster of the renewal: the record's (which must still be pinned, and is the one
/// `--cluster` names if given); for a record made before any pin, `--cluster` or the only pin.
fn cluster_of(run: &mut Run<'_>, rec: &RequestRecord) -> Result<Option<ClusterPin>> {
    let asked = run.args.trip.cluster.as_ref();
    match &rec.cluster {
        Some(name) => {
            if let Some(a) = asked
                && a != name
            {
                return Err(Fail::new(format!(
                    "the certificate was requested for cluster {name:?}, not {a:?}"
                ))
                .hint(format!("renew it for {name} (drop --cluster), or make a new request with kcsr request --cluster {a}"))
                .refused());
            }
            run.station.pin(name)?.map(Some).ok_or_else(|| {
                Fail::new(format!(
                    "the certificate was requested for cluster {name:?}, which is no longer pinned"
                ))
                .hint(format!(
                    "pin it again with kcsr cluster add {name} --keys KEY_DIR …"
                ))
                .refused()
            })
        }
        None => {
            if run.fallback.is_none() {
                run.fallback = Some(run.station.target(asked)?);
            }
            Ok(run.fallback.clone().flatten())
        }
    }
}

/// The key of the record: its `keyFile`, else (moved or renamed) the key among the key
/// directory's own `*.key.pem` files with the recorded public key.
fn reuse_key(
    keys: &Path,
    rec: &RequestRecord,
    passphrase: &passphrase::Source,
) -> Result<PrivateKey> {
    let path = if Path::new(&rec.key_file).is_absolute() {
        PathBuf::from(&rec.key_file)
    } else {
        keys.join(&rec.key_file)
    };
    if std::fs::symlink_metadata(&path).is_ok() {
        let key = plan::read_key(&path, passphrase)?;
        if key.public_key().fingerprint == rec.public_key_sha256 {
            return Ok(key);
        }
    }
    find_key(keys, &rec.public_key_sha256, passphrase)
}

/// The key in `dir` whose public key has `fingerprint`. Only regular `*.key.pem` files at the
/// top level are read: never the station's files (`station/`).
fn find_key(dir: &Path, fingerprint: &str, passphrase: &passphrase::Source) -> Result<PrivateKey> {
    let entries = std::fs::read_dir(dir)
        .context(|| format!("failed to list key directory {}", dir.display()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".key.pem") || !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        // A key that cannot be read (another passphrase, damaged) is not the one sought.
        if let Ok(k) = plan::read_key(&e.path(), passphrase)
            && k.public_key().fingerprint == fingerprint
        {
            return Ok(k);
        }
    }
    Err(Fail::new(format!("no key in {} has the certificate's public key (sha256 {fingerprint})", dir.display()))
        .hint("renew without --reuse-key to make a new key, or pass --passphrase-file if the keys are encrypted"))
}

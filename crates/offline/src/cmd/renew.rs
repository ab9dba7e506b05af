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

use kcsr_core::expiry::Expiration;
use kcsr_core::key::{CsrSigner as _, KeyType};
use kcsr_core::station::{ClusterPin, RequestRecord};
use kcsr_core::time;
use serde_json::json;

use crate::cli::RenewArgs;
use crate::cmd::verify::unix_now;
use crate::fail::{Exit, Fail, Result};
use crate::media_dir::MediaDir;
use crate::passphrase::{self, Purpose};
use crate::plan::{self, KeySource, MediaState, Spec, Stamp};
use crate::station::Station;
use crate::user_key::{self, UserKey};
use crate::{certs, media_dir, paths, policy, report, signing};

use due::{Judged, judge};

mod due;
mod recorded;

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
    let mut tally = Tally::default();
    for f in &found {
        let judged = judge(&station, f, &records, now, args.within)?;
        run.renew_if_due(&judged, now, &mut media, &mut tally);
    }
    if tally.changed
        && let Some(key) = &signer
    {
        policy::sync(&mut media, site_policy.as_ref())?;
        media.save_sums(key)?;
    }
    if args.output.json {
        report::json(&json!({
            "at": time::format_rfc3339(now),
            "within": args.within.map(Expiration::seconds),
            "media": args.media.display().to_string(),
            "certificates": tally.rows,
        }))?;
    }
    match tally.failed() {
        Some(fail) => Err(fail),
        None => Ok(()),
    }
}

/// What the certificates of a run came to.
#[derive(Default)]
struct Tally {
    /// One JSON row per certificate.
    rows: Vec<serde_json::Value>,
    /// Each failure with its hint.
    failures: Vec<(String, Option<String>)>,
    /// Whether any failure is a refusal (exit 3).
    refused: bool,
    /// Whether a renewal was written.
    changed: bool,
}

impl Tally {
    /// The run's error, if any renewal failed: one hint for all when they share it, else
    /// each failure's own under it.
    fn failed(&self) -> Option<Fail> {
        let failures = &self.failures;
        if failures.is_empty() {
            return None;
        }
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
        Some(if self.refused { fail.refused() } else { fail })
    }
}

impl Run<'_> {
    /// Renews the judged certificate if it is due and may be, and reports it.
    fn renew_if_due(&mut self, j: &Judged<'_>, now: i64, media: &mut MediaDir, tally: &mut Tally) {
        let f = j.f;
        let mut row = json!({
            "source": f.source,
            "user": j.user,
            "notAfter": time::format_rfc3339(f.cert.not_after),
            "within": j.within,
            "due": j.due,
            "expired": j.expired,
        });
        match &j.trust {
            Some(certs::Trust::Verified) => row["verified"] = json!(true),
            Some(certs::Trust::Unpinned(why)) => {
                row["verified"] = json!(false);
                row["unverified"] = json!(why);
            }
            Some(certs::Trust::Refused(why)) => {
                row["verified"] = json!(false);
                row["error"] = json!(why);
                tally.refused = true;
                tally.failures.push((
                    format!("{}: {why}", f.source),
                    Some("do not use this certificate; renew from the certificates, bundles or kubeconfigs kcsr assemble verified (the station's own copies), or make a new request with kcsr request".to_owned()),
                ));
            }
            None => {}
        }
        if let Some(why) = &j.inactive {
            row["skipped"] = json!(why);
        } else if matches!(j.trust, Some(certs::Trust::Refused(_))) {
            // Its expiry is not believed: neither renewed nor passed over as not due.
        } else if j.due {
            let result = match j.record {
                Some(r) => renew_one(self, f, r, now, media),
                None => Err(no_record(f)),
            };
            match result {
                Ok(done) => {
                    tally.changed |= done.wrote;
                    row["request"] = json!({
                        "stem": done.stem,
                        "name": done.name,
                        "written": done.wrote,
                        "cluster": done.cluster,
                        "kubeconfig": done.kubeconfig,
                    });
                }
                Err(e) => {
                    tally.refused |= e.exit == Exit::Refused;
                    row["error"] = json!(e.message);
                    tally
                        .failures
                        .push((format!("{}: {}", f.source, e.message), e.hint));
                }
            }
        }
        if !self.args.output.quiet && !self.args.output.json {
            j.say(self.args.dry_run, &row);
        }
        tally.rows.push(row);
    }
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
    let spec_from = recorded::spec_of(rec)?;
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
    let (key, stem, source) = renewal_key(run, f, rec, now)?;
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

/// The renewal's key, its stem and where the key comes from: the token's key in place, the
/// recorded key with `--reuse-key` (stem `…-samekey`), else a new key of the same type.
fn renewal_key(
    run: &Run<'_>,
    f: &certs::Found,
    rec: &RequestRecord,
    now: i64,
) -> Result<(UserKey, String, KeySource)> {
    let args = run.args;
    let day = time::format_rfc3339(now)[..10].replace('-', "");
    // A renewal is a new request under a new stem even with the same key: the old stem would
    // give it the old object name, so its record would replace the original's (which the
    // original's media still needs) and the connected side would resume the old object.
    // Named after the request it renews (`alice`, or `dana-chg1234`), never after a
    // renewal's renewal: `alice-renew-20261229`, not `alice-renew-20261129-renew-…`.
    let stem = format!("{}-renew-{day}", plan::base_stem(&rec.stem));
    if rec.pkcs11_uri.is_some() {
        // A key in a token is renewed in place or not at all: never by a key in a file.
        let key = user_key::recorded(rec, args.reuse_key, args.pkcs11_pin_file.as_deref())?;
        Ok((key, format!("{stem}-samekey"), KeySource::Reused))
    } else if args.reuse_key {
        let key = recorded::reuse_key(&args.keys, rec, run.existing)?;
        Ok((
            UserKey::File(key),
            format!("{stem}-samekey"),
            KeySource::Reused,
        ))
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
        Ok((UserKey::File(key), stem, source))
    }
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

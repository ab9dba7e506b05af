//! `kcsr request`: key, CSR, checks, CSR manifest (and binding) onto the media.
//!
//! Order of work: everything is built and checked in memory first; nothing is written when a
//! check fails. Then the key (create-new, 0600, fsynced), then the station's record of the
//! request, then the media files, then `SHA256SUMS`. A run interrupted after the key was
//! written resumes with that key.

use std::path::{Path, PathBuf};

use kcsr_core::checks::Finding;
use kcsr_core::csr::{self, CsrInfo};
use kcsr_core::expiry::Expiration;
use kcsr_core::key::{CsrSigner as _, KeyType};
use kcsr_core::media::SUMS_SIGNATURE_FILE;
use kcsr_core::names::ObjectName;
use kcsr_core::signer::SignerName;
use kcsr_core::station::RequestRecord;
use kcsr_core::sums;
use serde_json::json;

use crate::cli::RequestArgs;
use crate::cmd::verify::unix_now;
use crate::fail::{Fail, Result};
use crate::media_dir::MediaDir;
use crate::passphrase::{self, Purpose};
use crate::plan::{self, Existing, KeySource, MediaState, Spec, Stamp};
use crate::station::Station;
use crate::user_key::{self, TokenSummary, UserKey};
use crate::{media_dir, paths, policy, report, signing};

pub(crate) fn run(mut args: RequestArgs) -> Result<()> {
    // The user's own CSR, read and parsed first: its key type is the request's.
    let user_csr = args.csr.as_deref().map(read_csr).transpose()?;
    let spec = Spec {
        user: args.user.clone(),
        groups: args.groups.clone(),
        key_type: user_csr
            .as_ref()
            .and_then(|c| KeyType::for_kind(&c.public_key.kind))
            .unwrap_or(args.key_type),
        signer: plan::signer(&args.signer, args.no_signer, args.api_version)?,
        usages: args.usages.clone(),
        dns: args.dns.clone(),
        ips: args.ips.clone(),
        expiration: args.expiration,
        api_version: args.api_version,
        grants: plan::grants(&args.clusterroles, &args.roles, args.namespace.as_deref())?,
        ticket: args.who.ticket.clone(),
        name: args.name.clone(),
        stem: None,
    };
    let key_dir = args.keys.clone();
    if let Some(key) = &args.key
        && paths::resolve(key).starts_with(paths::resolve(&args.media))
    {
        return Err(Fail::new(format!(
            "the key {} is on the media {}; private keys must never travel",
            key.display(),
            args.media.display()
        ))
        .hint("move the key off the media and delete it there"));
    }

    paths::check_key_dir_outside_media(&key_dir, &args.media)?;
    let station = Station::new(&key_dir);
    // The site's rules first: a request they refuse is not worth a key.
    let site_policy = policy::load(&station)?;
    policy::enforce(site_policy.as_ref(), &spec)?;
    let now = unix_now();
    // A stick back from an earlier trip: this trip gets a directory of its own.
    let trip = media_dir::enter_trip(&mut args.media, now, &station)?;

    // The key: given, left from an earlier run, new, or (with --csr) none here at all.
    let passphrases = passphrase::Source::new(args.passphrase_file.as_deref());
    // Where kcsr keeps a key it generates; none with --key (used in place, never copied),
    // --csr (the user keeps it) or --pkcs11 (a token key stays in the token).
    let key_path = (args.key.is_none() && user_csr.is_none() && args.pkcs11.is_none())
        .then(|| key_dir.join(format!("{}.key.pem", spec.stem())));
    let mut token = None;
    let (key, source) = match (&user_csr, &args.pkcs11, &args.key, &key_path) {
        (Some(_), _, _, _) => (None, KeySource::Csr),
        (None, Some(uri), _, _) => {
            let (key, source, summary) = user_key::for_request(
                uri,
                spec.key_type,
                args.dry_run,
                &user_key::Pins::default(),
                |preview| {
                    plan::precheck(&spec, preview)?;
                    plan::refuse_other_request(&args.media, &spec, args.force)
                },
            )?;
            token = Some(summary);
            (Some(key), source)
        }
        (None, None, Some(path), _) => (
            Some(UserKey::File(plan::read_key(path, &passphrases)?)),
            KeySource::External,
        ),
        (None, None, None, Some(kp)) => {
            let (key, source) = plan::obtain_key(spec.key_type, kp, args.force, &passphrases)?;
            (Some(UserKey::File(key)), source)
        }
        (None, None, None, None) => {
            return Err(Fail::new("--key FILE or a key directory is needed"));
        }
    };
    let mut stamp = Stamp::new(
        now,
        args.trip.valid_for,
        station.target(args.trip.cluster.as_ref())?,
        String::new(),
        plan::operator(args.who.operator.as_ref()),
    )?;
    let passphrase = if args.encrypt_key && source == KeySource::New {
        let what = key_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Some(passphrase::obtain(
            args.passphrase_file.as_deref(),
            Purpose::NewKey,
            &format!("the new key {what}"),
        )?)
    } else {
        None
    };

    let built = match (&key, user_csr) {
        (Some(k), _) => plan::build(&spec, k, &stamp)?,
        (None, Some(csr)) => plan::build_from_csr(&spec, csr, &stamp)?,
        (None, None) => return Err(Fail::new("a key or a CSR is needed")),
    };
    let state = plan::media_state(&args.media, &built, now)?;
    if state == MediaState::Different && !args.force {
        return Err(Fail::new(format!(
            "the media already holds a different request for user {:?} ({})",
            report::sanitize(args.user.as_str()),
            args.media.join(&built.manifest_file).display()
        ))
        .hint("pass --force to replace it, or --name NAME to add a second request"));
    }
    let mut unchanged = false;
    let mut written: Vec<(String, PathBuf)> = Vec::new();
    // Without writing: the fingerprint of the key that will sign (none yet in a dry run of a
    // first use); a real run sets the key's once it is loaded or made.
    stamp.station = signing::public_key(&station)?
        .map(|p| p.fingerprint())
        .unwrap_or_default();
    let key_file = if source == KeySource::Csr {
        plan::EXTERNAL_CSR.to_owned()
    } else {
        plan::key_file(
            &key_dir,
            args.key
                .as_deref()
                .or(key_path.as_deref())
                .unwrap_or(&key_dir),
        )
    };
    let existing = match &state {
        MediaState::Same(e) if source != KeySource::New => Some(e),
        _ => None,
    };
    let mut record = plan::record(&spec, &built, &stamp, key_file, existing);
    trip.say(args.output.quiet);
    if let Some(t) = &token {
        t.stamp(&mut record);
    }
    if !args.dry_run {
        if source == KeySource::New
            && let Some(kp) = &key_path
            && let Some(file) = key.as_ref().and_then(UserKey::file)
        {
            written.push((
                "key".to_owned(),
                plan::write_key(file, kp, passphrase.as_ref(), args.force)?,
            ));
        }
        // Every check passed and the key is safe: the station's key (made now on first use)
        // will sign the media.
        let signer = signing::obtain(
            &station,
            passphrase.as_ref(),
            args.passphrase_file.as_deref(),
            &passphrases,
            args.output.quiet,
        )?;
        record.station = signer.fingerprint();
        // The record before the media: a request on the media always has its record.
        let (record_path, wrote) = station.ensure_record(&record)?;
        if wrote {
            written.push(("record".to_owned(), record_path));
        }
        let mut media = MediaDir::open(&args.media, true)?;
        let policy_changed = policy::sync(&mut media, site_policy.as_ref())?;
        if let Some(p) = &policy_changed {
            written.push(("policy".to_owned(), p.clone()));
        }
        let save = |media: &MediaDir, written: &mut Vec<(String, PathBuf)>| -> Result<()> {
            let [sums, sig] = media.save_sums(&signer)?;
            written.push(("checksums".to_owned(), sums));
            written.push(("signature".to_owned(), sig));
            Ok(())
        };
        match state {
            MediaState::Same(Existing { files, .. }) if source != KeySource::New => {
                // Already on the media; make sure SHA256SUMS lists it and the station's
                // signature covers it (an interrupted run may have written the manifest but
                // not the checksums, or the checksums but not the signature).
                let listed = files.iter().all(|(n, d)| media.sums.get(n) == Some(d));
                if listed && policy_changed.is_none() && media.is_signed_by(&signer) {
                    unchanged = true;
                } else {
                    for (n, digest) in files {
                        media.sums.insert_digest(&n, digest);
                    }
                    save(&media, &mut written)?;
                }
            }
            _ => {
                for p in plan::write_media(&media.path, &built, &mut media.sums)? {
                    let kind = if p.ends_with(&built.manifest_file) {
                        "manifest"
                    } else {
                        "binding"
                    };
                    written.push((kind.to_owned(), p));
                }
                save(&media, &mut written)?;
            }
        }
    }

    summarize(&Summary {
        args: &args,
        name: &built.name,
        signer: spec.signer.as_ref(),
        usages: &built.usages.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        expiration: built.expiration,
        csr: &built.csr,
        key: key.as_ref(),
        key_path: args
            .key
            .as_deref()
            .or(key_path.as_deref())
            .or(args.csr.as_deref()),
        source,
        encrypted: passphrase.is_some() || key.as_ref().is_some_and(UserKey::encrypted),
        token: token.as_ref(),
        manifest_file: &args.media.join(&built.manifest_file),
        binding_file: built
            .binding_yaml
            .as_ref()
            .map(|_| args.media.join(&built.binding_file)),
        manifest_yaml: &built.manifest_yaml,
        binding_yaml: built.binding_yaml.as_deref(),
        findings: &built.findings,
        unchanged,
        written: &written,
        record: &record,
        record_path: &station.record_path(&record.name),
    })
}

struct Summary<'a> {
    args: &'a RequestArgs,
    name: &'a ObjectName,
    signer: Option<&'a SignerName>,
    usages: &'a [&'a str],
    expiration: Option<Expiration>,
    csr: &'a CsrInfo,
    /// `None` for a request from the user's own CSR.
    key: Option<&'a UserKey>,
    key_path: Option<&'a Path>,
    source: KeySource,
    encrypted: bool,
    token: Option<&'a TokenSummary>,
    manifest_file: &'a Path,
    binding_file: Option<PathBuf>,
    manifest_yaml: &'a str,
    binding_yaml: Option<&'a str>,
    findings: &'a [Finding],
    unchanged: bool,
    written: &'a [(String, PathBuf)],
    record: &'a RequestRecord,
    record_path: &'a Path,
}

fn summarize(s: &Summary<'_>) -> Result<()> {
    let status = if s.args.dry_run {
        "dry-run"
    } else if s.unchanged {
        "unchanged"
    } else {
        "written"
    };
    let key_source = match s.source {
        KeySource::New => "new",
        KeySource::Reused => "reused",
        KeySource::External => "external",
        KeySource::Csr => plan::EXTERNAL_CSR,
    };
    if s.args.output.json {
        let value = json!({
            "status": status,
            "user": s.args.user.as_str(),
            "groups": s.args.groups.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            "name": s.name.as_str(),
            "apiVersion": s.args.api_version.api_version(),
            "signerName": s.signer.map(SignerName::as_str),
            "usages": s.usages,
            "expirationSeconds": s.expiration.map(Expiration::seconds),
            "key": {
                "path": s.key_path.filter(|_| s.key.is_some()).map(|p| p.display().to_string()),
                "type": s.csr.public_key.kind.to_string(),
                "source": key_source,
                "encrypted": s.key.map(|_| s.encrypted),
            },
            "csr": s.key_path.filter(|_| s.key.is_none()).map(|p| p.display().to_string()),
            "publicKeySha256": s.csr.public_key.fingerprint,
            "grants": s.record.grant_list(),
            "ticket": s.record.ticket,
            "operator": s.record.operator,
            "manifest": s.manifest_file.display().to_string(),
            "binding": s.binding_file.as_ref().map(|p| p.display().to_string()),
            "checksums": s.args.media.join(sums::FILE_NAME).display().to_string(),
            "signature": s.args.media.join(SUMS_SIGNATURE_FILE).display().to_string(),
            "station": s.record.station,
            "cluster": s.record.cluster.as_ref().map(|c| c.as_str()),
            "clusterCaSha256": s.record.cluster_ca_sha256,
            "created": s.record.created,
            "notAfter": s.record.not_after,
            "record": s.record_path.display().to_string(),
            "findings": s.findings,
            "written": s.written.iter().map(|(k, p)| json!({"kind": k, "path": p.display().to_string()})).collect::<Vec<_>>(),
        });
        let mut value = value;
        if let Some(t) = s.token {
            value["key"]["pkcs11"] = json!({
                "uri": t.uri,
                "token": t.token,
                "object": t.object,
                "extractable": t.attributes.map(|a| a.extractable),
                "sensitive": t.attributes.map(|a| a.sensitive),
            });
        }
        report::json(&value)?;
    }
    if s.args.dry_run && !s.args.output.json {
        report::data(&format!(
            "# {} (not written)\n{}",
            s.manifest_file.display(),
            s.manifest_yaml
        ))?;
        if let (Some(p), Some(b)) = (&s.binding_file, s.binding_yaml) {
            report::data(&format!("---\n# {} (not written)\n{b}", p.display()))?;
        }
    }
    if s.args.output.quiet {
        return Ok(());
    }
    let groups = if s.args.groups.is_empty() {
        "no groups".to_owned()
    } else {
        format!(
            "groups: {}",
            s.args
                .groups
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let user = report::sanitize(s.args.user.as_str());
    let headline = match status {
        "dry-run" => format!("kcsr: dry run for user {user:?} ({groups}); nothing was written"),
        "unchanged" => format!(
            "kcsr: the request for user {user:?} ({groups}) is already on the media; nothing changed"
        ),
        _ => format!("kcsr: request for user {user:?} ({groups}) written"),
    };
    report::say(&headline);
    match (s.key_path, s.key) {
        (Some(kp), Some(key)) => {
            let how = match s.source {
                KeySource::New if s.args.dry_run => "would be generated",
                KeySource::New => "new",
                KeySource::Reused => "reused from an earlier run; --force makes a new one",
                KeySource::External | KeySource::Csr => "given with --key, not copied",
            };
            report::say(&format!(
                "  key        {}  ({}, {}{}, {how})",
                kp.display(),
                key.kind(),
                if s.encrypted {
                    "encrypted PKCS#8"
                } else {
                    key.file().map_or("PKCS#8", |k| k.format().describe())
                },
                if s.source == KeySource::External {
                    ""
                } else {
                    ", 0600"
                }
            ));
        }
        (Some(csr), None) => report::say(&format!(
            "  csr        {}  ({}; the user's own: the key is theirs and never here)",
            csr.display(),
            s.csr.public_key.kind
        )),
        _ => {}
    }
    if let (Some(t), Some(key)) = (s.token, s.key) {
        report::say(&token_line(t, key, s.source, s.args.dry_run));
    }
    report::say(&format!(
        "  manifest   {}  (CertificateSigningRequest {}, {}, {}{})",
        s.manifest_file.display(),
        s.name,
        s.args.api_version,
        s.signer
            .map(SignerName::as_str)
            .unwrap_or("signer chosen by the server"),
        s.expiration.map(|e| format!(", {e}")).unwrap_or_default()
    ));
    if let Some(p) = &s.binding_file {
        report::say(&format!(
            "  binding    {}  ({})",
            p.display(),
            s.record.grant_list().join(", ")
        ));
    }
    if let Some(t) = &s.record.ticket {
        report::say(&format!("  ticket     {}", report::sanitize(t)));
    }
    if let Some(o) = &s.record.operator {
        report::say(&format!("  operator   {}", report::sanitize(o)));
    }
    report::say(&format!(
        "  checksums  {}",
        s.args.media.join(sums::FILE_NAME).display()
    ));
    if status != "dry-run" {
        report::say(&format!(
            "  signature  {}  (station key {})",
            s.args.media.join(SUMS_SIGNATURE_FILE).display(),
            s.record.station
        ));
    }
    if let Some(cluster) = &s.record.cluster {
        report::say(&format!(
            "  cluster    {cluster}  (server CA {})",
            s.record.cluster_ca_sha256.join(", ")
        ));
    }
    report::say(&format!(
        "  record     {}  (accepted until {})",
        s.record_path.display(),
        s.record.not_after
    ));
    report::say(&format!(
        "  public key sha256 {}",
        s.csr.public_key.fingerprint
    ));
    if !s.findings.is_empty() {
        report::say(report::findings(s.findings, "  ").trim_end());
    }
    if status != "dry-run" {
        report::say(&next_steps(&s.args.media));
    }
    Ok(())
}

/// What happens to the media next, with separation of duties: the submitter creates the
/// requests, another person approves them; never the submitter's own approval.
pub(crate) fn next_steps(media: &Path) -> String {
    let m = media.display();
    format!(
        "next: carry {m} to the connected machine; the submitter runs kcsr-submit apply {m}, then the approver (another person) runs kcsr-submit approve {m}; then kcsr-submit fetch {m} --wait 10m brings the certificates back for kcsr assemble"
    )
}

/// The user's own CSR, PEM or DER.
fn read_csr(path: &Path) -> Result<CsrInfo> {
    let data = kcsr_fs::read_limited(path, kcsr_core::media::MAX_MEDIA_FILE_BYTES)
        .map_err(|e| Fail::new(format!("failed to read CSR {}: {e}", path.display())))?;
    csr::parse(&data).map_err(|e| {
        Fail::new(format!("{}: {e}", path.display())).hint(
            "pass the PKCS#10 CSR (PEM or DER) the user made, e.g. openssl req -new -key KEY -subj \"/CN=USER/O=GROUP\" -out USER.csr",
        )
    })
}

/// The report line of a key in a token: where it is and what protects it.
fn token_line(t: &TokenSummary, key: &UserKey, source: KeySource, dry_run: bool) -> String {
    let how = match source {
        KeySource::New if dry_run => "would be generated in the token",
        KeySource::New => "generated in the token",
        _ => "already in the token",
    };
    let protection = match t.attributes {
        Some(a) if a.can_leave() => "EXTRACTABLE: its private key can leave the token",
        Some(a) if a.generated_inside => "non-extractable, sensitive, never left the token",
        Some(_) => "non-extractable, sensitive",
        None => "non-extractable, sensitive",
    };
    format!(
        "  key        in token {:?} as {:?}  ({}, {protection}, {how})\n             {}",
        t.token,
        t.object,
        key.kind(),
        t.uri
    )
}

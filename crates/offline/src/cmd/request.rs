//! `kcsr request`: key, CSR, checks, CSR manifest (and binding) onto the media.
//!
//! Order of work: everything is built and checked in memory first; nothing is written when a
//! check fails. Then the key (create-new, 0600, fsynced), then the station's record of the
//! request, then the media files, then `SHA256SUMS`. A run interrupted after the key was
//! written resumes with that key.

use std::path::{Path, PathBuf};

use kcsr_core::csr::{self, CsrInfo};
use kcsr_core::key::KeyType;
use kcsr_core::station::RequestRecord;
use secrecy::SecretString;

use crate::cli::RequestArgs;
use crate::cmd::verify::unix_now;
use crate::fail::{Fail, Result};
use crate::media_dir::MediaDir;
use crate::passphrase::{self, Purpose};
use crate::plan::{self, Built, Existing, KeySource, MediaState, Spec, Stamp};
use crate::signing::SigningKey;
use crate::station::Station;
use crate::user_key::{self, TokenSummary, UserKey};
use crate::{media_dir, paths, policy, report, signing};
use summary::Summary;
pub(crate) use summary::next_steps;

mod summary;

pub(crate) fn run(mut args: RequestArgs) -> Result<()> {
    // The user's own CSR, read and parsed first: its key type is the request's.
    let user_csr = args.csr.as_deref().map(read_csr).transpose()?;
    let spec = spec_of(&args, user_csr.as_ref())?;
    let key_dir = args.keys.clone();
    refuse_key_on_media(&args)?;

    paths::check_key_dir_outside_media(&key_dir, &args.media)?;
    let station = Station::new(&key_dir);
    // The site's rules first: a request they refuse is not worth a key.
    let site_policy = policy::load(&station)?;
    policy::enforce(site_policy.as_ref(), &spec)?;
    let now = unix_now();
    let trip = media_dir::enter_trip(&mut args.media, now, &station)?;

    let passphrases = passphrase::Source::new(args.passphrase_file.as_deref());
    let key = obtain_key(&args, &spec, user_csr.is_some(), &key_dir, &passphrases)?;
    let mut stamp = Stamp::new(
        now,
        args.trip.valid_for,
        station.target(args.trip.cluster.as_ref())?,
        String::new(),
        plan::operator(args.who.operator.as_ref()),
    )?;
    let passphrase = new_key_passphrase(&args, &key)?;

    let built = match (&key.key, user_csr) {
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
    // Without writing: the fingerprint of the key that will sign (none yet in a dry run of a
    // first use); a real run sets the key's once it is loaded or made.
    stamp.station = signing::public_key(&station)?
        .map(|p| p.fingerprint())
        .unwrap_or_default();
    let key_file = key.record_name(&args, &key_dir);
    let existing = match &state {
        MediaState::Same(e) if key.source != KeySource::New => Some(e),
        _ => None,
    };
    let mut record = plan::record(&spec, &built, &stamp, key_file, existing);
    trip.say(args.output.quiet);
    if let Some(t) = &key.token {
        t.stamp(&mut record);
    }
    let made = Made {
        key,
        passphrase,
        built,
    };
    let (unchanged, written) = if args.dry_run {
        (false, Vec::new())
    } else {
        let write = Write {
            args: &args,
            station: &station,
            site_policy: site_policy.as_ref(),
            passphrases: &passphrases,
            made: &made,
        };
        write.run(state, &mut record)?
    };
    summary::summarize(&summary(
        &args, &spec, &made, unchanged, &written, &record, &station,
    ))
}

/// The report of the run.
fn summary<'a>(
    args: &'a RequestArgs,
    spec: &'a Spec,
    made: &'a Made,
    unchanged: bool,
    written: &'a [(String, PathBuf)],
    record: &'a RequestRecord,
    station: &Station,
) -> Summary<'a> {
    let (built, key) = (&made.built, &made.key);
    Summary {
        args,
        name: &built.name,
        signer: spec.signer.as_ref(),
        usages: built.usages.iter().map(|u| u.as_str()).collect(),
        expiration: built.expiration,
        csr: &built.csr,
        key: key.key.as_ref(),
        key_path: args
            .key
            .as_deref()
            .or(key.path.as_deref())
            .or(args.csr.as_deref()),
        source: key.source,
        encrypted: made.passphrase.is_some() || key.key.as_ref().is_some_and(UserKey::encrypted),
        token: key.token.as_ref(),
        manifest_file: args.media.join(&built.manifest_file),
        binding_file: built
            .binding_yaml
            .as_ref()
            .map(|_| args.media.join(&built.binding_file)),
        manifest_yaml: &built.manifest_yaml,
        binding_yaml: built.binding_yaml.as_deref(),
        findings: &built.findings,
        unchanged,
        written,
        record,
        record_path: station.record_path(&record.name),
    }
}

/// What the request asks for: the arguments, with the key type of the user's own CSR.
fn spec_of(args: &RequestArgs, user_csr: Option<&CsrInfo>) -> Result<Spec> {
    Ok(Spec {
        user: args.user.clone(),
        groups: args.groups.clone(),
        key_type: user_csr
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
    })
}

/// A `--key` on the media is refused before anything else: private keys never travel.
fn refuse_key_on_media(args: &RequestArgs) -> Result<()> {
    match &args.key {
        Some(key) if paths::resolve(key).starts_with(paths::resolve(&args.media)) => {
            Err(Fail::new(format!(
                "the key {} is on the media {}; private keys must never travel",
                key.display(),
                args.media.display()
            ))
            .hint("move the key off the media and delete it there"))
        }
        _ => Ok(()),
    }
}

/// The request's key and where it comes from.
struct Key {
    /// `None` for a request from the user's own CSR.
    key: Option<UserKey>,
    source: KeySource,
    /// The token holding the key (`--pkcs11`).
    token: Option<TokenSummary>,
    /// Where kcsr keeps a key it generates; none with --key (used in place, never copied),
    /// --csr (the user keeps it) or --pkcs11 (a token key stays in the token).
    path: Option<PathBuf>,
}

impl Key {
    /// The record's `keyFile`.
    fn record_name(&self, args: &RequestArgs, key_dir: &Path) -> String {
        if self.source == KeySource::Csr {
            plan::EXTERNAL_CSR.to_owned()
        } else {
            plan::key_file(
                key_dir,
                args.key
                    .as_deref()
                    .or(self.path.as_deref())
                    .unwrap_or(key_dir),
            )
        }
    }
}

/// The key: given, left from an earlier run, new, or (with --csr) none here at all.
fn obtain_key(
    args: &RequestArgs,
    spec: &Spec,
    user_csr: bool,
    key_dir: &Path,
    passphrases: &passphrase::Source,
) -> Result<Key> {
    let key_path = (args.key.is_none() && !user_csr && args.pkcs11.is_none())
        .then(|| key_dir.join(format!("{}.key.pem", spec.stem())));
    let mut token = None;
    let (key, source) = match (user_csr, &args.pkcs11, &args.key, &key_path) {
        (true, _, _, _) => (None, KeySource::Csr),
        (false, Some(uri), _, _) => {
            let (key, source, summary) = user_key::for_request(
                uri,
                spec.key_type,
                args.dry_run,
                &user_key::Pins::default(),
                |preview| {
                    plan::precheck(spec, preview)?;
                    plan::refuse_other_request(&args.media, spec, args.force)
                },
            )?;
            token = Some(summary);
            (Some(key), source)
        }
        (false, None, Some(path), _) => (
            Some(UserKey::File(plan::read_key(path, passphrases)?)),
            KeySource::External,
        ),
        (false, None, None, Some(kp)) => {
            let (key, source) = plan::obtain_key(spec.key_type, kp, args.force, passphrases)?;
            (Some(UserKey::File(key)), source)
        }
        (false, None, None, None) => {
            return Err(Fail::new("--key FILE or a key directory is needed"));
        }
    };
    Ok(Key {
        key,
        source,
        token,
        path: key_path,
    })
}

/// The passphrase of a new key with `--encrypt-key`.
fn new_key_passphrase(args: &RequestArgs, key: &Key) -> Result<Option<SecretString>> {
    if !(args.encrypt_key && key.source == KeySource::New) {
        return Ok(None);
    }
    let what = key
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Ok(Some(passphrase::obtain(
        args.passphrase_file.as_deref(),
        Purpose::NewKey,
        &format!("the new key {what}"),
    )?))
}

/// What the run made in memory, before anything is written.
struct Made {
    key: Key,
    /// The new key's passphrase (`--encrypt-key`).
    passphrase: Option<SecretString>,
    built: Built,
}

/// What was written, by kind, in order.
type Written = Vec<(String, PathBuf)>;

/// Every check passed: the writes, in their order (key, record, media, sums).
struct Write<'a> {
    args: &'a RequestArgs,
    station: &'a Station,
    site_policy: Option<&'a policy::Loaded>,
    passphrases: &'a passphrase::Source,
    made: &'a Made,
}

impl Write<'_> {
    /// Writes the request; whether it was on the media already, and what was written.
    fn run(&self, state: MediaState, record: &mut RequestRecord) -> Result<(bool, Written)> {
        let (args, made) = (self.args, self.made);
        let mut written = Written::new();
        if made.key.source == KeySource::New
            && let Some(kp) = &made.key.path
            && let Some(file) = made.key.key.as_ref().and_then(UserKey::file)
        {
            written.push((
                "key".to_owned(),
                plan::write_key(file, kp, made.passphrase.as_ref(), args.force)?,
            ));
        }
        // Every check passed and the key is safe: the station's key (made now on first use)
        // will sign the media.
        let signer = signing::obtain(
            self.station,
            made.passphrase.as_ref(),
            args.passphrase_file.as_deref(),
            self.passphrases,
            args.output.quiet,
        )?;
        record.station = signer.fingerprint();
        // The record before the media: a request on the media always has its record.
        let (record_path, wrote) = self.station.ensure_record(record)?;
        if wrote {
            written.push(("record".to_owned(), record_path));
        }
        let mut media = MediaDir::open(&args.media, true)?;
        let policy_changed = policy::sync(&mut media, self.site_policy)?;
        if let Some(p) = &policy_changed {
            written.push(("policy".to_owned(), p.clone()));
        }
        let unchanged = self.media_files(
            &mut media,
            state,
            &signer,
            policy_changed.is_none(),
            &mut written,
        )?;
        Ok((unchanged, written))
    }

    /// The manifest and binding, then the signed `SHA256SUMS`; whether all was there already.
    fn media_files(
        &self,
        media: &mut MediaDir,
        state: MediaState,
        signer: &SigningKey,
        policy_same: bool,
        written: &mut Written,
    ) -> Result<bool> {
        let built = &self.made.built;
        let save = |media: &MediaDir, written: &mut Written| -> Result<()> {
            let [sums, sig] = media.save_sums(signer)?;
            written.push(("checksums".to_owned(), sums));
            written.push(("signature".to_owned(), sig));
            Ok(())
        };
        match state {
            MediaState::Same(Existing { files, .. }) if self.made.key.source != KeySource::New => {
                // Already on the media; make sure SHA256SUMS lists it and the station's
                // signature covers it (an interrupted run may have written the manifest but
                // not the checksums, or the checksums but not the signature).
                let listed = files.iter().all(|(n, d)| media.sums.get(n) == Some(d));
                if listed && policy_same && media.is_signed_by(signer.public()) {
                    return Ok(true);
                }
                for (n, digest) in files {
                    media.sums.insert_digest(&n, digest);
                }
                save(media, written)?;
            }
            _ => {
                for p in plan::write_media(&media.path, built, &mut media.sums)? {
                    let kind = if p.ends_with(&built.manifest_file) {
                        "manifest"
                    } else {
                        "binding"
                    };
                    written.push((kind.to_owned(), p));
                }
                save(media, written)?;
            }
        }
        Ok(false)
    }
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

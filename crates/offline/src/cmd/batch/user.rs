//! One user of `kcsr batch`, on a worker: the key (in a token, left from an earlier run, or
//! new), the request built and checked, compared with the media, and the files staged under
//! temporary names for the group commit.

use std::path::Path;

use kcsr_core::station::RequestRecord;
use kcsr_core::sums::Sums;
use kcsr_fs::group::{self, Staged};
use kcsr_fs::{Mode, Overwrite};
use secrecy::SecretString;

use super::commit::{Pending, write_fault};
use super::output::UserReport;
use crate::cli::BatchArgs;
use crate::fail::{Fail, Result};
use crate::passphrase;
use crate::plan::{self, Built, KeySource, MediaState, Stamp};
use crate::roster::Row;
use crate::station::Station;
use crate::user_key::{self, TokenSummary, UserKey};

/// What one user came to on a worker.
pub(super) enum Outcome {
    Staged(Box<Pending>),
    Unchanged(Vec<(String, [u8; 32])>, Box<UserReport>),
    Planned(Box<UserReport>),
    Failed(String),
    /// The device itself failed (full, read-only): every later user would fail the same way.
    Stop(Fail),
}

/// What every worker shares.
#[derive(Clone, Copy)]
pub(super) struct Context<'a> {
    pub(super) args: &'a BatchArgs,
    pub(super) passphrase: Option<&'a SecretString>,
    pub(super) existing: &'a passphrase::Source,
    pub(super) station: &'a Station,
    pub(super) stamp: &'a Stamp,
    /// Token PINs typed in this run: asked once per token, not once per user.
    pub(super) pins: &'a user_key::Pins,
}

pub(super) fn one(row: &Row, ctx: &Context<'_>) -> Result<Outcome> {
    let Context {
        args,
        station,
        stamp,
        ..
    } = *ctx;
    let spec = &row.spec;
    let key_name = format!("{}.key.pem", spec.stem());
    let key_path = args.keys.join(&key_name);
    let (key, source, token) = obtain_key(row, ctx, &key_path)?;
    let built = plan::build(spec, &key, stamp)?;
    // The station's record of a token key names the token and object, not a key file.
    let record_for = |existing| {
        let mut record = plan::record(spec, &built, stamp, key_name.clone(), existing);
        if let Some(t) = &token {
            t.stamp(&mut record);
        }
        record
    };
    let user_report = || {
        Box::new(UserReport {
            name: built.name.as_str().to_owned(),
            public_key_sha256: built.csr.public_key.fingerprint.clone(),
            key_source: source,
            warnings: built
                .findings
                .iter()
                .filter(|f| f.level == kcsr_core::checks::Level::Warning)
                .cloned()
                .collect(),
        })
    };
    let state = plan::media_state(&args.media, &built, stamp.created)?;
    match state {
        MediaState::Same(existing) if source != KeySource::New => {
            // Kept as it is; its record too, unless it is missing (rare: written here,
            // durably, on its own).
            if !args.dry_run {
                station.ensure_record(&record_for(Some(&existing)))?;
            }
            return Ok(Outcome::Unchanged(existing.files, user_report()));
        }
        MediaState::Different if !args.force => {
            return Err(Fail::new(format!(
                "the media already holds a different request for this user ({})",
                built.manifest_file
            )));
        }
        _ => {}
    }
    if args.dry_run {
        return Ok(Outcome::Planned(user_report()));
    }
    let made = Made {
        key: &key,
        source,
        key_name: &key_name,
        built: &built,
    };
    stage(ctx, &made, &record_for(None), user_report())
}

/// The user's key: in their token (column `pkcs11`), left from an earlier run, or new.
fn obtain_key(
    row: &Row,
    ctx: &Context<'_>,
    key_path: &Path,
) -> Result<(UserKey, KeySource, Option<TokenSummary>)> {
    let (args, spec) = (ctx.args, &row.spec);
    match &row.pkcs11 {
        Some(uri) => {
            // Checked (with a stand-in key) before the token generates anything: a user whose
            // request the media refuses leaves no key behind in the token.
            let (key, source, token) =
                user_key::for_request(uri, spec.key_type, args.dry_run, ctx.pins, |_| {
                    plan::refuse_other_request(&args.media, spec, args.force)
                })?;
            Ok((key, source, Some(token)))
        }
        None => {
            let (key, source) =
                plan::obtain_key(spec.key_type, key_path, args.force, ctx.existing)?;
            Ok((UserKey::File(key), source, None))
        }
    }
}

/// A user made in memory and checked, to be staged.
struct Made<'a> {
    key: &'a UserKey,
    source: KeySource,
    key_name: &'a str,
    built: &'a Built,
}

/// Writes the user's new key, the station's record and the media files under temporary
/// names, for the group commit.
fn stage(
    ctx: &Context<'_>,
    made: &Made<'_>,
    record: &RequestRecord,
    report: Box<UserReport>,
) -> Result<Outcome> {
    let (args, built) = (ctx.args, made.built);
    let key = if made.source == KeySource::New
        && let Some(key) = made.key.file()
    {
        let pem = plan::key_pem(key, ctx.passphrase)?;
        let overwrite = if args.force {
            Overwrite::Allow
        } else {
            Overwrite::Deny
        };
        let file = (made.key_name, pem.as_bytes(), Mode::Secret, overwrite);
        match stage_file(
            &args.keys,
            file,
            "failed to write key",
            "another key directory",
        ) {
            Ok(staged) => Some(staged),
            Err(outcome) => return outcome,
        }
    } else {
        None
    };
    let record_name = format!("{}.json", record.name);
    let json = record.to_json();
    let file = (
        record_name.as_str(),
        json.as_bytes(),
        Mode::Secret,
        Overwrite::Allow,
    );
    let requests = ctx.station.requests_dir();
    let record = match stage_file(
        &requests,
        file,
        "failed to write the record",
        "another key directory",
    ) {
        Ok(staged) => Some(staged),
        Err(outcome) => return outcome,
    };
    let mut sums = Sums::default();
    let mut media = Vec::new();
    let mut files_to_stage = vec![(&built.manifest_file, &built.manifest_yaml)];
    match &built.binding_yaml {
        Some(binding) => files_to_stage.push((&built.binding_file, binding)),
        None => sums.remove(&built.binding_file),
    }
    for (name, content) in files_to_stage {
        let bytes = content.as_bytes();
        let file = (name.as_str(), bytes, Mode::Public, Overwrite::Allow);
        match stage_file(&args.media, file, "failed to write", "other media") {
            Ok(staged) => media.push(staged),
            Err(outcome) => return outcome,
        }
        sums.insert(name, bytes);
    }
    let files = sums
        .names()
        .filter_map(|n| sums.get(n).map(|d| (n.to_owned(), *d)))
        .collect();
    Ok(Outcome::Staged(Box::new(Pending {
        key,
        record,
        media,
        files,
        removed: built
            .binding_yaml
            .is_none()
            .then(|| built.binding_file.clone()),
        report,
    })))
}

/// One file to stage: its name, content, mode and whether it may replace one.
type File<'a> = (&'a str, &'a [u8], Mode, Overwrite);

/// Stages `file` in `dir`; a failure ("`failed` PATH") is the user's outcome
/// ([`stage_failed`]).
fn stage_file(
    dir: &Path,
    (name, bytes, mode, overwrite): File<'_>,
    failed: &str,
    elsewhere: &str,
) -> std::result::Result<Staged, Result<Outcome>> {
    group::stage(dir, name, bytes, mode, overwrite).map_err(|e| {
        let path = dir.join(name);
        stage_failed(
            &format!("{failed} {}", path.display()),
            &path,
            &e,
            elsewhere,
        )
    })
}

/// A staging error: a fault of the device itself (full, read-only) stops the whole run, since
/// every later user would fail the same way; anything else fails this user alone.
fn stage_failed(what: &str, path: &Path, e: &std::io::Error, elsewhere: &str) -> Result<Outcome> {
    match write_fault(what, path, e, elsewhere) {
        (fail, true) => Ok(Outcome::Stop(fail)),
        (fail, false) => Err(fail),
    }
}

//! What `kcsr batch` checks of the whole roster before anything is written: each user's
//! passphrase file, the station's policy, and every request as the cluster would judge it.

use std::path::Path;

use secrecy::SecretString;

use crate::cli::BatchArgs;
use crate::fail::{Fail, Result};
use crate::passphrase::{self, Purpose};
use crate::roster::Row;
use crate::{paths, plan, policy, report};

/// Each user's own passphrase (column `passphrase_file`), read and checked before anything
/// is written; every row that cannot have one is named. With `--encrypt-key`, a user without
/// a file of their own needs `--passphrase-file`; without it, the column is refused (a
/// passphrase that encrypts nothing is a mistake to say, not to ignore).
pub(super) fn user_passphrases(
    rows: &[Row],
    args: &BatchArgs,
) -> Result<Vec<Option<SecretString>>> {
    let mut out = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    let media = paths::resolve(&args.media);
    for row in rows {
        let user = report::sanitize(row.spec.user.as_str());
        match (&row.passphrase_file, args.encrypt_key) {
            (Some(file), false) => {
                errors.push(format!(
                    "line {} ({user}): passphrase_file {} is given, but --encrypt-key is not",
                    row.line,
                    file.display()
                ));
                out.push(None);
            }
            (Some(file), true) if paths::resolve(file).starts_with(&media) => {
                errors.push(format!(
                    "line {} ({user}): the passphrase file {} is on the media; it must never travel",
                    row.line,
                    file.display()
                ));
                out.push(None);
            }
            (Some(file), true) => {
                match passphrase::obtain(Some(file), Purpose::NewKey, &format!("user {user}'s key"))
                {
                    Ok(p) => out.push(Some(p)),
                    Err(f) => {
                        errors.push(format!("line {} ({user}): {}", row.line, f.message));
                        out.push(None);
                    }
                }
            }
            // A token key has no passphrase.
            (None, true) if args.passphrase_file.is_none() && row.pkcs11.is_none() => {
                errors.push(format!(
                    "line {} ({user}): no passphrase_file, and no --passphrase-file for the others",
                    row.line
                ));
                out.push(None);
            }
            (None, _) => out.push(None),
        }
    }
    if errors.is_empty() {
        return Ok(out);
    }
    Err(Fail::new(format!(
        "roster {}: {} user(s) without a usable key passphrase; nothing was written\n  {}",
        args.roster.display(),
        errors.len(),
        errors.join("\n  ")
    ))
    .hint("with --encrypt-key, give every user a passphrase_file (the first line of it is the passphrase, 8 characters or more), or --passphrase-file for those without one; without --encrypt-key, drop the passphrase_file column"))
}

/// Every row's request checked as the cluster would, with a throwaway key of its type per
/// key type, on every core: a roster the cluster would refuse in part is refused whole.
pub(super) fn precheck(rows: &[Row], jobs: usize) -> Result<()> {
    let mut keys = std::collections::HashMap::new();
    for row in rows {
        if let std::collections::hash_map::Entry::Vacant(v) = keys.entry(row.spec.key_type.as_str())
        {
            v.insert(
                kcsr_core::key::PrivateKey::generate(row.spec.key_type)
                    .map_err(|e| Fail::new(e.to_string()))?,
            );
        }
    }
    // Checking previews unsigned requests (the real ones are checked again when signed);
    // still worth every core for a large roster.
    let chunk = rows.len().div_ceil(jobs.max(1)).max(1);
    let keys = &keys;
    let mut errors: Vec<(usize, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = rows
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .filter_map(|row| {
                            let key = &keys[row.spec.key_type.as_str()];
                            plan::precheck(&row.spec, key)
                                .err()
                                .map(|f| (row.line, f.message))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                // A checker that died has not passed its rows.
                h.join()
                    .unwrap_or_else(|_| vec![(0, "internal error while checking".to_owned())])
            })
            .collect()
    });
    errors.sort();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Fail::new(format!(
            "{} roster row(s) would be refused by the cluster; nothing was written\n  {}",
            errors.len(),
            errors
                .iter()
                .map(|(line, m)| format!("line {line}: {}", m.replace('\n', "\n    ")))
                .collect::<Vec<_>>()
                .join("\n  ")
        ))
        .hint("fix these rows and run kcsr batch again")
        .refused())
    }
}

/// Every row against the station's policy before anything is written: one refusal (exit 3)
/// listing each row's broken rules.
pub(super) fn check_policy(
    roster: &Path,
    rows: &[Row],
    loaded: Option<&policy::Loaded>,
) -> Result<()> {
    let Some(loaded) = loaded else {
        return Ok(());
    };
    let mut all = Vec::new();
    let mut lines = Vec::new();
    for row in rows {
        let v = policy::violations(loaded, &row.spec);
        if !v.is_empty() {
            lines.push(format!(
                "line {} ({}):\n{}",
                row.line,
                report::sanitize(row.spec.user.as_str()),
                policy::lines(&v, "    ")
            ));
            all.extend(v);
        }
    }
    if lines.is_empty() {
        return Ok(());
    }
    Err(Fail::new(format!(
        "{} row(s) of {} break the station policy {}; nothing was written\n  {}",
        lines.len(),
        roster.display(),
        loaded.path.display(),
        lines.join("\n  ")
    ))
    .hint(policy::refusal_hint(&all))
    .refused())
}

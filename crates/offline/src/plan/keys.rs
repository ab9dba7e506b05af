//! The user's key files: reading any format kcsr knows, reusing or generating, and writing a
//! new one; and how the station's record names it.

use std::path::{Path, PathBuf};

use kcsr_core::checks;
use kcsr_core::key::{KeyError, KeyType, PrivateKey};
use kcsr_fs::{self as output, Overwrite};
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::spec::KeySource;
use crate::fail::{self, Context as _, Fail, Result};
use crate::{passphrase, paths, secret_file};

/// The record's `keyFile`: relative to the key directory for a key in it, else the key's
/// absolute path.
pub(crate) fn key_file(key_dir: &Path, key: &Path) -> String {
    let (dir, key) = (paths::resolve(key_dir), paths::resolve(key));
    match key.strip_prefix(&dir) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => key.display().to_string(),
    }
}

/// The one reader of key files: the key in any format kcsr knows, with `passphrase` asked
/// when it is encrypted (none given: the key stays `NeedPassphrase`). The outer error is a
/// file that cannot be read; the inner one the key's, for the caller to word.
pub(crate) fn load_key(
    path: &Path,
    passphrase: Option<&passphrase::Source>,
) -> Result<std::result::Result<PrivateKey, KeyError>> {
    let data = output::read_secret(path, 1 << 20, output::Links::Refuse)
        .context(|| format!("failed to read key {}", path.display()))?;
    Ok(match (PrivateKey::from_bytes(&data, None), passphrase) {
        (Err(KeyError::NeedPassphrase), Some(passphrase)) => {
            let pass = passphrase.get(&path.display().to_string())?;
            PrivateKey::from_bytes(&data, Some(&pass))
        }
        (other, _) => other,
    })
}

/// Reads a key in any format kcsr knows, asking `passphrase` when it is encrypted
/// ([`load_key`]): request, batch, renew, verify and assemble all call it.
pub(crate) fn read_key(path: &Path, passphrase: &passphrase::Source) -> Result<PrivateKey> {
    load_key(path, Some(passphrase))?.map_err(|e| {
        let f = Fail::new(format!("{}: {e}", path.display()));
        match e {
            KeyError::RsaTooSmall(_) => f
                .hint("generate a new key: kcsr request --key-type rsa2048 (or p256)")
                .refused(),
            KeyError::RsaExponent(_) => f.hint(checks::RSA_EXPONENT_HINT).refused(),
            KeyError::Decrypt | KeyError::NeedPassphrase => {
                f.hint("pass the right --passphrase-file")
            }
            _ => f.hint(
                "convert it with openssl pkey -in FILE -out key.pem (add -traditional for PKCS#1)",
            ),
        }
    })
}

/// The key in the key directory: reused when present (unless `force`), else a new one of
/// `key_type`.
pub(crate) fn obtain_key(
    key_type: KeyType,
    key_path: &Path,
    force: bool,
    passphrase: &passphrase::Source,
) -> Result<(PrivateKey, KeySource)> {
    if key_path.exists() && !force {
        let key = read_key(key_path, passphrase).map_err(|f| {
            if f.hint.is_some() {
                f
            } else {
                f.hint(format!(
                    "pass --force to replace {} with a new key",
                    key_path.display()
                ))
            }
        })?;
        if key.kind() != &key_type.kind() {
            return Err(Fail::new(format!(
                "{} holds a {} key but key type {} was asked for",
                key_path.display(),
                key.kind(),
                key_type
            ))
            .hint("pass --force to replace the key, or ask for the existing key's type"));
        }
        return Ok((key, KeySource::Reused));
    }
    let key = PrivateKey::generate(key_type).map_err(|e| Fail::new(e.to_string()))?;
    Ok((key, KeySource::New))
}

/// The key as it is stored: PEM, encrypted when a passphrase is given.
pub(crate) fn key_pem(
    key: &PrivateKey,
    passphrase: Option<&SecretString>,
) -> Result<Zeroizing<String>> {
    match passphrase {
        Some(p) => key
            .to_encrypted_pem(p)
            .map_err(|e| Fail::new(e.to_string())),
        None => Ok(key.to_pem()),
    }
}

/// Writes a new key: 0600, create-new (atomic replace only with `force`), fsynced with its
/// directory.
pub(crate) fn write_key(
    key: &PrivateKey,
    path: &Path,
    passphrase: Option<&SecretString>,
    force: bool,
) -> Result<PathBuf> {
    let pem = key_pem(key, passphrase)?;
    let overwrite = if force {
        Overwrite::Allow
    } else {
        Overwrite::Deny
    };
    secret_file::write(path, pem.as_bytes(), overwrite, &KEY)
}

/// A user's key, in the key directory.
const KEY: secret_file::Words = secret_file::Words {
    file: "key ",
    dir: "key directory ",
    exists: "pass --force to replace an existing key",
    elsewhere: "another key directory",
    again: fail::RESUME,
};

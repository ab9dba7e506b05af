//! The station's signing key (decision 0009): Ed25519, made on first use by `request`,
//! `batch` or `renew`, kept in `KEY_DIR/station` (`signing-key.pem` 0600 create-new, encrypted
//! when the run has a passphrase; `signing-key.pub`, its OpenSSH line, readable without one).
//! It signs every `SHA256SUMS` those commands write, so that the connected side (and
//! `ssh-keygen -Y verify`) can tell the station's media from anyone else's.

use std::path::{Path, PathBuf};

use kcsr_core::key::{KeyType, PrivateKey};
use kcsr_core::media::SIGNATURE_NAMESPACE;
use kcsr_core::sshsig::{self, PublicKey};
use kcsr_fs::Overwrite;
use secrecy::SecretString;

use crate::fail::{Fail, Result};
use crate::passphrase::{self, Purpose};
use crate::plan;
use crate::report;
use crate::station::{RETIRED_FILE, SIGNING_KEY_FILE, SIGNING_PUB_FILE, Station};

/// The comment of the station's public lines.
const COMMENT: &str = "kcsr-station";

/// The station's key, loaded: it signs.
pub(crate) struct SigningKey {
    key: PrivateKey,
    public: PublicKey,
    /// The station it belongs to: what it signs must be vouched for by that station's records.
    station: Station,
}

impl SigningKey {
    /// OpenSSH's `SHA256:` fingerprint, as `ssh-keygen -l` prints it.
    pub(crate) fn fingerprint(&self) -> String {
        self.public.fingerprint()
    }

    pub(crate) fn station(&self) -> &Station {
        &self.station
    }

    pub(crate) fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The armored SSHSIG of `message` (namespace `kcsr-media`, sha512).
    pub(crate) fn sign(&self, message: &[u8]) -> Result<String> {
        sshsig::sign(&self.key, message, SIGNATURE_NAMESPACE)
            .map(|s| s.to_armored())
            .map_err(|e| Fail::new(format!("failed to sign with the station's key: {e}")))
    }
}

/// Where the key lives.
pub(crate) fn key_path(station: &Station) -> PathBuf {
    station.dir.join(SIGNING_KEY_FILE)
}

fn pub_path(station: &Station) -> PathBuf {
    station.dir.join(SIGNING_PUB_FILE)
}

/// The station's public key from `signing-key.pub` (no passphrase needed); `None` before the
/// first key was made.
pub(crate) fn public_key(station: &Station) -> Result<Option<PublicKey>> {
    let path = pub_path(station);
    let Some(data) = station.read(&path)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&data);
    PublicKey::from_openssh(text.trim()).map(Some).map_err(|e| {
        Fail::new(format!("{}: {e}", path.display()))
            .hint("the station's public line is damaged: restore KEY_DIR/station from its backup")
    })
}

/// The key for a run that writes requests: the station's, or a new one when it has none
/// yet (said on stderr unless `quiet`). A new key is encrypted with `new_passphrase` (the
/// run's `--encrypt-key` passphrase), else with the first line of `passphrase_file` if one
/// was given; an existing encrypted key is opened through `existing`.
pub(crate) fn obtain(
    station: &Station,
    new_passphrase: Option<&SecretString>,
    passphrase_file: Option<&Path>,
    existing: &passphrase::Source,
    quiet: bool,
) -> Result<SigningKey> {
    if let Some(key) = load(station, existing)? {
        return Ok(key);
    }
    let from_file;
    let passphrase = match (new_passphrase, passphrase_file) {
        (Some(p), _) => Some(p),
        (None, Some(file)) => {
            from_file =
                passphrase::obtain(Some(file), Purpose::NewKey, "the station's signing key")?;
            Some(&from_file)
        }
        (None, None) => None,
    };
    let key = match create(station, passphrase, Overwrite::Deny) {
        Ok(k) => k,
        // Another run made it meanwhile: use that one.
        Err(_) if std::fs::symlink_metadata(key_path(station)).is_ok() => {
            return load(station, existing)?
                .ok_or_else(|| Fail::new(format!("{} vanished", key_path(station).display())));
        }
        Err(f) => return Err(f),
    };
    if !quiet {
        report::say(&format!(
            "kcsr: made the station's signing key {} (Ed25519, {}{}); it signs SHA256SUMS on the media",
            key_path(station).display(),
            key.fingerprint(),
            if passphrase.is_some() {
                ", encrypted"
            } else {
                ""
            }
        ));
        report::say(&format!(
            "  give the connected side its allowed_signers line once: kcsr station show --keys {}",
            station.dir.parent().unwrap_or(Path::new(".")).display()
        ));
    }
    Ok(key)
}

/// Makes a new key and stores it: the private key first (0600; create-new unless `overwrite`
/// allows replacing it, for a rotation), then its public line.
pub(crate) fn create(
    station: &Station,
    passphrase: Option<&SecretString>,
    overwrite: Overwrite,
) -> Result<SigningKey> {
    let key = PrivateKey::generate(KeyType::Ed25519).map_err(|e| Fail::new(e.to_string()))?;
    let public = sshsig::ed25519_public_key(&key).map_err(|e| Fail::new(e.to_string()))?;
    let pem = plan::key_pem(&key, passphrase)?;
    station.write_with(None, SIGNING_KEY_FILE, pem.as_bytes(), overwrite)?;
    write_pub(station, &public)?;
    Ok(SigningKey {
        key,
        public,
        station: station.clone(),
    })
}

fn write_pub(station: &Station, public: &PublicKey) -> Result<()> {
    station
        .write(
            None,
            SIGNING_PUB_FILE,
            &format!("{} {COMMENT}\n", public.to_openssh()),
        )
        .map(drop)
}

/// The stored key, checked against its public line (rewritten when missing, or when a
/// rotation stopped after the new key was stored). `None` when there is no key.
fn load(station: &Station, existing: &passphrase::Source) -> Result<Option<SigningKey>> {
    let path = key_path(station);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let key = plan::read_key(&path, existing)?;
    let public = sshsig::ed25519_public_key(&key).map_err(|e| {
        Fail::new(format!("{}: {e}", path.display())).hint(
            "restore KEY_DIR/station from its backup, or make a new key with kcsr station rotate",
        )
    })?;
    match public_key(station) {
        Ok(Some(p)) if p == public => {}
        Ok(Some(p)) if !retired(station)?.contains(&p) => {
            return Err(Fail::new(format!(
                "{} does not match {} ({} against {})",
                pub_path(station).display(),
                path.display(),
                p.fingerprint(),
                public.fingerprint()
            ))
            .hint("restore KEY_DIR/station from its backup; the connected side trusts the key its allowed_signers line names")
            .refused());
        }
        // Missing, damaged, or the retired key of an interrupted rotation.
        _ => write_pub(station, &public)?,
    }
    Ok(Some(SigningKey {
        key,
        public,
        station: station.clone(),
    }))
}

/// The public keys of `retired.pub`.
pub(crate) fn retired(station: &Station) -> Result<Vec<PublicKey>> {
    Ok(retired_lines(station)?
        .iter()
        .filter_map(|l| PublicKey::from_openssh(l).ok())
        .collect())
}

/// The lines of `retired.pub`.
pub(crate) fn retired_lines(station: &Station) -> Result<Vec<String>> {
    let data = station
        .read(&station.dir.join(RETIRED_FILE))?
        .unwrap_or_default();
    Ok(String::from_utf8_lossy(&data)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect())
}

/// Adds `public` to `retired.pub` with the rotation time (once).
pub(crate) fn retire(station: &Station, public: &PublicKey, at: &str) -> Result<()> {
    let mut lines = retired_lines(station)?;
    if lines
        .iter()
        .any(|l| PublicKey::from_openssh(l).ok().as_ref() == Some(public))
    {
        return Ok(());
    }
    lines.push(format!("{} {COMMENT} retired {at}", public.to_openssh()));
    station
        .write(None, RETIRED_FILE, &(lines.join("\n") + "\n"))
        .map(drop)
}

/// The principal of `allowed_signers` lines: as given, else this machine's host name.
pub(crate) fn principal(given: Option<&str>) -> Result<String> {
    let name = match given {
        Some(p) => p.to_owned(),
        None => host_name().unwrap_or_else(|| "kcsr-station".to_owned()),
    };
    // A principal is a pattern list in allowed_signers: no spaces, quotes, commas or wildcards.
    if name.is_empty()
        || name.len() > 255
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'@'))
    {
        return Err(Fail::new(format!(
            "principal {:?} is not a plain name (letters, digits, '.', '-', '_', '@')",
            report::sanitize(&name)
        ))
        .hint("pass --principal NAME, e.g. --principal vault-room-1"));
    }
    Ok(name)
}

fn host_name() -> Option<String> {
    let from_proc = kcsr_fs::read_limited(Path::new("/proc/sys/kernel/hostname"), 256)
        .ok()
        .map(|d| String::from_utf8_lossy(&d).trim().to_owned());
    let name = match from_proc.filter(|n| !n.is_empty()) {
        Some(n) => n,
        None => {
            let out = std::process::Command::new("hostname")
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output()
                .ok()?;
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }
    };
    (!name.is_empty()).then_some(name)
}

/// The `allowed_signers` line of `public` for `principal`.
pub(crate) fn allowed_line(
    principal: &str,
    public: &PublicKey,
    valid_before: Option<i64>,
) -> String {
    let before = valid_before.map(sshsig::format_time);
    sshsig::allowed_signers_line(principal, public, before.as_deref())
}

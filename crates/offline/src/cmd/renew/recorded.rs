//! What the station's record of a request gives its renewal: the request's fields and its key.

use std::path::{Path, PathBuf};

use kcsr_core::expiry::Expiration;
use kcsr_core::key::{KeyType, PrivateKey};
use kcsr_core::manifest::ApiVersion;
use kcsr_core::names::{GroupName, UserName};
use kcsr_core::rbac::Grant;
use kcsr_core::signer::SignerName;
use kcsr_core::station::RequestRecord;
use kcsr_core::usage::Usage;

use crate::fail::{Context as _, Fail, Result};
use crate::passphrase;
use crate::plan::{self, Spec};

/// The renewal asks for what the recorded request asked for (the key and stem aside).
pub(super) fn spec_of(rec: &RequestRecord) -> Result<Spec> {
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

/// The key of the record: its `keyFile`, else (moved or renamed) the key among the key
/// directory's own `*.key.pem` files with the recorded public key.
pub(super) fn reuse_key(
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

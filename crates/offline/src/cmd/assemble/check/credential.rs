//! How the kubeconfig reaches the key: embedded, named with `--key-path`, or through
//! kcsr-agent for a key in a PKCS#11 token.

use std::path::{Path, PathBuf};

use kcsr_core::pem;
use zeroize::Zeroizing;

use crate::cli::AssembleArgs;
use crate::fail::{Fail, Result};

/// The caller's secret for kcsr-agent: 32 random bytes, hex. Never printed.
pub(super) fn bearer_token() -> Result<Zeroizing<String>> {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut bytes = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::SystemRandom::new()
        .fill(bytes.as_mut())
        .map_err(|_| Fail::new("the system's random number generator failed"))?;
    Ok(Zeroizing::new(kcsr_core::digest::hex(bytes.as_ref())))
}

/// The recorded URI (which has no pin-source) with `pin-source=file:` the operator named, so
/// that the agent can start without a terminal. A PIN itself is never written.
pub(super) fn agent_uri(recorded: &str, pin_file: Option<&Path>) -> Result<String> {
    let mut uri: kcsr_core::pkcs11_uri::Pkcs11Uri = recorded.parse().map_err(|e| {
        Fail::new(format!(
            "the station's record has a PKCS#11 URI that does not parse: {e}"
        ))
    })?;
    if let Some(file) = pin_file {
        let abs = std::path::absolute(file)
            .map_err(|e| Fail::new(format!("--pkcs11-pin-file {}: {e}", file.display())))?;
        let abs = abs.to_str().ok_or_else(|| {
            Fail::new(format!("--pkcs11-pin-file {} is not UTF-8", file.display()))
        })?;
        uri.pin_source = Some(format!("file:{abs}"));
    }
    Ok(uri.to_string())
}

/// Where `--key-path` is on this machine: kubectl reads a relative `client-key` relative to
/// the kubeconfig's own directory.
pub(super) fn here(args: &AssembleArgs, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_owned();
    }
    let dir = match (&args.out, &args.out_dir, &args.merge_into) {
        (Some(f), _, _) | (_, _, Some(f)) => f.parent().map(Path::to_owned).unwrap_or_default(),
        (_, Some(d), _) => d.clone(),
        _ => PathBuf::new(),
    };
    dir.join(p)
}

/// `--key-path` as kubectl will read it: when the file is on this machine, it must be an
/// unencrypted PEM key (client-go reads PKCS#1, PKCS#8 and SEC1 PEM, never an encrypted
/// PKCS#8 or DER key) whose public key is `public_key`. `Ok(false)`: not here, not checked.
pub(super) fn key_at_path(
    path: &str,
    p: &Path,
    public_key: &str,
) -> std::result::Result<bool, String> {
    if std::fs::symlink_metadata(p).is_err() {
        return Ok(false);
    }
    let data = kcsr_fs::read_secret(p, 1 << 20, kcsr_fs::Links::Refuse)
        .map_err(|e| format!("{path}: {e}"))?;
    if !pem::looks_like_pem(&data) {
        return Err(format!(
            "{path} is not a PEM key: kubectl reads only PEM keys (convert it with openssl pkey -in {path} -out KEY.pem)"
        ));
    }
    match kcsr_core::key::PrivateKey::from_bytes(&data, None) {
        Err(kcsr_core::key::KeyError::NeedPassphrase) => Err(format!(
            "{path} is an encrypted key: kubectl cannot read encrypted keys, so a kubeconfig naming it would not work; leave out --key-path (the kubeconfig then holds the key, decrypted, 0600), or point it at an unencrypted copy (openssl pkey -in {path} -out KEY.pem, chmod 600)"
        )),
        Err(e) => Err(format!("{path}: {e}")),
        Ok(k) if k.public_key().fingerprint != public_key => Err(format!(
            "{path} holds the key sha256 {}, not the key {public_key} the certificate is for",
            k.public_key().fingerprint
        )),
        Ok(_) => Ok(true),
    }
}

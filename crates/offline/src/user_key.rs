//! The user's key a request is made with: a file kcsr keeps or was given, or a key in a
//! PKCS#11 token (decision 0011), which kcsr never holds and never writes.

use std::sync::{Mutex, PoisonError};

use kcsr_core::csr::CsrInfo;
use kcsr_core::key::{CsrSigner, KeyError, KeyFormat, KeyType, PrivateKey};
use kcsr_core::pkcs11_uri::Pkcs11Uri;
use kcsr_core::station::RequestRecord;
use kcsr_core::x509::PublicKeyInfo;

use crate::fail::{Fail, Result};
use crate::plan::KeySource;
use kcsr_token::{KeyAttributes, NewKey, Token, TokenKey};

/// The PINs of one run, per token: `kcsr batch` asks each token's PIN once, not once per
/// user, with the rules of [`kcsr_token::Logins`] (a PIN goes again only to the token, by
/// serial number, that accepted it).
#[derive(Default)]
pub(crate) struct Pins(Mutex<kcsr_token::Logins>);

impl Pins {
    /// Opens and logs in to the URI's token with the PIN given for it earlier in this run,
    /// else as [`Token::open`] does.
    pub(crate) fn open(&self, uri: &Pkcs11Uri) -> Result<Token> {
        // Held while a PIN is asked: a second user of the token waits for it, not a prompt.
        let mut logins = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(logins.open(uri)?)
    }
}

/// A request's key.
pub(crate) enum UserKey {
    /// In memory, from a file (or to be written to one).
    File(PrivateKey),
    /// In a token.
    Token(Box<TokenKey>),
    /// A dry run's stand-in for a key the token would generate: in memory, never written.
    Preview(PrivateKey),
}

impl UserKey {
    /// The key in memory, when there is one to write or read a format from.
    pub(crate) fn file(&self) -> Option<&PrivateKey> {
        match self {
            Self::File(k) => Some(k),
            Self::Token(_) | Self::Preview(_) => None,
        }
    }

    /// Whether the key is stored encrypted.
    pub(crate) fn encrypted(&self) -> bool {
        self.file()
            .is_some_and(|k| k.format() == KeyFormat::EncryptedPkcs8)
    }
}

impl CsrSigner for UserKey {
    fn public_key(&self) -> &PublicKeyInfo {
        match self {
            Self::File(k) | Self::Preview(k) => k.public_key(),
            Self::Token(k) => k.public_key(),
        }
    }

    fn sign_tbs(&self, tbs: &[u8]) -> std::result::Result<Vec<u8>, KeyError> {
        match self {
            Self::File(k) | Self::Preview(k) => k.sign_tbs(tbs),
            Self::Token(k) => k.sign_tbs(tbs),
        }
    }
}

/// What a request reports and records about a token key.
#[derive(Debug, Clone)]
pub(crate) struct TokenSummary {
    /// The URI as recorded (no `pin-source`).
    pub(crate) uri: String,
    pub(crate) token: String,
    pub(crate) object: String,
    /// `None` in a dry run that would generate the key.
    pub(crate) attributes: Option<KeyAttributes>,
}

impl TokenSummary {
    /// Marks `record` as made with this token key.
    pub(crate) fn stamp(&self, record: &mut RequestRecord) {
        record.key_file = kcsr_core::station::PKCS11_KEY_FILE.to_owned();
        record.pkcs11_uri = Some(self.uri.clone());
    }
}

/// The key types kcsr generates in a token.
fn new_key(key_type: KeyType) -> Result<NewKey> {
    Ok(match key_type {
        KeyType::P256 => NewKey::P256,
        KeyType::P384 => NewKey::P384,
        KeyType::Rsa2048 => NewKey::Rsa(2048),
        KeyType::Rsa3072 => NewKey::Rsa(3072),
        KeyType::Rsa4096 => NewKey::Rsa(4096),
        KeyType::Ed25519 => {
            return Err(Fail::new(
                "kcsr generates P-256, P-384 and RSA keys in tokens, not Ed25519 (few tokens support it)",
            )
            .hint("pass --key-type p256 (the default) or rsa2048"));
        }
    })
}

/// The key of `kcsr request --pkcs11 URI`: the key object the URI names if the token holds it,
/// else a new one generated inside the token, but only after `precheck` passed with a
/// stand-in of the same type, so that a request the cluster or the media would refuse leaves
/// no key behind in the token. A dry run generates nothing: the stand-in shows the request.
pub(crate) fn for_request(
    uri: &Pkcs11Uri,
    key_type: KeyType,
    dry_run: bool,
    pins: &Pins,
    precheck: impl FnOnce(&PrivateKey) -> Result<()>,
) -> Result<(UserKey, KeySource, TokenSummary)> {
    let token = pins.open(uri)?;
    let label = token.label().to_owned();
    let object = uri
        .object
        .clone()
        .or_else(|| {
            uri.id
                .as_ref()
                .map(|id| format!("id {}", kcsr_core::digest::hex(id)))
        })
        .unwrap_or_default();
    let summary = |attributes| TokenSummary {
        uri: uri.without_pin().to_string(),
        token: label.clone(),
        object: object.clone(),
        attributes,
    };
    match token.find_key()? {
        Ok(key) => {
            if key.kind() != &key_type.kind() {
                return Err(Fail::new(format!(
                    "token {label:?} holds the key {object:?} as {}, but key type {key_type} was asked for",
                    key.kind()
                ))
                .hint("ask for the existing key's type with --key-type, or name another object= in the URI (kcsr never deletes a key in a token)"));
            }
            let attributes = key.attributes;
            Ok((
                UserKey::Token(Box::new(key)),
                KeySource::Reused,
                summary(Some(attributes)),
            ))
        }
        Err(token) => {
            let preview = PrivateKey::generate(key_type).map_err(|e| Fail::new(e.to_string()))?;
            precheck(&preview)?;
            if dry_run {
                return Ok((UserKey::Preview(preview), KeySource::New, summary(None)));
            }
            drop(preview);
            let key = token.generate(new_key(key_type)?, true)?;
            let attributes = key.attributes;
            Ok((
                UserKey::Token(Box::new(key)),
                KeySource::New,
                summary(Some(attributes)),
            ))
        }
    }
}

/// The key object a URI names, for checking a certificate against it: it must exist, and
/// must prove that it holds the private half of its public key by signing.
pub(crate) fn existing(uri: &Pkcs11Uri) -> Result<TokenKey> {
    let token = Token::open(uri)?;
    let label = token.label().to_owned();
    let key = token.find_key()?.map_err(|_| {
        Fail::new(format!(
            "token {label:?} holds no private key {}",
            uri.object
                .as_deref()
                .map(|o| format!("object={o:?}"))
                .unwrap_or_else(|| format!("id={}", uri.id.as_deref().map(kcsr_core::digest::hex).unwrap_or_default()))
        ))
        .hint("check object= and id= in the URI (p11tool --list-privkeys or pkcs11-tool --list-objects lists the keys)")
    })?;
    prove(&key)?;
    Ok(key)
}

/// The token key of a request the station recorded, for `renew`: only with `--reuse-key`
/// (a renewal never moves a key out of hardware into a file), from the recorded URI with the
/// PIN of `pin_file` (else asked), and only if it is still the recorded key.
pub(crate) fn recorded(
    rec: &RequestRecord,
    reuse_key: bool,
    pin_file: Option<&std::path::Path>,
) -> Result<UserKey> {
    let text = rec.pkcs11_uri.as_deref().unwrap_or_default();
    if !reuse_key {
        return Err(Fail::new(format!(
            "the key of {:?} is in the PKCS#11 token {text}; a new key for the renewal would be a file, out of the hardware",
            rec.name
        ))
        .hint("renew it with the same token key: kcsr renew --reuse-key (with --pkcs11-pin-file FILE, or the PIN asked), or make a new key in the token with kcsr request --pkcs11 'URI;object=NEW-LABEL'"));
    }
    let mut uri: Pkcs11Uri = text.parse().map_err(|e: String| {
        Fail::new(format!(
            "the station's record {} has a bad pkcs11Uri: {e}",
            rec.name
        ))
        .hint("the record is damaged; make a new request with kcsr request --pkcs11 URI")
    })?;
    uri.pin_source = pin_file.map(|p| p.display().to_string());
    let key = existing(&uri)?;
    if key.public_key().fingerprint != rec.public_key_sha256 {
        return Err(Fail::new(format!(
            "the key {text} now has the public key sha256 {}, not {} the certificate was issued for",
            key.public_key().fingerprint,
            rec.public_key_sha256
        ))
        .hint("the token's key was replaced; make a new request with kcsr request --pkcs11 URI")
        .refused());
    }
    Ok(UserKey::Token(Box::new(key)))
}

/// Signs a throwaway request and verifies it with the public key kcsr read from the token.
fn prove(key: &TokenKey) -> Result<CsrInfo> {
    let probe: kcsr_core::names::UserName = "kcsr-key-check"
        .parse()
        .map_err(|e: kcsr_core::names::NameError| Fail::new(e.to_string()))?;
    key.sign_csr(&probe, &[], &[], &[]).map_err(|e| {
        Fail::new(format!(
            "the key in token {:?} does not sign with its public key: {e}",
            key.token_label()
        ))
    })
}

//! TLS client signatures made by the token (decision 0012): a rustls `SigningKey` whose
//! `Signer` hashes the handshake transcript here and asks the token for the raw signature
//! (`CKM_ECDSA` over the digest, DER-encoded for TLS; `CKM_RSA_PKCS_PSS`, or `CKM_RSA_PKCS`
//! over a DigestInfo for TLS 1.2). The token session is logged in again after the token was
//! removed and put back, with the PIN kept from start-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::digest;
use kcsr_core::external_key::{self, RawScheme};
use kcsr_core::pkcs11_uri::Pkcs11Uri;
use kcsr_core::x509::KeyKind;
use kcsr_token::{ErrorKind, RawMechanism, Token, TokenKey};
use rustls::client::ResolvesClientCert;
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use zeroize::Zeroizing;

/// One user's key in its token, shared by every connection of that user.
pub(crate) struct TokenCell {
    uri: Pkcs11Uri,
    /// The token's label, for messages.
    pub(crate) label: String,
    pin: Option<Zeroizing<String>>,
    /// The certificate's public key: the key found after a re-login must still be this one.
    spki: Vec<u8>,
    kind: KeyKind,
    pss: bool,
    key: Mutex<Option<TokenKey>>,
    /// Why the last signature failed, for the caller's error.
    last_error: Mutex<Option<TokenFailure>>,
    /// The token refused the kept PIN once: it is never offered again, so that retries
    /// (a watch, kubectl's own) do not use up the token's PIN counter and lock it.
    pin_refused: AtomicBool,
    /// The token needs a PIN that kcsr-token does not offer again (no serial number to tell
    /// the token put back from a look-alike, or a PIN the token never checked): a token taken
    /// out is not logged in to again.
    no_relogin: bool,
}

/// A token failure as the caller is told.
#[derive(Debug, Clone)]
pub(crate) struct TokenFailure {
    pub(crate) not_present: bool,
    pub(crate) message: String,
}

impl TokenCell {
    /// Takes the key found at start, checked against the certificate.
    pub(crate) fn new(key: TokenKey, label: String) -> Self {
        let pss = key.offers(RawMechanism::RsaPssSha256);
        let no_relogin = key.logged_in_with_pin() && key.kept_pin().is_none();
        Self {
            uri: key.pinned_uri(),
            label,
            pin: key.kept_pin(),
            spki: key.public_key().spki_der.clone(),
            kind: key.public_key().kind.clone(),
            pss,
            key: Mutex::new(Some(key)),
            last_error: Mutex::new(None),
            pin_refused: AtomicBool::new(false),
            no_relogin,
        }
    }

    /// Whether TLS 1.3 can be used: an EC key, or an RSA key with PSS in the token.
    pub(crate) fn tls13(&self) -> bool {
        !matches!(self.kind, KeyKind::Rsa { .. }) || self.pss
    }

    fn fail(&self, f: TokenFailure) -> TokenFailure {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(f.clone());
        f
    }

    /// The last signing failure, taken (so it is reported once).
    pub(crate) fn take_error(&self) -> Option<TokenFailure> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Makes sure a logged-in session with the key is there: after a failure the module is
    /// loaded again (a token put back is only seen by a fresh initialisation) and the kept PIN
    /// logs in.
    pub(crate) fn ensure(&self) -> Result<(), TokenFailure> {
        let mut slot = self.key.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_some() {
            return Ok(());
        }
        if self.pin_refused.load(Ordering::Relaxed) {
            return Err(self.fail(pin_refused(&self.label)));
        }
        if self.no_relogin {
            return Err(self.fail(TokenFailure {
                not_present: true,
                message: format!(
                    "the PKCS#11 token {:?} was taken out, and kcsr-agent offers its PIN only to a token it can tell from a look-alike by its serial number, one that checked the PIN at start; this one did not: restart kcsr-agent",
                    self.label
                ),
            }));
        }
        // The token worked at start: failing to load, find or log in to it now means it was
        // pulled out (a module without its token may fail in any way), unless the PIN is
        // what it refuses.
        let key = Token::open_with_pin(&self.uri, self.pin.clone())
            .and_then(Token::find_key)
            .map_err(|e| {
                if e.what() == ErrorKind::Pin {
                    self.pin_refused.store(true, Ordering::Relaxed);
                    return self.fail(pin_refused(&self.label));
                }
                self.fail(TokenFailure {
                    not_present: true,
                    message: e.message().to_owned(),
                })
            })?
            .map_err(|_| {
                self.fail(TokenFailure {
                    not_present: false,
                    message: format!(
                        "the PKCS#11 token {:?} no longer holds the key {}",
                        self.label,
                        self.uri.object.as_deref().unwrap_or("named in the URI")
                    ),
                })
            })?;
        if key.public_key().spki_der != self.spki {
            return Err(self.fail(TokenFailure {
                not_present: false,
                message: format!(
                    "the key in PKCS#11 token {:?} is no longer the certificate's key",
                    self.label
                ),
            }));
        }
        *slot = Some(key);
        Ok(())
    }

    fn token_error(&self, e: &kcsr_token::Error) -> TokenFailure {
        self.fail(TokenFailure {
            not_present: e.what() == ErrorKind::NotPresent,
            message: e.message().to_owned(),
        })
    }

    fn sign(&self, mechanism: RawMechanism, input: &[u8]) -> Result<Vec<u8>, TokenFailure> {
        self.ensure()?;
        let mut slot = self.key.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(key) = slot.as_ref() else {
            return Err(self.fail(TokenFailure {
                not_present: true,
                message: format!("the PKCS#11 token {:?} is not logged in", self.label),
            }));
        };
        match key.sign_raw(mechanism, input) {
            Ok(sig) => Ok(sig),
            Err(e) => {
                // Whatever went wrong, the next request starts from a fresh module and login;
                // dropping the key finalises the module.
                *slot = None;
                // A token pulled out mid-session often answers with an object or session
                // error rather than "not present": ask the module afresh which it is.
                let mut failure = self.token_error(&e);
                drop(slot);
                if !failure.not_present
                    && let Err(again) = self.ensure()
                {
                    failure = again;
                }
                Err(self.fail(failure))
            }
        }
    }
}

/// The user's certificate with the token-backed key.
#[derive(Debug)]
pub(crate) struct Resolver(pub(crate) Arc<CertifiedKey>);

impl ResolvesClientCert for Resolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn pin_refused(label: &str) -> TokenFailure {
    TokenFailure {
        not_present: false,
        message: format!(
            "the PKCS#11 token {label:?} refused the PIN kcsr-agent was started with (was it changed?); it is not offered again, so that the token does not lock: restart kcsr-agent"
        ),
    }
}

/// The token key as rustls sees it.
pub(crate) struct TokenSigningKey(pub(crate) Arc<TokenCell>);

impl std::fmt::Debug for TokenSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigningKey")
            .field("token", &self.0.label)
            .field("kind", &self.0.kind)
            .finish_non_exhaustive()
    }
}

impl SigningKey for TokenSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let ours: &[SignatureScheme] = match self.0.kind {
            KeyKind::EcdsaP256 => &[SignatureScheme::ECDSA_NISTP256_SHA256],
            KeyKind::EcdsaP384 => &[SignatureScheme::ECDSA_NISTP384_SHA384],
            KeyKind::Rsa { .. } if self.0.pss => &[
                SignatureScheme::RSA_PSS_SHA256,
                SignatureScheme::RSA_PKCS1_SHA256,
            ],
            KeyKind::Rsa { .. } => &[SignatureScheme::RSA_PKCS1_SHA256],
            _ => &[],
        };
        let scheme = ours.iter().find(|s| offered.contains(s))?;
        Some(Box::new(TokenSigner {
            cell: self.0.clone(),
            scheme: *scheme,
        }))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        match self.0.kind {
            KeyKind::Rsa { .. } => SignatureAlgorithm::RSA,
            _ => SignatureAlgorithm::ECDSA,
        }
    }
}

struct TokenSigner {
    cell: Arc<TokenCell>,
    scheme: SignatureScheme,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("token", &self.cell.label)
            .field("scheme", &self.scheme)
            .finish()
    }
}

impl Signer for TokenSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        let (mechanism, input) = match self.scheme {
            SignatureScheme::RSA_PSS_SHA256 => (
                RawMechanism::RsaPssSha256,
                digest::digest(&digest::SHA256, message).as_ref().to_vec(),
            ),
            // The schemes offered for the key's kind: the digest (ECDSA) or DigestInfo (RSA
            // PKCS#1) as for a CSR the token signs.
            SignatureScheme::ECDSA_NISTP256_SHA256
            | SignatureScheme::ECDSA_NISTP384_SHA384
            | SignatureScheme::RSA_PKCS1_SHA256 => {
                let (scheme, input) = external_key::raw_sign_input(&self.cell.kind, message)
                    .map_err(|e| rustls::Error::General(e.to_string()))?;
                let mechanism = match scheme {
                    RawScheme::Ecdsa => RawMechanism::Ecdsa,
                    RawScheme::RsaPkcs1 => RawMechanism::RsaPkcs,
                };
                (mechanism, input)
            }
            other => {
                return Err(rustls::Error::General(format!(
                    "kcsr-agent does not sign with {other:?}"
                )));
            }
        };
        let raw = self
            .cell
            .sign(mechanism, &input)
            .map_err(|f| rustls::Error::General(f.message))?;
        if mechanism == RawMechanism::Ecdsa {
            external_key::x509_signature(RawScheme::Ecdsa, &raw)
                .map_err(|e| rustls::Error::General(e.to_string()))
        } else {
            Ok(raw)
        }
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

//! Logging in to a token: the user PIN from the URI's `pin-source` file (only its owner may
//! read it), a no-echo prompt on the terminal, or the reader's PIN pad. The PIN lives in a
//! zeroizing buffer and is never printed.

use std::io::IsTerminal as _;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::UserType;
use cryptoki::slot::TokenInfo;
use cryptoki::types::AuthPin;
use kcsr_core::pkcs11_uri::Pkcs11Uri;
use zeroize::Zeroizing;

use kcsr_fs as output;

use crate::error::{Error, ErrorKind, Result, ck_fail};
use crate::session::Token;

impl Token {
    pub(crate) fn login(
        &mut self,
        info: &TokenInfo,
        known: Option<Option<Zeroizing<String>>>,
    ) -> Result<()> {
        if !info.login_required() {
            return Ok(());
        }
        let pin = match known {
            Some(known) => known,
            None if info.protected_authentication_path() => {
                eprintln!(
                    "kcsr: enter the PIN of token {:?} on the reader's PIN pad",
                    self.label
                );
                None
            }
            None => Some(self.pin()?),
        };
        let auth = pin.as_ref().map(|p| AuthPin::from(p.as_str().to_owned()));
        match self.session.login(UserType::User, auth.as_ref()) {
            Ok(()) => {
                self.pin_checked = pin.is_some();
                self.pin = pin;
                Ok(())
            }
            Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {
                self.pin_checked = false;
                self.pin = pin;
                Ok(())
            }
            Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _)) => {
                Err(Error::new(format!(
                    "the PIN for token {:?} is wrong (the token refused the login: CKR_PIN_INCORRECT)",
                    self.label
                ))
                .kind(ErrorKind::Pin)
                .hint(match self.uri.pin_file() {
                    Some(f) => format!("put the right PIN in {f} (pin-source); a token locks its PIN after a few wrong ones"),
                    None => "type the token's user PIN; a token locks its PIN after a few wrong ones".to_owned(),
                }))
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(Error::new(format!(
                "the PIN of token {:?} is locked after too many wrong PINs",
                self.label
            ))
            .kind(ErrorKind::Pin)
            .hint("unlock it with the security officer's PIN (the token's own tool, e.g. softhsm2-util or ykman)")),
            Err(e) => Err(ck_fail(&format!("failed to log in to token {:?}", self.label), &e)),
        }
    }

    /// The user PIN: the first line of the `pin-source` file, else asked without echo.
    fn pin(&self) -> Result<Zeroizing<String>> {
        if let Some(file) = self.uri.pin_file() {
            // Refused unless only its owner may read it: with the PIN, anyone who reaches the
            // token (a shared reader, p11-kit) signs as the user.
            let bytes = output::read_owner_only(std::path::Path::new(file), 4096).map_err(|e| {
                let hint = if e.get_ref().is_some_and(|i| i.is::<output::NotOwnerOnly>()) {
                    format!("make the PIN file readable by you alone: chmod 600 {file}")
                } else {
                    "fix pin-source=file:/path in the URI, or leave it out to be asked for the PIN"
                        .to_owned()
                };
                Error::new(format!(
                    "failed to read the PIN file {file} (pin-source of the PKCS#11 URI): {e}"
                ))
                .hint(hint)
            })?;
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| Error::new(format!("the PIN file {file} is not UTF-8 text")))?;
            let line = text.lines().next().unwrap_or("");
            if line.is_empty() {
                return Err(Error::new(format!("the PIN file {file} is empty"))
                    .hint("put the token's user PIN on the first line"));
            }
            return Ok(Zeroizing::new(line.to_owned()));
        }
        if !std::io::stdin().is_terminal() {
            return Err(Error::new(format!(
                "a PIN is needed for token {:?} and standard input is not a terminal",
                self.label
            ))
            .hint("add pin-source=file:/path/to/pin-file to the PKCS#11 URI"));
        }
        let pin = Zeroizing::new(
            rpassword::prompt_password(format!("PIN for token {:?}: ", self.label))
                .map_err(|e| Error::new(format!("failed to read the PIN: {e}")))?,
        );
        Ok(pin)
    }
}

/// The logins of one run: the PIN asked once per token. A token named again (the same module,
/// the same token attributes and the same `pin-source`; the key object may differ) logs in
/// with the PIN its first login used, so that a PIN typed on the terminal is typed once however
/// many keys of that token the run uses. The PIN goes only to the token that accepted it: the
/// later login names that token by its serial number, so a look-alike with the same label is
/// not offered it; a token without a serial number, and a PIN the token never checked (its
/// session was already logged in), are asked for again. A token without a PIN (no login, a PIN
/// pad) is opened as [`Token::open`] does each time.
#[derive(Default)]
pub struct Logins {
    known: Vec<Known>,
}

struct Known {
    /// The URI without its key object: what names the token.
    token_uri: Pkcs11Uri,
    /// The serial number of the token that accepted `pin`.
    serial: String,
    pin: Zeroizing<String>,
}

impl Logins {
    /// The token `uri` names, logged in ([`Token::open`]), with the PIN kept from an earlier
    /// login to the same token when there was one.
    pub fn open(&mut self, uri: &Pkcs11Uri) -> Result<Token> {
        let token_uri = Pkcs11Uri {
            object: None,
            id: None,
            ..uri.clone()
        };
        if let Some(known) = self.known.iter().find(|k| k.token_uri == token_uri) {
            let pinned = Pkcs11Uri {
                serial: Some(known.serial.clone()),
                ..uri.clone()
            };
            return Token::open_with_pin(&pinned, Some(known.pin.clone()));
        }
        let token = Token::open(uri)?;
        if let Some(pin) = token.kept_pin() {
            self.known.push(Known {
                token_uri,
                serial: token.serial.clone(),
                pin,
            });
        }
        Ok(token)
    }
}

impl std::fmt::Debug for Logins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logins")
            .field("tokens", &self.known.len())
            .finish_non_exhaustive()
    }
}

//! A session on the one token a URI names: the module loaded and initialised, the slot
//! chosen ([`crate::slot`]), a read-write session opened and logged in ([`crate::login`]).

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use kcsr_core::pkcs11_uri::Pkcs11Uri;
use zeroize::Zeroizing;

use crate::error::{Error, Result, ck_fail};
use crate::slot::find_slot;

/// A logged-in session on the one token a URI names.
pub struct Token {
    pub(crate) pkcs11: Pkcs11,
    pub(crate) slot: Slot,
    pub(crate) session: Session,
    /// The token's label, for messages.
    pub(crate) label: String,
    /// The token's serial number, so that a caller opening it again finds this token and no
    /// look-alike with the same label.
    pub(crate) serial: String,
    pub(crate) uri: Pkcs11Uri,
    /// The PIN this session logged in with, kept only so that a long-running caller
    /// (kcsr-agent) can log in again after the token was removed and put back.
    pub(crate) pin: Option<Zeroizing<String>>,
    /// Whether the token itself accepted `pin` (a session already logged in accepts any PIN
    /// unchecked): only a checked PIN is offered to later logins ([`crate::Logins`]).
    pub(crate) pin_checked: bool,
}

impl Token {
    /// Loads the module, finds the token and logs in (with the PIN from `pin-source`, else
    /// asked on the terminal, or the reader's PIN pad).
    pub fn open(uri: &Pkcs11Uri) -> Result<Self> {
        Self::open_inner(uri, None)
    }

    /// Like [`Self::open`], with a PIN known from an earlier login (never asked, never read
    /// from `pin-source`): for logging in again after the token was put back.
    pub fn open_with_pin(uri: &Pkcs11Uri, pin: Option<Zeroizing<String>>) -> Result<Self> {
        Self::open_inner(uri, Some(pin))
    }

    fn open_inner(uri: &Pkcs11Uri, known: Option<Option<Zeroizing<String>>>) -> Result<Self> {
        let module = uri.module_path.as_deref().ok_or_else(|| {
            let given = uri
                .module_name
                .as_deref()
                .map(|n| format!(" (module-name={n} is not enough: kcsr loads modules by path)"))
                .unwrap_or_default();
            Error::new(format!("the PKCS#11 URI names no module-path{given}"))
                .hint("add ?module-path=/path/to/the/token's/pkcs11-module.so to the URI (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)")
        })?;
        let pkcs11 = Pkcs11::new(module).map_err(|e| {
            Error::new(format!("failed to load the PKCS#11 module {module}: {e}"))
                .hint("install the token's PKCS#11 module, or fix module-path in the URI")
        })?;
        // A module that stays loaded between two token keys of one run (renew) may still be
        // initialised from the first.
        match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => {
                return Err(ck_fail(
                    &format!("failed to initialise the PKCS#11 module {module}"),
                    &e,
                ));
            }
        }
        let (slot, info) = find_slot(&pkcs11, uri)?;
        let label = info.label().to_owned();
        let serial = info.serial_number().trim().to_owned();
        let session = pkcs11
            .open_rw_session(slot)
            .map_err(|e| ck_fail(&format!("failed to open a session on token {label:?}"), &e))?;
        let mut token = Self {
            pkcs11,
            slot,
            session,
            label,
            serial,
            uri: uri.clone(),
            pin: None,
            pin_checked: false,
        };
        token.login(&info, known)?;
        Ok(token)
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The PIN this session logged in with, for [`Token::open_with_pin`] on the same token
    /// later: only a PIN the token itself checked, and only for a token with a serial number
    /// (the later login names it by that, so that no look-alike with the same label is offered
    /// the PIN). `None` without login, with a PIN pad, or when either does not hold. Never
    /// printed.
    pub fn kept_pin(&self) -> Option<Zeroizing<String>> {
        self.pin
            .clone()
            .filter(|_| self.pin_checked && !self.serial.is_empty())
    }
}

//! Keys in PKCS#11 tokens (decisions 0011, 0012): load the module a URI names, find its one token,
//! log in, find or generate the key object, and sign with it. The private key never leaves
//! the token: kcsr reads its public half and asks for signatures. The PIN comes from the URI's
//! `pin-source` file or a no-echo prompt, lives in a zeroizing `AuthPin`, and is never
//! printed, logged or written. Used by `kcsr` (requests, verify, renew) and `kcsr-agent`
//! (TLS signatures for kubectl); no networking here.

use std::io::IsTerminal as _;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType as CkKeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, TokenInfo};
use cryptoki::types::AuthPin;
use kcsr_core::external_key::{self, EncodingError};
use kcsr_core::pkcs11_uri::Pkcs11Uri;
use kcsr_core::x509::{KeyKind, PublicKeyInfo};
use zeroize::Zeroizing;

use kcsr_fs as output;

mod error;
mod sign;

pub use error::{Error, ErrorKind};
pub use sign::RawMechanism;

/// The result of a token operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The key types kcsr generates in a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewKey {
    /// ECDSA on P-256.
    P256,
    /// ECDSA on P-384.
    P384,
    /// RSA of this many bits.
    Rsa(u32),
}

/// A logged-in session on the one token a URI names.
pub struct Token {
    pkcs11: Pkcs11,
    slot: Slot,
    session: Session,
    /// The token's label, for messages.
    label: String,
    /// The token's serial number, so that a caller opening it again finds this token and no
    /// look-alike with the same label.
    serial: String,
    uri: Pkcs11Uri,
    /// The PIN this session logged in with, kept only so that a long-running caller
    /// (kcsr-agent) can log in again after the token was removed and put back.
    pin: Option<Zeroizing<String>>,
}

/// A private key object in a token, with its public half.
pub struct TokenKey {
    token: Token,
    handle: ObjectHandle,
    public: PublicKeyInfo,
    /// What the token says about the key object.
    pub attributes: KeyAttributes,
}

/// The key object's protection, as the token reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAttributes {
    pub extractable: bool,
    pub sensitive: bool,
    /// Made inside the token (`CKA_LOCAL`), never extractable since (`CKA_NEVER_EXTRACTABLE`).
    pub generated_inside: bool,
}

impl KeyAttributes {
    /// Whether the private key can leave the token.
    pub fn can_leave(self) -> bool {
        self.extractable || !self.sensitive
    }
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
        };
        token.login(&info, known)?;
        Ok(token)
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The PIN this session logged in with (`None` without login or with a PIN pad): for
    /// [`Token::open_with_pin`] on the same token later in the run. Never printed.
    pub fn kept_pin(&self) -> Option<Zeroizing<String>> {
        self.pin.clone()
    }

    fn login(&mut self, info: &TokenInfo, known: Option<Option<Zeroizing<String>>>) -> Result<()> {
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
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {
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

    /// The private key the URI names, if the token holds it.
    pub fn find_key(self) -> Result<std::result::Result<TokenKey, Self>> {
        let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
        template.extend(self.names());
        if template.len() == 1 {
            return Err(Error::new("the PKCS#11 URI names no key object")
                .hint("add object=LABEL (and optionally id=%XX…) to the URI"));
        }
        let found = self
            .session
            .find_objects(&template)
            .map_err(|e| ck_fail(&format!("failed to search token {:?}", self.label), &e))?;
        match found.as_slice() {
            [] => Ok(Err(self)),
            [handle] => {
                let handle = *handle;
                self.key(handle, None).map(Ok)
            }
            many => Err(Error::new(format!(
                "{} private keys in token {:?} match {}",
                many.len(),
                self.label,
                self.object_name()
            ))
            .hint("add id=%XX… to the URI to pick one (p11tool --list-privkeys or pkcs11-tool --list-objects shows the ids)")),
        }
    }

    /// Generates the key pair the URI names inside the token: private half non-extractable
    /// and sensitive, both kept on the token (`persist`), or for this session only.
    pub fn generate(self, key_type: NewKey, persist: bool) -> Result<TokenKey> {
        let Some(label) = self.uri.object.clone() else {
            return Err(
                Error::new("the PKCS#11 URI names no object=LABEL for the new key")
                    .hint("add object=LABEL to the URI: the key is generated under that label"),
            );
        };
        let mut common = vec![
            Attribute::Token(persist),
            Attribute::Label(label.into_bytes()),
        ];
        if let Some(id) = &self.uri.id {
            common.push(Attribute::Id(id.clone()));
        }
        let (mechanism, mut public, mut private) = match key_type {
            NewKey::P256 | NewKey::P384 => (
                Mechanism::EccKeyPairGen,
                vec![
                    Attribute::EcParams(
                        external_key::ec_params(&if key_type == NewKey::P256 {
                            KeyKind::EcdsaP256
                        } else {
                            KeyKind::EcdsaP384
                        })
                        .unwrap_or_default(),
                    ),
                    Attribute::Verify(true),
                ],
                vec![Attribute::Derive(false)],
            ),
            NewKey::Rsa(bits) => {
                let bits = u64::from(bits);
                (
                    Mechanism::RsaPkcsKeyPairGen,
                    vec![
                        Attribute::ModulusBits(bits.into()),
                        Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
                        Attribute::Verify(true),
                        Attribute::Encrypt(false),
                    ],
                    vec![Attribute::Decrypt(false)],
                )
            }
        };
        public.extend(common.iter().cloned());
        public.push(Attribute::Private(false));
        private.extend(common);
        private.extend([
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ]);
        let (pub_handle, priv_handle) = self
            .session
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(|e| {
                ck_fail(
                    &format!("token {:?} could not generate a {key_type:?} key", self.label),
                    &e,
                )
                .hint("check that the token supports this key type (pkcs11-tool --list-mechanisms), or pass another --key-type")
            })?;
        self.key(priv_handle, Some(pub_handle))
    }

    /// `object=` and `id=` of the URI as a search template.
    fn names(&self) -> Vec<Attribute> {
        let mut t = Vec::new();
        if let Some(o) = &self.uri.object {
            t.push(Attribute::Label(o.clone().into_bytes()));
        }
        if let Some(id) = &self.uri.id {
            t.push(Attribute::Id(id.clone()));
        }
        t
    }

    fn object_name(&self) -> String {
        let mut s = Vec::new();
        if let Some(o) = &self.uri.object {
            s.push(format!("object={o:?}"));
        }
        if let Some(id) = &self.uri.id {
            s.push(format!("id={}", kcsr_core::digest::hex(id)));
        }
        s.join(" ")
    }

    /// The key object with its public half: an RSA key's own modulus and exponent, an EC
    /// key's point from its public key object (the same id, else the same label).
    fn key(self, handle: ObjectHandle, public_handle: Option<ObjectHandle>) -> Result<TokenKey> {
        let what = || format!("the key {} in token {:?}", self.object_name(), self.label);
        let attrs = self
            .session
            .get_attributes(
                handle,
                &[
                    AttributeType::KeyType,
                    AttributeType::Id,
                    AttributeType::Label,
                    AttributeType::Modulus,
                    AttributeType::PublicExponent,
                    AttributeType::EcParams,
                    AttributeType::Extractable,
                    AttributeType::Sensitive,
                    AttributeType::NeverExtractable,
                    AttributeType::Local,
                ],
            )
            .map_err(|e| ck_fail(&format!("failed to read {}", what()), &e))?;
        let mut a = Attrs::default();
        for attr in attrs {
            match attr {
                Attribute::KeyType(t) => a.key_type = Some(t),
                Attribute::Id(v) if !v.is_empty() => a.id = Some(v),
                Attribute::Label(v) => a.label = Some(v),
                Attribute::Modulus(v) => a.modulus = Some(v),
                Attribute::PublicExponent(v) => a.exponent = Some(v),
                Attribute::EcParams(v) => a.ec_params = Some(v),
                Attribute::Extractable(v) => a.extractable = v,
                Attribute::Sensitive(v) => a.sensitive = v,
                Attribute::NeverExtractable(v) => a.never_extractable = v,
                Attribute::Local(v) => a.local = v,
                _ => {}
            }
        }
        let bad = |e: EncodingError| Error::new(format!("{}: {e}", what()));
        let public = match a.key_type {
            Some(t) if t == CkKeyType::RSA => match (&a.modulus, &a.exponent) {
                (Some(n), Some(e)) => external_key::rsa_public_key(n, e).map_err(bad)?,
                _ => {
                    return Err(Error::new(format!(
                        "{}: the token does not show its RSA modulus",
                        what()
                    )));
                }
            },
            Some(t) if t == CkKeyType::EC => {
                let point = self.ec_point(public_handle, &a).map_err(|m| {
                    Error::new(format!("{}: {m}", what())).hint(
                        "kcsr builds the CSR from the public key object stored beside the private key (same id or label); import it into the token",
                    )
                })?;
                external_key::ec_public_key(a.ec_params.as_deref().unwrap_or_default(), &point)
                    .map_err(bad)?
            }
            other => {
                return Err(Error::new(format!(
                    "{} is a {} key; kcsr signs with EC (P-256, P-384) and RSA keys",
                    what(),
                    other
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| "unknown".to_owned())
                )));
            }
        };
        Ok(TokenKey {
            token: self,
            handle,
            public,
            attributes: KeyAttributes {
                extractable: a.extractable,
                sensitive: a.sensitive,
                generated_inside: a.local && a.never_extractable,
            },
        })
    }

    fn ec_point(
        &self,
        known: Option<ObjectHandle>,
        a: &Attrs,
    ) -> std::result::Result<Vec<u8>, String> {
        let handle =
            match known {
                Some(h) => h,
                None => {
                    let mut template = vec![
                        Attribute::Class(ObjectClass::PUBLIC_KEY),
                        Attribute::KeyType(CkKeyType::EC),
                    ];
                    match (&a.id, &a.label) {
                        (Some(id), _) => template.push(Attribute::Id(id.clone())),
                        (None, Some(label)) => template.push(Attribute::Label(label.clone())),
                        (None, None) => return Err(
                            "the private key has neither id nor label to find its public key by"
                                .to_owned(),
                        ),
                    }
                    let found = self
                        .session
                        .find_objects(&template)
                        .map_err(|e| e.to_string())?;
                    match found.as_slice() {
                        [h] => *h,
                        [] => {
                            return Err(
                                "the token holds no public key object beside the private key"
                                    .to_owned(),
                            );
                        }
                        _ => {
                            return Err(
                                "several public key objects carry the private key's id or label"
                                    .to_owned(),
                            );
                        }
                    }
                }
            };
        let attrs = self
            .session
            .get_attributes(handle, &[AttributeType::EcPoint, AttributeType::EcParams])
            .map_err(|e| e.to_string())?;
        let mut point = None;
        for attr in attrs {
            match attr {
                Attribute::EcPoint(p) => point = Some(p),
                // A public key object on another curve is not this key's.
                Attribute::EcParams(p) if Some(&p) != a.ec_params.as_ref() => {
                    return Err("its public key object is on another curve".to_owned());
                }
                _ => {}
            }
        }
        point.ok_or_else(|| "its public key object has no EC point".to_owned())
    }
}

#[derive(Default)]
struct Attrs {
    key_type: Option<CkKeyType>,
    id: Option<Vec<u8>>,
    label: Option<Vec<u8>>,
    modulus: Option<Vec<u8>>,
    exponent: Option<Vec<u8>>,
    ec_params: Option<Vec<u8>>,
    extractable: bool,
    sensitive: bool,
    never_extractable: bool,
    local: bool,
}

impl TokenKey {
    /// The token's label.
    pub fn token_label(&self) -> &str {
        self.token.label()
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("token", &self.token.label)
            .field("kind", &self.public.kind)
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    /// The key's public half, read from the token.
    pub fn public_key(&self) -> &PublicKeyInfo {
        &self.public
    }

    /// The URI the key was found by.
    pub fn uri(&self) -> &Pkcs11Uri {
        &self.token.uri
    }

    /// The URI narrowed to the token this key was found in (its serial number added): opening
    /// it again cannot reach another token that carries the same label.
    pub fn pinned_uri(&self) -> Pkcs11Uri {
        let mut uri = self.token.uri.clone();
        if uri.serial.is_none() && !self.token.serial.is_empty() {
            uri.serial = Some(self.token.serial.clone());
        }
        uri
    }

    /// The PIN the token was logged in with (`None` without login or with a PIN pad): for
    /// [`Token::open_with_pin`] after the token was put back. Never printed.
    pub fn kept_pin(&self) -> Option<Zeroizing<String>> {
        self.token.pin.clone()
    }

    /// Whether the token offers `mechanism` for signing.
    pub fn offers(&self, mechanism: RawMechanism) -> bool {
        self.token
            .pkcs11
            .get_mechanism_list(self.token.slot)
            .is_ok_and(|list| list.contains(&mechanism.mechanism_type()))
    }

    /// Asks the token to sign `input` (a digest or DigestInfo the caller made) with `mechanism`.
    pub fn sign_raw(&self, mechanism: RawMechanism, input: &[u8]) -> Result<Vec<u8>> {
        self.token
            .session
            .sign(&mechanism.mechanism(), self.handle, input)
            .map_err(|e| ck_fail(&format!("token {:?} could not sign", self.token.label), &e))
    }
}

#[cfg(feature = "csr")]
impl external_key::CsrSigner for TokenKey {
    fn public_key(&self) -> &PublicKeyInfo {
        &self.public
    }

    fn sign_tbs(&self, tbs: &[u8]) -> std::result::Result<Vec<u8>, kcsr_core::key::KeyError> {
        use kcsr_core::external_key::RawScheme;
        use kcsr_core::key::KeyError;
        let (scheme, input) = external_key::raw_sign_input(&self.public.kind, tbs)?;
        let mechanism = match scheme {
            RawScheme::Ecdsa => Mechanism::Ecdsa,
            RawScheme::RsaPkcs1 => Mechanism::RsaPkcs,
        };
        let raw = self
            .token
            .session
            .sign(&mechanism, self.handle, &input)
            .map_err(|e| {
                KeyError::Sign(format!("token {:?}: {}", self.token.label, ck_text(&e)))
            })?;
        Ok(external_key::x509_signature(scheme, &raw)?)
    }
}

/// The one slot whose token matches the URI's token attributes.
fn find_slot(pkcs11: &Pkcs11, uri: &Pkcs11Uri) -> Result<(Slot, TokenInfo)> {
    let slots = pkcs11
        .get_slots_with_token()
        .map_err(|e| ck_fail("failed to list the PKCS#11 slots", &e))?;
    let mut present = Vec::new();
    let mut matching = Vec::new();
    for slot in slots {
        // An uninitialised token (SoftHSM2 always shows a free one) holds no keys.
        let Ok(info) = pkcs11.get_token_info(slot) else {
            continue;
        };
        if !info.token_initialized() {
            continue;
        }
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        present.push(format!(
            "{:?} (serial {}, slot {})",
            info.label(),
            info.serial_number(),
            slot.id()
        ));
        if is(&uri.token, info.label())
            && is(&uri.manufacturer, info.manufacturer_id())
            && is(&uri.model, info.model())
            && is(&uri.serial, info.serial_number())
            && uri.slot_id.is_none_or(|id| id == slot.id())
        {
            matching.push((slot, info));
        }
    }
    let mut matching = matching.into_iter();
    match (matching.next(), matching.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(Error::new(format!(
            "no token {} in the PKCS#11 module {}; tokens present: {}",
            uri.token_name(),
            uri.module_path.as_deref().unwrap_or_default(),
            if present.is_empty() {
                "none".to_owned()
            } else {
                present.join(", ")
            }
        ))
        .kind(ErrorKind::NotPresent)
        .hint("insert the token, or fix token=/serial= in the URI")),
        (Some(_), Some(_)) => Err(Error::new(format!(
            "several tokens match the PKCS#11 URI ({})",
            present.join(", ")
        ))
        .hint("add token=LABEL or serial=… to the URI to pick one")),
    }
}

/// A PKCS#11 failure for the operator: what was being done, and the token's reason.
fn ck_fail(what: &str, e: &CkError) -> Error {
    let f = Error::new(format!("{what}: {}", ck_text(e)));
    match e {
        CkError::Pkcs11(
            RvError::TokenNotPresent | RvError::DeviceRemoved | RvError::SessionHandleInvalid,
            _,
        ) => f
            .kind(ErrorKind::NotPresent)
            .hint("insert the token and run kcsr again"),
        _ => f,
    }
}

/// The PKCS#11 return value by its CKR_ name and meaning, without the function list detail.
fn ck_text(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{function}: {rv}"),
        other => other.to_string(),
    }
}

//! The key object a URI names: found by `object=` and `id=`, its public half read from the
//! token (an RSA key's modulus, an EC key's point from its public key object), and its
//! protection as the token reports it.

use cryptoki::object::{Attribute, AttributeType, KeyType as CkKeyType, ObjectClass, ObjectHandle};
use kcsr_core::external_key::{self, EncodingError};
use kcsr_core::pkcs11_uri::Pkcs11Uri;
use kcsr_core::x509::PublicKeyInfo;
use zeroize::Zeroizing;

use crate::error::{Error, Result, ck_fail};
use crate::session::Token;

/// A private key object in a token, with its public half.
pub struct TokenKey {
    pub(crate) token: Token,
    pub(crate) handle: ObjectHandle,
    pub(crate) public: PublicKeyInfo,
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
    pub(crate) fn key(
        self,
        handle: ObjectHandle,
        public_handle: Option<ObjectHandle>,
    ) -> Result<TokenKey> {
        let what = || format!("the key {} in token {:?}", self.object_name(), self.label);
        let a = self.attributes(handle, &what)?;
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

    /// What the token shows of the key object `handle`.
    fn attributes(&self, handle: ObjectHandle, what: &dyn Fn() -> String) -> Result<Attrs> {
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
        Ok(a)
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

    /// Whether the token was logged in to with a PIN (not a PIN pad, not a token without
    /// login): logging in again then needs [`Self::kept_pin`].
    pub fn logged_in_with_pin(&self) -> bool {
        self.token.pin.is_some()
    }

    /// The PIN for [`Token::open_with_pin`] with [`Self::pinned_uri`] after the token was put
    /// back, under the rules of [`Token::kept_pin`]. Never printed.
    pub fn kept_pin(&self) -> Option<Zeroizing<String>> {
        self.token.kept_pin()
    }
}

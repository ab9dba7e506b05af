//! Generating a key pair inside the token: the private half sensitive and never extractable.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use kcsr_core::external_key;
use kcsr_core::x509::KeyKind;

use crate::error::{Error, Result, ck_fail};
use crate::key::TokenKey;
use crate::session::Token;

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

impl Token {
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
}

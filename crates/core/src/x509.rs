//! What kcsr reads out of CSRs and certificates: subject, public key, SANs, algorithms.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;
use x509_parser::der_parser::oid::Oid;
use x509_parser::extensions::{GeneralName, ParsedExtension, X509Extension};
use x509_parser::objects::{oid_registry, oid2sn};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519, OID_X509_COMMON_NAME, OID_X509_ORGANIZATION_NAME,
};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::{SubjectPublicKeyInfo, X509Name};

use crate::digest;

/// The kind of a public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum KeyKind {
    /// ECDSA on P-256.
    EcdsaP256,
    /// ECDSA on P-384.
    EcdsaP384,
    /// ECDSA on P-521 (Go accepts it; kcsr does not generate it).
    EcdsaP521,
    /// ECDSA on another curve.
    EcdsaOther {
        /// Curve OID.
        curve: String,
    },
    /// Ed25519.
    Ed25519,
    /// RSA (rsaEncryption SPKI).
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// DSA.
    Dsa,
    /// Anything else, by OID.
    Other {
        /// Algorithm OID or short name.
        algorithm: String,
    },
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EcdsaP256 => f.write_str("ECDSA P-256"),
            Self::EcdsaP384 => f.write_str("ECDSA P-384"),
            Self::EcdsaP521 => f.write_str("ECDSA P-521"),
            Self::EcdsaOther { curve } => write!(f, "ECDSA on curve {curve}"),
            Self::Ed25519 => f.write_str("Ed25519"),
            Self::Rsa { bits } => write!(f, "RSA {bits}"),
            Self::Dsa => f.write_str("DSA"),
            Self::Other { algorithm } => write!(f, "unknown key algorithm {algorithm}"),
        }
    }
}

/// A public key: its kind, its DER SubjectPublicKeyInfo, and the SHA-256 of that DER.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicKeyInfo {
    /// Key kind and size.
    pub kind: KeyKind,
    /// SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex. Reproduce with
    /// `openssl pkey -pubout -outform DER | sha256sum` (or `openssl req -pubkey`).
    pub fingerprint: String,
    /// The DER SubjectPublicKeyInfo.
    #[serde(skip)]
    pub spki_der: Vec<u8>,
}

/// The only RSA public exponent kcsr accepts: 65537 (F4), what every current tool generates.
/// Small exponents such as 3 turn padding and implementation flaws into forgeries and
/// plaintext recovery; no reason to trust a key made with one.
pub const RSA_PUBLIC_EXPONENT: u64 = 65_537;

impl PublicKeyInfo {
    /// For an RSA key whose public exponent is not [`RSA_PUBLIC_EXPONENT`]: the exponent as
    /// shown to the operator (`3`, or `a 2056-bit number`). `None` for 65537 and other keys.
    pub fn unexpected_rsa_exponent(&self) -> Option<String> {
        use x509_parser::prelude::FromDer;
        if !matches!(self.kind, KeyKind::Rsa { .. }) {
            return None;
        }
        let parsed = SubjectPublicKeyInfo::from_der(&self.spki_der)
            .ok()
            .and_then(|(_, spki)| match spki.parsed() {
                Ok(PublicKey::RSA(rsa)) => {
                    let e: Vec<u8> = rsa
                        .exponent
                        .iter()
                        .copied()
                        .skip_while(|b| *b == 0)
                        .collect();
                    Some(e)
                }
                _ => None,
            });
        let Some(exponent) = parsed else {
            return Some("unreadable".to_owned());
        };
        if exponent.len() > 8 {
            return Some(format!("a {}-bit number", exponent.len() * 8));
        }
        let value = exponent
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        (value != RSA_PUBLIC_EXPONENT).then(|| value.to_string())
    }

    /// From a DER SubjectPublicKeyInfo that x509-parser already parsed.
    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Self {
        Self::new(key_kind(spki), spki.raw.to_vec())
    }

    /// From a kind and DER.
    pub fn new(kind: KeyKind, spki_der: Vec<u8>) -> Self {
        Self {
            kind,
            fingerprint: digest::sha256_hex(&spki_der),
            spki_der,
        }
    }
}

fn key_kind(spki: &SubjectPublicKeyInfo<'_>) -> KeyKind {
    let alg = &spki.algorithm.algorithm;
    if *alg == OID_PKCS1_RSAENCRYPTION {
        let bits = match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => rsa.key_size(),
            _ => 0,
        };
        KeyKind::Rsa { bits }
    } else if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        match curve {
            Some(c) if c == OID_EC_P256 => KeyKind::EcdsaP256,
            Some(c) if c == OID_NIST_EC_P384 => KeyKind::EcdsaP384,
            Some(c) if c == OID_NIST_EC_P521 => KeyKind::EcdsaP521,
            Some(c) => KeyKind::EcdsaOther {
                curve: c.to_id_string(),
            },
            None => KeyKind::EcdsaOther {
                curve: "(missing)".to_owned(),
            },
        }
    } else if *alg == OID_SIG_ED25519 {
        KeyKind::Ed25519
    } else if alg.to_id_string() == "1.2.840.10040.4.1" {
        KeyKind::Dsa
    } else {
        KeyKind::Other {
            algorithm: oid_name(alg),
        }
    }
}

/// The short name of an OID when the registry knows it, else its dotted form.
pub fn oid_name(oid: &Oid<'_>) -> String {
    oid2sn(oid, oid_registry())
        .map(str::to_owned)
        .unwrap_or_else(|_| oid.to_id_string())
}

/// Whether a signature algorithm (by its short name) uses a broken digest (MD2/4/5, SHA-1).
pub fn is_weak_signature_algorithm(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["md2", "md4", "md5", "sha1", "sha-1"]
        .iter()
        .any(|w| n.contains(w))
        || n == "1.2.840.113549.1.1.5"
        || n == "1.2.840.10045.4.1"
        || n == "1.3.14.3.2.29"
}

/// The Kubernetes identity in a subject: CN is the user, each O a group (reference §4.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Subject {
    /// Every CN value (a valid request has exactly one).
    pub common_names: Vec<String>,
    /// Every O value, in order.
    pub organizations: Vec<String>,
    /// Other attributes as `(short name, value)`; the signer keeps some and drops others.
    pub other: Vec<(String, String)>,
    /// The subject as one line, OpenSSL style (`CN=alice, O=dev`).
    pub display: String,
}

impl Subject {
    pub(crate) fn from_name(name: &X509Name<'_>) -> Self {
        let mut s = Self {
            display: name.to_string(),
            ..Self::default()
        };
        for rdn in name.iter() {
            for atv in rdn.iter() {
                let value = atv
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|_| String::from_utf8_lossy(atv.attr_value().data).into());
                let oid = atv.attr_type();
                if *oid == OID_X509_COMMON_NAME {
                    s.common_names.push(value);
                } else if *oid == OID_X509_ORGANIZATION_NAME {
                    s.organizations.push(value);
                } else {
                    s.other.push((oid_name(oid), value));
                }
            }
        }
        s
    }

    /// The user: the single CN, if there is exactly one.
    pub fn user(&self) -> Option<&str> {
        match self.common_names.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

/// Subject alternative names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sans {
    /// DNS names.
    pub dns: Vec<String>,
    /// IP addresses.
    pub ip: Vec<IpAddr>,
    /// Email addresses.
    pub email: Vec<String>,
    /// URIs.
    pub uri: Vec<String>,
    /// Other forms, described.
    pub other: Vec<String>,
}

impl Sans {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty()
            && self.ip.is_empty()
            && self.email.is_empty()
            && self.uri.is_empty()
            && self.other.is_empty()
    }

    pub(crate) fn add(&mut self, names: &[GeneralName<'_>]) {
        for n in names {
            match n {
                GeneralName::DNSName(d) => self.dns.push((*d).to_owned()),
                GeneralName::RFC822Name(e) => self.email.push((*e).to_owned()),
                GeneralName::URI(u) => self.uri.push((*u).to_owned()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => self
                        .ip
                        .push(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default())),
                    16 => self
                        .ip
                        .push(IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default())),
                    _ => self.other.push(format!("IP address of {} bytes", b.len())),
                },
                other => self.other.push(format!("{other:?}")),
            }
        }
    }
}

/// An extension as present in a request or certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtensionSummary {
    /// Short name or dotted OID.
    pub name: String,
    /// Whether it is marked critical.
    pub critical: bool,
    /// Whether kcsr (and x509-parser) understand it.
    pub known: bool,
}

pub(crate) fn summarize_extension(ext: &X509Extension<'_>) -> ExtensionSummary {
    let known = !matches!(
        ext.parsed_extension(),
        ParsedExtension::UnsupportedExtension { .. } | ParsedExtension::ParseError { .. }
    );
    ExtensionSummary {
        name: oid_name(&ext.oid),
        critical: ext.critical,
        known,
    }
}

/// The kind of a DER SubjectPublicKeyInfo.
pub fn public_key_kind_from_der(spki_der: &[u8]) -> KeyKind {
    use x509_parser::prelude::FromDer;
    match SubjectPublicKeyInfo::from_der(spki_der) {
        Ok((_, spki)) => key_kind(&spki),
        Err(_) => KeyKind::Other {
            algorithm: "(unparsable public key)".to_owned(),
        },
    }
}

//! OpenSSH signatures (SSHSIG, `PROTOCOL.sshsig`) with Ed25519 keys, and `allowed_signers`
//! files: the station signs `SHA256SUMS` so that `ssh-keygen -Y verify` and kcsr-submit can
//! tell media the station wrote from media someone else wrote (decision 0009).
//!
//! Implemented here on aws-lc-rs rather than with the `ssh-key` crate, whose signing brings
//! a second crypto stack (`ed25519-dalek`). Only Ed25519 is signed or verified: it is the only
//! key type the station makes, and a line of another type in `allowed_signers` simply never
//! matches.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

const MAGIC: &[u8; 6] = b"SSHSIG";
const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const END: &str = "-----END SSH SIGNATURE-----";
const ED25519_NAME: &str = "ssh-ed25519";
/// Largest armored signature read; an Ed25519 one is about 300 bytes.
const MAX_ARMORED: usize = 16 * 1024;

/// Why a signature or an `allowed_signers` line cannot be used. Messages quote no secret (there
/// is none here) and bound what they echo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SshSigError {
    /// Not an armored SSHSIG, or a blob that does not decode.
    #[error("not an SSH signature: {0}")]
    Format(String),
    /// A signature version other than 1.
    #[error("SSH signature version {0} is not supported (only version 1)")]
    Version(u32),
    /// A key or signature type other than Ed25519.
    #[error("key type {0:?} is not supported (the station signs with ssh-ed25519)")]
    KeyType(String),
    /// A hash other than sha256/sha512.
    #[error("hash algorithm {0:?} is not sha256 or sha512")]
    Hash(String),
    /// Signed for another purpose.
    #[error("the signature is for namespace {found:?}, not {expected:?}")]
    Namespace {
        /// In the signature.
        found: String,
        /// Asked for.
        expected: String,
    },
    /// The signature does not verify over the message with its key.
    #[error(
        "the signature does not match the signed file (it was changed after signing, or signed by another key)"
    )]
    BadSignature,
}

/// An Ed25519 public key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

impl PublicKey {
    /// From the 32 raw bytes.
    pub fn from_raw(raw: [u8; 32]) -> Self {
        Self(raw)
    }

    /// The SSH wire form: `string "ssh-ed25519"`, `string key`.
    pub fn wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(51);
        put_string(&mut out, ED25519_NAME.as_bytes());
        put_string(&mut out, &self.0);
        out
    }

    fn from_wire(wire: &[u8]) -> Result<Self, SshSigError> {
        let mut r = Reader(wire);
        let kind = r.string()?;
        if kind != ED25519_NAME.as_bytes() {
            return Err(SshSigError::KeyType(printable(kind)));
        }
        let raw: [u8; 32] = r
            .string()?
            .try_into()
            .map_err(|_| SshSigError::Format("an Ed25519 key is 32 bytes".into()))?;
        r.end()?;
        Ok(Self(raw))
    }

    /// `ssh-ed25519 BASE64`, as in `authorized_keys` and `allowed_signers`.
    pub fn to_openssh(&self) -> String {
        format!("{ED25519_NAME} {}", STANDARD.encode(self.wire()))
    }

    /// From `ssh-ed25519 BASE64 [comment]`.
    pub fn from_openssh(line: &str) -> Result<Self, SshSigError> {
        let mut parts = line.split_whitespace();
        let (Some(kind), Some(b64)) = (parts.next(), parts.next()) else {
            return Err(SshSigError::Format(
                "expected `ssh-ed25519 BASE64 [comment]`".into(),
            ));
        };
        if kind != ED25519_NAME {
            return Err(SshSigError::KeyType(printable(kind.as_bytes())));
        }
        let wire = STANDARD
            .decode(b64)
            .map_err(|e| SshSigError::Format(format!("the key is not base64: {e}")))?;
        Self::from_wire(&wire)
    }

    /// OpenSSH's fingerprint: `SHA256:` + unpadded base64 of SHA-256 over the wire form, as
    /// `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        let d = digest::digest(&digest::SHA256, &self.wire());
        format!("SHA256:{}", STANDARD_NO_PAD.encode(d.as_ref()))
    }
}

/// The digest a signature commits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// `sha256`.
    Sha256,
    /// `sha512`, what `ssh-keygen -Y sign` and kcsr write.
    Sha512,
}

impl HashAlg {
    fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    fn digest(self, message: &[u8]) -> Vec<u8> {
        let alg = match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, message).as_ref().to_vec()
    }
}

/// A parsed SSHSIG signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The key that made it (not yet trusted: see [`AllowedSigners::find`]).
    pub public_key: PublicKey,
    /// What it was made for.
    pub namespace: String,
    /// The digest it commits to.
    pub hash: HashAlg,
    signature: [u8; 64],
}

/// The bytes the key signs: magic, namespace, reserved, hash name, H(message).
fn signed_data(namespace: &str, hash: HashAlg, message: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    put_string(&mut out, namespace.as_bytes());
    put_string(&mut out, b"");
    put_string(&mut out, hash.name().as_bytes());
    put_string(&mut out, &hash.digest(message));
    out
}

impl Signature {
    /// Reads an armored signature (`-----BEGIN SSH SIGNATURE-----`). Refuses versions other
    /// than 1, key types other than Ed25519, a non-empty reserved field and trailing bytes.
    pub fn parse_armored(data: &[u8]) -> Result<Self, SshSigError> {
        if data.len() > MAX_ARMORED {
            return Err(SshSigError::Format(format!(
                "larger than {MAX_ARMORED} bytes"
            )));
        }
        let text = std::str::from_utf8(data).map_err(|_| SshSigError::Format("not text".into()))?;
        let mut lines = text.lines().map(str::trim_end);
        if lines.next() != Some(BEGIN) {
            return Err(SshSigError::Format(format!(
                "the first line is not {BEGIN}"
            )));
        }
        let mut b64 = String::new();
        let mut ended = false;
        for line in lines.by_ref() {
            if line == END {
                ended = true;
                break;
            }
            b64.push_str(line);
        }
        if !ended {
            return Err(SshSigError::Format(format!("no {END} line")));
        }
        if lines.any(|l| !l.is_empty()) {
            return Err(SshSigError::Format(format!("text after {END}")));
        }
        let blob = STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| SshSigError::Format(format!("the body is not base64: {e}")))?;
        Self::from_blob(&blob)
    }

    fn from_blob(blob: &[u8]) -> Result<Self, SshSigError> {
        let mut r = Reader(blob);
        if r.take(6)? != MAGIC {
            return Err(SshSigError::Format("missing the SSHSIG magic".into()));
        }
        let version = r.u32()?;
        if version != 1 {
            return Err(SshSigError::Version(version));
        }
        let public_key = PublicKey::from_wire(r.string()?)?;
        let namespace = String::from_utf8(r.string()?.to_vec())
            .map_err(|_| SshSigError::Format("the namespace is not UTF-8".into()))?;
        if namespace.is_empty() {
            return Err(SshSigError::Format("the namespace is empty".into()));
        }
        if !r.string()?.is_empty() {
            return Err(SshSigError::Format(
                "the reserved field is not empty".into(),
            ));
        }
        let hash = match r.string()? {
            b"sha256" => HashAlg::Sha256,
            b"sha512" => HashAlg::Sha512,
            other => return Err(SshSigError::Hash(printable(other))),
        };
        let mut sig = Reader(r.string()?);
        r.end()?;
        let kind = sig.string()?;
        if kind != ED25519_NAME.as_bytes() {
            return Err(SshSigError::KeyType(printable(kind)));
        }
        let signature: [u8; 64] = sig
            .string()?
            .try_into()
            .map_err(|_| SshSigError::Format("an Ed25519 signature is 64 bytes".into()))?;
        sig.end()?;
        Ok(Self {
            public_key,
            namespace,
            hash,
            signature,
        })
    }

    /// Checks the signature over `message` for `namespace`, with the key it names. Whether
    /// that key is trusted is [`AllowedSigners::find`]'s question.
    pub fn verify(&self, message: &[u8], namespace: &str) -> Result<(), SshSigError> {
        if self.namespace != namespace {
            return Err(SshSigError::Namespace {
                found: printable(self.namespace.as_bytes()),
                expected: namespace.to_owned(),
            });
        }
        let data = signed_data(&self.namespace, self.hash, message);
        UnparsedPublicKey::new(&ED25519, &self.public_key.0)
            .verify(&data, &self.signature)
            .map_err(|_| SshSigError::BadSignature)
    }

    fn blob(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&1u32.to_be_bytes());
        put_string(&mut out, &self.public_key.wire());
        put_string(&mut out, self.namespace.as_bytes());
        put_string(&mut out, b"");
        put_string(&mut out, self.hash.name().as_bytes());
        let mut sig = Vec::with_capacity(83);
        put_string(&mut sig, ED25519_NAME.as_bytes());
        put_string(&mut sig, &self.signature);
        put_string(&mut out, &sig);
        out
    }

    /// The armored form `ssh-keygen -Y verify -s` reads.
    pub fn to_armored(&self) -> String {
        let b64 = STANDARD.encode(self.blob());
        let mut out = String::with_capacity(b64.len() + 80);
        out.push_str(BEGIN);
        out.push('\n');
        for chunk in b64.as_bytes().chunks(76) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str(END);
        out.push('\n');
        out
    }
}

/// Signs `message` for `namespace` with an Ed25519 station key, sha512 as `ssh-keygen` does.
#[cfg(feature = "keys")]
pub fn sign(
    key: &crate::key::PrivateKey,
    message: &[u8],
    namespace: &str,
) -> Result<Signature, crate::key::KeyError> {
    let public_key = ed25519_public_key(key)?;
    let raw = key.sign_message(&signed_data(namespace, HashAlg::Sha512, message))?;
    let signature: [u8; 64] = raw
        .try_into()
        .map_err(|_| crate::key::KeyError::Sign("an Ed25519 signature is 64 bytes".into()))?;
    Ok(Signature {
        public_key,
        namespace: namespace.to_owned(),
        hash: HashAlg::Sha512,
        signature,
    })
}

/// The OpenSSH public key of an Ed25519 [`crate::key::PrivateKey`].
#[cfg(feature = "keys")]
pub fn ed25519_public_key(key: &crate::key::PrivateKey) -> Result<PublicKey, crate::key::KeyError> {
    if key.kind() != &crate::x509::KeyKind::Ed25519 {
        return Err(crate::key::KeyError::Unsupported(format!(
            "the station signs with Ed25519, this key is {}",
            key.kind()
        )));
    }
    // The SPKI of an Ed25519 key is a fixed 12-byte header followed by the 32-byte key.
    let spki = &key.public_key().spki_der;
    let raw: [u8; 32] = spki
        .get(spki.len().saturating_sub(32)..)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| crate::key::KeyError::Unsupported("malformed Ed25519 key".into()))?;
    Ok(PublicKey(raw))
}

/// One line of an `allowed_signers` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedSigner {
    /// The principals field as written (comma-separated patterns).
    pub principals: String,
    /// `namespaces="…"`, when restricted.
    pub namespaces: Option<Vec<String>>,
    /// `valid-after=`, Unix seconds.
    pub valid_after: Option<i64>,
    /// `valid-before=`, Unix seconds.
    pub valid_before: Option<i64>,
    /// The key; `None` for a key type kcsr does not verify with (such a line never matches).
    pub key: Option<PublicKey>,
    /// Line number (1-based), for messages.
    pub line: usize,
}

/// Why an `allowed_signers` file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct AllowedSignersError {
    /// Line number (1-based).
    pub line: usize,
    /// What is wrong, and the fix.
    pub message: String,
}

/// Why no line of an `allowed_signers` file accepts a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotAllowed {
    /// No line holds the key.
    #[error("the key {0} is not in the allowed signers")]
    UnknownKey(String),
    /// Lines hold it, but none for this namespace.
    #[error("the key {key} is allowed only for other namespaces than {namespace:?}")]
    Namespace {
        /// The key's fingerprint.
        key: String,
        /// Asked for.
        namespace: String,
    },
    /// Lines hold it, but none is valid now.
    #[error("the key {0} is outside its valid-after/valid-before window")]
    Expired(String),
}

/// A parsed `allowed_signers` file (ssh-keygen(1), ALLOWED SIGNERS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedSigners {
    /// Its lines, comments and blanks left out.
    pub signers: Vec<AllowedSigner>,
}

const KEY_TYPE_PREFIXES: [&str; 5] = ["ssh-", "ecdsa-", "sk-", "rsa-", "x509v3-"];

impl AllowedSigners {
    /// Parses the file. Refuses `cert-authority` lines (kcsr trusts station keys, not CAs),
    /// unknown options, malformed dates and files with no signer at all.
    pub fn parse(text: &str) -> Result<Self, AllowedSignersError> {
        let mut signers = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            signers.push(parse_line(l, line)?);
        }
        if signers.is_empty() {
            return Err(AllowedSignersError {
                line: 0,
                message: "no signer in the file (only blank lines or comments)".into(),
            });
        }
        Ok(Self { signers })
    }

    /// The line that lets `key` sign for `namespace` at `now` (Unix seconds).
    pub fn find(
        &self,
        key: &PublicKey,
        namespace: &str,
        now: i64,
    ) -> Result<&AllowedSigner, NotAllowed> {
        let holding: Vec<&AllowedSigner> = self
            .signers
            .iter()
            .filter(|s| s.key.as_ref() == Some(key))
            .collect();
        if holding.is_empty() {
            return Err(NotAllowed::UnknownKey(key.fingerprint()));
        }
        let for_namespace: Vec<&&AllowedSigner> = holding
            .iter()
            .filter(|s| {
                s.namespaces
                    .as_ref()
                    .is_none_or(|ns| ns.iter().any(|n| n == namespace))
            })
            .collect();
        if for_namespace.is_empty() {
            return Err(NotAllowed::Namespace {
                key: key.fingerprint(),
                namespace: namespace.to_owned(),
            });
        }
        for_namespace
            .into_iter()
            .find(|s| {
                s.valid_after.is_none_or(|t| now >= t) && s.valid_before.is_none_or(|t| now < t)
            })
            .copied()
            .ok_or_else(|| NotAllowed::Expired(key.fingerprint()))
    }
}

/// The `allowed_signers` line for a station key.
pub fn allowed_signers_line(
    principal: &str,
    key: &PublicKey,
    valid_before: Option<&str>,
) -> String {
    let mut options = format!("namespaces=\"{}\"", crate::media::SIGNATURE_NAMESPACE);
    if let Some(t) = valid_before {
        options.push_str(&format!(",valid-before=\"{t}\""));
    }
    format!("{principal} {options} {} kcsr-station", key.to_openssh())
}

/// Splits off the first whitespace-separated field, honouring double quotes.
fn field(s: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return (&s[..i], s[i..].trim_start()),
            _ => {}
        }
    }
    (s, "")
}

fn is_key_type(s: &str) -> bool {
    KEY_TYPE_PREFIXES.iter().any(|p| s.starts_with(p))
}

fn parse_line(l: &str, line: usize) -> Result<AllowedSigner, AllowedSignersError> {
    let err = |message: String| AllowedSignersError { line, message };
    let (principals, rest) = field(l);
    let principals = principals.trim_matches('"').to_owned();
    if principals.is_empty() || rest.is_empty() {
        return Err(err(
            "expected `PRINCIPALS [OPTIONS] ssh-ed25519 BASE64 [COMMENT]`".into(),
        ));
    }
    let (second, after) = field(rest);
    let (options, key_text) = if is_key_type(second) {
        ("", rest)
    } else {
        (second, after)
    };
    let mut signer = AllowedSigner {
        principals,
        namespaces: None,
        valid_after: None,
        valid_before: None,
        key: None,
        line,
    };
    for opt in split_options(options) {
        let (name, value) = match opt.split_once('=') {
            Some((n, v)) => (n, Some(v.trim_matches('"'))),
            None => (opt, None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("namespaces", Some(v)) => {
                signer.namespaces = Some(v.split(',').map(str::to_owned).collect());
            }
            ("valid-after", Some(v)) => signer.valid_after = Some(parse_time(v).map_err(err)?),
            ("valid-before", Some(v)) => signer.valid_before = Some(parse_time(v).map_err(err)?),
            ("cert-authority", None) => {
                return Err(err(
                    "cert-authority lines are refused: list the station's own key (kcsr station show prints the line)".into(),
                ));
            }
            _ => {
                return Err(err(format!(
                    "unknown option {:?}; kcsr knows namespaces=, valid-after= and valid-before=",
                    printable(opt.as_bytes())
                )));
            }
        }
    }
    let (kind, _) = field(key_text);
    if !is_key_type(kind) {
        return Err(err(format!(
            "{:?} is not a key type such as ssh-ed25519",
            printable(kind.as_bytes())
        )));
    }
    if kind == ED25519_NAME {
        signer.key = Some(PublicKey::from_openssh(key_text).map_err(|e| err(e.to_string()))?);
    }
    Ok(signer)
}

/// Comma-separated options; commas inside double quotes do not split.
fn split_options(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// `YYYYMMDD[Z]` or `YYYYMMDDHHMM[SS][Z]`. ssh-keygen reads a time without `Z` as local time;
/// kcsr (which has no time zone in its core) reads every time as UTC and writes `Z`.
fn parse_time(v: &str) -> Result<i64, String> {
    let digits = v.strip_suffix(['Z', 'z']).unwrap_or(v);
    let bad = || format!("{v:?} is not a time of the form YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z]");
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (date, hh, mm, ss) = match digits.len() {
        8 => (digits, "00", "00", "00"),
        12 => (&digits[..8], &digits[8..10], &digits[10..12], "00"),
        14 => (
            &digits[..8],
            &digits[8..10],
            &digits[10..12],
            &digits[12..14],
        ),
        _ => return Err(bad()),
    };
    let rfc = format!(
        "{}-{}-{}T{hh}:{mm}:{ss}Z",
        &date[..4],
        &date[4..6],
        &date[6..8]
    );
    crate::time::parse_rfc3339(&rfc).ok_or_else(bad)
}

/// `YYYYMMDDHHMMSSZ` for `valid-before=`.
pub fn format_time(unix: i64) -> String {
    crate::time::format_rfc3339(unix)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .filter(|c| *c != 'T')
        .collect()
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s);
}

/// At most 64 printable ASCII characters of `b`, for messages about hostile input.
fn printable(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(64)
        .collect()
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SshSigError> {
        if self.0.len() < n {
            return Err(SshSigError::Format("truncated".into()));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, SshSigError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<&'a [u8], SshSigError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn end(&self) -> Result<(), SshSigError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(SshSigError::Format(format!(
                "{} trailing bytes",
                self.0.len()
            )))
        }
    }
}

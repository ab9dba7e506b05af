//! `allowed_signers` files (ssh-keygen(1), ALLOWED SIGNERS): which keys may sign what.

use super::public_key::PublicKey;
use super::wire::{ED25519_NAME, printable};

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

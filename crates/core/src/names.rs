//! Kubernetes identities and object names, parsed once at the boundary.
//!
//! A client certificate's subject CN is the user and each O is a group (reference §4.1). The
//! API server accepts almost any string there; these types refuse what cannot work or would
//! surprise an operator (empty, control characters, surrounding spaces) and report what is
//! legal but risky (a `system:` prefix) as warnings from [`crate::checks`].

use std::fmt;
use std::str::FromStr;

use crate::digest;

/// Longest user or group name accepted. X.509 allows 64 characters in a CN (`ub-common-name`)
/// and OpenSSL enforces it; Go does not. Longer names are refused here, before the media leaves.
pub const MAX_SUBJECT_LEN: usize = 64;

/// Why a user, group or object name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("{what} is empty")]
    Empty {
        /// "user name", "group name", "object name".
        what: &'static str,
    },
    /// The name contains a control character (including NUL and newlines).
    #[error("{what} {value:?} contains a control character")]
    Control {
        /// Which kind of name.
        what: &'static str,
        /// The offending value, debug-escaped when printed.
        value: String,
    },
    /// The name starts or ends with white space.
    #[error("{what} {value:?} starts or ends with white space")]
    Whitespace {
        /// Which kind of name.
        what: &'static str,
        /// The offending value.
        value: String,
    },
    /// The name is longer than allowed.
    #[error("{what} {value:?} is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// Which kind of name.
        what: &'static str,
        /// The offending value.
        value: String,
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The object name is not a DNS-1123 subdomain.
    #[error(
        "object name {value:?} is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters)"
    )]
    NotDns1123 {
        /// The offending value.
        value: String,
    },
}

fn check_subject_name(what: &'static str, s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty { what });
    }
    if s.chars().any(char::is_control) {
        return Err(NameError::Control {
            what,
            value: s.to_owned(),
        });
    }
    if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return Err(NameError::Whitespace {
            what,
            value: s.to_owned(),
        });
    }
    let len = s.chars().count();
    if len > MAX_SUBJECT_LEN {
        return Err(NameError::TooLong {
            what,
            value: s.to_owned(),
            len,
            max: MAX_SUBJECT_LEN,
        });
    }
    Ok(())
}

/// A Kubernetes user name: the CN of the client certificate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserName(String);

impl UserName {
    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A file-name-safe, collision-resistant stem for this user's files (see [`slug`]).
    pub fn slug(&self) -> String {
        slug(&self.0)
    }
}

impl FromStr for UserName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check_subject_name("user name", s)?;
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Kubernetes group name: one O of the client certificate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupName(String);

impl GroupName {
    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for GroupName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check_subject_name("group name", s)?;
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest name kcsr puts before a media file's suffix: `<stem>.binding.yaml`, its longest
/// name, must fit the 255-character limit of FAT32, exFAT (UTF-16 units) and ext4 (bytes).
pub const MAX_STEM_LEN: usize = 255 - crate::media::BINDING_SUFFIX.len();

/// A Kubernetes object name that is also safe as a file-name stem: a DNS-1123 subdomain of at
/// most [`MAX_STEM_LEN`] characters.
///
/// The API accepts more for CSRs (reference §4.2: anything but `.`, `..`, `/` and `%`), but
/// kcsr names files after objects, so it keeps to the strictest common rule: lowercase ASCII
/// only, so no two names differ only in case and none holds a character FAT32 or exFAT
/// refuse.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectName(String);

impl ObjectName {
    /// For names built from parts that are valid by construction.
    pub(crate) fn from_trusted(s: String) -> Self {
        Self(s)
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ObjectName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(NameError::Empty {
                what: "object name",
            });
        }
        if s.len() > MAX_STEM_LEN {
            return Err(NameError::TooLong {
                what: "object name",
                value: s.to_owned(),
                len: s.len(),
                max: MAX_STEM_LEN,
            });
        }
        if is_dns1123_subdomain(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError::NotDns1123 {
                value: s.to_owned(),
            })
        }
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `s` is a DNS-1123 label: 1-63 of `[a-z0-9-]`, alphanumeric at both ends.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Whether `s` is a DNS-1123 subdomain: at most 253 characters of dot-separated labels.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// Maps any user name onto a DNS-1123 label usable as a file-name stem and object-name prefix.
///
/// A name that already is such a label (and at most 40 long) is used as it is. Anything else
/// is lowercased, has other characters replaced by `-`, and gets six hex digits of the
/// name's SHA-256 appended, so `Alice` and `alice` never share files, not even on a
/// case-insensitive filesystem (FAT32, exFAT), and `oidc:bob@example.com` or `system:node:n1`
/// leave no `:` or `@` in a file name.
pub fn slug(name: &str) -> String {
    if name.len() <= 40 && is_dns1123_label(name) {
        return name.to_owned();
    }
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out.trim_matches('-').chars().take(40).collect();
    while out.ends_with('-') {
        out.pop();
    }
    let hash = &digest::sha256_hex(name.as_bytes())[..6];
    if out.is_empty() {
        format!("user-{hash}")
    } else {
        format!("{out}-{hash}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_refuse_what_cannot_work() {
        assert!(matches!(
            "".parse::<UserName>(),
            Err(NameError::Empty { .. })
        ));
        assert!(matches!(
            "a\u{0}b".parse::<UserName>(),
            Err(NameError::Control { .. })
        ));
        assert!(matches!(
            " alice".parse::<UserName>(),
            Err(NameError::Whitespace { .. })
        ));
        assert!(matches!(
            "x".repeat(65).parse::<UserName>(),
            Err(NameError::TooLong { len: 65, .. })
        ));
        assert_eq!(
            "jane@example.com".parse::<UserName>().unwrap().as_str(),
            "jane@example.com"
        );
        assert!("system:node:n1".parse::<UserName>().is_ok());
    }

    #[test]
    fn object_names_are_dns1123_subdomains() {
        assert!("alice-1f2e3d".parse::<ObjectName>().is_ok());
        assert!("a.b-c".parse::<ObjectName>().is_ok());
        for bad in ["Alice", "-a", "a-", "a..b", "a/b", "..", "a_b", ""] {
            assert!(bad.parse::<ObjectName>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn object_names_leave_room_for_every_media_suffix_in_255_characters() {
        // Labels of 63, dot-separated, cut to the limit (242: not on a dot).
        let longest: String = [&"a".repeat(63)[..]; 4].join(".")[..MAX_STEM_LEN].to_owned();
        assert_eq!(longest.len(), MAX_STEM_LEN);
        assert!(longest.parse::<ObjectName>().is_ok());
        for suffix in [
            crate::media::CSR_MANIFEST_SUFFIX,
            crate::media::BINDING_SUFFIX,
            crate::media::CERT_SUFFIX,
            crate::media::BUNDLE_SUFFIX,
        ] {
            assert!(longest.len() + suffix.len() <= 255, "{suffix}");
        }
        let over = format!("{longest}c");
        assert!(is_dns1123_subdomain(&over));
        assert!(matches!(
            over.parse::<ObjectName>(),
            Err(NameError::TooLong {
                max: MAX_STEM_LEN,
                ..
            })
        ));
    }

    #[test]
    fn stems_stay_distinct_and_portable_on_fat32_and_exfat() {
        // Users that differ only in case, and names with characters FAT and exFAT refuse.
        let users = [
            "alice",
            "Alice",
            "ALICE",
            "aLiCe",
            "oidc:bob@example.com",
            "OIDC:bob@example.com",
            "system:node:n1",
            "system:node:N1",
            "a*b?c\"d<e>f|g\\h",
            "jane.doe",
        ];
        let stems: Vec<String> = users.iter().map(|u| slug(u)).collect();
        let folded: std::collections::BTreeSet<String> =
            stems.iter().map(|s| s.to_ascii_lowercase()).collect();
        assert_eq!(folded.len(), users.len(), "{stems:?}");
        for stem in &stems {
            assert!(is_dns1123_label(stem), "{stem}");
            assert!(
                !stem.contains([':', '*', '?', '"', '<', '>', '|', '\\', '@', '.']),
                "{stem}"
            );
        }
        // Plain DNS-label users keep their stems: media written before stays valid.
        assert_eq!(slug("alice"), "alice");
        assert_eq!(slug("build-bot-7"), "build-bot-7");
    }

    #[test]
    fn slugs_are_labels_and_keep_distinct_names_apart() {
        assert_eq!(slug("alice"), "alice");
        let upper = slug("Alice");
        assert!(
            upper.starts_with("alice-") && is_dns1123_label(&upper),
            "{upper}"
        );
        assert_ne!(upper, slug("alice"));
        let odd = slug("system:node:worker/1");
        assert!(odd.starts_with("system-node-worker-1-"), "{odd}");
        assert!(is_dns1123_label(&slug("../..")));
        assert!(is_dns1123_label(&slug(&"é".repeat(60))));
    }
}

//! The patterns a policy names roles and groups with.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::rbac::Grant;

/// A role pattern: `NAME` (any kind), `ClusterRole/NAME` or `Role/NAME`, where `NAME` may end
/// with `*` to match every name that starts with what comes before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePattern {
    text: String,
    kind: Option<&'static str>,
    name: NamePattern,
}

impl RolePattern {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `grant`'s role matches: the kind (`ClusterRole` also for a RoleBinding to a
    /// ClusterRole) when the pattern names one, and the role's name.
    pub fn matches(&self, grant: &Grant) -> bool {
        self.kind.is_none_or(|k| k == grant.role_kind()) && self.name.matches(grant.role())
    }
}

impl std::str::FromStr for RolePattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, name) = match s.split_once('/') {
            Some(("ClusterRole", n)) => (Some("ClusterRole"), n),
            Some(("Role", n)) => (Some("Role"), n),
            Some((k, _)) => {
                return Err(format!(
                    "{s:?}: {k:?} is not ClusterRole or Role (patterns are NAME, ClusterRole/NAME or Role/NAME)"
                ));
            }
            None => (None, s),
        };
        Ok(Self {
            text: s.to_owned(),
            kind,
            name: name.parse().map_err(|e| format!("{s:?}: {e}"))?,
        })
    }
}

impl Serialize for RolePattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl fmt::Display for RolePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A name, or a prefix followed by `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    text: String,
    prefix: bool,
}

impl NamePattern {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        if self.prefix {
            name.starts_with(&self.text[..self.text.len() - 1])
        } else {
            name == self.text
        }
    }
}

impl std::str::FromStr for NamePattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err("an empty pattern matches nothing".to_owned());
        }
        if s.chars().any(|c| c.is_control() || c == '/' || c == ',') {
            return Err(format!(
                "{:?} holds '/', ',' or a control character",
                crate::terminal::one_line(s)
            ));
        }
        let stars = s.matches('*').count();
        if stars > 1 || (stars == 1 && !s.ends_with('*')) {
            return Err(format!("{s:?}: '*' may only end a pattern (e.g. team-*)"));
        }
        Ok(Self {
            text: s.to_owned(),
            prefix: stars == 1,
        })
    }
}

impl Serialize for NamePattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

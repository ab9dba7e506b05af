//! Does an issued certificate match what was requested? Shared by `kcsr verify`,
//! `kcsr assemble` and `kcsr-submit` so that all three apply the same rules.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::cert::CertInfo;
use crate::expiry::human_seconds;
use crate::names::UserName;
use crate::time;
use crate::usage::Usage;

/// What the certificate must match.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// SHA-256 of the DER SubjectPublicKeyInfo of the key or CSR.
    pub fingerprint: String,
    /// The user (CN), when known.
    pub user: Option<UserName>,
    /// The groups (O values), when known; order does not matter.
    pub groups: Option<Vec<String>>,
    /// Usages that must all be present.
    pub usages: Vec<Usage>,
    /// The requested lifetime, to report capping.
    pub expiration_seconds: Option<i64>,
}

/// One verification step and its result.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// `public key`, `user`, `groups`, `usages`, `not a CA`, `validity`, `lifetime`, `chain`.
    pub check: &'static str,
    /// Whether it holds.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
    /// What was found, for callers that act on it (`detail` is for people).
    #[serde(skip)]
    pub finding: Finding,
}

/// What a [`Step`] found beyond holding or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Finding {
    /// Nothing more than `ok` says.
    #[default]
    Plain,
    /// The cluster issued a shorter lifetime than requested (reported, not failed).
    Capped,
    /// The cluster issued a longer lifetime than requested (refused).
    Longer,
}

/// How much longer (or shorter) than requested an issued lifetime may be before it counts:
/// the signer backdates NotBefore by 5 minutes (reference §9.2).
pub const LIFETIME_SLACK_SECONDS: i64 = 600;

/// How far apart the clocks of the station, the connected machine and the cluster may be
/// before a certificate's validity window is judged wrong: five minutes, the signer's own
/// backdating (reference §9.2). One value for every side so that they agree on a verdict.
pub const DEFAULT_SKEW_SECONDS: i64 = 300;

/// Whether every step holds.
pub fn all_ok(steps: &[Step]) -> bool {
    steps.iter().all(|s| s.ok)
}

/// Runs every check of `leaf` against `e`: public key, user, groups, usages, CA flag,
/// validity at `now` (± `skew` seconds), the lifetime against the request (capping is
/// reported, not failed), and, when `cas` is given, the chain to one of them.
pub fn certificate(
    leaf: &CertInfo,
    e: &Expected,
    cas: Option<&[CertInfo]>,
    now: i64,
    skew: i64,
) -> Vec<Step> {
    let mut steps = vec![public_key(leaf, &e.fingerprint)];
    if let Some(user) = &e.user {
        steps.push(self::user(leaf, user));
    }
    if let Some(groups) = &e.groups {
        steps.push(self::groups(leaf, groups));
    }
    steps.push(usages(leaf, &e.usages));
    steps.push(not_a_ca(leaf));
    steps.push(validity(leaf, now, skew));
    if let Some(requested) = e.expiration_seconds {
        steps.push(lifetime(leaf, requested));
    }
    if let Some(cas) = cas {
        steps.push(chain(leaf, cas, now, skew));
    }
    steps
}

impl Step {
    fn plain(check: &'static str, ok: bool, detail: String) -> Self {
        Self {
            check,
            ok,
            detail,
            finding: Finding::Plain,
        }
    }
}

fn public_key(leaf: &CertInfo, fingerprint: &str) -> Step {
    let ok = leaf.public_key.fingerprint == fingerprint;
    let detail = if ok {
        format!("matches (sha256 {fingerprint})")
    } else {
        format!(
            "certificate has sha256 {}, expected {fingerprint}",
            leaf.public_key.fingerprint
        )
    };
    Step::plain("public key", ok, detail)
}

fn user(leaf: &CertInfo, user: &UserName) -> Step {
    let user = user.as_str();
    let ok = leaf.subject.user() == Some(user);
    let detail = if ok {
        format!("{user:?}")
    } else {
        format!(
            "certificate names {:?}, expected {user:?}",
            leaf.subject.common_names
        )
    };
    Step::plain("user", ok, detail)
}

fn groups(leaf: &CertInfo, groups: &[String]) -> Step {
    let want: BTreeSet<&String> = groups.iter().collect();
    let have: BTreeSet<&String> = leaf.subject.organizations.iter().collect();
    let ok = want == have;
    let detail = if ok {
        format!("{:?}", leaf.subject.organizations)
    } else {
        format!(
            "certificate has {:?}, expected {groups:?}",
            leaf.subject.organizations
        )
    };
    Step::plain("groups", ok, detail)
}

fn usages(leaf: &CertInfo, usages: &[Usage]) -> Step {
    let missing: Vec<&str> = usages
        .iter()
        .map(|u| u.as_str())
        .filter(|u| !leaf.usages.iter().any(|have| have == u))
        .collect();
    let detail = if missing.is_empty() {
        leaf.usages.join(", ")
    } else {
        format!("certificate lacks {missing:?} (it has {:?})", leaf.usages)
    };
    Step::plain("usages", missing.is_empty(), detail)
}

fn not_a_ca(leaf: &CertInfo) -> Step {
    let detail = if leaf.is_ca {
        "the certificate is a CA (BasicConstraints CA:TRUE)".to_owned()
    } else {
        "CA:FALSE".to_owned()
    };
    Step::plain("not a CA", !leaf.is_ca, detail)
}

fn validity(leaf: &CertInfo, now: i64, skew: i64) -> Step {
    let valid = leaf.is_valid_at(now, skew);
    let detail = format!(
        "{} to {} ({} at {})",
        time::format_rfc3339(leaf.not_before),
        time::format_rfc3339(leaf.not_after),
        if valid {
            "valid"
        } else if now < leaf.not_before {
            "not yet valid"
        } else {
            "expired"
        },
        time::format_rfc3339(now)
    );
    Step::plain("validity", valid, detail)
}

fn lifetime(leaf: &CertInfo, requested: i64) -> Step {
    let lifetime = leaf.not_after - leaf.not_before;
    // The signer backdates NotBefore by 5 minutes (reference §9.2); ten minutes of slack.
    // Longer than asked is refused: an object swapped for one without expirationSeconds
    // gets the signer's default lifetime, often a year.
    let longer = lifetime > requested + LIFETIME_SLACK_SECONDS;
    let capped = lifetime + LIFETIME_SLACK_SECONDS < requested;
    let (requested, issued) = (human_seconds(requested), human_seconds(lifetime));
    let (detail, finding) = if capped {
        (
            format!("requested {requested}, issued {issued}: the cluster capped it"),
            Finding::Capped,
        )
    } else if longer {
        (
            format!("requested {requested}, issued {issued}: longer than requested"),
            Finding::Longer,
        )
    } else {
        (
            format!("requested {requested}, issued {issued}"),
            Finding::Plain,
        )
    };
    Step {
        check: "lifetime",
        ok: !longer,
        detail,
        finding,
    }
}

fn chain(leaf: &CertInfo, cas: &[CertInfo], now: i64, skew: i64) -> Step {
    let issuer = cas.iter().find(|ca| leaf.is_signed_by(ca));
    let (ok, detail) = match issuer {
        Some(ca) if !ca.is_ca => (
            false,
            format!("signed by {:?}, which is not a CA", ca.subject.display),
        ),
        Some(ca) if !ca.is_valid_at(now, skew) => (
            false,
            format!(
                "signed by {:?}, which is not valid at that time",
                ca.subject.display
            ),
        ),
        Some(ca) => (true, format!("signed by {:?}", ca.subject.display)),
        None => (
            false,
            format!(
                "not signed by any of the {} CA certificate(s) given (issuer {:?})",
                cas.len(),
                leaf.issuer
            ),
        ),
    };
    Step::plain("chain", ok, detail)
}

//! Which certificates are due, and whether they may be renewed at all: the station's record
//! of their key, its state, and whether their expiry may be believed.

use kcsr_core::cert::CertInfo;
use kcsr_core::expiry::{Expiration, human_seconds};
use kcsr_core::station::{RequestRecord, RequestState};
use kcsr_core::time;

use crate::cmd::verify::unix_now;
use crate::fail::Result;
use crate::station::{self, Station};
use crate::{certs, plan, report};

/// One certificate judged: whose, when it ends, and whether it may be renewed.
pub(super) struct Judged<'a> {
    pub(super) f: &'a certs::Found,
    pub(super) record: Option<&'a RequestRecord>,
    /// The user as the station recorded it; the certificate's own CN only to name one the
    /// station has no record of.
    pub(super) user: String,
    pub(super) left: i64,
    pub(super) within: i64,
    pub(super) due: bool,
    pub(super) expired: bool,
    /// Why its user is no longer renewed, if they are not.
    pub(super) inactive: Option<String>,
    /// Whether its expiry may be believed (judged only for an active record).
    pub(super) trust: Option<certs::Trust>,
}

pub(super) fn judge<'a>(
    station: &Station,
    f: &'a certs::Found,
    records: &'a [RequestRecord],
    now: i64,
    within: Option<Expiration>,
) -> Result<Judged<'a>> {
    let left = f.cert.not_after - now;
    let within = window(within, &f.cert);
    let record = station::newest_for_key(records, &f.cert.public_key.fingerprint);
    let user = match record {
        Some(r) => r.user.clone(),
        None => f.cert.subject.common_names.join(","),
    };
    let inactive =
        record.and_then(|r| inactive(r, records)).or_else(|| {
            // The user keeps the key: only they can make the renewal's CSR.
            record.filter(|r| r.key_file == plan::EXTERNAL_CSR).map(|_| {
            "the user keeps their own key: ask them for a new CSR and run kcsr request --csr"
                .to_owned()
        })
        });
    let trust = match (&inactive, record) {
        (None, Some(r)) => Some(certs::trust(station, f, r, unix_now())?),
        _ => None,
    };
    Ok(Judged {
        f,
        record,
        user,
        left,
        within,
        due: left <= within,
        expired: left <= 0,
        inactive,
        trust,
    })
}

impl Judged<'_> {
    /// The operator's line of the certificate, with its row's outcome.
    pub(super) fn say(&self, dry_run: bool, row: &serde_json::Value) {
        let (f, left, expired) = (self.f, self.left, self.expired);
        let when = if expired {
            format!(
                "expired {} ({} ago)",
                time::format_rfc3339(f.cert.not_after),
                human_seconds(-left)
            )
        } else {
            format!(
                "expires {}, in {}",
                time::format_rfc3339(f.cert.not_after),
                human_seconds(left)
            )
        };
        let state = if let Some(why) = &self.inactive {
            format!("not renewed: {why} ({when})")
        } else if let Some(certs::Trust::Refused(why)) = &self.trust {
            format!(
                "NOT TRUSTED, not renewed: {why}; its expiry ({}) is not believed",
                time::format_rfc3339(f.cert.not_after)
            )
        } else if !self.due {
            format!(
                "not due ({when}; due within {})",
                human_seconds(self.within)
            )
        } else if let Some(e) = row.get("error") {
            format!("FAILED: {}", e.as_str().unwrap_or_default())
        } else if dry_run {
            format!(
                "{} ({when}): would request a renewal",
                if expired { "EXPIRED" } else { "due" }
            )
        } else {
            format!(
                "{} ({when}): request {} written; kcsr assemble --out-dir names its kubeconfig {}, replacing the older one",
                if expired { "EXPIRED" } else { "due" },
                row["request"]["name"].as_str().unwrap_or_default(),
                row["request"]["kubeconfig"].as_str().unwrap_or_default()
            )
        };
        report::say(&format!(
            "kcsr renew: {:?} ({}): {state}",
            report::sanitize(&self.user),
            f.source
        ));
        if let Some(certs::Trust::Unpinned(why)) = &self.trust {
            report::say(&format!("  warning: expiry not verified: {why}"));
        }
    }
}

/// How long before its end a certificate is due: `--within`, else the last third of its own
/// lifetime (at least a minute), so that a fresh certificate is never due.
fn window(within: Option<Expiration>, cert: &CertInfo) -> i64 {
    match within {
        Some(w) => w.seconds(),
        None => ((cert.not_after - cert.not_before) / 3).max(60),
    }
}

/// Why the user of `rec` is no longer renewed, if they are not: the request withdrawn,
/// denied or retired, or the user offboarded (the newest record of the user says so).
fn inactive(rec: &RequestRecord, records: &[RequestRecord]) -> Option<String> {
    let at = |r: &RequestRecord| {
        r.state_at
            .as_deref()
            .map(|t| format!(" on {t}"))
            .unwrap_or_default()
    };
    let time = |r: &RequestRecord| time::parse_rfc3339(&r.created).unwrap_or(i64::MIN);
    if let Some(newest) = records
        .iter()
        .filter(|r| r.user == rec.user)
        .max_by_key(|r| time(r))
        && newest.state == RequestState::Offboarded
    {
        return Some(format!("user offboarded{}", at(newest)));
    }
    (!rec.state.is_active()).then(|| format!("request {} {}{}", rec.name, rec.state, at(rec)))
}

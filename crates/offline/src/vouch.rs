//! What the station signs: only files its own records vouch for.
//!
//! `kcsr request`, `batch` and `renew` add their files to the media's existing `SHA256SUMS`
//! and sign the whole list. Whoever carried the media could have added lines to that list
//! (a request for their own key, a cluster-admin binding): signing it unchecked would give
//! them the station's signature. So every listed file must be one the station wrote, judged by
//! its records (decision 0009), never by the media's own claims.

use std::collections::BTreeMap;
use std::path::Path;

use kcsr_core::digest;
use kcsr_core::media::{BINDING_SUFFIX, CSR_MANIFEST_SUFFIX, OFFBOARD_SUFFIX, POLICY_FILE, stem};
use kcsr_core::names::{ObjectName, UserName};
use kcsr_core::rbac::{self, Grant};
use kcsr_core::station::{RequestRecord, RequestState};
use kcsr_core::sums::Sums;

use crate::fail::{Fail, Result};
use crate::report;
use crate::station::Station;

/// Where the station keeps a copy of every offboard request it wrote, to vouch for it later.
pub(crate) const OFFBOARDS_DIR: &str = "offboards";

/// What one run has read of the records and already found vouched for, so that a batch that
/// signs once per group reads each record once, not once per group.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    /// Record object name → (manifest SHA-256, stem, binding SHA-256).
    records: BTreeMap<String, (String, String, Option<String>)>,
    /// Media file name → the digest (hex) it was vouched for with.
    vouched: BTreeMap<String, String>,
}

/// Refuses when `sums` lists a file that no record of `station` accounts for with that exact
/// digest: a manifest whose record holds its SHA-256, or the binding that record's grant makes.
pub(crate) fn check(media: &Path, sums: &Sums, station: &Station, cache: &mut Cache) -> Result<()> {
    let foreign = foreign(sums, station, cache)?;
    if foreign.is_empty() {
        return Ok(());
    }
    Err(Fail::new(format!(
        "{}/SHA256SUMS lists {} file(s) this station did not write: {}; nothing was signed, and SHA256SUMS was left as it was",
        media.display(),
        foreign.len(),
        foreign
            .iter()
            .map(|n| report::sanitize(n))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .hint(
        "someone changed the media after the station wrote it: take these files and their SHA256SUMS lines off (or use empty media), then run the same command again",
    )
    .refused())
}

/// The files `sums` lists that no record of `station` accounts for with that exact digest
/// (as listed, not sanitized), in the list's order; what was vouched for is remembered in
/// `cache` only when nothing is foreign. A withdrawn request's files are never vouched for:
/// the station took them off, and signs them again for no one.
pub(crate) fn foreign(sums: &Sums, station: &Station, cache: &mut Cache) -> Result<Vec<String>> {
    let listed = |name: &str| sums.get(name).map(|d| digest::hex(d));
    let pending: Vec<(&str, String)> = sums
        .names()
        .filter_map(|n| listed(n).map(|h| (n, h)))
        .filter(|(n, h)| cache.vouched.get(*n) != Some(h))
        .collect();
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    for name in station.record_names()? {
        if !cache.records.contains_key(&name)
            && let Some(r) = station.record(&name)?
            && r.state != RequestState::Withdrawn
        {
            let binding = binding_sha256(&r);
            cache
                .records
                .insert(name, (r.manifest_sha256, r.stem, binding));
        }
    }
    let by_manifest: BTreeMap<&str, (&str, Option<&str>)> = cache
        .records
        .values()
        .map(|(m, stem, b)| (m.as_str(), (stem.as_str(), b.as_deref())))
        .collect();
    let mut foreign = Vec::new();
    let mut vouched = Vec::new();
    for (name, hex) in pending {
        let ok = if let Some(s) = stem(name, CSR_MANIFEST_SUFFIX) {
            by_manifest.get(hex.as_str()).is_some_and(|(r, _)| *r == s)
        } else if let Some(s) = stem(name, BINDING_SUFFIX) {
            // The binding of the request whose manifest is listed beside it.
            listed(&format!("{s}{CSR_MANIFEST_SUFFIX}"))
                .and_then(|m| by_manifest.get(m.as_str()).copied())
                .is_some_and(|(r, b)| r == s && b == Some(hex.as_str()))
        } else if name == POLICY_FILE {
            // The copy of the station's own policy, as it is now.
            crate::station_policy::load(station)?
                .is_some_and(|l| digest::sha256_hex(&l.bytes) == hex)
        } else if stem(name, OFFBOARD_SUFFIX).is_some() {
            // The station keeps every offboard request it wrote.
            station
                .read(&station.dir.join(OFFBOARDS_DIR).join(name))?
                .is_some_and(|kept| digest::sha256_hex(&kept) == hex)
        } else {
            false
        };
        if ok {
            vouched.push((name.to_owned(), hex));
        } else {
            foreign.push(name.to_owned());
        }
    }
    if foreign.is_empty() {
        cache.vouched.extend(vouched);
    }
    Ok(foreign)
}

/// SHA-256 (hex) of the binding file `kcsr request` writes for `r`'s grants, if it has any.
fn binding_sha256(r: &RequestRecord) -> Option<String> {
    let texts: Vec<&str> = if r.grants.is_empty() {
        r.grant.as_deref().into_iter().collect()
    } else {
        r.grants.iter().map(String::as_str).collect()
    };
    let grants: Vec<Grant> = texts
        .iter()
        .map(|g| g.parse().ok())
        .collect::<Option<_>>()?;
    let name: ObjectName = r.name.parse().ok()?;
    let user: UserName = r.user.parse().ok()?;
    let yaml = rbac::bindings_yaml(&name, &user, &grants).ok()??;
    Some(digest::sha256_hex(yaml.as_bytes()))
}

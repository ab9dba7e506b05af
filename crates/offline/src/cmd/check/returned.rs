//! What came back, as `kcsr check` judges it: each returned certificate against the key of
//! the request it answers, and a return directory (`kcsr-submit --out DIR`) as a whole.

use std::collections::{BTreeMap, BTreeSet};

use kcsr_core::bundle::Bundle;
use kcsr_core::cert;
use kcsr_core::media::{self as layout, BUNDLE_SUFFIX, CERT_SUFFIX, CSR_MANIFEST_SUFFIX};
use kcsr_core::sums::{self, Sums};
use kcsr_core::time;
use serde_json::{Value, json};

use super::findings::Findings;
use crate::fail::Result;
use crate::report;
use crate::station::Station;

/// The public keys (sha256) a returned certificate may be for, by the stem of its request.
pub(super) type KeysByStem = BTreeMap<String, BTreeSet<String>>;

/// A return directory (`kcsr-submit apply --out DIR`, no `SHA256SUMS`): every file a result
/// listed in `RETURNED.SHA256SUMS` (as `kcsr assemble --media RETURN_DIR` reads it), and with
/// `--keys` each for a request this station recorded under its stem. Returns the signature's
/// report (there is none to check: the request media keeps it) and, with `--keys`, the keys
/// the station recorded for each stem (a bundle's own object name narrows it to its record).
pub(super) fn return_dir_keys<'a>(
    station: Option<&Station>,
    returned: &Sums,
    content: &BTreeMap<&str, &[u8]>,
    found: impl IntoIterator<Item = layout::Found<'a>>,
    f: &mut Findings,
) -> Result<(Value, Option<KeysByStem>)> {
    let signature = json!({
        "verified": false,
        "summary": format!("none: a return directory carries no {} (the request media keeps it and its signature)", sums::FILE_NAME),
    });
    let Some(station) = station else {
        for p in layout::audit_return_dir(|_| true, returned, found, false) {
            f.problem(p);
        }
        f.warn(
            "a return directory checked without --keys: which requests its results answer, and for which keys, is not checked (pass --keys KEY_DIR on the station)",
        );
        return Ok((signature, None));
    };
    let records = station.records()?;
    let stems: BTreeSet<&str> = records.iter().map(|r| r.stem.as_str()).collect();
    for p in layout::audit_return_dir(|stem| stems.contains(stem), returned, found, false) {
        f.problem(p);
    }
    let mut keys: KeysByStem = BTreeMap::new();
    for r in &records {
        let named = content
            .get(format!("{}{BUNDLE_SUFFIX}", r.stem).as_str())
            .and_then(|d| Bundle::parse(d).ok())
            .map(|b| b.name);
        if named.is_none_or(|n| n == r.name) {
            keys.entry(r.stem.clone())
                .or_default()
                .insert(r.public_key_sha256.clone());
        }
    }
    Ok((signature, Some(keys)))
}

/// One file the connected side returned: its certificate against the request it answers.
pub(super) fn result(
    name: &str,
    data: &[u8],
    keys_by_stem: Option<&KeysByStem>,
    return_dir: bool,
    now: i64,
    f: &mut Findings,
) -> Option<Value> {
    let (stem, pem) = if let Some(stem) = layout::stem(name, CERT_SUFFIX) {
        (stem, data.to_vec())
    } else if let Some(stem) = layout::stem(name, BUNDLE_SUFFIX) {
        match Bundle::parse(data) {
            Ok(b) => (stem, b.certificate.into_bytes()),
            Err(e) => {
                f.problem(format!("{name}: {e}"));
                return Some(json!({"file": name, "summary": format!("{name}: unreadable")}));
            }
        }
    } else {
        return None;
    };
    let leaf = match cert::parse_first(&pem) {
        Ok(c) => c,
        Err(e) => {
            f.problem(format!("{name}: {e}"));
            return Some(json!({"file": name, "summary": format!("{name}: unreadable")}));
        }
    };
    if let Some(keys) = keys_by_stem
        && !keys
            .get(stem)
            .is_some_and(|k| k.contains(&leaf.public_key.fingerprint))
    {
        f.problem(if return_dir {
            format!(
                "{name}: its certificate is for the key sha256 {}, not the key of any request {stem} this station recorded",
                leaf.public_key.fingerprint
            )
        } else {
            format!(
                "{name}: its certificate is for the key sha256 {}, not the key of the request {stem}{CSR_MANIFEST_SUFFIX}",
                leaf.public_key.fingerprint
            )
        });
    }
    let until = time::format_rfc3339(leaf.not_after);
    let state = if leaf.not_after <= now {
        f.warn(format!(
            "{name}: expired {until}: an earlier trip's result (kcsr request puts the next trip in a trip-… directory of its own)"
        ));
        format!("EXPIRED {until}")
    } else {
        format!("valid until {until}")
    };
    Some(json!({
        "file": name,
        "user": leaf.subject.user(),
        "notAfter": until,
        "expired": leaf.not_after <= now,
        "summary": format!("{name}: certificate for {:?}, {state}", report::sanitize(leaf.subject.user().unwrap_or_default())),
    }))
}

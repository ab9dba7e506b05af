//! What assemble leaves in the station's record (decision 0010): the certificate it verified
//! (serial, validity) and what the bundle's audit record says about the approval and the
//! bindings, state `assembled`; for requests that came back as `<stem>.denied.yaml`, the
//! denial, state `denied`. And, from the station's records of the requests on this media,
//! every one it did not turn into a kubeconfig, and why.
//!
//! What the media says about approvals and denials is the connected side's report, kept as
//! such; the serial and validity are of the certificate assemble verified itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kcsr_core::bundle::Bundle;
use kcsr_core::media::{BUNDLE_SUFFIX, CSR_MANIFEST_SUFFIX, DENIED_SUFFIX};
use kcsr_core::outcome::RequestDenied;
use kcsr_core::station::{Assembled, Denial, RequestRecord, RequestState};
use kcsr_core::{cert, time};
use serde_json::json;

use super::check::Verified;
use super::media::Checked;
use crate::fail::{Fail, Result};
use crate::station::Station;
use crate::{plan, report};

/// A request of this media that did not become a kubeconfig.
pub(super) struct Outstanding {
    record: RequestRecord,
    /// `denied`, `failed`, `not-back` or `no-key`.
    kind: &'static str,
    why: String,
    denial: Option<Denial>,
}

impl Outstanding {
    pub(super) fn json(&self) -> serde_json::Value {
        json!({
            "name": self.record.name,
            "stem": self.record.stem,
            "user": self.record.user,
            "reason": self.kind,
            "detail": self.why,
        })
    }

    pub(super) fn line(&self) -> String {
        format!(
            "{} ({:?}): {}",
            self.record.stem,
            report::sanitize(&self.record.user),
            report::sanitize(&self.why)
        )
    }
}

/// The requests on the media (each `<stem>.csr.yaml` whose bytes are those the station
/// recorded) that have no bundle on it, or no key on this station; with `names`, only those
/// they name. A return directory (`return_only`) holds no requests: its requests are those
/// its bundles and denials name, so nothing there is "not back".
pub(super) fn outstanding(
    station: &Station,
    keys: &Path,
    checked: &Checked,
    names: &[String],
    return_only: bool,
) -> Result<Vec<Outstanding>> {
    let trip = if return_only {
        returned_requests(station, checked)?
    } else {
        requests_on_media(station, checked)?
    };
    let mut out = Vec::new();
    for record in &trip {
        let stem = record.stem.as_str();
        let wanted = names.is_empty()
            || names
                .iter()
                .any(|n| *n == record.stem || *n == record.name || *n == record.user);
        if !wanted {
            continue;
        }
        // A request that came back is judged by the verification (which knows --key-path and
        // the keys users keep themselves, and writes a token key's kubeconfig for kcsr-agent);
        // one that did not says if its key is gone too. A key in a token has no file to miss.
        let (kind, why, denial) = if checked.contains_key(&format!("{stem}{BUNDLE_SUFFIX}")) {
            continue;
        } else if let Some(data) = checked.get(&format!("{stem}{DENIED_SUFFIX}")) {
            denied(stem, data)
        } else {
            let mut why = "not back yet: no certificate on the media".to_owned();
            let key = key_path(keys, record);
            if record.key_file != plan::EXTERNAL_CSR
                && record.pkcs11_uri.is_none()
                && std::fs::symlink_metadata(&key).is_err()
            {
                why.push_str(&format!(
                    ", and no key for it: {} is missing",
                    key.display()
                ));
            }
            ("not-back", why, None)
        };
        out.push(Outstanding {
            record: record.clone(),
            kind,
            why,
            denial,
        });
    }
    Ok(out)
}

/// The station's records of the requests on the media, matched by manifest digest (a 10,000-user
/// media in one pass) and stem.
fn requests_on_media(station: &Station, checked: &Checked) -> Result<Vec<RequestRecord>> {
    let records: HashMap<String, RequestRecord> = station
        .records()?
        .into_iter()
        .map(|r| (r.manifest_sha256.clone(), r))
        .collect();
    Ok(checked
        .iter()
        .filter_map(|(file, data)| {
            let stem = kcsr_core::media::stem(file, CSR_MANIFEST_SUFFIX)?;
            let digest = kcsr_core::digest::sha256_hex(data);
            records.get(&digest).filter(|r| r.stem == stem).cloned()
        })
        .collect())
}

/// The station's records of the requests a return directory's bundles and denials name (by
/// object name, with the file's stem): what came back, as far as the station wrote it.
fn returned_requests(station: &Station, checked: &Checked) -> Result<Vec<RequestRecord>> {
    let mut out: Vec<RequestRecord> = Vec::new();
    for (file, data) in checked {
        let named = if let Some(stem) = kcsr_core::media::stem(file, BUNDLE_SUFFIX) {
            Bundle::parse(data).ok().map(|b| (stem, b.name))
        } else if let Some(stem) = kcsr_core::media::stem(file, DENIED_SUFFIX) {
            RequestDenied::parse(data).ok().map(|d| (stem, d.name))
        } else {
            None
        };
        let Some((stem, name)) = named else { continue };
        if out.iter().any(|r| r.name == name) {
            continue;
        }
        if let Some(r) = station.record(&name)?.filter(|r| r.stem == stem) {
            out.push(r);
        }
    }
    out.sort_by(|a, b| a.stem.cmp(&b.stem).then(a.name.cmp(&b.name)));
    Ok(out)
}

/// A request whose certificate verified but whose key is not at `key` (`NAME` its object name).
pub(super) fn no_key(station: &Station, name: &str, key: &Path) -> Result<Option<Outstanding>> {
    Ok(station.record(name)?.map(|record| Outstanding {
        record,
        kind: "no-key",
        why: format!("no key for it: {} is missing", key.display()),
        denial: None,
    }))
}

fn key_path(keys: &Path, r: &RequestRecord) -> PathBuf {
    let p = Path::new(&r.key_file);
    if p.is_absolute() {
        p.to_owned()
    } else {
        keys.join(p)
    }
}

/// `<stem>.denied.yaml` as the connected side wrote it.
fn denied(stem: &str, data: &[u8]) -> (&'static str, String, Option<Denial>) {
    match RequestDenied::parse(data) {
        Ok(d) => {
            let kind = if d.condition == "Failed" {
                "failed"
            } else {
                "denied"
            };
            let mut why = format!("{} on the cluster", d.condition);
            for part in [&d.reason, &d.message] {
                if !part.is_empty() {
                    why.push_str(": ");
                    why.push_str(part);
                }
            }
            if let Some(by) = &d.by {
                why.push_str(&format!(" (by {by})"));
            }
            why.push_str(&format!(" at {}", d.at));
            let denial = Denial {
                condition: d.condition,
                reason: Some(d.reason).filter(|s| !s.is_empty()),
                message: Some(d.message).filter(|s| !s.is_empty()),
                at: Some(d.at),
                by: d.by,
            };
            (kind, why, Some(denial))
        }
        Err(e) => (
            "denied",
            format!("came back as {stem}{DENIED_SUFFIX}, which does not read: {e}"),
            None,
        ),
    }
}

/// Records what this run verified and turned into a kubeconfig (state `assembled`; a token
/// key's too: its kubeconfig is kcsr-agent's) and the denials (state `denied`, only for requests still
/// `written`: a report on the media never undoes what the station knows). A re-run of the
/// same media changes nothing.
pub(super) fn record(
    station: &Station,
    verified: &[Verified],
    bundles: &[(String, Bundle)],
    outstanding: &[Outstanding],
    now: i64,
) -> Result<()> {
    let at = time::format_rfc3339(now);
    let bundles: HashMap<&str, &Bundle> = bundles.iter().map(|(s, b)| (s.as_str(), b)).collect();
    for v in verified.iter().filter(|v| v.recorded) {
        let Some(bundle) = bundles.get(v.stem.as_str()) else {
            continue;
        };
        let Some(mut r) = station.record(&bundle.name)? else {
            continue;
        };
        let Ok(leaf) = cert::parse_first(v.entry.cert_pem.as_bytes()) else {
            continue;
        };
        if r.assembled
            .as_ref()
            .is_some_and(|a| a.certificate_sha256 == leaf.fingerprint)
        {
            continue;
        }
        let audit = &bundle.audit;
        r.assembled = Some(Assembled {
            at: at.clone(),
            serial: leaf.serial.clone(),
            not_before: time::format_rfc3339(leaf.not_before),
            not_after: time::format_rfc3339(leaf.not_after),
            certificate_sha256: leaf.fingerprint.clone(),
            approved_by: audit.approved_by.clone(),
            approved_at: audit.approved_at.clone(),
            submitted_by: audit.submitted_by.clone(),
            bindings: audit.bindings.clone(),
        });
        if matches!(
            r.state,
            RequestState::Written | RequestState::Denied | RequestState::Assembled
        ) {
            r.set_state(RequestState::Assembled, &at);
            r.denied = None;
        }
        station.save_record(&r)?;
    }
    for o in outstanding {
        let (Some(denial), RequestState::Written) = (&o.denial, o.record.state) else {
            continue;
        };
        let mut r = o.record.clone();
        r.denied = Some(denial.clone());
        r.set_state(RequestState::Denied, &at);
        station.save_record(&r)?;
    }
    Ok(())
}

/// Why there is nothing to assemble on `media` (no bundle, or none `names` picks), with every
/// request of it that did not come back and a hint that fits them: requests the cluster
/// ended (denied, failed) are refused (exit 3) and need a new request; requests not back
/// yet need the connected side to finish (exit 1, as any failed run).
pub(super) fn nothing_back(
    media: &Path,
    names: &[String],
    outstanding: &[Outstanding],
    return_only: bool,
) -> Fail {
    let matching = if names.is_empty() {
        String::new()
    } else {
        format!(" matching {names:?}")
    };
    let lines: String = outstanding
        .iter()
        .map(|o| format!("\n  {}", o.line()))
        .collect();
    let ended = |o: &&Outstanding| matches!(o.kind, "denied" | "failed");
    let denied = outstanding.iter().filter(ended).count();
    let failed = outstanding.iter().any(|o| o.kind == "failed");
    let ended_hint = format!(
        "a request the cluster {} is never issued later: ask {} why (the reason is above), then make a new request with kcsr request for the next trip",
        if failed { "denied or failed" } else { "denied" },
        if failed {
            "the approver or the cluster's administrator"
        } else {
            "the approver"
        }
    );
    let wait_hint = "on the connected machine, run kcsr-submit apply --wait (or kcsr-submit fetch) before bringing the media back";
    if outstanding.is_empty() {
        let hint = if !names.is_empty() {
            format!(
                "no request of this station on {} matches --name: kcsr inspect --media {} lists them; run without --name to assemble them all",
                media.display(),
                media.display()
            )
        } else if return_only {
            "the return directory holds no certificate and no denial: kcsr-submit apply --wait --out DIR (or kcsr-submit fetch --out DIR) writes them".to_owned()
        } else {
            format!(
                "{} holds no request this station (--keys) wrote: pass the media of the trip and the key directory its requests were made with",
                media.display()
            )
        };
        return Fail::new(format!(
            "no certificate bundles (*{BUNDLE_SUFFIX}) on {}{matching}",
            media.display()
        ))
        .hint(hint);
    }
    if denied == outstanding.len() {
        return Fail::new(format!(
            "nothing to assemble on {}{matching}: the cluster {} {}{lines}",
            media.display(),
            if failed { "denied or failed" } else { "denied" },
            if denied == 1 {
                "the request".to_owned()
            } else {
                format!("all {denied} requests")
            }
        ))
        .hint(ended_hint)
        .refused();
    }
    let hint = if denied == 0 {
        wait_hint.to_owned()
    } else {
        format!("{wait_hint}, for the requests not back yet; for the others, {ended_hint}")
    };
    Fail::new(format!(
        "no certificate bundles (*{BUNDLE_SUFFIX}) on {}{matching}{lines}",
        media.display()
    ))
    .hint(hint)
}

/// The outstanding requests for the operator, on stderr.
pub(super) fn say(outstanding: &[Outstanding]) {
    if outstanding.is_empty() {
        return;
    }
    report::say(&format!(
        "kcsr: {} request(s) on the media were not turned into a kubeconfig:",
        outstanding.len()
    ));
    for o in outstanding {
        report::say(&format!("  {}", o.line()));
    }
}

//! One request on the media, as `kcsr check` judges it: its manifest, the cluster's rules,
//! its freshness, its binding against its grant, and the station's record of it.

use kcsr_core::checks::{self, Finding, Request};
use kcsr_core::csr::CsrInfo;
use kcsr_core::manifest::{self, CsrManifest, Document, GRANT_ANNOTATION, NOT_AFTER_ANNOTATION};
use kcsr_core::media::{BINDING_SUFFIX, CSR_MANIFEST_SUFFIX};
use kcsr_core::names::{ObjectName, UserName};
use kcsr_core::rbac::{BindingManifest, Grant};
use kcsr_core::station::RequestRecord;
use kcsr_core::time;
use serde_json::{Value, json};

use super::findings::Findings;
use crate::fail::Result;
use crate::report;
use crate::station::Station;

/// One request: its manifest, its checks, its binding, its freshness and (with the station)
/// its record.
pub(super) fn request(
    stem: &str,
    data: &[u8],
    binding: Option<&[u8]>,
    station: Option<&Station>,
    now: i64,
    f: &mut Findings,
) -> Result<Value> {
    let file = format!("{stem}{CSR_MANIFEST_SUFFIX}");
    let mut out = json!({"file": file});
    let Some((m, csr)) = read(&file, data, &mut out, f) else {
        return Ok(out);
    };
    let name = m.metadata.name.clone();
    let user = csr.subject.user().unwrap_or_default().to_owned();
    out["name"] = json!(name);
    out["user"] = json!(user);
    out["groups"] = json!(csr.subject.organizations);
    out["publicKeySha256"] = json!(csr.public_key.fingerprint);
    let mut said = vec![judge_rules(&file, &m, &csr, f)];
    out["notAfter"] = json!(freshness(&file, &m, &user, now, f, &mut said));
    let grant = m.metadata.annotations.get(GRANT_ANNOTATION);
    if let Some(p) = binding_said(stem, &file, grant, binding, (&name, &user), &mut said) {
        f.problem(p);
    }
    out["grant"] = json!(grant);

    if let Some(station) = station {
        match station.record(&name)? {
            None => f.problem(format!(
                "{file}: this station has no record of a request named {name:?}: it did not write it (or another key directory did)"
            )),
            Some(r) => {
                record_problems(&file, &r, data, &csr.public_key.fingerprint, f);
                said.push(format!("recorded ({})", r.state));
                out["state"] = json!(r.state);
            }
        }
    }
    out["summary"] = json!(format!(
        "{file} ({}, user {:?}, groups {}): {}",
        report::sanitize(&name),
        report::sanitize(&user),
        if csr.subject.organizations.is_empty() {
            "none".to_owned()
        } else {
            csr.subject.organizations.join(", ")
        },
        said.join(", ")
    ));
    Ok(out)
}

/// The manifest and its CSR, or (unreadable) the problem said and the summary set.
fn read(
    file: &str,
    data: &[u8],
    out: &mut Value,
    f: &mut Findings,
) -> Option<(CsrManifest, CsrInfo)> {
    let m = match manifest::parse_documents(data) {
        Ok(docs) => match docs.into_iter().next() {
            Some(Document::Csr(m)) => m,
            _ => {
                f.problem(format!("{file}: holds no CertificateSigningRequest"));
                out["summary"] = json!(format!("{file}: not a request"));
                return None;
            }
        },
        Err(e) => {
            f.problem(format!("{file}: {e}"));
            out["summary"] = json!(format!("{file}: unreadable"));
            return None;
        }
    };
    match m.decode_request() {
        Ok(c) => Some((m, c)),
        Err(e) => {
            f.problem(format!("{file}: {e}"));
            out["summary"] = json!(format!("{file}: unreadable request"));
            None
        }
    }
}

/// The cluster's rules: errors are problems, warnings warnings. Returns what to say of them.
fn judge_rules(file: &str, m: &CsrManifest, csr: &CsrInfo, f: &mut Findings) -> String {
    let findings = rules(m, csr);
    for e in findings.iter().filter(|x| x.level == checks::Level::Error) {
        f.problem(format!("{file}: [{}] {}", e.rule, e.message));
    }
    for w in findings
        .iter()
        .filter(|x| x.level == checks::Level::Warning)
    {
        f.warn(format!("{file}: [{}] {}", w.rule, w.message));
    }
    if findings.is_empty() {
        "checks ok".to_owned()
    } else {
        format!("{} finding(s)", findings.len())
    }
}

/// The request's `kcsr.dev/not-after` against `now`; returns it as written.
fn freshness<'m>(
    file: &str,
    m: &'m CsrManifest,
    user: &str,
    now: i64,
    f: &mut Findings,
    said: &mut Vec<String>,
) -> Option<&'m String> {
    let not_after = m.metadata.annotations.get(NOT_AFTER_ANNOTATION);
    match not_after.map(|t| (t, time::parse_rfc3339(t))) {
        Some((t, Some(at))) if at <= now => {
            f.problem(format!(
                "{file}: past its {NOT_AFTER_ANNOTATION} ({t}): the connected side refuses it; make it again (kcsr request) or take it off (kcsr withdraw --user {user})"
            ));
            said.push(format!("EXPIRED {t}"));
        }
        Some((t, Some(_))) => said.push(format!("accepted until {t}")),
        Some((t, None)) => f.problem(format!(
            "{file}: {NOT_AFTER_ANNOTATION} {t:?} is not a time"
        )),
        None => f.warn(format!(
            "{file}: no {NOT_AFTER_ANNOTATION}: written before requests were stamped"
        )),
    }
    not_after
}

/// The binding file against the request's grant; returns the problem, if any.
fn binding_said(
    stem: &str,
    file: &str,
    grant: Option<&String>,
    binding: Option<&[u8]>,
    (name, user): (&str, &str),
    said: &mut Vec<String>,
) -> Option<String> {
    match (grant, binding) {
        (None, None) => None,
        (Some(g), None) => Some(format!(
            "{file}: asks for the binding {g} but {stem}{BINDING_SUFFIX} is missing"
        )),
        (None, Some(_)) => Some(format!(
            "{stem}{BINDING_SUFFIX}: the request asks for no binding ({GRANT_ANNOTATION})"
        )),
        (Some(g), Some(b)) => match binding_problem(name, user, g, b) {
            None => {
                said.push(format!("binding {g} ok"));
                None
            }
            Some(p) => Some(format!("{stem}{BINDING_SUFFIX}: {p}")),
        },
    }
}

/// The cluster's rules for a manifest, as `kcsr inspect` and the connected side run them.
fn rules(m: &CsrManifest, csr: &CsrInfo) -> Vec<Finding> {
    let (Some(version), Ok(signer), Ok(usages)) = (m.version(), m.signer(), m.usages()) else {
        return vec![Finding {
            level: checks::Level::Error,
            rule: "manifest",
            message: "apiVersion, signerName or usages cannot be read".to_owned(),
            hint: None,
        }];
    };
    checks::check(&Request {
        api_version: version,
        signer: signer.as_ref(),
        usages: &usages,
        expiration_seconds: m.spec.expiration_seconds,
        csr,
    })
}

/// Whether the binding file holds exactly the bindings of the request's grants for its own
/// user (decision 0010: binding `i` named `<name>` for the first, `<name>-<i+1>` after).
fn binding_problem(name: &str, user: &str, grants: &str, data: &[u8]) -> Option<String> {
    let docs = match manifest::parse_documents(data) {
        Ok(d) => d,
        Err(e) => return Some(e.to_string()),
    };
    let on_media: Vec<&BindingManifest> = docs
        .iter()
        .filter_map(|d| match d {
            Document::Binding(b) => Some(b),
            Document::Csr(_) => None,
        })
        .collect();
    let (Ok(object), Ok(user)) = (name.parse::<ObjectName>(), user.parse::<UserName>()) else {
        return Some("the request's name or user cannot name a binding".to_owned());
    };
    let grants_read = match Grant::parse_list(grants) {
        Ok(g) => g,
        Err(e) => return Some(format!("the grant {grants:?} cannot be read: {e}")),
    };
    let want = match BindingManifest::for_grants(&object, &user, &grants_read) {
        Ok(w) => w,
        Err(e) => return Some(e.to_string()),
    };
    let same = on_media.len() == want.len() && on_media.iter().zip(&want).all(|(a, b)| *a == b);
    (!same).then(|| {
        format!(
            "is not exactly the binding(s) of the signed grant {grants} for user {user}: the connected side refuses it"
        )
    })
}

/// The media's request against the station's record of it.
fn record_problems(file: &str, r: &RequestRecord, data: &[u8], public_key: &str, f: &mut Findings) {
    if r.public_key_sha256 != public_key {
        f.problem(format!(
            "{file}: for the key sha256 {public_key}, but the station recorded {} for {}",
            r.public_key_sha256, r.name
        ));
    } else if r.manifest_sha256 != kcsr_core::digest::sha256_hex(data) {
        f.problem(format!(
            "{file}: not the manifest the station wrote for {} (its SHA-256 differs from the record's)",
            r.name
        ));
    }
    if !r.state.is_active() {
        f.problem(format!(
            "{file}: the station's record of {} is {}{}: it should not be on the media (kcsr withdraw --user {} takes it off)",
            r.name,
            r.state,
            r.state_at.as_deref().map(|t| format!(" since {t}")).unwrap_or_default(),
            r.user
        ));
    }
}

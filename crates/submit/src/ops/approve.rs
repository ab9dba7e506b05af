//! Approving and denying exactly the object that was reviewed, like `kubectl certificate
//! approve` / `deny` (§7), and reading back who decided.

use serde::Serialize;
use serde_json::Value;

use kcsr_core::manifest::ApiVersion;

use kcsr_core::time::now_rfc3339;

use super::read::get;
use crate::client::{Client, ClientError};
use crate::media::MediaRequest;
use crate::objects::{self, CsrObject};
use crate::problem::{Cause, Problem};
use crate::sanitize::one_line;

/// The object as fetched with one more condition (`Approved` or `Denied`), for the approval
/// subresource: its uid and resourceVersion stay, so the server applies it to exactly that
/// object.
fn with_condition(obj: &CsrObject, kind: &str, text: &ApprovalText) -> Value {
    let mut body = obj.raw.clone();
    let condition = serde_json::json!({
        "type": kind,
        "status": "True",
        "reason": text.reason,
        "message": text.message,
        "lastUpdateTime": now_rfc3339(),
    });
    if !body["status"].is_object() {
        body["status"] = serde_json::json!({});
    }
    match body["status"]["conditions"].as_array_mut() {
        Some(list) => list.push(condition),
        None => body["status"]["conditions"] = Value::Array(vec![condition]),
    }
    body
}

/// Sends the decision `kind` on `obj` (named `name`) to its approval subresource: the object
/// as the server holds it after, or its refusal (a conflict, a 403: each caller decides).
fn decide(
    client: &Client,
    version: ApiVersion,
    name: &str,
    obj: &CsrObject,
    kind: &str,
    text: &ApprovalText,
) -> Result<Value, ClientError> {
    let body = with_condition(obj, kind, text);
    let path = format!("{}/approval", objects::object_path(version, name));
    client.put_json(&path, &body)
}

/// What the approver's decision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Approval {
    /// We added the Approved condition.
    Approved,
    /// It was approved already; nothing sent.
    AlreadyApproved,
    /// We added the Denied condition.
    Denied,
    /// It was denied already; nothing sent.
    AlreadyDenied,
    /// The approver skipped it in the review: nothing sent.
    Skipped,
}

/// The reason kcsr-submit's own approvals carry; only then is the message read back as who
/// approved.
pub const APPROVE_REASON: &str = "KcsrApprove";
/// The reason kcsr-submit's own denials carry.
pub const DENY_REASON: &str = "KcsrDeny";

/// `Approved by USER with kcsr-submit` (or `Denied by …`): the approver's name as the API
/// server reported it (decision 0010); without it, `Approved with kcsr-submit`.
pub fn decision_message(verb: &str, user: Option<&str>) -> String {
    match user {
        Some(u) => format!("{verb} by {u} with kcsr-submit"),
        None => format!("{verb} with kcsr-submit"),
    }
}

/// Who a kcsr-submit decision condition names: only for a condition with `reason` and the
/// message kcsr-submit writes (`VERB by USER with kcsr-submit`).
fn decided_by(c: &objects::Condition, reason: &str, verb: &str) -> Option<String> {
    if c.reason != reason {
        return None;
    }
    let user = c
        .message
        .strip_prefix(&format!("{verb} by "))?
        .strip_suffix(" with kcsr-submit")?;
    (!user.trim().is_empty() && !user.chars().any(kcsr_core::terminal::is_unsafe))
        .then(|| user.to_owned())
}

/// The approver as kcsr-submit recorded it in the Approved condition.
pub fn approved_by(obj: &CsrObject) -> Option<String> {
    decided_by(obj.condition("Approved")?, APPROVE_REASON, "Approved")
}

/// Who denied, as kcsr-submit recorded it in the Denied condition.
pub fn denied_by(obj: &CsrObject) -> Option<String> {
    decided_by(obj.condition("Denied")?, DENY_REASON, "Denied")
}

/// Approval reason and message.
#[derive(Debug, Clone)]
pub struct ApprovalText {
    /// Condition reason.
    pub reason: String,
    /// Condition message.
    pub message: String,
}

/// Conflict retries, like kubectl (§7).
const APPROVE_RETRIES: u32 = 10;

/// What differs between the object that was reviewed and the one on the server now, in the
/// fields that decide what is approved: uid, `spec.request`, signer, usages, lifetime and
/// requestor. Empty: the same request (only its status or metadata moved on).
pub fn identity_changes(reviewed: &CsrObject, now: &CsrObject) -> Vec<String> {
    let mut out = Vec::new();
    let (a, b) = (&reviewed.spec, &now.spec);
    if reviewed.meta.uid != now.meta.uid {
        out.push(format!(
            "metadata.uid {:?} is now {:?} (deleted and created again)",
            one_line(&reviewed.meta.uid),
            one_line(&now.meta.uid)
        ));
    }
    if a.request != b.request {
        out.push("spec.request (another CSR)".to_owned());
    }
    if a.signer_name != b.signer_name {
        out.push(format!(
            "spec.signerName {:?} is now {:?}",
            one_line(a.signer_name.as_deref().unwrap_or("")),
            one_line(b.signer_name.as_deref().unwrap_or(""))
        ));
    }
    if a.usages != b.usages {
        out.push(format!(
            "spec.usages {:?} are now {:?}",
            a.usages.iter().map(|u| one_line(u)).collect::<Vec<_>>(),
            b.usages.iter().map(|u| one_line(u)).collect::<Vec<_>>()
        ));
    }
    if a.expiration_seconds != b.expiration_seconds {
        let show = |e: Option<i64>| e.map_or_else(|| "unset".to_owned(), |s| s.to_string());
        out.push(format!(
            "spec.expirationSeconds {} is now {}",
            show(a.expiration_seconds),
            show(b.expiration_seconds)
        ));
    }
    if a.username != b.username {
        out.push(format!(
            "spec.username {:?} is now {:?}",
            one_line(&a.username),
            one_line(&b.username)
        ));
    }
    out
}

/// Approves like `kubectl certificate approve` (§7), but exactly the object that was
/// reviewed: refuse a Denied CSR, skip an Approved one, append the condition and PUT
/// `/approval` carrying the reviewed object's uid and resourceVersion, so that the server
/// refuses it (409) if the object changed since. After a conflict, fetch again and go on only
/// if the request is still the reviewed one ([`identity_changes`]); else refuse, naming what
/// changed.
pub fn approve(
    client: &Client,
    version: ApiVersion,
    reviewed: &CsrObject,
    text: &ApprovalText,
) -> Result<(Approval, CsrObject), Problem> {
    let name = reviewed.meta.name.as_str();
    let mut attempt = 0;
    let mut obj = reviewed.clone();
    loop {
        if let Some(c) = obj.condition("Denied") {
            return Err(Problem::refused(
                format!(
                    "certificate signing request {name} is already Denied (reason {:?}, message {:?}); a Denied request is never approved",
                    one_line(&c.reason),
                    one_line(&c.message)
                ),
                Some("create a new request offline (kcsr request) if the denial was a mistake"),
            ));
        }
        if obj.condition("Approved").is_some() {
            return Ok((Approval::AlreadyApproved, obj));
        }
        match decide(client, version, name, &obj, "Approved", text) {
            Ok(raw) => {
                let decided = CsrObject::from_value(raw).map_err(Problem::failed)?;
                return Ok((Approval::Approved, decided));
            }
            Err(e) if e.as_api().is_some_and(|a| a.is_conflict()) && attempt < APPROVE_RETRIES => {
                attempt += 1;
                obj = still_the_reviewed(client, version, reviewed, &APPROVAL)?;
            }
            Err(e) if e.as_api().is_some_and(|a| a.is_forbidden()) => {
                return Err(may_not_approve(name, &obj, Problem::from(e)));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The decision a conflict interrupted, in the words its refusals use.
struct Decision {
    /// "approval" or "denial".
    noun: &'static str,
    /// "approved" or "denied".
    done: &'static str,
    /// The fix when the object was deleted since the review.
    deleted_hint: &'static str,
    /// The fix when the object was replaced since the review.
    changed_hint: &'static str,
}

const APPROVAL: Decision = Decision {
    noun: "approval",
    done: "approved",
    deleted_hint: "find out who deleted it; run kcsr-submit apply MEDIA_DIR to create it again, then review it again",
    changed_hint: "someone replaced the object: find out who (kcsr-submit status NAME), delete it, run kcsr-submit apply MEDIA_DIR again and review it again",
};

const DENIAL: Decision = Decision {
    noun: "denial",
    done: "denied",
    deleted_hint: "find out who deleted it (kcsr-submit status NAME); a deleted request issues no certificate",
    changed_hint: "look at it again (kcsr-submit status NAME) and deny it again",
};

/// After a conflict: the object as the server holds it now, if it is still the request that
/// was reviewed (only its status or metadata moved on); else a refusal naming what changed.
fn still_the_reviewed(
    client: &Client,
    version: ApiVersion,
    reviewed: &CsrObject,
    decision: &Decision,
) -> Result<CsrObject, Problem> {
    let name = reviewed.meta.name.as_str();
    let Decision { noun, done, .. } = decision;
    let fresh = match get(client, version, name) {
        Err(p) if p.cause == Cause::NotFound => {
            return Err(Problem::refused(
                format!("{name} was deleted between the review and the {noun}; nothing was {done}"),
                Some(decision.deleted_hint),
            ));
        }
        other => other?,
    };
    let changes = identity_changes(reviewed, &fresh);
    if !changes.is_empty() {
        return Err(Problem::refused(
            format!(
                "{name} changed between the review and the {noun}; nothing was {done}: {}",
                changes.join("; ")
            ),
            Some(decision.changed_hint),
        ));
    }
    Ok(fresh)
}

/// The server's 403 on an approval: separation of duties, said once per trip.
fn may_not_approve(name: &str, obj: &CsrObject, forbidden: Problem) -> Problem {
    let signer = obj.spec.signer_name.clone().unwrap_or_default();
    let mut p = Problem::failed(format!(
        "the server does not let these credentials approve {name}: {}",
        forbidden.message
    ))
    .with_hint(format!(
        "separation of duties: the submitter may create requests but not approve them; an approver with `approve` on `signers` {:?} (and `update` on certificatesigningrequests/approval) must run `kcsr-submit approve MEDIA_DIR`, then the submitter runs `kcsr-submit fetch MEDIA_DIR`",
        one_line(&signer)
    ));
    // The same for every request of the trip: said once.
    p.trip = Some(format!(
        "the server does not let these credentials approve requests for signer {:?} (403 Forbidden)",
        one_line(&signer)
    ));
    p
}

/// Denies like `kubectl certificate deny`, but exactly the object that was reviewed: a Denied
/// one is left alone, an Approved one is refused (the certificate may be issued; the
/// conditions exclude each other), and a changed object is never denied in its place.
pub fn deny(
    client: &Client,
    version: ApiVersion,
    reviewed: &CsrObject,
    text: &ApprovalText,
) -> Result<(Approval, CsrObject), Problem> {
    let name = reviewed.meta.name.as_str();
    let mut attempt = 0;
    let mut obj = reviewed.clone();
    loop {
        if obj.condition("Denied").is_some() {
            return Ok((Approval::AlreadyDenied, obj));
        }
        if obj.condition("Approved").is_some() {
            return Err(Problem::refused(
                format!(
                    "certificate signing request {name} is already Approved{}; an approved request cannot be denied",
                    if obj.is_issued() {
                        " and its certificate issued"
                    } else {
                        ""
                    }
                ),
                Some(
                    "a certificate cannot be revoked: remove the user's rights instead (kcsr offboard on the station, then kcsr-submit approve MEDIA_DIR)",
                ),
            ));
        }
        match decide(client, version, name, &obj, "Denied", text) {
            Ok(raw) => {
                let decided = CsrObject::from_value(raw).map_err(Problem::failed)?;
                return Ok((Approval::Denied, decided));
            }
            Err(e) if e.as_api().is_some_and(|a| a.is_conflict()) && attempt < APPROVE_RETRIES => {
                attempt += 1;
                obj = still_the_reviewed(client, version, reviewed, &DENIAL)?;
            }
            Err(e) if e.as_api().is_some_and(|a| a.is_forbidden()) => {
                let p = Problem::from(e);
                return Err(Problem::failed(format!(
                    "the server does not let these credentials deny {name}: {}",
                    p.message
                ))
                .with_hint(
                    "denying needs the approver's rights (`approve` on the signer and `update` on certificatesigningrequests/approval)",
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The `<stem>.denied.yaml` record of a request that ended Denied or Failed.
pub fn denied_record(
    req: &MediaRequest,
    obj: &CsrObject,
) -> Option<kcsr_core::outcome::RequestDenied> {
    let (kind, by) = if obj.condition("Denied").is_some() {
        ("Denied", denied_by(obj))
    } else if obj.condition("Failed").is_some() {
        ("Failed", None)
    } else {
        return None;
    };
    let c = obj.condition(kind)?;
    Some(kcsr_core::outcome::RequestDenied {
        api_version: kcsr_core::outcome::API_VERSION.to_owned(),
        kind: kcsr_core::outcome::DENIED_KIND.to_owned(),
        name: req.name().to_owned(),
        user: req.csr.subject.user().unwrap_or_default().to_owned(),
        condition: kind.to_owned(),
        reason: c.reason.clone(),
        message: c.message.clone(),
        at: c
            .last_update_time
            .clone()
            .or_else(|| c.last_transition_time.clone())
            .unwrap_or_else(now_rfc3339),
        by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_condition(kind: &str, reason: &str, message: &str) -> CsrObject {
        CsrObject::from_value(serde_json::json!({
            "metadata": {"name": "a"},
            "spec": {"request": ""},
            "status": {"conditions": [{"type": kind, "status": "True", "reason": reason, "message": message}]},
        }))
        .unwrap()
    }

    #[test]
    fn the_approver_is_read_back_only_from_kcsr_submits_own_condition() {
        let ok = with_condition(
            "Approved",
            "KcsrApprove",
            "Approved by ops-anna with kcsr-submit",
        );
        assert_eq!(approved_by(&ok).as_deref(), Some("ops-anna"));
        for (reason, message) in [
            ("CHG-1", "Approved by ops-anna with kcsr-submit"),
            ("KcsrApprove", "ok by ops"),
            ("KcsrApprove", "Approved by  with kcsr-submit"),
            ("KcsrApprove", "Approved by a\u{1b}[2J with kcsr-submit"),
        ] {
            assert_eq!(
                approved_by(&with_condition("Approved", reason, message)),
                None,
                "{message}"
            );
        }
        let denied = with_condition("Denied", "KcsrDeny", "Denied by ops-anna with kcsr-submit");
        assert_eq!(denied_by(&denied).as_deref(), Some("ops-anna"));
        assert_eq!(approved_by(&denied), None);
        assert_eq!(
            decision_message("Approved", None),
            "Approved with kcsr-submit"
        );
    }
}

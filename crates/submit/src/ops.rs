//! The per-request operations of `kcsr-submit`: create (resuming an identical existing object),
//! approve like kubectl (§7), wait (watch, falling back to polling, §8/§13), verify the
//! certificate and build the bundle. Each returns a [`Problem`] that says which exit code it
//! maps to and what to do.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use kcsr_core::bundle::{API_VERSION, Audit, Bundle, BundleCluster, KIND};
use kcsr_core::cert::{self, CertInfo};
use kcsr_core::exit::Exit;
use kcsr_core::manifest::ApiVersion;
use kcsr_core::names::UserName;
use kcsr_core::rbac::BindingManifest;
use kcsr_core::time::format_rfc3339;
use kcsr_core::verify::{self, Expected, Step};

use crate::client::{Client, ClientError, query_escape};
use crate::media::MediaRequest;
use crate::objects::{self, CsrObject, State};
use crate::sanitize::one_line;
use crate::watch::WatchEvent;

/// How a request ended badly; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// I/O, network, permissions (exit 1).
    Failed,
    /// Denied, Failed, a certificate that does not verify, a conflicting object (exit 3).
    Refused,
    /// Waited and it did not come (exit 4).
    TimedOut,
}

impl ProblemKind {
    /// The exit status it stands for.
    pub fn exit(self) -> Exit {
        match self {
            Self::Failed => Exit::Failed,
            Self::Refused => Exit::Refused,
            Self::TimedOut => Exit::Incomplete,
        }
    }
}

/// Why one request did not complete, with the fix.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// Which kind.
    pub kind: ProblemKind,
    /// What happened (server text already sanitised).
    pub message: String,
    /// What to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The same cause for every request of a trip (e.g. these credentials may not approve):
    /// said once per trip, with the requests it hit, instead of once per request.
    #[serde(skip)]
    pub trip: Option<String>,
    /// What the server answered, kept typed so that callers decide on it, not on the text.
    #[serde(skip)]
    pub cause: Cause,
}

/// The server's answer behind a [`Problem`], as far as callers act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cause {
    /// Anything else (not an answer from the server, or one no caller acts on).
    #[default]
    Other,
    /// The object does not exist (404 / `NotFound`).
    NotFound,
    /// These credentials may not do it (403).
    Forbidden,
}

impl Cause {
    /// The cause of a client error.
    pub fn of(e: &ClientError) -> Self {
        match e.as_api() {
            Some(a) if a.is_not_found() => Self::NotFound,
            Some(a) if a.is_forbidden() => Self::Forbidden,
            _ => Self::Other,
        }
    }
}

impl Problem {
    /// A problem of `kind`.
    pub fn new(kind: ProblemKind, message: impl Into<String>, hint: Option<&str>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: hint.map(str::to_owned),
            trip: None,
            cause: Cause::Other,
        }
    }
    /// Exit 1.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ProblemKind::Failed, message, None)
    }
    /// Exit 3.
    pub fn refused(message: impl Into<String>, hint: Option<&str>) -> Self {
        Self::new(ProblemKind::Refused, message, hint)
    }
    /// Attaches a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl From<ClientError> for Problem {
    fn from(e: ClientError) -> Self {
        Self {
            kind: ProblemKind::Failed,
            message: crate::sanitize::for_terminal(&e.to_string()),
            hint: e.hint(),
            trip: None,
            cause: Cause::of(&e),
        }
    }
}

/// The exit code for a set of outcomes: 3 if anything was refused, else 1 if anything failed,
/// else 4 if anything timed out, else 0 ([`Exit::worst`], the rule both binaries follow).
pub fn exit_code<'a>(problems: impl IntoIterator<Item = &'a Problem>) -> Exit {
    Exit::worst(problems.into_iter().map(|p| p.kind.exit()))
}

pub use kcsr_core::time::{now_rfc3339, now_unix};

fn get(client: &Client, version: ApiVersion, name: &str) -> Result<CsrObject, Problem> {
    let raw: Value = client.get_json(&objects::object_path(version, name))?;
    CsrObject::from_value(raw).map_err(Problem::failed)
}

/// The object `name` as the server holds it now.
pub fn get_object(client: &Client, version: ApiVersion, name: &str) -> Result<CsrObject, Problem> {
    get(client, version, name)
}

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

fn dry_run_suffix(dry_run: bool) -> &'static str {
    if dry_run { "?dryRun=All" } else { "" }
}

// ---------------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------------

/// What creating found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Created {
    /// A new object.
    Created,
    /// An identical object existed (a re-run resumes with it).
    Exists,
    /// `--dry-run`: the server accepted it; nothing was stored.
    DryRun,
}

/// Creates the CSR from the manifest (never with username/groups: the server sets them), or
/// resumes with an identical existing one.
pub fn create_csr(
    client: &Client,
    req: &MediaRequest,
    dry_run: bool,
) -> Result<(Created, CsrObject), Problem> {
    let version = version_of(req)?;
    let mut body = serde_json::to_value(&req.manifest)
        .map_err(|e| Problem::failed(format!("cannot encode {}: {e}", req.name())))?;
    if let Some(spec) = body.get_mut("spec").and_then(Value::as_object_mut) {
        for field in ["username", "uid", "groups", "extra"] {
            spec.remove(field);
        }
    }
    let path = format!(
        "{}{}",
        objects::collection_path(version),
        dry_run_suffix(dry_run)
    );
    match client.post_json::<_, Value>(&path, &body) {
        Ok(raw) => {
            let obj = CsrObject::from_value(raw).map_err(Problem::failed)?;
            Ok((
                if dry_run {
                    Created::DryRun
                } else {
                    Created::Created
                },
                obj,
            ))
        }
        Err(e) if e.as_api().is_some_and(|a| a.is_already_exists()) => {
            let existing = get(client, version, req.name())?;
            compare_existing(req, &existing)?;
            Ok((Created::Exists, existing))
        }
        Err(e) => {
            let mut p = Problem::from(e);
            p.message = format!("cannot create {}: {}", req.name(), p.message);
            if p.hint.is_none() {
                p.hint = Some(
                    "the server refused the manifest: check its validation message above against the offline checks".into(),
                );
            }
            Err(p)
        }
    }
}

fn version_of(req: &MediaRequest) -> Result<ApiVersion, Problem> {
    req.manifest.version().ok_or_else(|| {
        Problem::failed(format!(
            "{}: apiVersion {:?} is not certificates.k8s.io/v1 or v1beta1",
            req.stem,
            one_line(&req.manifest.api_version)
        ))
    })
}

/// Whether an existing object is the request on the media: same CSR (decoded), signer,
/// usages and expirationSeconds. The signer is compared only when the manifest names one
/// (v1beta1 may leave it out).
pub fn compare_existing(req: &MediaRequest, existing: &CsrObject) -> Result<(), Problem> {
    let theirs = existing.decode_request();
    let mut differences = Vec::new();
    let their_fp = match &theirs {
        Ok(csr) => {
            if csr.der != req.csr.der {
                differences.push("spec.request".to_owned());
            }
            csr.public_key.fingerprint.clone()
        }
        Err(e) => {
            differences.push(format!("spec.request ({})", one_line(e)));
            "<unreadable>".to_owned()
        }
    };
    if let Some(signer) = &req.manifest.spec.signer_name
        && existing.spec.signer_name.as_deref() != Some(signer.as_str())
    {
        differences.push(format!(
            "signerName {:?} instead of {signer:?}",
            one_line(existing.spec.signer_name.as_deref().unwrap_or(""))
        ));
    }
    if !req.manifest.spec.usages.is_empty() {
        let mut a = req.manifest.spec.usages.clone();
        let mut b = existing.spec.usages.clone();
        a.sort();
        b.sort();
        if a != b {
            differences.push(format!(
                "usages {:?} instead of {:?}",
                b.iter().map(|u| one_line(u)).collect::<Vec<_>>(),
                a
            ));
        }
    }
    // An object without expirationSeconds gets the signer's default lifetime (often a year):
    // not the request, however identical the rest.
    if req.manifest.spec.expiration_seconds != existing.spec.expiration_seconds {
        let show = |e: Option<i64>| e.map_or_else(|| "unset".to_owned(), |s| s.to_string());
        differences.push(format!(
            "expirationSeconds {} instead of {}",
            show(existing.spec.expiration_seconds),
            show(req.manifest.spec.expiration_seconds)
        ));
    }
    if differences.is_empty() {
        return Ok(());
    }
    Err(Problem::refused(
        format!(
            "a different CertificateSigningRequest named {} already exists (created by {:?}): {} differ; the media's request has public key sha256 {}, the existing object's has sha256 {}",
            req.name(),
            one_line(&existing.spec.username),
            differences.join(", "),
            req.csr.public_key.fingerprint,
            their_fp
        ),
        Some(
            "another request took this name: check who created it (kcsr-submit status NAME); delete it if it is stale, or re-create the request offline with kcsr request --name OTHER",
        ),
    ))
}

/// What creating a granted binding found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingOutcome {
    /// Created now.
    Created,
    /// An identical binding existed; `by` from its `kcsr.dev/created-by`.
    Exists(Option<String>),
    /// `?dryRun=All`: the server accepted it.
    DryRun,
    /// These credentials may not create it (403): someone who may must run approve.
    Forbidden(String),
}

/// Creates a binding that travels with a request (annotated with who created it, when known),
/// or accepts an identical existing one.
pub fn create_binding(
    client: &Client,
    binding: &BindingManifest,
    dry_run: bool,
    by: Option<&str>,
) -> Result<BindingOutcome, Problem> {
    let name = &binding.metadata.name;
    let Some(collection) =
        crate::rbac::collection(&binding.kind, binding.metadata.namespace.as_deref())
    else {
        return Err(Problem::failed(format!(
            "binding {name}: kind {:?} without a namespace cannot be created",
            one_line(&binding.kind)
        )));
    };
    let mut sent = binding.clone();
    if let Some(by) = by {
        sent.metadata
            .annotations
            .insert(crate::rbac::CREATED_BY_ANNOTATION.to_owned(), by.to_owned());
    }
    let body = serde_json::to_value(&sent)
        .map_err(|e| Problem::failed(format!("cannot encode binding {name}: {e}")))?;
    let path = format!("{collection}{}", dry_run_suffix(dry_run));
    match client.post_json::<_, Value>(&path, &body) {
        Ok(_) => Ok(if dry_run {
            BindingOutcome::DryRun
        } else {
            BindingOutcome::Created
        }),
        Err(e) if e.as_api().is_some_and(|a| a.is_already_exists()) => {
            match crate::rbac::look(client, binding)? {
                crate::rbac::Found::Same { by } => Ok(BindingOutcome::Exists(by)),
                crate::rbac::Found::Missing => Err(Problem::failed(format!(
                    "the {} {name} was reported to exist, then not found",
                    binding.kind
                ))),
                crate::rbac::Found::Unreadable(why) => Ok(BindingOutcome::Forbidden(why)),
                crate::rbac::Found::Different(theirs) => Err(Problem::refused(
                    format!(
                        "a different {} named {name} already exists: its {theirs}, the grant's are {} and {}",
                        binding.kind, body["roleRef"], body["subjects"]
                    ),
                    Some(
                        "delete the stale binding or re-create the request offline with another name",
                    ),
                )),
            }
        }
        Err(e) if e.as_api().is_some_and(|a| a.is_forbidden()) => Ok(BindingOutcome::Forbidden(
            crate::sanitize::for_terminal(&e.to_string()),
        )),
        Err(e) => {
            let mut p = Problem::from(e);
            p.message = format!("the {} {name} was not created: {}", binding.kind, p.message);
            Err(p)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Approve
// ---------------------------------------------------------------------------------------------

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
        let body = with_condition(&obj, "Approved", text);
        let path = format!("{}/approval", objects::object_path(version, name));
        match client.put_json::<_, Value>(&path, &body) {
            Ok(raw) => {
                return Ok((
                    Approval::Approved,
                    CsrObject::from_value(raw).map_err(Problem::failed)?,
                ));
            }
            Err(e) if e.as_api().is_some_and(|a| a.is_conflict()) && attempt < APPROVE_RETRIES => {
                attempt += 1;
                let fresh = match get(client, version, name) {
                    Err(p) if p.cause == Cause::NotFound => {
                        return Err(Problem::refused(
                            format!(
                                "{name} was deleted between the review and the approval; nothing was approved"
                            ),
                            Some(
                                "find out who deleted it; run kcsr-submit apply MEDIA_DIR to create it again, then review it again",
                            ),
                        ));
                    }
                    other => other?,
                };
                let changes = identity_changes(reviewed, &fresh);
                if !changes.is_empty() {
                    return Err(Problem::refused(
                        format!(
                            "{name} changed between the review and the approval; nothing was approved: {}",
                            changes.join("; ")
                        ),
                        Some(
                            "someone replaced the object: find out who (kcsr-submit status NAME), delete it, run kcsr-submit apply MEDIA_DIR again and review it again",
                        ),
                    ));
                }
                obj = fresh;
            }
            Err(e) if e.as_api().is_some_and(|a| a.is_forbidden()) => {
                let signer = obj.spec.signer_name.clone().unwrap_or_default();
                let p = Problem::from(e);
                let mut p = Problem::failed(format!(
                    "the server does not let these credentials approve {name}: {}",
                    p.message
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
                return Err(p);
            }
            Err(e) => return Err(e.into()),
        }
    }
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
        let body = with_condition(&obj, "Denied", text);
        let path = format!("{}/approval", objects::object_path(version, name));
        match client.put_json::<_, Value>(&path, &body) {
            Ok(raw) => {
                return Ok((
                    Approval::Denied,
                    CsrObject::from_value(raw).map_err(Problem::failed)?,
                ));
            }
            Err(e) if e.as_api().is_some_and(|a| a.is_conflict()) && attempt < APPROVE_RETRIES => {
                attempt += 1;
                let fresh = get(client, version, name)?;
                let changes = identity_changes(reviewed, &fresh);
                if !changes.is_empty() {
                    return Err(Problem::refused(
                        format!(
                            "{name} changed between the review and the denial; nothing was denied: {}",
                            changes.join("; ")
                        ),
                        Some("look at it again (kcsr-submit status NAME) and deny it again"),
                    ));
                }
                obj = fresh;
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

// ---------------------------------------------------------------------------------------------
// Wait
// ---------------------------------------------------------------------------------------------

/// The end of a wait that is not an issued certificate.
pub fn state_problem(name: &str, obj: &CsrObject) -> Option<Problem> {
    match obj.state() {
        State::Denied(reason, message) => Some(Problem::refused(
            format!(
                "certificate signing request {name} was Denied: reason {:?}, message {:?}",
                one_line(&reason),
                one_line(&message)
            ),
            Some("ask the approver why; create a new request offline (kcsr request) once resolved"),
        )),
        State::Failed(reason, message) => Some(Problem::refused(
            format!(
                "certificate signing request {name} Failed: the signer refused it: reason {:?}, message {:?}",
                one_line(&reason),
                one_line(&message)
            ),
            Some(
                "the request does not meet the signer's rules (usages, subject): re-create it offline with kcsr request",
            ),
        )),
        _ => None,
    }
}

/// What was seen when waiting ran out, as a problem (exit 4).
pub fn not_issued_problem(name: &str, obj: &CsrObject, waited: Option<Duration>) -> Problem {
    let within = waited.map_or_else(String::new, |d| format!(" within {} s", d.as_secs()));
    let signer = one_line(
        obj.spec
            .signer_name
            .as_deref()
            .unwrap_or("(server default)"),
    );
    if obj.condition("Approved").is_some() {
        Problem::new(
            ProblemKind::TimedOut,
            format!(
                "{name} was approved but not issued{within}: the signer {signer} has not written a certificate"
            ),
            Some(&format!(
                "the signer may not be running (kube-controller-manager's csrsigning controller), the platform may not sign {signer} (managed clusters often do not), or the usages may not be allowed for it; run `kcsr-submit fetch MEDIA_DIR --wait 5m` later"
            )),
        )
    } else {
        Problem::new(
            ProblemKind::TimedOut,
            format!("{name} is not approved yet{within}"),
            Some(
                "an approver must run `kcsr-submit approve MEDIA_DIR` (or kubectl certificate approve NAME); then run `kcsr-submit fetch MEDIA_DIR --wait 5m`",
            ),
        )
    }
}

/// Extra time a watch gets past its `timeoutSeconds` before it is abandoned.
const WATCH_GRACE: Duration = Duration::from_secs(5);

/// How long one watch may last: the server is asked to end it after the per-call timeout (or
/// what is left of the wait), and a watch it does not end by then (a stalled server, a
/// half-open connection that never delivers another byte) is abandoned a little later. Without
/// this bound a silent watch would hold the whole wait although the certificate was issued.
/// Returns `timeoutSeconds` for the server and the client's own bound.
fn watch_window(per_call: Duration, remaining: Duration) -> (u64, Duration) {
    let seconds = remaining.min(per_call).as_secs().max(1);
    let window = Duration::from_secs(seconds);
    (seconds, window + window.min(WATCH_GRACE))
}

/// GET during a wait. The request is on the server by now, so losing the server (down,
/// restarting, too slow) is answered with a way to come back for the certificate later.
fn get_while_waiting(
    client: &Client,
    version: ApiVersion,
    name: &str,
) -> Result<CsrObject, Problem> {
    let raw: Value = client
        .get_json(&objects::object_path(version, name))
        .map_err(|e| {
            let lost = matches!(e, ClientError::Connect { .. } | ClientError::Timeout { .. });
            let mut p = Problem::from(e);
            if lost {
                p.message = format!("lost the API server while waiting for {name}: {}", p.message);
                p.hint = Some(format!(
                    "{name} is on the server already: once {} answers again, run `kcsr-submit fetch MEDIA_DIR --wait 5m` to bring the certificate back (nothing is created twice)",
                    client.server()
                ));
            }
            p
        })?;
    CsrObject::from_value(raw).map_err(Problem::failed)
}

/// Waits until `name` is issued, Denied or Failed, or `timeout` passes: GET, then watch from
/// that resourceVersion with a name field selector (re-watch on EOF, re-GET on an ERROR
/// event or a broken or silent stream), falling back to polling every 1.5 s if watching does
/// not work. Each watch is bounded by [`watch_window`].
pub fn wait_issued(
    client: &Client,
    version: ApiVersion,
    name: &str,
    timeout: Duration,
) -> Result<CsrObject, Problem> {
    let deadline = Instant::now() + timeout;
    let mut obj = get_while_waiting(client, version, name)?;
    let uid = obj.meta.uid.clone();
    let mut watch_failures = 0u32;
    loop {
        if let Some(p) = state_problem(name, &obj) {
            return Err(p);
        }
        if obj.is_issued() {
            return Ok(obj);
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(not_issued_problem(name, &obj, Some(timeout)));
        }
        if watch_failures >= 3 {
            std::thread::sleep(remaining.min(Duration::from_millis(1500)));
            obj = get_while_waiting(client, version, name)?;
            continue;
        }
        let (seconds, bound) = watch_window(client.timeout(), remaining);
        let path = format!(
            "{}?watch=true&fieldSelector={}&resourceVersion={}&allowWatchBookmarks=true&timeoutSeconds={seconds}",
            objects::collection_path(version),
            query_escape(&format!("metadata.name={name}")),
            query_escape(&obj.meta.resource_version),
        );
        let Ok(stream) = client.watch::<Value>(&path, bound) else {
            watch_failures += 1;
            std::thread::sleep(Duration::from_millis(200).min(remaining));
            obj = get_while_waiting(client, version, name)?;
            continue;
        };
        let mut regets = false;
        for event in stream {
            match event {
                Ok(WatchEvent::Added(raw) | WatchEvent::Modified(raw)) => {
                    let next = CsrObject::from_value(raw).map_err(Problem::failed)?;
                    if next.meta.name != name {
                        continue;
                    }
                    if !uid.is_empty() && !next.meta.uid.is_empty() && next.meta.uid != uid {
                        return Err(Problem::failed(format!(
                            "csr {name:?} changed UIDs: it was deleted and created again by someone else"
                        )));
                    }
                    obj = next;
                    if obj.is_issued() || state_problem(name, &obj).is_some() {
                        break;
                    }
                }
                Ok(WatchEvent::Deleted(_)) => {
                    return Err(Problem::failed(format!(
                        "csr {name:?} was deleted while waiting for it"
                    ))
                    .with_hint("run kcsr-submit apply MEDIA_DIR again to re-create it"));
                }
                Ok(WatchEvent::Bookmark { resource_version }) => {
                    if !resource_version.is_empty() {
                        obj.meta.resource_version = resource_version;
                    }
                }
                Ok(WatchEvent::Error(_)) | Err(_) => {
                    regets = true;
                    break;
                }
            }
        }
        if regets {
            watch_failures += 1;
            obj = get_while_waiting(client, version, name)?;
        }
    }
}

/// Current state without waiting: the object if issued, a problem for Denied/Failed, or a
/// not-issued problem (exit 4).
pub fn check_issued(
    client: &Client,
    version: ApiVersion,
    name: &str,
) -> Result<CsrObject, Problem> {
    let obj = match get(client, version, name) {
        Err(p) if p.cause == Cause::NotFound => {
            return Err(p.with_hint(
                "the request is not on the server: run kcsr-submit apply MEDIA_DIR first (it may also have been garbage-collected)",
            ));
        }
        other => other?,
    };
    if let Some(p) = state_problem(name, &obj) {
        return Err(p);
    }
    if obj.is_issued() {
        Ok(obj)
    } else {
        Err(not_issued_problem(name, &obj, None))
    }
}

// ---------------------------------------------------------------------------------------------
// Verify and bundle
// ---------------------------------------------------------------------------------------------

/// The cluster as the kubeconfig names it, for the bundle.
#[derive(Debug, Clone, Default)]
pub struct ClusterInfo {
    /// Cluster name in the kubeconfig.
    pub name: String,
    /// Server URL.
    pub server: String,
    /// The server CA PEM, when the kubeconfig has one.
    pub ca_pem: Option<String>,
    /// tls-server-name.
    pub tls_server_name: Option<String>,
}

/// What a request must be matched against. Its CN was checked as a user name when the media
/// was read; a CN that is not one is refused here too.
pub fn expected(req: &MediaRequest) -> Result<Expected, Problem> {
    let csr = &req.csr;
    let user = csr
        .subject
        .user()
        .map(str::parse::<UserName>)
        .transpose()
        .map_err(|e| Problem::refused(format!("{}: {e}", req.name()), None))?;
    Ok(Expected {
        fingerprint: csr.public_key.fingerprint.clone(),
        user,
        groups: Some(csr.subject.organizations.clone()),
        usages: req.usages.clone(),
        expiration_seconds: req.manifest.spec.expiration_seconds,
    })
}

/// Runs the shared checks on a certificate PEM; a failing check is a refusal.
pub fn verify_pem(
    req: &MediaRequest,
    pem: &[u8],
    client_ca: Option<&[CertInfo]>,
) -> Result<(CertInfo, Vec<Step>), Problem> {
    let certs = cert::parse_all(pem).map_err(|e| {
        Problem::refused(
            format!(
                "the certificate issued for {} cannot be read: {e}",
                req.name()
            ),
            None,
        )
    })?;
    let Some(leaf) = certs.into_iter().next() else {
        return Err(Problem::refused(
            format!("the certificate issued for {} is empty", req.name()),
            None,
        ));
    };
    let steps = verify::certificate(
        &leaf,
        &expected(req)?,
        client_ca,
        now_unix(),
        verify::DEFAULT_SKEW_SECONDS,
    );
    if !verify::all_ok(&steps) {
        let failed: Vec<String> = steps
            .iter()
            .filter(|s| !s.ok)
            .map(|s| format!("{}: {}", s.check, one_line(&s.detail)))
            .collect();
        return Err(Problem::refused(
            format!(
                "the certificate issued for {} does not match the request; nothing was written: {}",
                req.name(),
                failed.join("; ")
            ),
            Some(
                "do not use this certificate: ask the cluster admins which signer issued it; check --client-ca",
            ),
        ));
    }
    Ok((leaf, steps))
}

/// What the bundle records beside the certificate.
#[derive(Debug, Clone, Copy)]
pub struct BundleContext<'a> {
    /// The cluster.
    pub cluster: &'a ClusterInfo,
    /// The client CA PEM, when known.
    pub client_ca_pem: Option<&'a str>,
    /// Who signed the media.
    pub signer: Option<&'a crate::signers::MediaSigner>,
    /// The granted bindings as last seen.
    pub bindings: &'a [crate::binding::BindingReport],
}

/// Builds the bundle for an issued, verified certificate.
pub fn bundle(
    req: &MediaRequest,
    obj: &CsrObject,
    leaf: &CertInfo,
    cert_pem: &str,
    ctx: &BundleContext<'_>,
) -> Bundle {
    let BundleContext {
        cluster,
        client_ca_pem,
        signer,
        bindings,
    } = *ctx;
    let approved = obj.condition("Approved");
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Bundle {
        api_version: API_VERSION.to_owned(),
        kind: KIND.to_owned(),
        name: req.name().to_owned(),
        user: req.csr.subject.user().unwrap_or_default().to_owned(),
        groups: req.csr.subject.organizations.clone(),
        signer_name: obj
            .spec
            .signer_name
            .clone()
            .or_else(|| req.manifest.spec.signer_name.clone())
            .unwrap_or_default(),
        cluster: BundleCluster {
            name: cluster.name.clone(),
            server: cluster.server.clone(),
            certificate_authority: cluster.ca_pem.clone(),
            tls_server_name: cluster.tls_server_name.clone(),
        },
        certificate: cert_pem.to_owned(),
        client_ca: client_ca_pem.map(str::to_owned),
        audit: Audit {
            public_key_sha256: req.csr.public_key.fingerprint.clone(),
            manifest_sha256: Some(req.manifest_sha256.clone()),
            media_signer: signer.map(crate::signers::MediaSigner::to_audit),
            serial: leaf.serial.clone(),
            not_before: format_rfc3339(leaf.not_before),
            not_after: format_rfc3339(leaf.not_after),
            requested_expiration_seconds: req.manifest.spec.expiration_seconds,
            submitted_by: non_empty(&obj.spec.username),
            submitted_at: obj.meta.creation_timestamp.clone(),
            approval_reason: approved.and_then(|c| non_empty(&c.reason)),
            approval_message: approved.and_then(|c| non_empty(&c.message)),
            approved_at: approved.and_then(|c| {
                c.last_update_time
                    .clone()
                    .or_else(|| c.last_transition_time.clone())
            }),
            fetched_at: now_rfc3339(),
            kcsr_version: env!("CARGO_PKG_VERSION").to_owned(),
            approved_by: approved_by(obj),
            ticket: req.notes.ticket.clone(),
            operator: req.notes.operator.clone(),
            requested_at: req.notes.created.map(format_rfc3339),
            bindings: bindings
                .iter()
                .map(crate::binding::BindingReport::audit)
                .collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, body: &[u8]) -> ClientError {
        ClientError::from(crate::status::ApiError {
            method: "GET".into(),
            path: "/x".into(),
            status: crate::status::Status::from_response(code, body),
            attempts: 1,
        })
    }

    #[test]
    fn the_cause_comes_from_the_status_not_from_the_text() {
        // A 404 whose text never says "NotFound", and a 500 whose text does.
        let gone = api_error(
            404,
            br#"{"kind":"Status","message":"gone","reason":"Gone","code":404}"#,
        );
        assert_eq!(Problem::from(gone).cause, Cause::NotFound);
        let forbidden = api_error(403, b"no");
        assert_eq!(Problem::from(forbidden).cause, Cause::Forbidden);
        let text = api_error(500, b"NotFound and forbidden and not found");
        let p = Problem::from(text);
        assert!(p.message.contains("NotFound"), "{}", p.message);
        assert_eq!(p.cause, Cause::Other);
    }

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

    #[test]
    fn a_watch_is_bounded_by_the_per_call_timeout_and_the_wait() {
        let s = Duration::from_secs;
        // The server is asked to end it first; the client gives up only a little later.
        assert_eq!(watch_window(s(30), s(300)), (30, s(35)));
        assert_eq!(watch_window(s(600), s(90)), (90, s(95)));
        // Short windows get a grace as long as themselves, not a fixed 5 s.
        assert_eq!(watch_window(s(1), s(60)), (1, s(2)));
        // timeoutSeconds=0 would mean "no timeout" to the server.
        assert_eq!(
            watch_window(Duration::from_millis(300), Duration::from_millis(200)),
            (1, s(2))
        );
    }
}

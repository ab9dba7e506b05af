//! The `apply`, `approve`, `deny`, `status` and `fetch` commands: the media is verified before
//! anything is sent, requests run with bounded concurrency, each ends with its own result, and
//! the exit code sums them up (see [`ops::exit_code`]). A trip is complete only when every
//! certificate is back and every binding its request was granted exists (decision 0010).

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use kcsr_core::cert::{self, CertInfo};
use kcsr_core::exit::Exit;
use kcsr_core::manifest::ApiVersion;
use kcsr_core::media::{BUNDLE_SUFFIX, CERT_SUFFIX, DENIED_SUFFIX, MAX_MEDIA_FILE_BYTES};
use kcsr_core::verify::{Finding, Step};

use crate::binding::{BindingReport, PlannedBinding};
use crate::client::Client;
use crate::decide::{Asker, Decision, Offer};
use crate::media::{Media, MediaError, MediaRequest};
use crate::objects::{self, CsrObject};
use crate::offboard::{MediaOffboard, OffboardReport};
use crate::ops::{
    self, Approval, ApprovalText, BindingOutcome, ClusterInfo, Created, Problem, ProblemKind,
};
use crate::progress::{Progress, Style};
use crate::rbac::{self, ClusterBinding, Found};
use crate::review::Review;
use crate::sanitize::one_line;
use crate::signers::{self, MediaSigner, Trust};
use crate::state::{BindingState, RequestState};
use crate::{station, whoami};
use kcsr_core::terminal::json_safe;

/// A whole-command failure with its exit code (per-request failures are reported instead).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Fatal {
    /// How the command ends.
    pub code: Exit,
    /// What happened.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
}

impl Fatal {
    fn new(code: Exit, message: impl Into<String>, hint: Option<&str>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: hint.map(str::to_owned),
        }
    }
}

/// A connected client and what the bundle needs to know about the cluster.
#[derive(Debug)]
pub struct Session {
    /// The client.
    pub client: Client,
    /// The cluster.
    pub cluster: ClusterInfo,
}

/// Builds the [`Session`]; called only after the media has been verified.
pub type Connect<'a> = &'a dyn Fn() -> anyhow::Result<Session>;

// Requests share one client across worker threads.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Client>();
};

/// Options of `apply`.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Approve after creating.
    pub approve: bool,
    /// Do not ask before approving.
    pub yes: bool,
    /// Approval reason.
    pub reason: Option<String>,
    /// Approval message.
    pub message: Option<String>,
    /// Wait this long for the certificates.
    pub wait: Option<Duration>,
    /// `?dryRun=All`, write nothing.
    pub dry_run: bool,
    /// Concurrency.
    pub parallel: usize,
    /// The client CA to chain issued certificates to.
    pub client_ca: Option<PathBuf>,
    /// JSON on stdout.
    pub json: bool,
    /// No progress on stderr.
    pub quiet: bool,
    /// `--allowed-signers`.
    pub allowed_signers: Option<PathBuf>,
    /// `--out`: the return directory results go to (the media is then only read).
    pub out: Option<PathBuf>,
}

/// Options of `approve`.
#[derive(Debug, Clone, Default)]
pub struct ApproveOptions {
    /// Do not ask.
    pub yes: bool,
    /// Approve objects named on the command line although signers are configured.
    pub unsigned: bool,
    /// `--allowed-signers`.
    pub allowed_signers: Option<PathBuf>,
    /// Reason.
    pub reason: Option<String>,
    /// Message.
    pub message: Option<String>,
    /// JSON on stdout.
    pub json: bool,
    /// No progress on stderr.
    pub quiet: bool,
    /// `--out`: where `apply`/`fetch --out` wrote the media's results (only read here).
    pub out: Option<PathBuf>,
}

/// Options of `deny`.
#[derive(Debug, Clone, Default)]
pub struct DenyOptions {
    /// Reason [default: KcsrDeny].
    pub reason: Option<String>,
    /// Message [default: Denied by USER with kcsr-submit].
    pub message: Option<String>,
    /// JSON on stdout.
    pub json: bool,
}

/// The result of one request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestReport {
    /// Media file stem (empty when addressed by name).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stem: String,
    /// Object name.
    pub name: String,
    /// The user the certificate is for.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// What create found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<Created>,
    /// The bindings of the request's grants, in grant order: created only after the approval.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<BindingReport>,
    /// What the approver's decision did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// kubectl's CONDITION column as last seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// `created`, `pending`, `approved`, `issued`, `written`, `on-media`, `dry-run`, `denied`,
    /// `skipped`, `failed`.
    pub state: RequestState,
    /// Files written onto the media.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Certificate checks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Step>,
    /// What the review warned about (special groups and users, cluster-admin, User bindings,
    /// an approver approving their own request).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The station key that signed the media.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_signer: Option<MediaSigner>,
    /// What is still missing for the request's trip to be complete, and who does it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
    /// Why it did not complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

struct Slot {
    req: Option<MediaRequest>,
    version: ApiVersion,
    obj: Option<CsrObject>,
    report: RequestReport,
    decision: Option<Decision>,
}

impl Slot {
    fn new(req: Option<&MediaRequest>, name: &str) -> Self {
        Self {
            version: req
                .and_then(|r| r.manifest.version())
                .unwrap_or(ApiVersion::V1),
            obj: None,
            report: RequestReport {
                stem: req.map(|r| r.stem.clone()).unwrap_or_default(),
                name: name.to_owned(),
                user: req
                    .and_then(|r| r.csr.subject.user())
                    .unwrap_or_default()
                    .to_owned(),
                created: None,
                bindings: req
                    .map(|r| {
                        r.bindings
                            .iter()
                            .map(|b| b.report(BindingState::PendingApproval))
                            .collect()
                    })
                    .unwrap_or_default(),
                approval: None,
                condition: None,
                state: RequestState::Pending,
                files: Vec::new(),
                checks: Vec::new(),
                warnings: req.map(crate::review::request_warnings).unwrap_or_default(),
                media_signer: None,
                incomplete: None,
                problem: None,
            },
            req: req.cloned(),
            decision: None,
        }
    }

    fn from_request(req: &MediaRequest) -> Self {
        Self::new(Some(req), req.name())
    }

    fn from_name(name: &str) -> Self {
        Self::new(None, name)
    }

    /// Still to be worked on: not failed, not done, not decided against.
    fn active(&self) -> bool {
        self.report.problem.is_none()
            && !matches!(
                self.report.state,
                RequestState::OnMedia | RequestState::Denied | RequestState::Skipped
            )
    }

    fn fail(&mut self, p: Problem) {
        self.report.state = RequestState::Failed;
        self.report.problem = Some(p);
    }

    /// Records a problem without changing the state (e.g. the certificate was written, but a
    /// binding could not be checked).
    fn add_problem(&mut self, p: Problem) {
        if self.report.problem.is_none() {
            self.report.problem = Some(p);
        }
    }

    fn set_obj(&mut self, obj: CsrObject) {
        self.report.condition = Some(obj.condition_column());
        self.obj = Some(obj);
    }

    fn label(&self) -> String {
        if self.report.stem.is_empty() {
            self.report.name.clone()
        } else {
            format!("{} ({})", self.report.name, self.report.stem)
        }
    }

    /// The bindings the request's grants ask for.
    fn planned(&self) -> &[PlannedBinding] {
        self.req.as_ref().map_or(&[], |r| r.bindings.as_slice())
    }

    /// Whether the request is approved: its bindings are due.
    fn approved(&self) -> bool {
        self.report.state == RequestState::OnMedia
            || self
                .obj
                .as_ref()
                .is_some_and(|o| o.condition("Approved").is_some())
    }

    /// Whether every granted binding is known to exist.
    fn bindings_exist(&self) -> bool {
        self.report.bindings.iter().all(BindingReport::exists)
    }

    /// Records the review's warnings in the report; returns the review text.
    fn review(&mut self, now: i64, approver: Option<&str>) -> String {
        let label = self.label();
        let review = Review {
            label: &label,
            req: self.req.as_ref(),
            obj: self.obj.as_ref(),
            bindings: self.planned(),
            signer: self.report.media_signer.as_ref(),
            approver,
            now,
        };
        let text = review.text();
        self.report.warnings = review.warnings();
        text
    }
}

/// Runs `f` on every item with at most `n` threads.
fn par_for_each<T: Send>(items: &mut [T], n: usize, f: impl Fn(&mut T) + Sync) {
    let n = n.clamp(1, items.len().max(1));
    if n == 1 {
        items.iter_mut().for_each(f);
        return;
    }
    let queue = Mutex::new(items.iter_mut());
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                    match next {
                        Some(item) => f(item),
                        None => break,
                    }
                }
            });
        }
    });
}

fn open_media(dir: &Path) -> anyhow::Result<Media> {
    open_media_verified(dir, None, |_| Ok(())).map(|(m, ())| m)
}

/// [`Media::open_verified`]; refusals exit 3, and a media without requests (or offboarding
/// requests) is an error. Filesystem artifacts left alone are said once.
fn open_media_verified<T>(
    dir: &Path,
    out: Option<&Path>,
    verify: impl FnOnce(&crate::media::Signed<'_>) -> Result<T, MediaError>,
) -> anyhow::Result<(Media, T)> {
    let out = return_dir(dir, out)?;
    let (media, verified) =
        Media::open_verified(dir, out.as_deref(), verify).map_err(|e| -> anyhow::Error {
            if e.refused {
                let MediaError { message, hint, .. } = e;
                Fatal {
                    code: Exit::Refused,
                    message,
                    hint,
                }
                .into()
            } else {
                e.into()
            }
        })?;
    for note in media.ignored_notes() {
        eprintln!("{note}");
    }
    if media.requests.is_empty() && media.offboards.is_empty() {
        return Err(Fatal::new(
            Exit::Failed,
            format!("the media {} holds no *.csr.yaml requests", dir.display()),
            Some("write requests onto it with kcsr request on the isolated machine"),
        )
        .into());
    }
    Ok((media, verified))
}

/// Where results go for `--out OUT` (`None`: onto the media). `OUT` naming the media itself is
/// the same as no `--out`. One inside the other is refused (exit 2): a directory inside the
/// media is something neither side wrote there, and both refuse such media on the next run.
fn return_dir(media: &Path, out: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    let Some(out) = out else { return Ok(None) };
    let (m, o) = (resolve(media), resolve(out));
    if m == o {
        return Ok(None);
    }
    if o.starts_with(&m) || m.starts_with(&o) {
        return Err(Fatal::new(
            Exit::Usage,
            format!(
                "--out {} and the media {} are inside one another",
                out.display(),
                media.display()
            ),
            Some("give --out a directory beside the media (another stick, or another directory on this one), never inside it"),
        )
        .into());
    }
    Ok(Some(out.to_owned()))
}

/// `path` made absolute with its links resolved as far as it exists (a return directory
/// may not exist yet).
fn resolve(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut rest = Vec::new();
    let mut base = abs.as_path();
    loop {
        if let Ok(real) = std::fs::canonicalize(base) {
            return rest.iter().rev().fold(real, |p, n| p.join(n));
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                base = parent;
            }
            _ => return abs,
        }
    }
}

/// The trusted station keys; a configured source that cannot be used is an error (exit 1).
fn load_trust(flag: Option<&Path>) -> anyhow::Result<Trust> {
    Trust::load(flag).map_err(|e| Fatal::new(Exit::Failed, e.message, Some(&e.hint)).into())
}

/// Opens the media and checks its signature before anything is sent: refused (exit 3)
/// unless signed by a trusted station key when any is configured; with none configured, the
/// operator is warned that the media is unauthenticated.
fn open_signed(
    dir: &Path,
    out: Option<&Path>,
    trust: &Trust,
) -> anyhow::Result<(Media, Option<MediaSigner>)> {
    open_media_verified(dir, out, |signed| {
        let signer = signers::verify(signed, trust, ops::now_unix())?;
        Ok(if trust.is_configured() {
            signer
        } else {
            signers::warn_unauthenticated(signed, trust, signer)
        })
    })
}

/// Slots for the media's requests, each carrying who signed the media.
fn media_slots(media: &Media, signer: Option<&MediaSigner>) -> Vec<Slot> {
    media
        .requests
        .iter()
        .map(|r| {
            let mut slot = Slot::from_request(r);
            slot.report.media_signer = signer.cloned();
            slot
        })
        .collect()
}

/// Refuses (exit 3, before anything is sent) requests and offboarding requests past their
/// `kcsr.dev/not-after` (`notAfter`).
fn check_fresh<'a>(
    requests: impl IntoIterator<Item = &'a MediaRequest>,
    offboards: &[MediaOffboard],
) -> anyhow::Result<()> {
    let now = ops::now_unix();
    let mut stale: Vec<String> = requests
        .into_iter()
        .filter_map(|r| {
            r.notes
                .expired(now)
                .map(|why| format!("{} ({}): {why}", one_line(r.name()), r.stem))
        })
        .collect();
    stale.extend(
        offboards
            .iter()
            .filter_map(|o| o.expired(now).map(|why| format!("{}: {why}", o.file))),
    );
    if stale.is_empty() {
        return Ok(());
    }
    Err(Fatal::new(
        Exit::Refused,
        format!(
            "{} request(s) on the media are past their validity; nothing was sent\n  {}",
            stale.len(),
            stale.join("\n  ")
        ),
        Some("old media is never sent again (a replay would re-create requests and bindings): make new requests on the isolated machine (kcsr request, or kcsr renew)"),
    )
    .into())
}

/// Refuses (exit 3, before anything is sent) requests that break the station's policy as it
/// travels on the media.
fn check_policy<'a>(
    media: &Media,
    requests: impl IntoIterator<Item = &'a MediaRequest>,
) -> anyhow::Result<()> {
    let Some(policy) = &media.policy else {
        return Ok(());
    };
    let broken: Vec<String> = requests
        .into_iter()
        .flat_map(|r| {
            crate::policy::violations(policy, r)
                .into_iter()
                .map(move |v| format!("{} ({}): {v}", one_line(r.name()), r.stem))
        })
        .collect();
    if broken.is_empty() {
        return Ok(());
    }
    Err(Fatal::new(
        Exit::Refused,
        format!(
            "{} rule(s) of the station's policy ({}) are broken by requests on the media; nothing was sent\n  {}",
            broken.len(),
            kcsr_core::media::POLICY_FILE,
            broken.join("\n  ")
        ),
        Some("the station should have refused these: make the requests again on the isolated machine within its policy (or change the policy there)"),
    )
    .into())
}

/// Refuses (exit 3, before anything is created) requests whose grants name a role the
/// cluster does not have (a `veiw` for `view`). Credentials that may not read roles cannot
/// tell: said once, and the approver's run checks again before it creates the bindings.
fn check_roles<'a>(
    slots: impl IntoIterator<Item = &'a Slot>,
    client: &Client,
) -> anyhow::Result<()> {
    let mut seen: BTreeMap<String, rbac::Role> = BTreeMap::new();
    let mut missing = Vec::new();
    for slot in slots {
        for b in slot.planned() {
            let path = rbac::role_path(&b.grant);
            let found = match seen.get(&path) {
                Some(r) => r.clone(),
                None => {
                    let r = rbac::role(client, &b.grant).map_err(|p| {
                        Fatal::new(
                            Exit::Failed,
                            format!("cannot look up the role of {}: {}", b.grant, p.message),
                            p.hint.as_deref(),
                        )
                    })?;
                    seen.insert(path, r.clone());
                    r
                }
            };
            if found == rbac::Role::Missing {
                let kind = match b.grant {
                    kcsr_core::rbac::Grant::Role(_, ref ns) => {
                        format!("Role in namespace {}", one_line(ns))
                    }
                    _ => "ClusterRole".to_owned(),
                };
                missing.push(format!(
                    "{} ({}): grant {}: the cluster has no {kind} {:?}",
                    one_line(&slot.report.name),
                    slot.report.stem,
                    one_line(&b.grant.to_string()),
                    one_line(b.grant.role())
                ));
            }
        }
    }
    if seen.values().any(|r| *r == rbac::Role::Unreadable) {
        eprintln!(
            "note: these credentials may not read roles, so whether the granted roles exist is checked by the approver's run (kcsr-submit approve MEDIA_DIR) before it creates the bindings"
        );
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Fatal::new(
        Exit::Refused,
        format!(
            "{} grant(s) name a role that does not exist on this cluster; nothing was created\n  {}",
            missing.len(),
            missing.join("\n  ")
        ),
        Some("a typo in --clusterrole/--role? take the request off the media and make it again on the isolated machine with the right role; or create the role on the cluster first"),
    )
    .into())
}

/// Refuses (exit 3, before anything is sent) requests for another cluster than the
/// context's: its CA bundle must hold one of the fingerprints the station pinned.
fn check_cluster<'a>(
    requests: impl IntoIterator<Item = &'a MediaRequest>,
    session: &Session,
) -> anyhow::Result<()> {
    station::check_cluster(
        requests.into_iter().map(|r| (r.name(), &r.notes)),
        session.cluster.ca_pem.as_deref().map(str::as_bytes),
        &session.cluster.name,
    )
    .map_err(|e| {
        Fatal::new(
            Exit::Refused,
            e,
            Some("use the context of the cluster the requests were made for (--context NAME, with its certificate-authority-data; not --insecure-skip-tls-verify), or make new requests for this cluster on the isolated machine"),
        )
        .into()
    })
}

fn check_confirmable(yes: bool) -> anyhow::Result<()> {
    if !yes && !std::io::stdin().is_terminal() {
        return Err(Fatal::new(
            Exit::Usage,
            "approving needs a confirmation, and stdin is not a terminal",
            Some("review the requests (kcsr-submit status MEDIA_DIR) and pass --yes to approve without asking"),
        )
        .into());
    }
    Ok(())
}

/// The client CA: PEM text and parsed certificates.
struct ClientCa {
    pem: String,
    certs: Vec<CertInfo>,
}

fn load_client_ca(path: Option<&Path>) -> anyhow::Result<Option<ClientCa>> {
    let Some(path) = path else { return Ok(None) };
    let data = kcsr_fs::read_limited(path, MAX_MEDIA_FILE_BYTES).map_err(|e| {
        Fatal::new(
            Exit::Failed,
            format!("cannot read --client-ca {}: {e}", path.display()),
            Some("pass the PEM file of the CA that signs client certificates (e.g. /etc/kubernetes/pki/ca.crt)"),
        )
    })?;
    let certs = cert::parse_all(&data).map_err(|e| {
        Fatal::new(
            Exit::Failed,
            format!("--client-ca {}: {e}", path.display()),
            Some("the file must hold PEM CERTIFICATE blocks"),
        )
    })?;
    Ok(Some(ClientCa {
        pem: String::from_utf8_lossy(&data).into_owned(),
        certs,
    }))
}

fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Who these credentials are, as the API server says (SelfSubjectReview): the name that goes
/// into the Approved condition and onto the bindings created. `None`, with a warning, when
/// the server does not say.
fn who_am_i(client: &Client) -> Option<String> {
    match whoami::whoami(client) {
        Ok(u) if !u.username.is_empty() => Some(u.username),
        Ok(_) => {
            eprintln!(
                "warning: the API server reported no user name for these credentials: the approval will not name the approver"
            );
            None
        }
        Err(e) => {
            eprintln!(
                "warning: cannot ask the API server who these credentials are (SelfSubjectReview: {}): the approval will not name the approver, and the bundle will have no approvedBy",
                one_line(&e.to_string())
            );
            None
        }
    }
}

fn decision_text(
    verb: &str,
    default_reason: &str,
    me: Option<&str>,
    reason: Option<&str>,
    message: Option<&str>,
) -> ApprovalText {
    ApprovalText {
        reason: reason.unwrap_or(default_reason).to_owned(),
        message: message.map_or_else(|| ops::decision_message(verb, me), str::to_owned),
    }
}

// ---------------------------------------------------------------------------------------------
// Bindings
// ---------------------------------------------------------------------------------------------

/// Looks at every granted binding not created by this run: exists, missing, unknown (may not
/// be read), or refused (another binding holds the name: a problem, exit 3).
fn refresh_bindings(slot: &mut Slot, client: &Client) {
    let planned = slot.planned().to_vec();
    let mut problem = None;
    for (b, report) in planned.iter().zip(slot.report.bindings.iter_mut()) {
        if report.state == BindingState::Created {
            continue;
        }
        let (state, by, detail) = match rbac::look(client, &b.manifest) {
            Ok(Found::Same { by }) => (BindingState::Exists, by, None),
            Ok(Found::Missing) => (BindingState::Missing, None, None),
            Ok(Found::Unreadable(why)) => (BindingState::Unknown, None, Some(why)),
            Ok(Found::Different(theirs)) => {
                let msg = format!(
                    "a different {} named {} exists: its {theirs}, not the grant {}",
                    b.manifest.kind, b.manifest.metadata.name, b.grant
                );
                problem.get_or_insert(Problem::refused(
                    msg.clone(),
                    Some("find out who made it; delete the stale binding, then run kcsr-submit approve MEDIA_DIR to create the granted one"),
                ));
                (BindingState::Refused, None, Some(msg))
            }
            Err(p) => {
                let detail = p.message.clone();
                problem.get_or_insert(p);
                (BindingState::Failed, None, Some(detail))
            }
        };
        report.state = state;
        report.by = by;
        report.detail = detail;
    }
    if let Some(p) = problem {
        slot.add_problem(p);
    }
}

/// Creates the slot's bindings that do not exist yet (after its approval, or as a dry run),
/// recording `me` as their creator. A 403 is not the request's failure: the approval stands,
/// and someone who may create bindings finishes the job (said once per trip).
fn create_bindings(
    slot: &mut Slot,
    client: &Client,
    dry_run: bool,
    me: Option<&str>,
    bar: &Progress,
) {
    let planned = slot.planned().to_vec();
    let mut problem = None;
    for (b, report) in planned.iter().zip(slot.report.bindings.iter_mut()) {
        if report.exists() {
            continue;
        }
        let (state, by, detail) = match ops::create_binding(client, &b.manifest, dry_run, me) {
            Ok(BindingOutcome::Created) => {
                bar.line(|| {
                    format!(
                        "created {} {}",
                        b.manifest.kind.to_ascii_lowercase(),
                        one_line(&b.manifest.metadata.name)
                    )
                });
                (BindingState::Created, me.map(str::to_owned), None)
            }
            Ok(BindingOutcome::Exists(by)) => (BindingState::Exists, by, None),
            Ok(BindingOutcome::DryRun) => (BindingState::DryRun, None, None),
            Ok(BindingOutcome::Forbidden(why)) => (
                BindingState::Refused,
                None,
                Some(format!("forbidden: {why}")),
            ),
            Err(p) => {
                let state = if p.kind == ProblemKind::Refused {
                    BindingState::Refused
                } else {
                    BindingState::Failed
                };
                let detail = p.message.clone();
                problem.get_or_insert(p);
                (state, None, Some(detail))
            }
        };
        report.state = state;
        report.by = by;
        report.detail = detail;
    }
    if let Some(p) = problem {
        slot.add_problem(p);
    }
}

/// Why a granted binding is not there, grouped for the one line per trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Gap {
    /// Not on the cluster: the approver has not created it.
    Missing,
    /// The server refused these credentials (403).
    Forbidden,
    /// These credentials may not read bindings.
    Unknown,
}

/// Marks approved requests whose granted bindings do not all exist as incomplete; returns
/// the one line per cause for the trip, each saying who must act, with the command.
fn mark_incomplete(slots: &mut [Slot], media: &str) -> Vec<String> {
    let mut gaps: BTreeMap<Gap, Vec<String>> = BTreeMap::new();
    for slot in slots.iter_mut() {
        let due = matches!(
            slot.report.state,
            RequestState::Approved
                | RequestState::Issued
                | RequestState::Written
                | RequestState::OnMedia
        );
        if !due || slot.report.problem.is_some() || slot.bindings_exist() {
            continue;
        }
        let mut names = Vec::new();
        for b in slot.report.bindings.iter().filter(|b| !b.exists()) {
            let gap = match b.state {
                BindingState::Refused
                    if b.detail
                        .as_deref()
                        .is_some_and(|d| d.starts_with("forbidden")) =>
                {
                    Gap::Forbidden
                }
                BindingState::Unknown => Gap::Unknown,
                _ => Gap::Missing,
            };
            gaps.entry(gap).or_default().push(one_line(&b.name));
            names.push(format!("{} ({})", one_line(&b.name), b.state));
        }
        slot.report.incomplete = Some(format!(
            "granted binding(s) not on the cluster: {}; the approver runs kcsr-submit approve {media}",
            names.join(", ")
        ));
    }
    let list = |names: &[String]| {
        let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
        let more = names.len().saturating_sub(5);
        if more > 0 {
            format!("{}, and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    gaps.iter()
        .map(|(gap, names)| match gap {
            Gap::Missing => format!(
                "incomplete: {} granted binding(s) do not exist yet ({}): the approver creates them with `kcsr-submit approve {media}`; then run `kcsr-submit fetch {media}` to confirm",
                names.len(),
                list(names)
            ),
            Gap::Forbidden => format!(
                "incomplete: {} granted binding(s) were not created: these credentials may not create bindings (403 Forbidden, expected for a submitter) ({}): someone who may (the approver, a cluster admin) runs `kcsr-submit approve {media}`; the approvals stand",
                names.len(),
                list(names)
            ),
            Gap::Unknown => format!(
                "incomplete: {} granted binding(s) could not be checked: these credentials may not read bindings (403 Forbidden) ({}): the approver checks and creates them with `kcsr-submit approve {media}`",
                names.len(),
                list(names)
            ),
        })
        .collect()
}

/// kubectl's line for a binding, e.g. `clusterrolebinding.rbac.authorization.k8s.io/NAME
/// created (ClusterRole/view for User "alice")`. `denied`: its request was denied, so a binding
/// still waiting for the approval is never created.
fn binding_line(b: &BindingReport, denied: bool) -> String {
    let what = match b.state {
        BindingState::PendingApproval if denied => {
            "never created: the request was denied".to_owned()
        }
        BindingState::PendingApproval => {
            "not created yet: created once the request is approved with kcsr-submit approve MEDIA_DIR".to_owned()
        }
        BindingState::DryRun => "accepted by the server (dry run)".to_owned(),
        BindingState::Missing => "MISSING: the approver creates it with kcsr-submit approve MEDIA_DIR".to_owned(),
        BindingState::Unknown => "not checked: these credentials may not read bindings".to_owned(),
        BindingState::Refused | BindingState::Failed => format!(
            "NOT created{}",
            b.detail
                .as_deref()
                .map_or_else(String::new, |d| format!(": {}", one_line(d)))
        ),
        BindingState::Created | BindingState::Exists => match &b.by {
            Some(by) => format!("{} (by {})", b.state, one_line(by)),
            None => b.state.as_str().to_owned(),
        },

    };
    let ns = b
        .namespace
        .as_deref()
        .map_or_else(String::new, |ns| format!(" -n {}", one_line(ns)));
    format!(
        "{}.rbac.authorization.k8s.io/{}{ns} {what} ({} for User {:?})\n",
        b.kind.to_ascii_lowercase(),
        one_line(&b.name),
        one_line(&b.grant),
        one_line(&b.user)
    )
}

// ---------------------------------------------------------------------------------------------
// Review and decide
// ---------------------------------------------------------------------------------------------

/// One offboarding request of the media, with its plan.
struct Offboarding {
    report: OffboardReport,
    /// The bindings to delete, as listed for the review.
    reviewed: Vec<ClusterBinding>,
    decision: Option<Decision>,
}

/// Lists, for every offboarding request, what would be deleted and what stays.
fn plan_offboards(media: &Media, client: &Client) -> Vec<Offboarding> {
    let now = ops::now_unix();
    media
        .offboards
        .iter()
        .map(|o| {
            let certs = crate::offboard::certificates(&media.results, o.user(), now);
            let (report, reviewed) = crate::offboard::plan(client, o, certs);
            Offboarding {
                report,
                reviewed,
                decision: None,
            }
        })
        .collect()
}

/// How [`review_and_decide`] asks and approves.
struct Decide<'a> {
    yes: bool,
    reason: Option<&'a str>,
    message: Option<&'a str>,
    parallel: usize,
    style: Style,
    policy: Option<&'a crate::policy::StationPolicy>,
}

/// Reviews every request that needs the approver (pending ones; approved ones whose bindings
/// are missing) and every offboarding, asks approve / deny / skip for each (`--yes`: approve
/// all), then approves or denies each exactly as it was reviewed, creates the bindings of the
/// approved ones and carries out the approved offboardings. `Ok(false)`: the operator
/// skipped everything.
fn review_and_decide(
    slots: &mut [Slot],
    offboards: &mut [Offboarding],
    client: &Client,
    how: &Decide<'_>,
) -> anyhow::Result<bool> {
    let now = ops::now_unix();
    let me = who_am_i(client);
    let me = me.as_deref();
    // Which bindings of approved requests are there already.
    par_for_each(slots, how.parallel, |slot| {
        if slot.report.problem.is_none() && slot.approved() && !slot.planned().is_empty() {
            refresh_bindings(slot, client);
        }
    });
    // The review is the approver's record of what was approved: shown unless nobody asked
    // for it (--quiet --yes).
    let show = !(how.yes && how.style == Style::Quiet);
    if show && let Some(policy) = how.policy {
        eprint!("{}", crate::policy::describe(policy));
    }
    let mut asker = Asker::new(std::io::stdin().lock());
    let (mut asked, mut skipped) = (0usize, 0usize);
    let mut decide = |label: &str, offer: Offer| -> anyhow::Result<Decision> {
        let d = if how.yes {
            Decision::Approve
        } else {
            asker.ask(label, offer)?
        };
        asked += 1;
        skipped += usize::from(d == Decision::Skip);
        Ok(d)
    };
    for slot in slots.iter_mut() {
        let pending = slot.active()
            && slot
                .obj
                .as_ref()
                .is_some_and(|o| o.condition("Approved").is_none());
        let offer = if pending {
            if slot
                .obj
                .as_ref()
                .is_some_and(|o| o.condition("Denied").is_some())
            {
                // Never asked: approving it is refused below, with the denial's reason.
                slot.decision = Some(Decision::Approve);
                continue;
            }
            Offer::Approve {
                bindings: slot.planned().len(),
            }
        } else if slot.report.problem.is_none() && slot.approved() && !slot.bindings_exist() {
            Offer::Bindings {
                bindings: slot.report.bindings.iter().filter(|b| !b.exists()).count(),
            }
        } else {
            if slot.report.problem.is_none()
                && slot.approved()
                && slot.report.state != RequestState::OnMedia
            {
                slot.report.approval = Some(Approval::AlreadyApproved);
                slot.report.state = RequestState::Approved;
            }
            continue;
        };
        let text = slot.review(now, me);
        if show {
            eprint!("{text}");
        }
        slot.decision = Some(decide(&slot.report.name, offer)?);
    }
    for o in offboards.iter_mut() {
        if o.report.problem.is_some() || o.reviewed.is_empty() {
            if show {
                eprint!("{}", o.report.review());
            }
            if o.report.problem.is_none() {
                o.report.state = "done".into();
            }
            continue;
        }
        if show {
            eprint!("{}", o.report.review());
        }
        let label = format!("User {:?} ({})", o.report.user, o.report.file);
        o.decision = Some(decide(
            &label,
            Offer::Offboard {
                deletes: o.reviewed.len(),
            },
        )?);
    }
    if asked > 0 && asked == skipped {
        return Ok(false);
    }
    let approve_text = decision_text("Approved", ops::APPROVE_REASON, me, how.reason, how.message);
    let deny_text = decision_text("Denied", ops::DENY_REASON, me, None, None);
    let bar = Progress::start(
        how.style,
        "approving",
        slots.iter().filter(|s| s.decision.is_some()).count(),
    );
    par_for_each(slots, how.parallel, |slot| {
        let Some(decision) = slot.decision else {
            return;
        };
        match decision {
            Decision::Skip => {
                slot.report.approval = Some(Approval::Skipped);
                slot.report.state = RequestState::Skipped;
            }
            Decision::Deny => {
                let Some(reviewed) = slot.obj.clone() else {
                    return;
                };
                match ops::deny(client, slot.version, &reviewed, &deny_text) {
                    Ok((denial, obj)) => {
                        bar.line(|| format!("denied {}", one_line(&slot.report.name)));
                        slot.report.approval = Some(denial);
                        slot.report.state = RequestState::Denied;
                        slot.set_obj(obj);
                    }
                    Err(p) => slot.fail(p),
                }
            }
            Decision::Approve if slot.approved() => {
                create_bindings(slot, client, false, me, &bar);
                if slot.report.state != RequestState::OnMedia {
                    slot.report.approval = Some(Approval::AlreadyApproved);
                    slot.report.state = RequestState::Approved;
                }
            }
            Decision::Approve => {
                let Some(reviewed) = slot.obj.clone() else {
                    return;
                };
                match ops::approve(client, slot.version, &reviewed, &approve_text) {
                    Ok((approval, obj)) => {
                        if approval == Approval::Approved {
                            bar.line(|| format!("approved {}", one_line(&slot.report.name)));
                        }
                        slot.report.approval = Some(approval);
                        slot.report.state = RequestState::Approved;
                        slot.set_obj(obj);
                        create_bindings(slot, client, false, me, &bar);
                    }
                    Err(p) => slot.fail(p),
                }
            }
        }
        bar.step();
    });
    bar.finish();
    for o in offboards.iter_mut() {
        match o.decision {
            Some(Decision::Approve) => o.report.carry_out(client, &o.reviewed),
            Some(_) => o.report.set_all("skipped"),
            None => {}
        }
    }
    Ok(true)
}

/// The review of an offboarding that is not carried out in this run (no approval asked for,
/// or a dry run).
fn show_offboards(offboards: &mut [Offboarding], state: &str, quiet: bool) {
    for o in offboards.iter_mut() {
        if let Some(p) = &o.report.problem
            && state == "pending-approval"
            && !o.report.listed
            && p.cause == ops::Cause::Forbidden
        {
            // The submitter may not list bindings: expected; the approver's run shows them.
            eprintln!(
                "note: {}: these credentials may not list bindings; the approver's kcsr-submit approve MEDIA_DIR shows User {:?}'s bindings and deletes them once approved",
                one_line(&o.report.file),
                one_line(&o.report.user)
            );
            o.report.problem = None;
            o.report.set_all(state);
            continue;
        }
        if !quiet {
            eprint!("{}", o.report.review());
        }
        if o.report.problem.is_none() {
            o.report.set_all(state);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Results on the media
// ---------------------------------------------------------------------------------------------

/// If the media already holds the slot's result (a verified certificate, or a denial), marks it
/// done: nothing is sent for it again.
fn check_on_media(slot: &mut Slot, media: &Media, client_ca: Option<&ClientCa>) {
    let Some(req) = &slot.req else { return };
    let denied = format!("{}{DENIED_SUFFIX}", req.stem);
    if let Some(data) = media.results.get(&denied) {
        let what = match kcsr_core::outcome::RequestDenied::parse(data) {
            Ok(d) => format!(
                "{} was {} (recorded on the media in {denied}): reason {:?}, message {:?}",
                req.name(),
                one_line(&d.condition),
                one_line(&d.reason),
                one_line(&d.message)
            ),
            Err(e) => format!("{denied} on the media cannot be read: {e}"),
        };
        slot.report.state = RequestState::Denied;
        slot.report.files = vec![denied];
        slot.report.problem = Some(Problem::refused(
            what,
            Some(
                "a denied request is never sent again: ask the approver why; make a new request on the isolated machine once resolved",
            ),
        ));
        return;
    }
    let crt = format!("{}{CERT_SUFFIX}", req.stem);
    let bundle = format!("{}{BUNDLE_SUFFIX}", req.stem);
    // What was read and checked against RETURNED.SHA256SUMS when the media was opened.
    let (Some(pem), Some(bundle_data)) = (media.results.get(&crt), media.results.get(&bundle))
    else {
        return;
    };
    let bundle_ca = kcsr_core::bundle::Bundle::parse(bundle_data)
        .ok()
        .and_then(|b| b.client_ca)
        .and_then(|pem| cert::parse_all(pem.as_bytes()).ok());
    let cas = client_ca.map(|c| c.certs.clone()).or(bundle_ca);
    match ops::verify_pem(req, pem, cas.as_deref()) {
        Ok((_, steps)) => {
            slot.report.state = RequestState::OnMedia;
            slot.report.checks = steps;
            slot.report.files = vec![crt, bundle];
        }
        Err(mut p) => {
            p.message = format!("{crt} on the media does not verify: {}", p.message);
            slot.fail(p);
        }
    }
}

/// For requests whose certificate is on the media already: looks at their bindings again and,
/// when that changed what the bundle says, writes the bundle again with the bindings as seen.
fn recheck_on_media(slots: &mut [Slot], client: &Client, media: &Mutex<Media>, parallel: usize) {
    par_for_each(slots, parallel, |slot| {
        if slot.report.state != RequestState::OnMedia || slot.planned().is_empty() {
            return;
        }
        refresh_bindings(slot, client);
        let Some(req) = &slot.req else { return };
        let name = format!("{}{BUNDLE_SUFFIX}", req.stem);
        let mut media = media.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut bundle) = media
            .results
            .get(&name)
            .and_then(|d| kcsr_core::bundle::Bundle::parse(d).ok())
        else {
            return;
        };
        let seen: Vec<_> = slot
            .report
            .bindings
            .iter()
            .map(BindingReport::audit)
            .collect();
        if bundle.audit.bindings == seen {
            return;
        }
        bundle.audit.bindings = seen;
        let written = bundle
            .to_yaml()
            .map_err(|e| Problem::failed(format!("cannot encode the bundle: {e}")))
            .and_then(|yaml| {
                let io = |e: MediaError| Problem {
                    hint: e.hint,
                    ..Problem::failed(e.message)
                };
                media.rewrite_bundle(&req.stem, &yaml).map_err(io)?;
                media.save_returned().map_err(io)
            });
        if let Err(p) = written {
            slot.add_problem(p);
        }
    });
}

/// Writes `<stem>.denied.yaml` for a request that ended Denied or Failed.
fn record_denied(slot: &mut Slot, media: &Mutex<Media>) {
    let (Some(req), Some(obj)) = (&slot.req, &slot.obj) else {
        return;
    };
    let Some(record) = ops::denied_record(req, obj) else {
        return;
    };
    let result = record
        .to_yaml()
        .map_err(|e| Problem::failed(format!("cannot encode the denial: {e}")))
        .and_then(|yaml| {
            let mut media = media.lock().unwrap_or_else(|p| p.into_inner());
            let io = |e: MediaError| Problem {
                hint: e.hint,
                ..Problem::failed(e.message)
            };
            let path = media.write_denied(&req.stem, &yaml).map_err(io)?;
            media.save_returned().map_err(io)?;
            Ok(path)
        });
    match result {
        Ok(path) => {
            if let Some(n) = path.file_name() {
                slot.report.files = vec![n.to_string_lossy().into_owned()];
            }
            slot.report.state = RequestState::Denied;
        }
        Err(p) => slot.add_problem(p),
    }
}

fn deliver(
    slot: &mut Slot,
    media: &Mutex<Media>,
    cluster: &ClusterInfo,
    client_ca: Option<&ClientCa>,
) {
    let (Some(req), Some(obj)) = (&slot.req, &slot.obj) else {
        return;
    };
    let result = (|| -> Result<(Vec<String>, Vec<Step>), Problem> {
        let pem = obj
            .certificate_pem()
            .map_err(|e| Problem::refused(format!("{}: {e}", req.name()), None))?
            .ok_or_else(|| Problem::failed(format!("{} has no certificate yet", req.name())))?;
        let (leaf, steps) = ops::verify_pem(req, &pem, client_ca.map(|c| c.certs.as_slice()))?;
        let pem_text = String::from_utf8(pem).map_err(|_| {
            Problem::refused(
                format!("the certificate for {} is not text", req.name()),
                None,
            )
        })?;
        let bundle = ops::bundle(
            req,
            obj,
            &leaf,
            &pem_text,
            &ops::BundleContext {
                cluster,
                client_ca_pem: client_ca.map(|c| c.pem.as_str()),
                signer: slot.report.media_signer.as_ref(),
                bindings: &slot.report.bindings,
            },
        );
        let yaml = bundle
            .to_yaml()
            .map_err(|e| Problem::failed(format!("cannot encode the bundle: {e}")))?;
        let mut media = media.lock().unwrap_or_else(|p| p.into_inner());
        let io = |e: MediaError| Problem {
            hint: e.hint,
            ..Problem::failed(e.message)
        };
        let written = media
            .write_result(&req.stem, &pem_text, &yaml)
            .map_err(io)?;
        media.save_returned().map_err(io)?;
        Ok((
            written
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect(),
            steps,
        ))
    })();
    match result {
        Ok((files, steps)) => {
            if let Some(step) = steps.iter().find(|s| s.finding == Finding::Capped) {
                eprintln!(
                    "note: {}: {}",
                    one_line(&slot.report.name),
                    one_line(&step.detail)
                );
            }
            slot.report.state = RequestState::Written;
            slot.report.files = files;
            slot.report.checks = steps;
        }
        Err(p) => slot.fail(p),
    }
}

/// How `settle_and_deliver` works through the slots.
#[derive(Clone, Copy)]
struct Settle {
    /// Wait this long for each certificate; `None`: look once.
    wait: Option<Duration>,
    /// Whether a request still pending at the end is a failure (exit 4) or just reported.
    pending_is_problem: bool,
    parallel: usize,
    style: Style,
}

/// Waits for (or checks) the certificate of every active slot, then verifies and writes it
/// with its bindings as seen; a Denied or Failed request comes back as `<stem>.denied.yaml`.
fn settle_and_deliver(
    slots: &mut [Slot],
    session: &Session,
    media: &Mutex<Media>,
    client_ca: Option<&ClientCa>,
    how: &Settle,
) {
    let Settle {
        wait,
        pending_is_problem,
        parallel,
        style,
    } = *how;
    let phase = if wait.is_some() {
        "waiting"
    } else {
        "fetching"
    };
    let bar = Progress::start(style, phase, slots.iter().filter(|s| s.active()).count());
    par_for_each(slots, parallel, |slot| {
        if !slot.active() {
            return;
        }
        settle_one(slot, session, media, client_ca, wait, pending_is_problem);
        bar.step();
    });
    bar.finish();
}

fn settle_one(
    slot: &mut Slot,
    session: &Session,
    media: &Mutex<Media>,
    client_ca: Option<&ClientCa>,
    wait: Option<Duration>,
    pending_is_problem: bool,
) {
    let name = slot.report.name.clone();
    let client = &session.client;
    let result = match wait {
        Some(timeout) => ops::wait_issued(client, slot.version, &name, timeout),
        None => ops::check_issued(client, slot.version, &name),
    };
    match result {
        Ok(obj) => {
            slot.report.state = RequestState::Issued;
            slot.set_obj(obj);
            // The bundle records the bindings as they are now.
            refresh_bindings(slot, client);
            let binding_problem = slot.report.problem.take();
            deliver(slot, media, &session.cluster, client_ca);
            if let Some(p) = binding_problem {
                slot.add_problem(p);
            }
        }
        Err(p) if p.kind == ProblemKind::TimedOut && !pending_is_problem => {
            if let Ok(obj) = ops::get_object(client, slot.version, &name) {
                slot.set_obj(obj);
            }
            slot.report.state = if slot.approved() {
                refresh_bindings(slot, client);
                RequestState::Approved
            } else {
                RequestState::Pending
            };
        }
        Err(p) => {
            if p.kind != ProblemKind::Failed
                && let Ok(obj) = ops::get_object(client, slot.version, &name)
            {
                slot.set_obj(obj);
                if slot.approved() && p.kind == ProblemKind::TimedOut {
                    refresh_bindings(slot, client);
                }
                // Denied or Failed: the request's end comes back on the media.
                record_denied(slot, media);
            }
            let state = slot.report.state;
            slot.fail(p);
            if state == RequestState::Denied {
                slot.report.state = state;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

/// The JSON of a run: one object per request, then one `{"offboard": …}` per offboarding.
fn json_reports(slots: &[Slot], offboards: &[Offboarding]) -> anyhow::Result<String> {
    let mut items: Vec<serde_json::Value> = slots
        .iter()
        .map(|s| serde_json::to_value(&s.report))
        .collect::<Result<_, _>>()?;
    for o in offboards {
        items.push(serde_json::json!({ "offboard": serde_json::to_value(&o.report)? }));
    }
    Ok(format!(
        "{}\n",
        json_safe(&serde_json::to_string_pretty(&items)?)
    ))
}

/// Prints every problem: those with a cause shared by the trip once, with the requests it
/// hit; the others once per request.
fn print_problems(slots: &[Slot], offboards: &[Offboarding]) {
    let mut shared: BTreeMap<&str, (Vec<String>, Option<&str>)> = BTreeMap::new();
    for slot in slots {
        let Some(p) = &slot.report.problem else {
            continue;
        };
        if let Some(trip) = &p.trip {
            let entry = shared.entry(trip.as_str()).or_insert((Vec::new(), None));
            entry.0.push(one_line(&slot.report.name));
            entry.1 = entry.1.or(p.hint.as_deref());
            continue;
        }
        eprintln!(
            "error: {}: {}",
            one_line(&slot.label()),
            crate::sanitize::for_terminal(&p.message)
        );
        if let Some(h) = &p.hint {
            eprintln!("hint: {}", crate::sanitize::for_terminal(h));
        }
    }
    for (trip, (names, hint)) in shared {
        eprintln!(
            "error: {} ({} request(s): {})",
            crate::sanitize::for_terminal(trip),
            names.len(),
            names.join(", ")
        );
        if let Some(h) = hint {
            eprintln!("hint: {}", crate::sanitize::for_terminal(h));
        }
    }
    for o in offboards {
        if let Some(p) = &o.report.problem {
            eprintln!("error: {}", crate::sanitize::for_terminal(&p.message));
            if let Some(h) = &p.hint {
                eprintln!("hint: {}", crate::sanitize::for_terminal(h));
            }
        }
    }
}

/// The exit code of a run: its problems, and exit 4 when a trip is incomplete.
fn run_code(slots: &[Slot], offboards: &[Offboarding], incomplete: bool) -> Exit {
    let waiting = Problem::new(ProblemKind::TimedOut, "incomplete", None);
    ops::exit_code(
        slots
            .iter()
            .filter_map(|s| s.report.problem.as_ref())
            .chain(offboards.iter().filter_map(|o| o.report.problem.as_ref()))
            .chain(incomplete.then_some(&waiting)),
    )
}

fn report(
    slots: &mut [Slot],
    offboards: &[Offboarding],
    json: bool,
    media: Option<&Media>,
) -> anyhow::Result<Exit> {
    let media_label = media.map_or_else(|| "MEDIA_DIR".to_owned(), Media::fetch_args);
    let gaps = mark_incomplete(slots, &media_label);
    if json {
        print_stdout(&json_reports(slots, offboards)?)?;
    } else {
        let mut out = String::new();
        for s in slots.iter() {
            let r = &s.report;
            let what = match r.state {
                RequestState::Written => {
                    format!("certificate verified and written: {}", r.files.join(", "))
                }
                RequestState::OnMedia => {
                    "certificate already on the media (verified again)".to_owned()
                }
                RequestState::DryRun => {
                    "accepted by the server (dry run; nothing created)".to_owned()
                }
                RequestState::Pending => "created; not approved yet".to_owned(),
                RequestState::Approved => "approved; not issued yet".to_owned(),
                RequestState::Skipped => "skipped in the review: not approved".to_owned(),
                RequestState::Denied if r.approval == Some(Approval::Denied) => format!(
                    "denied{}",
                    if r.files.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", r.files.join(", "))
                    }
                ),
                RequestState::Denied => format!("DENIED: {}", r.files.join(", ")),
                RequestState::Failed => "FAILED".to_owned(),
                other => other.as_str().to_owned(),
            };
            out.push_str(&format!("{}: {what}\n", one_line(&r.name)));
            for b in &r.bindings {
                out.push_str(&binding_line(b, r.state == RequestState::Denied));
            }
        }
        for o in offboards {
            out.push_str(&o.report.lines());
        }
        print_stdout(&out)?;
    }
    let waiting = slots
        .iter()
        .filter(|s| {
            s.report.problem.is_none()
                && matches!(
                    s.report.state,
                    RequestState::Pending | RequestState::Approved
                )
        })
        .count();
    if waiting > 0 && media.is_some() {
        eprintln!(
            "{waiting} request(s) are not issued yet: once approved, run `kcsr-submit fetch {media_label} --wait 5m` to bring the certificates back"
        );
    }
    print_problems(slots, offboards);
    for line in &gaps {
        eprintln!("{line}");
    }
    let failed = slots.iter().filter(|s| s.report.problem.is_some()).count();
    let ok = slots.len() - failed;
    if failed > 0 && ok > 0 {
        eprintln!(
            "{ok} of {} request(s) completed; {failed} failed (listed above)",
            slots.len()
        );
    }
    Ok(run_code(slots, offboards, !gaps.is_empty()))
}

// ---------------------------------------------------------------------------------------------
// apply, fetch
// ---------------------------------------------------------------------------------------------

/// Creates one slot's request.
fn create_one(slot: &mut Slot, client: &Client, dry_run: bool, approve: bool, bar: &Progress) {
    let Some(req) = slot.req.clone() else { return };
    match ops::create_csr(client, &req, dry_run) {
        Ok((created, obj)) => {
            bar.line(|| {
                format!(
                    "{} certificatesigningrequest {}",
                    match created {
                        Created::Created => "created",
                        Created::Exists => "resuming with existing",
                        Created::DryRun => "dry run: would create",
                    },
                    one_line(req.name())
                )
            });
            slot.report.created = Some(created);
            slot.report.state = if dry_run {
                RequestState::DryRun
            } else {
                RequestState::Pending
            };
            slot.set_obj(obj);
        }
        Err(p) => {
            slot.fail(p);
            return;
        }
    }
    // Bindings are created only after the approval (review_and_decide); a dry run with
    // --approve lets the server check them too.
    if dry_run && approve {
        create_bindings(slot, client, true, None, bar);
    }
}

/// `kcsr-submit apply`.
pub fn apply(dir: &Path, opts: &ApplyOptions, connect: Connect<'_>) -> anyhow::Result<Exit> {
    let style = Style::detect(opts.quiet);
    let trust = load_trust(opts.allowed_signers.as_deref())?;
    let (media, signer) = open_signed(dir, opts.out.as_deref(), &trust)?;
    if opts.approve && !opts.dry_run {
        check_confirmable(opts.yes)?;
    }
    let client_ca = load_client_ca(opts.client_ca.as_deref())?;
    let mut slots = media_slots(&media, signer.as_ref());
    if !opts.dry_run {
        for slot in &mut slots {
            check_on_media(slot, &media, client_ca.as_ref());
        }
    }
    // Done ones are only verified again; everything still to send must be fresh and within
    // the station's policy.
    let to_send: Vec<&MediaRequest> = slots
        .iter()
        .filter(|s| s.active())
        .filter_map(|s| s.req.as_ref())
        .collect();
    check_fresh(to_send.iter().copied(), &media.offboards)?;
    check_policy(&media, to_send)?;
    let session = connect()?;
    check_cluster(&media.requests, &session)?;
    let client = &session.client;
    check_roles(slots.iter().filter(|s| s.active()), client)?;
    let dry_run = opts.dry_run;
    let approve = opts.approve;
    let bar = Progress::start(
        style,
        "creating",
        slots.iter().filter(|s| s.active()).count(),
    );
    par_for_each(&mut slots, opts.parallel, |slot| {
        if !slot.active() {
            return;
        }
        create_one(slot, client, dry_run, approve, &bar);
        bar.step();
    });
    bar.finish();
    let mut offboards = plan_offboards(&media, client);
    if dry_run {
        if opts.approve {
            let now = ops::now_unix();
            if let Some(p) = &media.policy {
                eprint!("{}", crate::policy::describe(p));
            }
            for slot in slots.iter_mut().filter(|s| s.active()) {
                eprint!("{}", slot.review(now, None));
            }
        }
        show_offboards(&mut offboards, "dry-run", false);
        if opts.approve {
            eprintln!("dry run: nothing was approved, created, deleted or written");
        }
        return report(&mut slots, &offboards, opts.json, None);
    }
    if opts.approve {
        let how = Decide {
            yes: opts.yes,
            reason: opts.reason.as_deref(),
            message: opts.message.as_deref(),
            parallel: opts.parallel,
            style,
            policy: media.policy.as_ref(),
        };
        if !review_and_decide(&mut slots, &mut offboards, client, &how)? {
            return Err(Fatal::new(
                Exit::Failed,
                "not approved: the operator declined",
                Some(
                    "the requests were created; approve them later with kcsr-submit approve MEDIA_DIR",
                ),
            )
            .into());
        }
    } else {
        show_offboards(&mut offboards, "pending-approval", opts.quiet);
    }
    let media = Mutex::new(media);
    for slot in slots
        .iter_mut()
        .filter(|s| s.report.approval == Some(Approval::Denied))
    {
        record_denied(slot, &media);
    }
    recheck_on_media(&mut slots, client, &media, opts.parallel);
    settle_and_deliver(
        &mut slots,
        &session,
        &media,
        client_ca.as_ref(),
        &Settle {
            wait: opts.wait,
            pending_is_problem: opts.wait.is_some(),
            parallel: opts.parallel,
            style,
        },
    );
    let media = media.into_inner().unwrap_or_else(|p| p.into_inner());
    report(&mut slots, &offboards, opts.json, Some(&media))
}

/// Options of `fetch`.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Wait this long for certificates not issued yet.
    pub wait: Option<Duration>,
    /// The client CA to chain issued certificates to.
    pub client_ca: Option<PathBuf>,
    /// JSON on stdout.
    pub json: bool,
    /// No progress on stderr.
    pub quiet: bool,
    /// `--allowed-signers`.
    pub allowed_signers: Option<PathBuf>,
    /// `--out`: the return directory results go to (the media is then only read).
    pub out: Option<PathBuf>,
}

/// `kcsr-submit fetch`.
pub fn fetch(dir: &Path, opts: &FetchOptions, connect: Connect<'_>) -> anyhow::Result<Exit> {
    let FetchOptions {
        wait, json, quiet, ..
    } = *opts;
    let trust = load_trust(opts.allowed_signers.as_deref())?;
    let (media, signer) = open_signed(dir, opts.out.as_deref(), &trust)?;
    let client_ca = load_client_ca(opts.client_ca.as_deref())?;
    let mut slots = media_slots(&media, signer.as_ref());
    for slot in &mut slots {
        check_on_media(slot, &media, client_ca.as_ref());
    }
    let session = connect()?;
    check_cluster(&media.requests, &session)?;
    if !media.offboards.is_empty() {
        eprintln!(
            "note: {} offboarding request(s) on the media: the approver carries them out with kcsr-submit approve {}",
            media.offboards.len(),
            dir.display()
        );
    }
    let media = Mutex::new(media);
    recheck_on_media(&mut slots, &session.client, &media, 4);
    settle_and_deliver(
        &mut slots,
        &session,
        &media,
        client_ca.as_ref(),
        &Settle {
            wait,
            pending_is_problem: true,
            parallel: 4,
            style: Style::detect(quiet),
        },
    );
    let media = media.into_inner().unwrap_or_else(|p| p.into_inner());
    report(&mut slots, &[], json, Some(&media))
}

// ---------------------------------------------------------------------------------------------
// approve, deny, status
// ---------------------------------------------------------------------------------------------

/// MEDIA_DIR (with who signed it) or object names.
enum Targets {
    Media(Box<Media>, Option<MediaSigner>),
    Names(Vec<String>),
}

/// The targets; `trust`: check the media's signature (approve), or `None` (status and deny
/// only read it: a denial can never grant anything).
fn targets(args: &[String], trust: Option<&Trust>, out: Option<&Path>) -> anyhow::Result<Targets> {
    if let [one] = args
        && Path::new(one).is_dir()
    {
        let dir = Path::new(one);
        return Ok(match trust {
            Some(trust) => {
                let (media, signer) = open_signed(dir, out, trust)?;
                Targets::Media(Box::new(media), signer)
            }
            None => Targets::Media(Box::new(open_media(dir)?), None),
        });
    }
    if out.is_some() {
        return Err(Fatal::new(
            Exit::Usage,
            "--out names where a media's results are: it goes with MEDIA_DIR, not with object names",
            Some("pass one MEDIA_DIR with --out, or leave out --out"),
        )
        .into());
    }
    for name in args {
        if name.parse::<kcsr_core::names::ObjectName>().is_err() {
            return Err(Fatal::new(
                Exit::Usage,
                format!("{:?} is neither a media directory nor a CertificateSigningRequest name", one_line(name)),
                Some("pass one MEDIA_DIR, or one or more object names (kcsr-submit status MEDIA_DIR lists them)"),
            )
            .into());
        }
    }
    Ok(Targets::Names(args.to_vec()))
}

fn slots_for(targets: &Targets) -> Vec<Slot> {
    match targets {
        Targets::Media(m, signer) => media_slots(m, signer.as_ref()),
        Targets::Names(names) => names.iter().map(|n| Slot::from_name(n)).collect(),
    }
}

/// Reads every slot's object. `compare`: it must be the media's request. A slot whose
/// certificate is on the media may be gone from the server (garbage-collected an hour after
/// issue): that is not a problem.
fn get_all(slots: &mut [Slot], client: &Client, compare: bool) {
    par_for_each(slots, 4, |slot| {
        if slot.report.problem.is_some() {
            return;
        }
        let path = objects::object_path(slot.version, &slot.report.name);
        let result = client
            .get_json::<serde_json::Value>(&path)
            .map_err(Problem::from)
            .and_then(|raw| CsrObject::from_value(raw).map_err(Problem::failed));
        match result {
            Ok(obj) => {
                if compare
                    && let Some(req) = &slot.req
                    && let Err(p) = ops::compare_existing(req, &obj)
                {
                    slot.fail(p);
                    return;
                }
                slot.set_obj(obj);
            }
            Err(p) => {
                let not_found = p.cause == ops::Cause::NotFound;
                if not_found && slot.report.state == RequestState::OnMedia {
                    return;
                }
                slot.fail(if not_found {
                    p.with_hint(
                        "no such request on the server: create it with kcsr-submit apply MEDIA_DIR",
                    )
                } else {
                    p
                });
            }
        }
    });
}

/// The text lines of approve and deny: kubectl's, then the bindings.
fn decision_lines(slots: &[Slot], offboards: &[Offboarding]) -> String {
    let mut out = String::new();
    for s in slots.iter().filter(|s| s.report.problem.is_none()) {
        let what = match (s.report.approval, s.report.state) {
            (Some(Approval::AlreadyApproved), _) => "already approved",
            (Some(Approval::Denied), _) => "denied",
            (Some(Approval::AlreadyDenied), _) => "already denied",
            (Some(Approval::Skipped), _) => "skipped (not approved)",
            (_, RequestState::OnMedia) => "already issued (certificate on the media)",
            _ => "approved",
        };
        out.push_str(&format!(
            "certificatesigningrequest.certificates.k8s.io/{} {what}\n",
            one_line(&s.report.name)
        ));
        for b in &s.report.bindings {
            out.push_str(&binding_line(b, s.report.state == RequestState::Denied));
        }
    }
    for o in offboards {
        out.push_str(&o.report.lines());
    }
    out
}

/// `kcsr-submit approve`.
pub fn approve(
    args: &[String],
    opts: &ApproveOptions,
    connect: Connect<'_>,
) -> anyhow::Result<Exit> {
    let trust = load_trust(opts.allowed_signers.as_deref())?;
    let targets = targets(args, Some(&trust), opts.out.as_deref())?;
    match &targets {
        Targets::Media(media, _) => {
            if opts.unsigned {
                return Err(Fatal::new(
                    Exit::Usage,
                    "--unsigned is for approving objects by name; media is always checked against its signature",
                    Some("drop --unsigned to approve the media's requests"),
                )
                .into());
            }
            check_fresh(&media.requests, &media.offboards)?;
            check_policy(media, &media.requests)?;
        }
        Targets::Names(_) if trust.is_configured() && !opts.unsigned => {
            return Err(Fatal::new(
                Exit::Usage,
                "approving by name approves objects no station signature covers, and allowed signers are configured",
                Some("approve the media instead (kcsr-submit approve MEDIA_DIR: a copy of the request files, SHA256SUMS and SHA256SUMS.sig is enough), or pass --unsigned to approve these names after your own review"),
            )
            .into());
        }
        Targets::Names(_) => {}
    }
    check_confirmable(opts.yes)?;
    let session = connect()?;
    let mut slots = slots_for(&targets);
    let mut offboards = Vec::new();
    if let Targets::Media(media, _) = &targets {
        check_cluster(&media.requests, &session)?;
        for slot in &mut slots {
            check_on_media(slot, media, None);
        }
    }
    // The objects must be the media's requests: never approve a different key under that name.
    get_all(&mut slots, &session.client, true);
    // The roles of the bindings about to be created must exist (checked before approving).
    check_roles(
        slots
            .iter()
            .filter(|s| s.report.problem.is_none() && s.report.state != RequestState::Denied),
        &session.client,
    )?;
    if let Targets::Media(media, _) = &targets {
        offboards = plan_offboards(media, &session.client);
    }
    let policy = match &targets {
        Targets::Media(m, _) => m.policy.as_ref(),
        Targets::Names(_) => None,
    };
    let how = Decide {
        yes: opts.yes,
        reason: opts.reason.as_deref(),
        message: opts.message.as_deref(),
        parallel: 4,
        style: Style::detect(opts.quiet),
        policy,
    };
    if !review_and_decide(&mut slots, &mut offboards, &session.client, &how)? {
        return Err(Fatal::new(Exit::Failed, "not approved: the operator declined", None).into());
    }
    let media_label = match &targets {
        Targets::Media(m, _) => m.fetch_args(),
        Targets::Names(_) => "MEDIA_DIR".to_owned(),
    };
    let gaps = mark_incomplete(&mut slots, &media_label);
    if opts.json {
        print_stdout(&json_reports(&slots, &offboards)?)?;
    } else {
        print_stdout(&decision_lines(&slots, &offboards))?;
    }
    print_problems(&slots, &offboards);
    for line in &gaps {
        eprintln!("{line}");
    }
    Ok(run_code(&slots, &offboards, !gaps.is_empty()))
}

/// `kcsr-submit deny`: adds a Denied condition (never to an approved request). A denial cannot
/// grant anything, so it needs no station signature; for MEDIA_DIR the objects must still be
/// the media's requests.
pub fn deny(args: &[String], opts: &DenyOptions, connect: Connect<'_>) -> anyhow::Result<Exit> {
    let targets = targets(args, None, None)?;
    let session = connect()?;
    let client = &session.client;
    let mut slots = slots_for(&targets);
    get_all(&mut slots, client, true);
    let me = who_am_i(client);
    let text = decision_text(
        "Denied",
        ops::DENY_REASON,
        me.as_deref(),
        opts.reason.as_deref(),
        opts.message.as_deref(),
    );
    par_for_each(&mut slots, 4, |slot| {
        let Some(reviewed) = slot.obj.clone() else {
            return;
        };
        if slot.report.problem.is_some() {
            return;
        }
        match ops::deny(client, slot.version, &reviewed, &text) {
            Ok((denial, obj)) => {
                slot.report.approval = Some(denial);
                slot.report.state = RequestState::Denied;
                slot.set_obj(obj);
            }
            Err(p) => slot.fail(p),
        }
    });
    for slot in &mut slots {
        // Nothing of a denied request is ever created.
        slot.report.bindings.clear();
    }
    if opts.json {
        print_stdout(&json_reports(&slots, &[])?)?;
    } else {
        print_stdout(&decision_lines(&slots, &[]))?;
        if matches!(targets, Targets::Media(..))
            && slots
                .iter()
                .any(|s| s.report.approval == Some(Approval::Denied))
        {
            eprintln!(
                "the denials come back on the media as <stem>{DENIED_SUFFIX} with the next kcsr-submit fetch MEDIA_DIR (within the hour: the cluster deletes denied requests after that)"
            );
        }
    }
    print_problems(&slots, &[]);
    Ok(run_code(&slots, &[], false))
}

/// One row of `status`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusRow {
    /// Media file stem.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stem: String,
    /// Object name.
    pub name: String,
    /// Whether the object exists.
    pub found: bool,
    /// creationTimestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// AGE as kubectl prints it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<String>,
    /// signerName.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer_name: Option<String>,
    /// spec.username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requestor: Option<String>,
    /// spec.expirationSeconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_duration_seconds: Option<i64>,
    /// CONDITION column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Approved/Denied/Failed reasons and messages.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<serde_json::Value>,
    /// Whether status.certificate is set.
    pub issued: bool,
    /// The request's granted bindings as the cluster holds them (media only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<BindingReport>,
    /// Why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// kubectl's `HumanDuration` (apimachinery `duration.go`), close enough for a table.
pub fn human_duration(secs: i64) -> String {
    if secs < 0 {
        return "<invalid>".into();
    }
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        if secs % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", secs % 60)
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if h < 24 * 365 * 2 {
        format!("{d}d")
    } else {
        format!("{}y", d / 365)
    }
}

/// `kcsr-submit status`.
pub fn status(args: &[String], json: bool, connect: Connect<'_>) -> anyhow::Result<Exit> {
    let targets = targets(args, None, None)?;
    let session = connect()?;
    let mut slots = slots_for(&targets);
    get_all(&mut slots, &session.client, false);
    par_for_each(&mut slots, 4, |slot| {
        if !slot.planned().is_empty() {
            let problem = slot.report.problem.take();
            refresh_bindings(slot, &session.client);
            if problem.is_some() {
                slot.report.problem = problem;
            }
        }
    });
    let now = kcsr_core::time::parse_rfc3339(&ops::now_rfc3339()).unwrap_or(0);
    let rows: Vec<StatusRow> = slots
        .iter()
        .map(|s| {
            let obj = s.obj.as_ref();
            StatusRow {
                stem: s.report.stem.clone(),
                name: s.report.name.clone(),
                found: obj.is_some(),
                created_at: obj.and_then(|o| o.meta.creation_timestamp.clone()),
                age: obj
                    .and_then(|o| o.meta.creation_timestamp.as_deref())
                    .and_then(kcsr_core::time::parse_rfc3339)
                    .map(|t| human_duration(now - t)),
                signer_name: obj.and_then(|o| o.spec.signer_name.clone()),
                requestor: obj.map(|o| o.spec.username.clone()),
                requested_duration_seconds: obj.and_then(|o| o.spec.expiration_seconds),
                condition: obj.map(CsrObject::condition_column),
                conditions: obj
                    .map(|o| {
                        o.conditions()
                            .iter()
                            .map(|c| serde_json::json!({"type": c.kind, "reason": c.reason, "message": c.message}))
                            .collect()
                    })
                    .unwrap_or_default(),
                issued: obj.is_some_and(CsrObject::is_issued),
                bindings: s.report.bindings.clone(),
                error: s.report.problem.as_ref().map(|p| p.message.clone()),
            }
        })
        .collect();
    if json {
        print_stdout(&format!(
            "{}\n",
            json_safe(&serde_json::to_string_pretty(&rows)?)
        ))?;
    } else {
        let mut table = vec![[
            "NAME".to_owned(),
            "AGE".to_owned(),
            "SIGNERNAME".to_owned(),
            "REQUESTOR".to_owned(),
            "REQUESTEDDURATION".to_owned(),
            "CONDITION".to_owned(),
        ]];
        for r in rows.iter().filter(|r| r.found) {
            table.push([
                one_line(&r.name),
                r.age.clone().unwrap_or_else(|| "<unknown>".into()),
                one_line(r.signer_name.as_deref().unwrap_or("<none>")),
                one_line(r.requestor.as_deref().unwrap_or("")),
                r.requested_duration_seconds
                    .map_or_else(|| "<none>".to_owned(), human_duration),
                one_line(r.condition.as_deref().unwrap_or("")),
            ]);
        }
        let mut widths = [0usize; 6];
        for row in &table {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        if table.len() > 1 {
            for row in &table {
                let mut line = String::new();
                for (i, cell) in row.iter().enumerate() {
                    if i + 1 == row.len() {
                        line.push_str(cell);
                    } else {
                        line.push_str(&format!("{cell:<w$}   ", w = widths[i]));
                    }
                }
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        for (r, s) in rows.iter().zip(&slots) {
            let denied = s
                .obj
                .as_ref()
                .is_some_and(|o| matches!(o.state(), objects::State::Denied(..)));
            for b in &r.bindings {
                out.push_str(&binding_line(b, denied));
            }
        }
        print_stdout(&out)?;
    }
    let mut code = Exit::Success;
    for slot in &slots {
        if let Some(p) = &slot.report.problem {
            eprintln!(
                "error: {}: {}",
                one_line(&slot.label()),
                crate::sanitize::for_terminal(&p.message)
            );
            if let Some(h) = &p.hint {
                eprintln!("hint: {}", crate::sanitize::for_terminal(h));
            }
            code = Exit::Failed;
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(3600), "60m");
        assert_eq!(human_duration(4 * 3600), "4h");
        assert_eq!(human_duration(30 * 86_400), "30d");
        assert_eq!(human_duration(86_400 * 3 + 3600), "3d1h");
    }

    #[test]
    fn bounded_parallel_visits_everything_once() {
        let mut items: Vec<u32> = (0..50).collect();
        par_for_each(&mut items, 4, |i| *i += 100);
        assert!(items.iter().enumerate().all(|(n, v)| *v == n as u32 + 100));
    }
}

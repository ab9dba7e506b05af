//! The `apply`, `approve`, `status` and `fetch` commands: the media is verified before anything
//! is sent, requests run with bounded concurrency, each ends with its own result, and the exit
//! code sums them up (see [`ops::exit_code`]).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use kcsr_core::cert::{self, CertInfo};
use kcsr_core::manifest::ApiVersion;
use kcsr_core::media::{BUNDLE_SUFFIX, CERT_SUFFIX, MAX_MEDIA_FILE_BYTES};
use kcsr_core::verify::Step;

use crate::binding::BindingReport;
use crate::client::Client;
use crate::media::{Media, MediaError, MediaRequest};
use crate::objects::{self, CsrObject};
use crate::ops::{self, Approval, ApprovalText, ClusterInfo, Created, Problem, ProblemKind};
use crate::progress::{Progress, Style};
use crate::review::Review;
use crate::sanitize::one_line;
use crate::signers::{self, MediaSigner, Trust};
use crate::{station, whoami};

/// A whole-command failure with its exit code (per-request failures are reported instead).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Fatal {
    /// Exit code.
    pub code: u8,
    /// What happened.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
}

impl Fatal {
    fn new(code: u8, message: impl Into<String>, hint: Option<&str>) -> Self {
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
    /// The binding of the request's grant: created only after the approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding: Option<BindingReport>,
    /// What approving did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// kubectl's CONDITION column as last seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// `created`, `pending`, `approved`, `issued`, `written`, `on-media`, `dry-run`, `failed`.
    pub state: String,
    /// Files written onto the media.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Certificate checks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Step>,
    /// What the review warned about (special groups and users, cluster-admin, User bindings).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The station key that signed the media.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_signer: Option<MediaSigner>,
    /// Why it did not complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

struct Slot {
    req: Option<MediaRequest>,
    version: ApiVersion,
    obj: Option<CsrObject>,
    report: RequestReport,
}

impl Slot {
    fn from_request(req: &MediaRequest) -> Self {
        Self {
            version: req.manifest.version().unwrap_or(ApiVersion::V1),
            obj: None,
            report: RequestReport {
                stem: req.stem.clone(),
                name: req.name().to_owned(),
                user: req.csr.subject.user().unwrap_or_default().to_owned(),
                created: None,
                binding: None,
                approval: None,
                condition: None,
                state: "pending".into(),
                files: Vec::new(),
                checks: Vec::new(),
                warnings: crate::review::request_warnings(req),
                media_signer: None,
                problem: None,
            },
            req: Some(req.clone()),
        }
    }

    fn from_name(name: &str) -> Self {
        Self {
            req: None,
            version: ApiVersion::V1,
            obj: None,
            report: RequestReport {
                stem: String::new(),
                name: name.to_owned(),
                user: String::new(),
                created: None,
                binding: None,
                approval: None,
                condition: None,
                state: "pending".into(),
                files: Vec::new(),
                checks: Vec::new(),
                warnings: Vec::new(),
                media_signer: None,
                problem: None,
            },
        }
    }

    fn active(&self) -> bool {
        self.report.problem.is_none() && self.report.state != "on-media"
    }

    fn fail(&mut self, p: Problem) {
        self.report.state = "failed".into();
        self.report.problem = Some(p);
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

    /// The binding the request asks for, if any.
    fn binding(&self) -> Option<&crate::binding::PlannedBinding> {
        self.req.as_ref().and_then(|r| r.binding.as_ref())
    }

    /// Records the review's warnings in the report; returns the review text.
    fn review(&mut self, now: i64) -> String {
        let label = self.label();
        let Some(obj) = &self.obj else {
            return String::new();
        };
        let review = Review {
            label: &label,
            req: self.req.as_ref(),
            obj,
            binding: self.binding(),
            signer: self.report.media_signer.as_ref(),
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
    open_media_verified(dir, |_| Ok(())).map(|(m, ())| m)
}

/// [`Media::open_verified`]; refusals exit 3, and a media without requests is an error.
fn open_media_verified<T>(
    dir: &Path,
    verify: impl FnOnce(&crate::media::Signed<'_>) -> Result<T, MediaError>,
) -> anyhow::Result<(Media, T)> {
    let (media, verified) = Media::open_verified(dir, verify).map_err(|e| -> anyhow::Error {
        if e.refused {
            let MediaError { message, hint, .. } = e;
            Fatal {
                code: 3,
                message,
                hint,
            }
            .into()
        } else {
            e.into()
        }
    })?;
    if media.requests.is_empty() {
        return Err(Fatal::new(
            1,
            format!("the media {} holds no *.csr.yaml requests", dir.display()),
            Some("write requests onto it with kcsr request on the isolated machine"),
        )
        .into());
    }
    Ok((media, verified))
}

/// The trusted station keys; a configured source that cannot be used is an error (exit 1).
fn load_trust(flag: Option<&Path>) -> anyhow::Result<Trust> {
    Trust::load(flag).map_err(|e| Fatal::new(1, e.message, Some(&e.hint)).into())
}

/// Opens the media and checks its signature before anything is sent: refused (exit 3)
/// unless signed by a trusted station key when any is configured; with none configured, the
/// operator is warned that the media is unauthenticated.
fn open_signed(dir: &Path, trust: &Trust) -> anyhow::Result<(Media, Option<MediaSigner>)> {
    open_media_verified(dir, |signed| {
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

/// Refuses (exit 3, before anything is sent) requests past their `kcsr.dev/not-after`.
fn check_fresh<'a>(requests: impl IntoIterator<Item = &'a MediaRequest>) -> anyhow::Result<()> {
    let now = ops::now_unix();
    let stale: Vec<String> = requests
        .into_iter()
        .filter_map(|r| {
            r.notes
                .expired(now)
                .map(|why| format!("{} ({}): {why}", one_line(r.name()), r.stem))
        })
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    Err(Fatal::new(
        3,
        format!(
            "{} request(s) on the media are past their validity; nothing was sent\n  {}",
            stale.len(),
            stale.join("\n  ")
        ),
        Some("old media is never sent again (a replay would re-create requests and bindings): make new requests on the isolated machine (kcsr request, or kcsr renew)"),
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
            3,
            e,
            Some("use the context of the cluster the requests were made for (--context NAME, with its certificate-authority-data; not --insecure-skip-tls-verify), or make new requests for this cluster on the isolated machine"),
        )
        .into()
    })
}

fn check_confirmable(yes: bool) -> anyhow::Result<()> {
    if !yes && !std::io::stdin().is_terminal() {
        return Err(Fatal::new(
            2,
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
            1,
            format!("cannot read --client-ca {}: {e}", path.display()),
            Some("pass the PEM file of the CA that signs client certificates (e.g. /etc/kubernetes/pki/ca.crt)"),
        )
    })?;
    let certs = cert::parse_all(&data).map_err(|e| {
        Fatal::new(
            1,
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

fn confirm(approvals: usize, bindings: usize) -> anyhow::Result<bool> {
    if bindings == 0 {
        eprint!("Approve {approvals} request(s)? [y/N] ");
    } else {
        eprint!("Approve {approvals} request(s) and create {bindings} binding(s)? [y/N] ");
    }
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn approval_text(client: &Client, reason: Option<&str>, message: Option<&str>) -> ApprovalText {
    let message = match message {
        Some(m) => m.to_owned(),
        None => {
            let user = whoami::whoami(client)
                .map(|u| u.username)
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| client.user_name().to_owned());
            format!("Approved by {user} with kcsr-submit")
        }
    };
    ApprovalText {
        reason: reason.unwrap_or("KcsrApprove").to_owned(),
        message,
    }
}

/// Reviews, confirms and approves the active slots, each exactly as it was reviewed, then
/// creates the bindings of the approved ones. `Ok(false)`: the operator said no.
fn review_and_approve(
    slots: &mut [Slot],
    client: &Client,
    yes: bool,
    reason: Option<&str>,
    message: Option<&str>,
    parallel: usize,
    style: Style,
) -> anyhow::Result<bool> {
    let now = ops::now_unix();
    let unapproved = |s: &Slot| {
        s.obj
            .as_ref()
            .is_some_and(|o| o.condition("Approved").is_none())
    };
    let mut reviews = Vec::new();
    let (mut approvals, mut bindings) = (0, 0);
    for slot in slots.iter_mut().filter(|s| s.active() && s.obj.is_some()) {
        let approving = unapproved(slot);
        let binding = slot.binding().is_some();
        if approving || binding {
            approvals += usize::from(approving);
            bindings += usize::from(binding);
            reviews.push(slot.review(now));
        }
    }
    if !reviews.is_empty() {
        // The review is the approver's record of what was approved: shown unless nobody
        // asked for it (--quiet --yes).
        if !(yes && style == Style::Quiet) {
            for text in &reviews {
                eprint!("{text}");
            }
        }
        if !yes && !confirm(approvals, bindings)? {
            return Ok(false);
        }
    }
    let text = approval_text(client, reason, message);
    let bar = Progress::start(
        style,
        "approving",
        slots.iter().filter(|s| s.active()).count(),
    );
    par_for_each(slots, parallel, |slot| {
        if !slot.active() {
            return;
        }
        let Some(reviewed) = slot.obj.clone() else {
            return;
        };
        let result = ops::approve(client, slot.version, &reviewed, &text);
        bar.step();
        match result {
            Ok((approval, obj)) => {
                if approval == Approval::Approved {
                    bar.line(|| format!("approved {}", one_line(&slot.report.name)));
                }
                slot.report.approval = Some(approval);
                slot.report.state = "approved".into();
                slot.set_obj(obj);
                create_binding(slot, client, false, &bar);
            }
            Err(p) => slot.fail(p),
        }
    });
    bar.finish();
    Ok(true)
}

/// Creates the slot's binding (after its approval, or as a dry run) and reports it.
fn create_binding(slot: &mut Slot, client: &Client, dry_run: bool, bar: &Progress) {
    let Some(binding) = slot.binding().cloned() else {
        return;
    };
    match ops::create_binding(client, &binding.manifest, dry_run) {
        Ok(created) => {
            let state = match created {
                Created::Created => "created",
                Created::Exists => "exists",
                Created::DryRun => "dry-run",
            };
            if created == Created::Created {
                bar.line(|| {
                    format!(
                        "created {} {}",
                        binding.manifest.kind.to_ascii_lowercase(),
                        one_line(&binding.manifest.metadata.name)
                    )
                });
            }
            slot.report.binding = Some(binding.report(state));
        }
        Err(p) => {
            slot.report.binding = Some(binding.report("failed"));
            slot.fail(p);
        }
    }
}

/// If the media already holds a verified certificate for the slot, marks it done.
fn check_on_media(slot: &mut Slot, media: &Media, client_ca: Option<&ClientCa>) {
    let Some(req) = &slot.req else { return };
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
            slot.report.state = "on-media".into();
            slot.report.checks = steps;
            slot.report.files = vec![crt, bundle];
        }
        Err(mut p) => {
            p.message = format!("{crt} on the media does not verify: {}", p.message);
            slot.fail(p);
        }
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
            cluster,
            client_ca.map(|c| c.pem.as_str()),
            slot.report.media_signer.as_ref(),
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
            if let Some(step) = steps
                .iter()
                .find(|s| s.check == "lifetime" && s.detail.contains("capped"))
            {
                eprintln!(
                    "note: {}: {}",
                    one_line(&slot.report.name),
                    one_line(&step.detail)
                );
            }
            slot.report.state = "written".into();
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

/// Waits for (or checks) the certificate of every active slot, then verifies and writes it.
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
    let result = match wait {
        Some(timeout) => ops::wait_issued(&session.client, slot.version, &name, timeout),
        None => ops::check_issued(&session.client, slot.version, &name),
    };
    match result {
        Ok(obj) => {
            slot.report.state = "issued".into();
            slot.set_obj(obj);
            deliver(slot, media, &session.cluster, client_ca);
        }
        Err(p) if p.kind == ProblemKind::TimedOut && !pending_is_problem => {
            slot.report.state = if slot
                .obj
                .as_ref()
                .is_some_and(|o| o.condition("Approved").is_some())
            {
                "approved".into()
            } else {
                "pending".into()
            };
        }
        Err(p) => slot.fail(p),
    }
}

/// kubectl's line for a binding, e.g. `clusterrolebinding.rbac.authorization.k8s.io/NAME
/// created (ClusterRole/view for User "alice")`.
fn binding_line(b: &BindingReport) -> String {
    let what = match b.state.as_str() {
        "pending-approval" => {
            "not created yet: created once the request is approved with kcsr-submit approve MEDIA_DIR"
        }
        "dry-run" => "accepted by the server (dry run)",
        "failed" => "NOT created",
        other => other,
    };
    format!(
        "{}.rbac.authorization.k8s.io/{} {what} ({} for User {:?})\n",
        b.kind.to_ascii_lowercase(),
        one_line(&b.name),
        one_line(&b.grant),
        one_line(&b.user)
    )
}

fn report(slots: &[Slot], json: bool, media_dir: Option<&Path>) -> anyhow::Result<u8> {
    let reports: Vec<&RequestReport> = slots.iter().map(|s| &s.report).collect();
    if json {
        print_stdout(&format!("{}\n", serde_json::to_string_pretty(&reports)?))?;
    } else {
        let mut out = String::new();
        for r in &reports {
            let what = match r.state.as_str() {
                "written" => format!("certificate verified and written: {}", r.files.join(", ")),
                "on-media" => "certificate already on the media (verified again)".to_owned(),
                "dry-run" => "accepted by the server (dry run; nothing created)".to_owned(),
                "pending" => "created; not approved yet".to_owned(),
                "approved" => "approved; not issued yet".to_owned(),
                "failed" => "FAILED".to_owned(),
                other => other.to_owned(),
            };
            out.push_str(&format!("{}: {what}\n", one_line(&r.name)));
            if let Some(b) = &r.binding {
                out.push_str(&binding_line(b));
            }
        }
        print_stdout(&out)?;
    }
    let waiting = slots
        .iter()
        .filter(|s| {
            s.report.problem.is_none() && matches!(s.report.state.as_str(), "pending" | "approved")
        })
        .count();
    if waiting > 0
        && let Some(dir) = media_dir
    {
        eprintln!(
            "{waiting} request(s) are not issued yet: once approved, run `kcsr-submit fetch {} --wait 5m` to bring the certificates back",
            dir.display()
        );
    }
    let problems: Vec<&Problem> = slots
        .iter()
        .filter_map(|s| s.report.problem.as_ref())
        .collect();
    for slot in slots {
        if let Some(p) = &slot.report.problem {
            eprintln!(
                "error: {}: {}",
                one_line(&slot.label()),
                crate::sanitize::for_terminal(&p.message)
            );
            if let Some(h) = &p.hint {
                eprintln!("hint: {}", crate::sanitize::for_terminal(h));
            }
        }
    }
    let ok = slots.len() - problems.len();
    if !problems.is_empty() && ok > 0 {
        eprintln!(
            "{ok} of {} request(s) completed; {} failed (listed above)",
            slots.len(),
            problems.len()
        );
    }
    Ok(ops::exit_code(problems))
}

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
                "dry-run".into()
            } else {
                "pending".into()
            };
            slot.set_obj(obj);
        }
        Err(p) => {
            slot.fail(p);
            return;
        }
    }
    // A binding is created only after the approval (review_and_approve); a dry run with
    // --approve lets the server check it too.
    if dry_run && approve {
        create_binding(slot, client, true, bar);
    } else if let Some(b) = slot.binding() {
        slot.report.binding = Some(b.report("pending-approval"));
    }
}

/// `kcsr-submit apply`.
pub fn apply(dir: &Path, opts: &ApplyOptions, connect: Connect<'_>) -> anyhow::Result<u8> {
    let style = Style::detect(opts.quiet);
    let trust = load_trust(opts.allowed_signers.as_deref())?;
    let (media, signer) = open_signed(dir, &trust)?;
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
    // Done ones are only verified again; everything still to send must be fresh.
    check_fresh(
        slots
            .iter()
            .filter(|s| s.active())
            .filter_map(|s| s.req.as_ref()),
    )?;
    let session = connect()?;
    check_cluster(&media.requests, &session)?;
    let client = &session.client;
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
    if dry_run {
        if opts.approve {
            let now = ops::now_unix();
            for slot in slots.iter_mut().filter(|s| s.active()) {
                eprint!("{}", slot.review(now));
            }
            eprintln!("dry run: nothing was approved, created or written");
        }
        return report(&slots, opts.json, None);
    }
    if opts.approve
        && !review_and_approve(
            &mut slots,
            client,
            opts.yes,
            opts.reason.as_deref(),
            opts.message.as_deref(),
            opts.parallel,
            style,
        )?
    {
        return Err(Fatal::new(
            1,
            "not approved: the operator declined",
            Some(
                "the requests were created; approve them later with kcsr-submit approve MEDIA_DIR",
            ),
        )
        .into());
    }
    let media = Mutex::new(media);
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
    report(&slots, opts.json, Some(dir))
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
}

/// `kcsr-submit fetch`.
pub fn fetch(dir: &Path, opts: &FetchOptions, connect: Connect<'_>) -> anyhow::Result<u8> {
    let FetchOptions {
        wait, json, quiet, ..
    } = *opts;
    let trust = load_trust(opts.allowed_signers.as_deref())?;
    let (media, signer) = open_signed(dir, &trust)?;
    let client_ca = load_client_ca(opts.client_ca.as_deref())?;
    let mut slots = media_slots(&media, signer.as_ref());
    for slot in &mut slots {
        check_on_media(slot, &media, client_ca.as_ref());
    }
    let session = connect()?;
    check_cluster(&media.requests, &session)?;
    let media = Mutex::new(media);
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
    report(&slots, json, None)
}

/// MEDIA_DIR (with who signed it) or object names.
enum Targets {
    Media(Box<Media>, Option<MediaSigner>),
    Names(Vec<String>),
}

/// The targets; `trust`: check the media's signature (approve), or `None` (status reads only).
fn targets(args: &[String], trust: Option<&Trust>) -> anyhow::Result<Targets> {
    if let [one] = args
        && Path::new(one).is_dir()
    {
        let dir = Path::new(one);
        return Ok(match trust {
            Some(trust) => {
                let (media, signer) = open_signed(dir, trust)?;
                Targets::Media(Box::new(media), signer)
            }
            None => Targets::Media(Box::new(open_media(dir)?), None),
        });
    }
    for name in args {
        if name.parse::<kcsr_core::names::ObjectName>().is_err() {
            return Err(Fatal::new(
                2,
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

fn get_all(slots: &mut [Slot], client: &Client, compare: bool) {
    par_for_each(slots, 4, |slot| {
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
                let not_found = p.message.contains("NotFound");
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

/// `kcsr-submit approve`.
pub fn approve(args: &[String], opts: &ApproveOptions, connect: Connect<'_>) -> anyhow::Result<u8> {
    let trust = load_trust(opts.allowed_signers.as_deref())?;
    let targets = targets(args, Some(&trust))?;
    match &targets {
        Targets::Media(media, _) => {
            if opts.unsigned {
                return Err(Fatal::new(
                    2,
                    "--unsigned is for approving objects by name; media is always checked against its signature",
                    Some("drop --unsigned to approve the media's requests"),
                )
                .into());
            }
            check_fresh(&media.requests)?;
        }
        Targets::Names(_) if trust.is_configured() && !opts.unsigned => {
            return Err(Fatal::new(
                2,
                "approving by name approves objects no station signature covers, and allowed signers are configured",
                Some("approve the media instead (kcsr-submit approve MEDIA_DIR: a copy of the request files, SHA256SUMS and SHA256SUMS.sig is enough), or pass --unsigned to approve these names after your own review"),
            )
            .into());
        }
        Targets::Names(_) => {}
    }
    check_confirmable(opts.yes)?;
    let session = connect()?;
    if let Targets::Media(media, _) = &targets {
        check_cluster(&media.requests, &session)?;
    }
    let mut slots = slots_for(&targets);
    // The objects must be the media's requests: never approve a different key under that name.
    get_all(&mut slots, &session.client, true);
    if !review_and_approve(
        &mut slots,
        &session.client,
        opts.yes,
        opts.reason.as_deref(),
        opts.message.as_deref(),
        4,
        Style::detect(opts.quiet),
    )? {
        return Err(Fatal::new(1, "not approved: the operator declined", None).into());
    }
    if opts.json {
        let reports: Vec<&RequestReport> = slots.iter().map(|s| &s.report).collect();
        print_stdout(&format!("{}\n", serde_json::to_string_pretty(&reports)?))?;
    } else {
        let mut out = String::new();
        for s in slots.iter().filter(|s| s.report.problem.is_none()) {
            let what = match s.report.approval {
                Some(Approval::AlreadyApproved) => "already approved",
                _ => "approved",
            };
            out.push_str(&format!(
                "certificatesigningrequest.certificates.k8s.io/{} {what}\n",
                one_line(&s.report.name)
            ));
            if let Some(b) = &s.report.binding {
                out.push_str(&binding_line(b));
            }
        }
        print_stdout(&out)?;
    }
    let problems: Vec<&Problem> = slots
        .iter()
        .filter_map(|s| s.report.problem.as_ref())
        .collect();
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
        }
    }
    Ok(ops::exit_code(problems))
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
pub fn status(args: &[String], json: bool, connect: Connect<'_>) -> anyhow::Result<u8> {
    let targets = targets(args, None)?;
    let session = connect()?;
    let mut slots = slots_for(&targets);
    get_all(&mut slots, &session.client, false);
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
                error: s.report.problem.as_ref().map(|p| p.message.clone()),
            }
        })
        .collect();
    if json {
        print_stdout(&format!("{}\n", serde_json::to_string_pretty(&rows)?))?;
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
        print_stdout(&out)?;
    }
    let mut code = 0;
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
            code = 1;
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

//! Results on the media: what is there already, verified again; certificates waited for,
//! verified and written with their bundles; denials written back.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use kcsr_core::cert::{self, CertInfo};
use kcsr_core::exit::Exit;
use kcsr_core::media::{BUNDLE_SUFFIX, CERT_SUFFIX, DENIED_SUFFIX, MAX_MEDIA_FILE_BYTES};
use kcsr_core::verify::{Finding, Step};

use super::bindings::refresh_bindings;
use super::parallel::par_for_each;
use super::session::{Fatal, Session};
use super::slot::Slot;
use crate::binding::BindingReport;
use crate::client::Client;
use crate::media::{Media, MediaError};
use crate::ops::{self, ClusterInfo, Problem, ProblemKind};
use crate::progress::{Progress, Style};
use crate::sanitize::one_line;
use crate::state::RequestState;

/// The client CA: PEM text and parsed certificates.
pub(super) struct ClientCa {
    pub(super) pem: String,
    pub(super) certs: Vec<CertInfo>,
}

pub(super) fn load_client_ca(path: Option<&Path>) -> anyhow::Result<Option<ClientCa>> {
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

/// If the media already holds the slot's result (a verified certificate, or a denial), marks it
/// done: nothing is sent for it again.
pub(super) fn check_on_media(slot: &mut Slot, media: &Media, client_ca: Option<&ClientCa>) {
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
pub(super) fn recheck_on_media(
    slots: &mut [Slot],
    client: &Client,
    media: &Mutex<Media>,
    parallel: usize,
) {
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
pub(super) fn record_denied(slot: &mut Slot, media: &Mutex<Media>) {
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

pub(super) fn deliver(
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
pub(super) struct Settle {
    /// Wait this long for each certificate; `None`: look once.
    pub(super) wait: Option<Duration>,
    /// Whether a request still pending at the end is a failure (exit 4) or just reported.
    pub(super) pending_is_problem: bool,
    pub(super) parallel: usize,
    pub(super) style: Style,
}

/// Waits for (or checks) the certificate of every active slot, then verifies and writes it
/// with its bindings as seen; a Denied or Failed request comes back as `<stem>.denied.yaml`.
pub(super) fn settle_and_deliver(
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

pub(super) fn settle_one(
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
            if let Ok(obj) = ops::get(client, slot.version, &name) {
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
                && let Ok(obj) = ops::get(client, slot.version, &name)
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

//! `kcsr-submit apply` and `kcsr-submit fetch`.

use std::path::Path;
use std::sync::Mutex;

use kcsr_core::exit::Exit;

use super::bindings::create_bindings;
use super::decide::{Decide, review_and_decide};
use super::delivery::{
    ClientCa, Settle, check_on_media, load_client_ca, recheck_on_media, record_denied,
    settle_and_deliver,
};
use super::media_checks::{
    check_cluster, check_confirmable, check_fresh, check_policy, check_roles, load_trust,
    open_signed,
};
use super::offboarding::{Offboarding, plan_offboards, show_offboards};
use super::options::{ApplyOptions, FetchOptions};
use super::parallel::{DEFAULT_PARALLEL, par_for_each};
use super::report::report;
use super::session::{Connect, Fatal, Session};
use super::slot::{Slot, media_slots};
use crate::client::Client;
use crate::media::{Media, MediaRequest};
use crate::offboard::NotCarriedOut;
use crate::ops::{self, Approval, Created};
use crate::progress::{Progress, Style};
use crate::sanitize::one_line;
use crate::state::RequestState;

/// Creates one slot's request.
pub(super) fn create_one(
    slot: &mut Slot,
    client: &Client,
    dry_run: bool,
    approve: bool,
    bar: &Progress,
) {
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
    let style = Style::detect(opts.globals.quiet);
    let trust = load_trust(opts.globals.allowed_signers.as_deref())?;
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
    check_to_send(&slots, &media)?;
    let session = connect()?;
    check_cluster(&media.requests, &session)?;
    let client = &session.client;
    check_roles(slots.iter().filter(|s| s.active()), client)?;
    create_all(&mut slots, client, opts, style);
    let mut offboards = plan_offboards(&media, client);
    if opts.dry_run {
        show_dry_run(&mut slots, &mut offboards, &media, opts.approve);
        return report(&mut slots, &offboards, opts.json.on(), None);
    }
    if opts.approve {
        approve_created(&mut slots, &mut offboards, client, &media, opts, style)?;
    } else {
        show_offboards(
            &mut offboards,
            NotCarriedOut::PendingApproval,
            opts.globals.quiet,
        );
    }
    let how = Settle {
        wait: opts.wait,
        pending_is_problem: opts.wait.is_some(),
        parallel: usize::from(opts.parallel),
        style,
    };
    let media = bring_back(&mut slots, &session, media, client_ca.as_ref(), &how);
    report(&mut slots, &offboards, opts.json.on(), Some(&media))
}

/// Done ones are only verified again; everything still to send must be fresh and within the
/// station's policy.
fn check_to_send(slots: &[Slot], media: &Media) -> anyhow::Result<()> {
    let to_send: Vec<&MediaRequest> = slots
        .iter()
        .filter(|s| s.active())
        .filter_map(|s| s.req.as_ref())
        .collect();
    check_fresh(to_send.iter().copied(), &media.offboards)?;
    check_policy(media, to_send)
}

/// Creates every request still to send.
fn create_all(slots: &mut [Slot], client: &Client, opts: &ApplyOptions, style: Style) {
    let (dry_run, approve) = (opts.dry_run, opts.approve);
    let bar = Progress::start(
        style,
        "creating",
        slots.iter().filter(|s| s.active()).count(),
    );
    par_for_each(slots, usize::from(opts.parallel), |slot| {
        if !slot.active() {
            return;
        }
        create_one(slot, client, dry_run, approve, &bar);
        bar.step();
    });
    bar.finish();
}

/// A dry run shows what the review would (with `--approve`) and the offboardings.
fn show_dry_run(slots: &mut [Slot], offboards: &mut [Offboarding], media: &Media, approve: bool) {
    if approve {
        let now = ops::now_unix();
        if let Some(p) = &media.policy {
            eprint!("{}", crate::policy::describe(p));
        }
        for slot in slots.iter_mut().filter(|s| s.active()) {
            eprint!("{}", slot.review(now, None));
        }
    }
    show_offboards(offboards, NotCarriedOut::DryRun, false);
    if approve {
        eprintln!("dry run: nothing was approved, created, deleted or written");
    }
}

/// `--approve`: the review and the decisions; declining everything ends the run.
fn approve_created(
    slots: &mut [Slot],
    offboards: &mut [Offboarding],
    client: &Client,
    media: &Media,
    opts: &ApplyOptions,
    style: Style,
) -> anyhow::Result<()> {
    let how = Decide {
        yes: opts.yes,
        reason: opts.reason.as_deref(),
        message: opts.message.as_deref(),
        parallel: usize::from(opts.parallel),
        style,
        policy: media.policy.as_ref(),
    };
    if review_and_decide(slots, offboards, client, &how)? {
        return Ok(());
    }
    Err(Fatal::new(
        Exit::Failed,
        "not approved: the operator declined",
        Some("the requests were created; approve them later with kcsr-submit approve MEDIA_DIR"),
    )
    .into())
}

/// Writes the denials decided in this run, looks again at the bindings of results already on
/// the media, then waits for (or checks) and delivers the rest.
fn bring_back(
    slots: &mut [Slot],
    session: &Session,
    media: Media,
    client_ca: Option<&ClientCa>,
    how: &Settle,
) -> Media {
    let media = Mutex::new(media);
    for slot in slots
        .iter_mut()
        .filter(|s| s.report.approval == Some(Approval::Denied))
    {
        record_denied(slot, &media);
    }
    recheck_on_media(slots, &session.client, &media, how.parallel);
    settle_and_deliver(slots, session, &media, client_ca, how);
    media.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// `kcsr-submit fetch`.
pub fn fetch(dir: &Path, opts: &FetchOptions, connect: Connect<'_>) -> anyhow::Result<Exit> {
    let trust = load_trust(opts.globals.allowed_signers.as_deref())?;
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
    let how = Settle {
        wait: opts.wait,
        pending_is_problem: true,
        parallel: DEFAULT_PARALLEL.into(),
        style: Style::detect(opts.globals.quiet),
    };
    let media = bring_back(&mut slots, &session, media, client_ca.as_ref(), &how);
    report(&mut slots, &[], opts.json.on(), Some(&media))
}

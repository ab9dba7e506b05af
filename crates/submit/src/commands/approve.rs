//! `kcsr-submit approve` and `kcsr-submit deny`.

use kcsr_core::exit::Exit;
use kcsr_core::media::DENIED_SUFFIX;

use super::bindings::mark_incomplete;
use super::decide::{Decide, decision_text, review_and_decide, who_am_i};
use super::delivery::check_on_media;
use super::media_checks::{
    check_cluster, check_confirmable, check_fresh, check_policy, check_roles, load_trust,
};
use super::offboarding::plan_offboards;
use super::options::{ApproveOptions, DenyOptions};
use super::parallel::{DEFAULT_PARALLEL, par_for_each};
use super::report::{decision_lines, json_reports, print_problems, print_stdout, run_code};
use super::session::{Connect, Fatal};
use super::targets::{Targets, get_all, slots_for, targets};
use crate::ops::{self, Approval};
use crate::progress::Style;
use crate::signers::Trust;
use crate::state::RequestState;

/// `kcsr-submit approve`.
pub fn approve(
    args: &[String],
    opts: &ApproveOptions,
    connect: Connect<'_>,
) -> anyhow::Result<Exit> {
    let trust = load_trust(opts.globals.allowed_signers.as_deref())?;
    let targets = targets(args, Some(&trust), opts.out.as_deref())?;
    check_approvable(&targets, &trust, opts.unsigned)?;
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
        parallel: DEFAULT_PARALLEL.into(),
        style: Style::detect(opts.globals.quiet),
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
    if opts.json.on() {
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

/// What may be approved, before anything is sent: media only as signed, fresh and within the
/// station's policy; names only with `--unsigned` when station keys are configured.
fn check_approvable(targets: &Targets, trust: &Trust, unsigned: bool) -> anyhow::Result<()> {
    match targets {
        Targets::Media(media, _) => {
            if unsigned {
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
        Targets::Names(_) if trust.is_configured() && !unsigned => {
            return Err(Fatal::new(
                Exit::Usage,
                "approving by name approves objects no station signature covers, and allowed signers are configured",
                Some("approve the media instead (kcsr-submit approve MEDIA_DIR: a copy of the request files, SHA256SUMS and SHA256SUMS.sig is enough), or pass --unsigned to approve these names after your own review"),
            )
            .into());
        }
        Targets::Names(_) => {}
    }
    Ok(())
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
    par_for_each(&mut slots, DEFAULT_PARALLEL.into(), |slot| {
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
    if opts.json.on() {
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

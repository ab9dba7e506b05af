//! The review and the approver's decisions: approve, deny or skip each request and
//! offboarding, then carry out exactly what was reviewed.

use std::io::BufRead;

use super::bindings::{create_bindings, refresh_bindings};
use super::offboarding::Offboarding;
use super::parallel::par_for_each;
use super::slot::Slot;
use crate::client::Client;
use crate::decide::{Asker, Decision, Offer};
use crate::offboard::{NotCarriedOut, OffboardState};
use crate::ops::{self, Approval, ApprovalText};
use crate::progress::{Progress, Style};
use crate::sanitize::one_line;
use crate::state::RequestState;
use crate::whoami;

/// How [`review_and_decide`] asks and approves.
pub(super) struct Decide<'a> {
    pub(super) yes: bool,
    pub(super) reason: Option<&'a str>,
    pub(super) message: Option<&'a str>,
    pub(super) parallel: usize,
    pub(super) style: Style,
    pub(super) policy: Option<&'a crate::policy::StationPolicy>,
}

/// Reviews every request that needs the approver (pending ones; approved ones whose bindings
/// are missing) and every offboarding, asks approve / deny / skip for each (`--yes`: approve
/// all), then approves or denies each exactly as it was reviewed, creates the bindings of the
/// approved ones and carries out the approved offboardings. `Ok(false)`: the operator
/// skipped everything.
pub(super) fn review_and_decide(
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
    let mut ask = Ask {
        asker: Asker::new(std::io::stdin().lock()),
        yes: how.yes,
        asked: 0,
        skipped: 0,
    };
    for slot in slots.iter_mut() {
        ask_request(slot, &mut ask, now, me, show)?;
    }
    for o in offboards.iter_mut() {
        ask_offboard(o, &mut ask, show)?;
    }
    if ask.asked > 0 && ask.asked == ask.skipped {
        return Ok(false);
    }
    let texts = Texts {
        approve: decision_text("Approved", ops::APPROVE_REASON, me, how.reason, how.message),
        deny: decision_text("Denied", ops::DENY_REASON, me, None, None),
    };
    let bar = Progress::start(
        how.style,
        "approving",
        slots.iter().filter(|s| s.decision.is_some()).count(),
    );
    par_for_each(slots, how.parallel, |slot| {
        carry_out(slot, client, me, &texts, &bar);
    });
    bar.finish();
    for o in offboards.iter_mut() {
        match o.decision {
            Some(Decision::Approve) => o.report.carry_out(client, &o.reviewed),
            Some(_) => o.report.set_all(NotCarriedOut::Skipped),
            None => {}
        }
    }
    Ok(true)
}

/// Asks approve / deny / skip (`--yes`: approves without asking), counting the answers.
struct Ask<R> {
    asker: Asker<R>,
    yes: bool,
    asked: usize,
    skipped: usize,
}

impl<R: BufRead> Ask<R> {
    fn decide(&mut self, label: &str, offer: Offer) -> anyhow::Result<Decision> {
        let d = if self.yes {
            Decision::Approve
        } else {
            self.asker.ask(label, offer)?
        };
        self.asked += 1;
        self.skipped += usize::from(d == Decision::Skip);
        Ok(d)
    }
}

/// Shows the review of a request that needs the approver and asks; a request that needs
/// nothing is marked as approved already.
fn ask_request<R: BufRead>(
    slot: &mut Slot,
    ask: &mut Ask<R>,
    now: i64,
    me: Option<&str>,
    show: bool,
) -> anyhow::Result<()> {
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
            return Ok(());
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
        return Ok(());
    };
    let text = slot.review(now, me);
    if show {
        eprint!("{text}");
    }
    slot.decision = Some(ask.decide(&slot.report.name, offer)?);
    Ok(())
}

/// Shows an offboarding's review and asks, when there is anything to delete.
fn ask_offboard<R: BufRead>(
    o: &mut Offboarding,
    ask: &mut Ask<R>,
    show: bool,
) -> anyhow::Result<()> {
    if show {
        eprint!("{}", o.report.review());
    }
    if o.report.problem.is_some() || o.reviewed.is_empty() {
        if o.report.problem.is_none() {
            o.report.state = OffboardState::Done;
        }
        return Ok(());
    }
    let label = format!("User {:?} ({})", o.report.user, o.report.file);
    o.decision = Some(ask.decide(
        &label,
        Offer::Offboard {
            deletes: o.reviewed.len(),
        },
    )?);
    Ok(())
}

/// The conditions an approval and a denial add.
struct Texts {
    approve: ApprovalText,
    deny: ApprovalText,
}

/// Does what was decided for one request, exactly on the object reviewed.
fn carry_out(slot: &mut Slot, client: &Client, me: Option<&str>, texts: &Texts, bar: &Progress) {
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
            match ops::deny(client, slot.version, &reviewed, &texts.deny) {
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
            create_bindings(slot, client, false, me, bar);
            if slot.report.state != RequestState::OnMedia {
                slot.report.approval = Some(Approval::AlreadyApproved);
                slot.report.state = RequestState::Approved;
            }
        }
        Decision::Approve => {
            let Some(reviewed) = slot.obj.clone() else {
                return;
            };
            match ops::approve(client, slot.version, &reviewed, &texts.approve) {
                Ok((approval, obj)) => {
                    if approval == Approval::Approved {
                        bar.line(|| format!("approved {}", one_line(&slot.report.name)));
                    }
                    slot.report.approval = Some(approval);
                    slot.report.state = RequestState::Approved;
                    slot.set_obj(obj);
                    create_bindings(slot, client, false, me, bar);
                }
                Err(p) => slot.fail(p),
            }
        }
    }
    bar.step();
}

/// Who these credentials are, as the API server says (SelfSubjectReview): the name that goes
/// into the Approved condition and onto the bindings created. `None`, with a warning, when
/// the server does not say.
pub(super) fn who_am_i(client: &Client) -> Option<String> {
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

pub(super) fn decision_text(
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

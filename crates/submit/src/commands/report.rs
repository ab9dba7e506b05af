//! What a run prints: its results (text or JSON) on stdout, its problems once on stderr,
//! and its exit code.

use std::collections::BTreeMap;
use std::io::Write as _;

use kcsr_core::exit::Exit;
use kcsr_core::terminal::json_safe;

use super::bindings::{binding_line, mark_incomplete};
use super::offboarding::Offboarding;
use super::slot::Slot;
use crate::media::Media;
use crate::ops::{Approval, Problem};
use crate::sanitize::one_line;
use crate::state::RequestState;

pub(super) fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// The JSON of a run: one object per request, then one `{"offboard": …}` per offboarding.
pub(super) fn json_reports(slots: &[Slot], offboards: &[Offboarding]) -> anyhow::Result<String> {
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

/// Prints one request's problem on stderr: `error: LABEL: …`, then its `hint: …`.
pub(super) fn print_problem(slot: &Slot, p: &Problem) {
    eprintln!(
        "error: {}: {}",
        one_line(&slot.label()),
        crate::sanitize::for_terminal(&p.message)
    );
    if let Some(h) = &p.hint {
        eprintln!("hint: {}", crate::sanitize::for_terminal(h));
    }
}

/// Prints every problem: those with a cause shared by the trip once, with the requests it
/// hit; the others once per request.
pub(super) fn print_problems(slots: &[Slot], offboards: &[Offboarding]) {
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
        print_problem(slot, p);
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
pub(super) fn run_code(slots: &[Slot], offboards: &[Offboarding], incomplete: bool) -> Exit {
    Exit::worst(
        slots
            .iter()
            .filter_map(|s| s.report.problem.as_ref())
            .chain(offboards.iter().filter_map(|o| o.report.problem.as_ref()))
            .map(|p| p.kind.exit())
            .chain(incomplete.then_some(Exit::Incomplete)),
    )
}

pub(super) fn report(
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

/// The text lines of approve and deny: kubectl's, then the bindings.
pub(super) fn decision_lines(slots: &[Slot], offboards: &[Offboarding]) -> String {
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

//! The bindings of the requests' grants: looked at, created after the approval, and what is
//! still missing for a trip to be complete.

use std::collections::BTreeMap;

use super::slot::Slot;
use crate::binding::BindingReport;
use crate::client::Client;
use crate::ops::{self, BindingOutcome, Problem, ProblemKind};
use crate::progress::Progress;
use crate::rbac::{self, Found};
use crate::sanitize::one_line;
use crate::state::{BindingState, RequestState};

/// Looks at every granted binding not created by this run: exists, missing, unknown (may not
/// be read), or refused (another binding holds the name: a problem, exit 3).
pub(super) fn refresh_bindings(slot: &mut Slot, client: &Client) {
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
pub(super) fn create_bindings(
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
        let outcome = ops::create_binding(client, &b.manifest, dry_run, me);
        let (state, by, detail) = match outcome {
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
                BindingState::Forbidden,
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
pub(super) enum Gap {
    /// Not on the cluster: the approver has not created it.
    Missing,
    /// The server refused these credentials (403).
    Forbidden,
    /// These credentials may not read bindings.
    Unknown,
}

/// Marks approved requests whose granted bindings do not all exist as incomplete; returns
/// the one line per cause for the trip, each saying who must act, with the command.
pub(super) fn mark_incomplete(slots: &mut [Slot], media: &str) -> Vec<String> {
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
                BindingState::Forbidden => Gap::Forbidden,
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
pub(super) fn binding_line(b: &BindingReport, denied: bool) -> String {
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
        BindingState::Refused | BindingState::Forbidden | BindingState::Failed => format!(
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

//! Offboarding on the connected side (decision 0010): the station's signed
//! `<slug>.offboard.yaml` asks to remove a user's rights. Client certificates cannot be
//! revoked, so what can be removed is what the cluster grants the name: every
//! ClusterRoleBinding and RoleBinding whose only subject is that User is shown for approval and
//! deleted after it; bindings that name the user among others, and group bindings that still
//! reach the user's groups, are reported and left alone, and so is the remaining lifetime of
//! the user's certificates (when the media holds them).

use std::collections::BTreeMap;

use serde::Serialize;

use kcsr_core::time::format_rfc3339;

use crate::client::Client;
use crate::media::MediaOffboard;
use crate::ops::Problem;
use crate::rbac::{self, ClusterBinding, Deleted};
use crate::sanitize::one_line;

/// Where an offboarding stands in this run; the JSON spells it `pending-approval`, `done`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OffboardState {
    /// Planned; carried out once approved.
    PendingApproval,
    /// Carried out (or nothing to delete).
    Done,
    /// Skipped in the review.
    Skipped,
    /// Shown only: a dry run.
    DryRun,
    /// Not completed (see the problem).
    Failed,
}

/// Where one binding to delete stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeletionState {
    /// Deleted once the offboarding is approved.
    PendingApproval,
    /// Deleted by this run.
    Deleted,
    /// Already gone.
    Gone,
    /// Left alone: it changed since the review.
    Changed,
    /// Skipped in the review.
    Skipped,
    /// Shown only: a dry run.
    DryRun,
    /// The delete failed.
    Failed,
}

/// Why a plan is not carried out in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotCarriedOut {
    /// No approval was asked for: the approver's run carries it out.
    PendingApproval,
    /// A dry run.
    DryRun,
    /// The approver skipped it.
    Skipped,
}

impl NotCarriedOut {
    fn state(self) -> OffboardState {
        match self {
            Self::PendingApproval => OffboardState::PendingApproval,
            Self::DryRun => OffboardState::DryRun,
            Self::Skipped => OffboardState::Skipped,
        }
    }

    fn deletion(self) -> DeletionState {
        match self {
            Self::PendingApproval => DeletionState::PendingApproval,
            Self::DryRun => DeletionState::DryRun,
            Self::Skipped => DeletionState::Skipped,
        }
    }
}

/// What the media says about the user's certificates: their groups and end of validity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// The media file it was read from.
    pub file: String,
    /// Its groups (O values).
    pub groups: Vec<String>,
    /// NotAfter, RFC 3339.
    pub not_after: String,
    /// `expired`, or how long it stays valid (`12d3h`).
    pub remaining: String,
}

/// The user's certificates among the results on the media (`<stem>.crt`).
pub fn certificates(results: &BTreeMap<String, Vec<u8>>, user: &str, now: i64) -> Vec<Certificate> {
    let mut out = Vec::new();
    for (name, data) in results {
        if !name.ends_with(kcsr_core::media::CERT_SUFFIX) {
            continue;
        }
        let Ok(certs) = kcsr_core::cert::parse_all(data) else {
            continue;
        };
        let Some(leaf) = certs.first() else { continue };
        if leaf.subject.user() != Some(user) {
            continue;
        }
        out.push(Certificate {
            file: name.clone(),
            groups: leaf.subject.organizations.clone(),
            not_after: format_rfc3339(leaf.not_after),
            remaining: if leaf.not_after <= now {
                "expired".to_owned()
            } else {
                crate::duration::human_duration(leaf.not_after - now)
            },
        });
    }
    out
}

/// One binding in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// `ClusterRoleBinding` or `RoleBinding`.
    pub kind: String,
    /// A RoleBinding's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// `ClusterRole/view`.
    pub role: String,
    /// `User bob`, `Group dev`, …
    pub subjects: Vec<String>,
    /// For group bindings: the user's groups it names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// For bindings to delete: `pending-approval`, `deleted`, `gone`, `changed` (left alone:
    /// it changed since the review), `skipped`, `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<DeletionState>,
}

impl Item {
    fn of(b: &ClusterBinding) -> Self {
        Self {
            kind: b.kind.clone(),
            namespace: b.namespace.clone(),
            name: b.name.clone(),
            role: b.role.clone(),
            subjects: b
                .subjects
                .iter()
                .map(|s| format!("{} {}", s.kind, s.name))
                .collect(),
            groups: Vec::new(),
            state: None,
        }
    }

    fn line(&self) -> String {
        let ns = self
            .namespace
            .as_deref()
            .map_or_else(String::new, |ns| format!(" in namespace {}", one_line(ns)));
        let subjects: Vec<String> = self.subjects.iter().map(|s| one_line(s)).collect();
        format!(
            "{} {}{ns}: {} -> {}",
            one_line(&self.kind),
            one_line(&self.name),
            one_line(&self.role),
            subjects.join(", ")
        )
    }
}

/// One offboarding request, planned and (after the approval) carried out.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OffboardReport {
    /// The media file.
    pub file: String,
    /// The user.
    pub user: String,
    /// The ticket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// `pending-approval`, `done`, `skipped`, `dry-run` or `failed`.
    pub state: OffboardState,
    /// The bindings whose only subject is the user: deleted after the approval.
    pub delete: Vec<Item>,
    /// Bindings that name the user among other subjects: reported, not changed.
    pub shared: Vec<Item>,
    /// Group bindings that reach the user's known groups: reported, not changed.
    pub group_bindings: Vec<Item>,
    /// The user's groups, from the certificates on the media; `null` when unknown.
    pub groups: Option<Vec<String>>,
    /// The user's certificates on the media, with their remaining lifetime.
    pub certificates: Vec<Certificate>,
    /// Why it did not complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
    /// Whether these credentials listed the cluster's bindings (a submitter's may not: its
    /// run then says nothing about them).
    #[serde(skip)]
    pub listed: bool,
}

/// Lists the cluster's bindings and sorts them for `offboard`: to delete, shared, groups.
pub fn plan(
    client: &Client,
    offboard: &MediaOffboard,
    certificates: Vec<Certificate>,
) -> (OffboardReport, Vec<ClusterBinding>) {
    let user = offboard.user();
    let groups: Option<Vec<String>> = (!certificates.is_empty()).then(|| {
        let mut g: Vec<String> = certificates
            .iter()
            .flat_map(|c| c.groups.iter().cloned())
            .collect();
        g.sort();
        g.dedup();
        g
    });
    let mut report = OffboardReport {
        file: offboard.file.clone(),
        user: user.to_owned(),
        ticket: offboard.request.ticket.clone(),
        state: OffboardState::PendingApproval,
        delete: Vec::new(),
        shared: Vec::new(),
        group_bindings: Vec::new(),
        groups: groups.clone(),
        certificates,
        problem: None,
        listed: false,
    };
    let all = match rbac::list_all(client) {
        Ok(all) => all,
        Err(e) => {
            let mut p = Problem::from(e);
            let forbidden = p.cause == crate::ops::Cause::Forbidden;
            p.message = format!(
                "{}: cannot list the cluster's bindings: {}",
                offboard.file, p.message
            );
            if forbidden {
                p.hint = Some("these credentials may not list ClusterRoleBindings and RoleBindings: the approver (who may) runs kcsr-submit approve MEDIA_DIR".into());
            }
            report.state = OffboardState::Failed;
            report.problem = Some(p);
            return (report, Vec::new());
        }
    };
    report.listed = true;
    let mut to_delete = Vec::new();
    for b in all {
        if b.only_user(user) {
            let mut item = Item::of(&b);
            item.state = Some(DeletionState::PendingApproval);
            report.delete.push(item);
            to_delete.push(b);
        } else if b.names_user(user) {
            report.shared.push(Item::of(&b));
        } else if let Some(groups) = &groups {
            let reached = b.groups_in(groups);
            if !reached.is_empty() {
                let mut item = Item::of(&b);
                item.groups = reached.iter().map(|g| (*g).to_owned()).collect();
                report.group_bindings.push(item);
            }
        }
    }
    (report, to_delete)
}

impl OffboardReport {
    /// The review: what goes, what stays and why, and how long the certificates last.
    pub fn review(&self) -> String {
        let mut out = format!(
            "Offboard {} (User {:?}, signed with the media)\n",
            one_line(&self.file),
            one_line(&self.user)
        );
        if let Some(t) = &self.ticket {
            out.push_str(&format!("  ticket:      {}\n", one_line(t)));
        }
        if let Some(p) = &self.problem {
            out.push_str(&format!("  {}\n", one_line(&p.message)));
            return out;
        }
        if self.delete.is_empty() {
            out.push_str("  delete:      nothing: no binding has this user as its only subject\n");
        }
        for i in &self.delete {
            out.push_str(&format!("  delete:      {}\n", i.line()));
        }
        out.push_str("  requests:    the bindings of the user's requests on this media are never created again\n");
        for i in &self.shared {
            out.push_str(&format!(
                "  kept:        {} (other subjects too: remove the user from it by hand)\n",
                i.line()
            ));
        }
        match &self.groups {
            None => out.push_str(&format!(
                "  groups:      unknown: no certificate of {:?} on this media, so group bindings that reach the user's groups cannot be told; check the groups of the user's certificates (kcsr audit on the station)\n",
                one_line(&self.user)
            )),
            Some(groups) => {
                let shown: Vec<String> = groups.iter().map(|g| one_line(g)).collect();
                out.push_str(&format!(
                    "  groups:      {}\n",
                    if shown.is_empty() {
                        "(none)".to_owned()
                    } else {
                        shown.join(", ")
                    }
                ));
                for i in &self.group_bindings {
                    out.push_str(&format!(
                        "  kept:        {} (still reaches group {} of the user's certificates)\n",
                        i.line(),
                        i.groups.join(", ")
                    ));
                }
            }
        }
        if self.certificates.is_empty() {
            out.push_str("  certificates: remaining lifetime unknown (none on this media); they stay valid until they expire\n");
        }
        for c in &self.certificates {
            out.push_str(&format!(
                "  certificate: {} valid until {} ({}); it cannot be revoked\n",
                one_line(&c.file),
                c.not_after,
                c.remaining
            ));
        }
        out
    }

    /// Deletes the reviewed bindings (each still exactly as reviewed).
    pub fn carry_out(&mut self, client: &Client, reviewed: &[ClusterBinding]) {
        let mut problem = None;
        for (item, b) in self.delete.iter_mut().zip(reviewed) {
            let state = match rbac::delete(client, b, &self.user) {
                Ok(Deleted::Deleted) => DeletionState::Deleted,
                Ok(Deleted::Gone) => DeletionState::Gone,
                Ok(Deleted::Changed) => DeletionState::Changed,
                Err(p) => {
                    problem.get_or_insert(p);
                    DeletionState::Failed
                }
            };
            item.state = Some(state);
        }
        self.state = if problem.is_some() {
            OffboardState::Failed
        } else {
            OffboardState::Done
        };
        self.problem = problem;
    }

    /// Marks the plan as not carried out.
    pub fn set_all(&mut self, why: NotCarriedOut) {
        self.state = why.state();
        for i in &mut self.delete {
            i.state = Some(why.deletion());
        }
    }

    /// The result lines, like kubectl's `… deleted`.
    pub fn lines(&self) -> String {
        let mut out = String::new();
        for i in &self.delete {
            let what = match i.state {
                Some(DeletionState::Deleted) => "deleted",
                Some(DeletionState::Gone) => "already gone",
                Some(DeletionState::Changed) => {
                    "NOT deleted: it changed since the review (see it again)"
                }
                Some(DeletionState::Failed) => "NOT deleted",
                Some(DeletionState::Skipped) => "not deleted (skipped)",
                _ => "not deleted yet: deleted once approved with kcsr-submit approve MEDIA_DIR",
            };
            let ns = i
                .namespace
                .as_deref()
                .map_or_else(String::new, |ns| format!(" -n {}", one_line(ns)));
            out.push_str(&format!(
                "{}.rbac.authorization.k8s.io/{}{ns} {what} (offboarding User {:?})\n",
                i.kind.to_ascii_lowercase(),
                one_line(&i.name),
                one_line(&self.user)
            ));
        }
        if self.delete.is_empty() && self.problem.is_none() && self.listed {
            out.push_str(&format!(
                "offboard {}: no binding has User {:?} as its only subject\n",
                one_line(&self.file),
                one_line(&self.user)
            ));
        }
        let kept = self.shared.len() + self.group_bindings.len();
        if kept > 0 {
            out.push_str(&format!(
                "offboard {}: {kept} binding(s) still grant User {:?} rights (shared or through groups); see the review\n",
                one_line(&self.file),
                one_line(&self.user)
            ));
        }
        out
    }
}

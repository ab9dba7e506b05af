//! One request as a command works on it (a slot), and the report it ends with.

use serde::Serialize;

use kcsr_core::manifest::ApiVersion;
use kcsr_core::verify::Step;

use crate::binding::{BindingReport, PlannedBinding};
use crate::decide::Decision;
use crate::media::{Media, MediaRequest};
use crate::objects::CsrObject;
use crate::ops::{Approval, Created, Problem};
use crate::review::Review;
use crate::signers::MediaSigner;
use crate::state::{BindingState, RequestState};

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

pub(super) struct Slot {
    pub(super) req: Option<MediaRequest>,
    pub(super) version: ApiVersion,
    pub(super) obj: Option<CsrObject>,
    pub(super) report: RequestReport,
    pub(super) decision: Option<Decision>,
}

impl Slot {
    pub(super) fn new(req: Option<&MediaRequest>, name: &str) -> Self {
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

    pub(super) fn from_request(req: &MediaRequest) -> Self {
        Self::new(Some(req), req.name())
    }

    pub(super) fn from_name(name: &str) -> Self {
        Self::new(None, name)
    }

    /// Still to be worked on: not failed, not done, not decided against.
    pub(super) fn active(&self) -> bool {
        self.report.problem.is_none()
            && !matches!(
                self.report.state,
                RequestState::OnMedia | RequestState::Denied | RequestState::Skipped
            )
    }

    pub(super) fn fail(&mut self, p: Problem) {
        self.report.state = RequestState::Failed;
        self.report.problem = Some(p);
    }

    /// Records a problem without changing the state (e.g. the certificate was written, but a
    /// binding could not be checked).
    pub(super) fn add_problem(&mut self, p: Problem) {
        if self.report.problem.is_none() {
            self.report.problem = Some(p);
        }
    }

    pub(super) fn set_obj(&mut self, obj: CsrObject) {
        self.report.condition = Some(obj.condition_column());
        self.obj = Some(obj);
    }

    pub(super) fn label(&self) -> String {
        if self.report.stem.is_empty() {
            self.report.name.clone()
        } else {
            format!("{} ({})", self.report.name, self.report.stem)
        }
    }

    /// The bindings the request's grants ask for.
    pub(super) fn planned(&self) -> &[PlannedBinding] {
        self.req.as_ref().map_or(&[], |r| r.bindings.as_slice())
    }

    /// Whether the request is approved: its bindings are due.
    pub(super) fn approved(&self) -> bool {
        self.report.state == RequestState::OnMedia
            || self
                .obj
                .as_ref()
                .is_some_and(|o| o.condition("Approved").is_some())
    }

    /// Whether every granted binding is known to exist.
    pub(super) fn bindings_exist(&self) -> bool {
        self.report.bindings.iter().all(BindingReport::exists)
    }

    /// Records the review's warnings in the report; returns the review text.
    pub(super) fn review(&mut self, now: i64, approver: Option<&str>) -> String {
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

/// Slots for the media's requests, each carrying who signed the media.
pub(super) fn media_slots(media: &Media, signer: Option<&MediaSigner>) -> Vec<Slot> {
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

//! The media's offboarding requests as a command works on them.

use crate::client::Client;
use crate::decide::Decision;
use crate::media::Media;
use crate::offboard::{NotCarriedOut, OffboardReport};
use crate::ops;
use crate::rbac::ClusterBinding;
use crate::sanitize::one_line;

/// One offboarding request of the media, with its plan.
pub(super) struct Offboarding {
    pub(super) report: OffboardReport,
    /// The bindings to delete, as listed for the review.
    pub(super) reviewed: Vec<ClusterBinding>,
    pub(super) decision: Option<Decision>,
}

/// Lists, for every offboarding request, what would be deleted and what stays.
pub(super) fn plan_offboards(media: &Media, client: &Client) -> Vec<Offboarding> {
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

/// The review of an offboarding that is not carried out in this run (no approval asked for,
/// or a dry run).
pub(super) fn show_offboards(offboards: &mut [Offboarding], why: NotCarriedOut, quiet: bool) {
    for o in offboards.iter_mut() {
        if let Some(p) = &o.report.problem
            && why == NotCarriedOut::PendingApproval
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
            o.report.set_all(why);
            continue;
        }
        if !quiet {
            eprint!("{}", o.report.review());
        }
        if o.report.problem.is_none() {
            o.report.set_all(why);
        }
    }
}

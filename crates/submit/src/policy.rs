//! The station's site policy as it travels with the requests (`station-policy.yaml`, listed in
//! the signed `SHA256SUMS`; decision 0010): shown in the review, and every request checked
//! against it again before anything is sent. The station enforced it already; this catches a
//! request the station should have refused (an older kcsr, a policy changed in between) and
//! shows the approver the rules the requests were made under.
//!
//! The reader and the rules are the station's own (`kcsr_core::policy`): a second
//! implementation here could judge the same request differently on the two sides of the gap.

use kcsr_core::policy::Asked;
pub use kcsr_core::policy::StationPolicy;

use crate::media::MediaRequest;
use crate::sanitize::one_line;

/// Every rule `req` breaks, each naming the rule, the offending value and the rule's value.
pub fn violations(policy: &StationPolicy, req: &MediaRequest) -> Vec<String> {
    let groups: Vec<&str> = req
        .csr
        .subject
        .organizations
        .iter()
        .map(String::as_str)
        .collect();
    policy
        .check(&Asked {
            user: req.csr.subject.user().unwrap_or_default(),
            groups: &groups,
            grants: &req.notes.grants,
            ticket: req.notes.ticket.as_deref(),
            expiration_seconds: req.manifest.spec.expiration_seconds,
        })
        .iter()
        .map(|v| one_line(&v.to_string()))
        .collect()
}

/// The policy for the review, one rule per line.
pub fn describe(policy: &StationPolicy) -> String {
    let mut out = format!(
        "Station policy ({}, signed with the media):\n",
        kcsr_core::media::POLICY_FILE
    );
    for line in policy.describe() {
        let (key, value) = line.split_once(": ").unwrap_or((line.as_str(), ""));
        out.push_str(&format!(
            "  {:<18} {}\n",
            format!("{key}:"),
            one_line(value)
        ));
    }
    out
}

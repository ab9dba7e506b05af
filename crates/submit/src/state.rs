//! Where a request and its bindings stand, as this run reports them. The JSON spells each
//! state as before (`on-media`, `pending-approval`, …): the snapshots hold it to that.

use std::fmt;

use serde::Serialize;

/// Where a request stands in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestState {
    /// Created by this run.
    Created,
    /// On the server, neither approved nor denied.
    Pending,
    /// Approved, no certificate yet.
    Approved,
    /// Issued, not written yet.
    Issued,
    /// Its certificate verified and written onto the media by this run.
    Written,
    /// Its certificate already on the media (verified again).
    OnMedia,
    /// Accepted by the server as a dry run.
    DryRun,
    /// Denied.
    Denied,
    /// Skipped in the review.
    Skipped,
    /// Failed (see the problem).
    Failed,
}

impl RequestState {
    /// The state as the JSON spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Issued => "issued",
            Self::Written => "written",
            Self::OnMedia => "on-media",
            Self::DryRun => "dry-run",
            Self::Denied => "denied",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a granted binding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BindingState {
    /// Created once the request is approved.
    PendingApproval,
    /// Created by this run.
    Created,
    /// On the cluster as granted.
    Exists,
    /// Not on the cluster.
    Missing,
    /// Refused: another binding holds the name, or the server refused it.
    Refused,
    /// Refused with 403: these credentials may not create it, someone who may runs approve.
    /// The JSON says `refused`, as for any refusal; the run's advice tells them apart.
    #[serde(rename = "refused")]
    Forbidden,
    /// These credentials may not read bindings.
    Unknown,
    /// Accepted by the server as a dry run.
    DryRun,
    /// Failed (see the detail).
    Failed,
}

impl BindingState {
    /// The state as the JSON spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingApproval => "pending-approval",
            Self::Created => "created",
            Self::Exists => "exists",
            Self::Missing => "missing",
            Self::Refused | Self::Forbidden => "refused",
            Self::Unknown => "unknown",
            Self::DryRun => "dry-run",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for BindingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_spells_each_state_as_its_name() {
        for s in [
            RequestState::Created,
            RequestState::Pending,
            RequestState::Approved,
            RequestState::Issued,
            RequestState::Written,
            RequestState::OnMedia,
            RequestState::DryRun,
            RequestState::Denied,
            RequestState::Skipped,
            RequestState::Failed,
        ] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        for s in [
            BindingState::PendingApproval,
            BindingState::Created,
            BindingState::Exists,
            BindingState::Missing,
            BindingState::Refused,
            BindingState::Forbidden,
            BindingState::Unknown,
            BindingState::DryRun,
            BindingState::Failed,
        ] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert_eq!(RequestState::OnMedia.as_str(), "on-media");
        assert_eq!(BindingState::PendingApproval.as_str(), "pending-approval");
    }
}

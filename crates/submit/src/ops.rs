//! The per-request operations of `kcsr-submit`: create (resuming an identical existing object),
//! approve like kubectl (§7), wait (watch, falling back to polling, §8/§13), verify the
//! certificate and build the bundle. Each returns a [`Problem`] that says which exit code it
//! maps to and what to do.

mod approve;
mod bundle;
mod create;
mod read;
mod verify;
mod wait;

pub use crate::problem::{Cause, Problem, ProblemKind, exit_code};
pub use approve::{
    APPROVE_REASON, Approval, ApprovalText, DENY_REASON, approve, approved_by, decision_message,
    denied_by, denied_record, deny, identity_changes,
};
pub use bundle::{BundleContext, ClusterInfo, bundle};
pub use create::{BindingOutcome, Created, compare_existing, create_binding, create_csr};
pub use read::get;
pub use verify::{expected, verify_pem};
pub use wait::{check_issued, not_issued_problem, state_problem, wait_issued};

pub use kcsr_core::time::{now_rfc3339, now_unix};

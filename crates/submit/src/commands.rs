//! The `apply`, `approve`, `deny`, `status` and `fetch` commands: the media is verified before
//! anything is sent, requests run with bounded concurrency, each ends with its own result, and
//! the exit code sums them up (see [`crate::ops::exit_code`]). A trip is complete only when
//! every certificate is back and every binding its request was granted exists (decision 0010).
//!
//! Each command works on slots (one per request, in `slot`); the steps they share sit below
//! them: opening and checking the media, the bindings, the offboardings, the review and the
//! decisions, delivering results onto the media, and the report.

mod apply;
mod approve;
mod bindings;
mod decide;
mod delivery;
mod media_checks;
mod offboarding;
mod options;
mod parallel;
mod report;
mod session;
mod slot;
mod status;
mod targets;

pub use apply::{apply, fetch};
pub use approve::{approve, deny};
pub use options::{ApplyOptions, ApproveOptions, DenyOptions, FetchOptions, Globals, JsonArgs};
pub use session::{Connect, Fatal, Session};
pub use slot::RequestReport;
pub use status::{StatusRow, status};

#[cfg(test)]
mod tests;

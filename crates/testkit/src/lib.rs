//! The one test kit of kcsr's tests (docs/testing.md): run a binary with an environment that
//! never leaks the developer's HOME, XDG or KUBECONFIG ([`command`], [`run`]), check what it
//! did with one [`Run`] type, keep one running beside the test and wait for what it prints
//! ([`Background`]), build the common argument lists ([`args`]), make a SoftHSM2 token ([`softhsm`]) and start the test API server
//! with its admin kubeconfig (`cluster`, feature `cluster`).
//!
//! A dev-dependency only: never a normal dependency of a shipped crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test support

pub mod args;
mod background;
#[cfg(feature = "cluster")]
pub mod cluster;
mod process;
mod run;
pub mod softhsm;

pub use background::{Background, SAY_WITHIN};
pub use process::{HOME, LIMIT, command, finish, run, sh, wait_within};
pub use run::{Refusal, Run};

#[cfg(test)]
mod tests;

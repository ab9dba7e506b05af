//! The connected side of kcsr: talking to the Kubernetes API like kubectl does (kubeconfig,
//! credentials, TLS, retries) and, on top, the `kcsr-submit` commands.
//!
//! Blocking `ureq` 3 + `rustls` on aws-lc-rs; no tokio, no kube-rs, no key generation.

pub mod binding;
pub mod client;
pub mod client_error;
pub mod commands;
pub mod decide;
pub mod duration;
pub mod exec;
pub mod files;
pub mod kubeconfig;
pub mod media;
pub mod objects;
pub mod offboard;
pub mod ops;
pub mod policy;
mod problem;
pub mod progress;
pub mod rbac;
pub mod retry;
pub mod review;
pub mod sanitize;
pub mod secret;
pub mod signers;
pub mod state;
pub mod station;
pub mod status;
pub mod tls;
pub mod watch;
pub mod whoami;

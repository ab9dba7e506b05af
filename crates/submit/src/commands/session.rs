//! What every command shares: the whole-command failure and the connected session.

use kcsr_core::exit::Exit;

use crate::client::Client;
use crate::ops::ClusterInfo;

/// A whole-command failure with its exit code (per-request failures are reported instead).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Fatal {
    /// How the command ends.
    pub code: Exit,
    /// What happened.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
}

impl Fatal {
    pub(super) fn new(code: Exit, message: impl Into<String>, hint: Option<&str>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: hint.map(str::to_owned),
        }
    }
}

/// A connected client and what the bundle needs to know about the cluster.
#[derive(Debug)]
pub struct Session {
    /// The client.
    pub client: Client,
    /// The cluster.
    pub cluster: ClusterInfo,
}

/// Builds the [`Session`]; called only after the media has been verified.
pub type Connect<'a> = &'a dyn Fn() -> anyhow::Result<Session>;

// Requests share one client across worker threads.
const _: () = assert_shared::<Client>();

const fn assert_shared<T: Send + Sync>() {
    // Compiles only for a type worker threads may share.
}

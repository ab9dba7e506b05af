//! The options of each command, as `main` parses them.

use std::path::PathBuf;
use std::time::Duration;

/// Options of `apply`.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Approve after creating.
    pub approve: bool,
    /// Do not ask before approving.
    pub yes: bool,
    /// Approval reason.
    pub reason: Option<String>,
    /// Approval message.
    pub message: Option<String>,
    /// Wait this long for the certificates.
    pub wait: Option<Duration>,
    /// `?dryRun=All`, write nothing.
    pub dry_run: bool,
    /// Concurrency.
    pub parallel: usize,
    /// The client CA to chain issued certificates to.
    pub client_ca: Option<PathBuf>,
    /// JSON on stdout.
    pub json: bool,
    /// No progress on stderr.
    pub quiet: bool,
    /// `--allowed-signers`.
    pub allowed_signers: Option<PathBuf>,
    /// `--out`: the return directory results go to (the media is then only read).
    pub out: Option<PathBuf>,
}

/// Options of `approve`.
#[derive(Debug, Clone, Default)]
pub struct ApproveOptions {
    /// Do not ask.
    pub yes: bool,
    /// Approve objects named on the command line although signers are configured.
    pub unsigned: bool,
    /// `--allowed-signers`.
    pub allowed_signers: Option<PathBuf>,
    /// Reason.
    pub reason: Option<String>,
    /// Message.
    pub message: Option<String>,
    /// JSON on stdout.
    pub json: bool,
    /// No progress on stderr.
    pub quiet: bool,
    /// `--out`: where `apply`/`fetch --out` wrote the media's results (only read here).
    pub out: Option<PathBuf>,
}

/// Options of `deny`.
#[derive(Debug, Clone, Default)]
pub struct DenyOptions {
    /// Reason [default: KcsrDeny].
    pub reason: Option<String>,
    /// Message [default: Denied by USER with kcsr-submit].
    pub message: Option<String>,
    /// JSON on stdout.
    pub json: bool,
}

/// Options of `fetch`.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Wait this long for certificates not issued yet.
    pub wait: Option<Duration>,
    /// The client CA to chain issued certificates to.
    pub client_ca: Option<PathBuf>,
    /// JSON on stdout.
    pub json: bool,
    /// No progress on stderr.
    pub quiet: bool,
    /// `--allowed-signers`.
    pub allowed_signers: Option<PathBuf>,
    /// `--out`: the return directory results go to (the media is then only read).
    pub out: Option<PathBuf>,
}

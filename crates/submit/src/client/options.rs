//! The client's tunables: timeouts, size limits, retries, and where warnings go.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::retry::RetryPolicy;

/// Default per-call timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default response size limit.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 << 20;

/// Receives warnings (e.g. `insecure-skip-tls-verify`); the default prints to stderr.
pub type WarningSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Client tunables.
#[derive(Clone)]
pub struct ClientOptions {
    /// Per-call timeout, from connecting to the end of the body.
    pub timeout: Duration,
    /// Largest response body read (watch events: largest single event).
    pub max_response_bytes: u64,
    /// Retries for 429, 5xx and dropped connections.
    pub retry: RetryPolicy,
    /// `User-Agent`.
    pub user_agent: String,
    /// Where warnings go.
    pub on_warning: WarningSink,
    /// Overrides terminal detection for exec plugins (`None`: look at stdin).
    pub stdin_is_terminal: Option<bool>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            retry: RetryPolicy::default(),
            user_agent: format!("kcsr-submit/{}", env!("CARGO_PKG_VERSION")),
            on_warning: Arc::new(|w| eprintln!("warning: {}", crate::sanitize::for_terminal(w))),
            stdin_is_terminal: None,
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("retry", &self.retry)
            .field("user_agent", &self.user_agent)
            .finish_non_exhaustive()
    }
}

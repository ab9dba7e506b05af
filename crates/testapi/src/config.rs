//! What a test gives the server: its [`Config`] and the users in it; what it gets back for an
//! HTTP client: an [`Identity`].

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::store;

/// How to start a [`TestServer`](crate::TestServer).
#[derive(Debug, Clone)]
pub struct Config {
    /// Where CAs and kubeconfigs live; existing CAs there are reused (a demo cluster survives
    /// restarts). `None`: a temporary directory removed when the server stops.
    pub dir: Option<PathBuf>,
    /// 0 = an ephemeral port.
    pub port: u16,
    /// Behave like a 1.19–1.21 cluster: also serve `certificates.k8s.io/v1beta1` (with that
    /// era's lenient v1beta1 validation), no `/openapi/v3`, no server-side field validation,
    /// admission without the privileged `system:masters` group.
    pub legacy: bool,
    /// Client-certificate users, each written to `DIR/NAME.kubeconfig`.
    pub users: Vec<UserSpec>,
    /// The signer's `--cluster-signing-duration` (§9.2). Default 1 year.
    pub max_duration: Duration,
    /// Requests without credentials are `system:anonymous` (true) or 401 (false). §14.
    pub anonymous: bool,
    /// Run the §11 cleaner in the background at this interval (on the server clock's
    /// thresholds); `None` = only when [`TestServer::run_gc`](crate::TestServer::run_gc) is called.
    pub gc_interval: Option<Duration>,
    /// How many change events watches can replay; a watch from an older resourceVersion
    /// gets the in-stream 410 `Expired` (§8). Default 4096.
    pub watch_history: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dir: None,
            port: 0,
            legacy: false,
            users: Vec::new(),
            max_duration: Duration::from_secs(365 * 24 * 3600),
            anonymous: true,
            gc_interval: None,
            watch_history: store::HISTORY,
        }
    }
}

/// A user for a client certificate: CN = name, O = groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    /// The user name (certificate CN).
    pub name: String,
    /// The groups (certificate O values).
    pub groups: Vec<String>,
}

/// A malformed `NAME[:GROUP,...]`.
#[derive(Debug, thiserror::Error)]
#[error("invalid user {0:?}: expected NAME[:GROUP,...] with a non-empty NAME")]
pub struct UserSpecError(String);

impl FromStr for UserSpec {
    type Err = UserSpecError;
    /// `NAME[:G1,G2]`, split at the first `:` (so a name cannot contain `:`; use
    /// [`UserSpec`] directly for names like `system:node:n1`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, groups) = s.split_once(':').unwrap_or((s, ""));
        let name = name.trim();
        if name.is_empty() {
            return Err(UserSpecError(s.to_string()));
        }
        Ok(UserSpec {
            name: name.to_string(),
            groups: groups
                .split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }
}

/// A client certificate and its key (PEM), e.g. for an HTTP client in a test.
#[derive(Clone)]
pub struct Identity {
    /// The client certificate (PEM).
    pub cert_pem: String,
    /// Its private key (PKCS#8 PEM).
    pub key_pem: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// The admin user written to `admin.kubeconfig` (group `system:masters`).
pub const ADMIN_USER: &str = "kcsr-admin";

//! Why a call to the API server failed, kept typed until the caller decides: the server's
//! Status, a TLS failure, a connection or timeout, a credential that could not be had. Apart
//! from the client so that what reads its streams (`watch`) needs only the error.

use std::path::PathBuf;
use std::time::Duration;

use crate::exec::ExecError;
use crate::status::ApiError;
use crate::tls::{TlsFailure, TlsSetupError};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an error Status.
    #[error(transparent)]
    Api(Box<ApiError>),
    /// The TLS handshake or session failed; `message` says why in operator terms.
    #[error("TLS connection to {server} failed: {message}")]
    Tls {
        /// Server URL.
        server: String,
        /// What failed.
        failure: TlsFailure,
        /// The explanation.
        message: String,
        /// The underlying error.
        #[source]
        source: Box<ureq::Error>,
    },
    /// Could not connect, or the connection broke (after retries).
    #[error("cannot reach {server}{}: {source}", attempts_suffix(*.attempts))]
    Connect {
        /// Server URL.
        server: String,
        /// Attempts made.
        attempts: u32,
        /// The underlying error.
        #[source]
        source: Box<ureq::Error>,
    },
    /// The call did not complete in time.
    #[error("{method} {path} did not complete within {} s ({source})", .after.as_secs())]
    Timeout {
        /// HTTP method.
        method: String,
        /// Path.
        path: String,
        /// The limit.
        after: Duration,
        /// The underlying error.
        #[source]
        source: Box<ureq::Error>,
    },
    /// The response was larger than allowed.
    #[error("{method} {path}: the response is larger than {limit} bytes")]
    TooLarge {
        /// HTTP method.
        method: String,
        /// Path.
        path: String,
        /// The limit.
        limit: u64,
    },
    /// The response was not the JSON expected.
    #[error("{method} {path}: unexpected response: {message}")]
    Decode {
        /// HTTP method.
        method: String,
        /// Path.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// The request could not be built (bad path, bad header value).
    #[error("invalid request: {0}")]
    Request(String),
    /// The exec plugin failed.
    #[error("getting credentials for user {user:?} from its exec plugin: {source}")]
    Exec {
        /// User name.
        user: String,
        /// Why.
        #[source]
        source: ExecError,
    },
    /// The token file could not be used.
    #[error("tokenFile {} of user {user:?}: {problem}", .path.display())]
    TokenFile {
        /// User name.
        user: String,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// TLS material from the kubeconfig or exec plugin is unusable.
    #[error(transparent)]
    Setup(#[from] TlsSetupError),
    /// `proxy-url` is unusable.
    #[error("proxy-url {url:?} of cluster {cluster:?} is unusable: {source}")]
    Proxy {
        /// Cluster name.
        cluster: String,
        /// The URL (credentials in it are not shown).
        url: String,
        /// Why.
        #[source]
        source: Box<ureq::Error>,
    },
}

impl From<ApiError> for ClientError {
    fn from(e: ApiError) -> Self {
        Self::Api(Box::new(e))
    }
}

fn attempts_suffix(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

impl ClientError {
    /// The typed API error, if the server answered.
    pub fn as_api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    /// One line telling the operator what to do.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Api(e) if e.is_unauthorized() => Some(
                "the server does not accept these credentials: check that the token or client certificate is current and issued for this cluster".into(),
            ),
            Self::Api(e) if e.is_forbidden() => Some(
                "the user lacks RBAC permission for this request; ask a cluster admin, or use a context with the right role (`--context`)".into(),
            ),
            Self::Tls { failure, .. } => failure.hint().map(str::to_owned),
            Self::Setup(e) => e.hint(),
            Self::Connect { .. } => Some(
                "check the server URL in the kubeconfig, the network path and any proxy-url".into(),
            ),
            Self::Timeout { .. } => {
                Some("the API server is slow or unreachable; retry later or raise --request-timeout".into())
            }
            _ => None,
        }
    }
}

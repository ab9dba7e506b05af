//! The chosen context, validated and with the files it names read: what a client is built
//! from.

use std::path::PathBuf;

use zeroize::Zeroizing;

use super::file::ExecConfig;
use crate::secret::Secret;

/// PEM bytes with where they came from (a path, or `<field> of <entry>`), for error messages.
#[derive(Debug, Clone)]
pub struct PemSource {
    /// The PEM text.
    pub pem: Vec<u8>,
    /// Where it came from, for messages.
    pub origin: String,
}

/// A PEM private key; wiped on drop, never printed.
pub struct SecretPem {
    /// The PEM text.
    pub pem: Zeroizing<Vec<u8>>,
    /// Where it came from, for messages.
    pub origin: String,
}

impl std::fmt::Debug for SecretPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretPem")
            .field("pem", &"[REDACTED]")
            .field("origin", &self.origin)
            .finish()
    }
}

/// Everything needed to reach and trust the API server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClusterConnection {
    /// `https://host[:port][/prefix]`, no trailing slash.
    pub server: String,
    /// The CA bundle to trust (and nothing else).
    pub ca: Option<PemSource>,
    /// Name for SNI and verification instead of the URL host.
    pub tls_server_name: Option<String>,
    /// Skip verification (warned on every use).
    pub insecure_skip_tls_verify: bool,
    /// `http://…` proxy; `None` means no proxy at all (the environment is ignored).
    pub proxy_url: Option<String>,
    /// Passed to exec plugins.
    pub disable_compression: bool,
    /// The `client.authentication.k8s.io/exec` extension, passed to exec plugins.
    pub exec_extension: Option<serde_json::Value>,
}

/// Basic authentication.
#[derive(Debug, Clone)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password.
    pub password: Secret,
}

/// The user's credentials, validated.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Credentials {
    /// Client certificate (chain) PEM.
    pub client_cert: Option<PemSource>,
    /// Client key PEM.
    pub client_key: Option<SecretPem>,
    /// Bearer token.
    pub token: Option<Secret>,
    /// Bearer token file, used when `token` is empty.
    pub token_file: Option<PathBuf>,
    /// Basic auth.
    pub basic: Option<BasicAuth>,
    /// Exec plugin, used only when no token, basic auth or client certificate is set.
    pub exec: Option<ExecConfig>,
}

/// The chosen context with its cluster and user, ready to build a client from.
#[derive(Debug)]
#[non_exhaustive]
pub struct ResolvedContext {
    /// Context name.
    pub context_name: String,
    /// Cluster name.
    pub cluster_name: String,
    /// User name (empty: anonymous).
    pub user_name: String,
    /// The context's namespace.
    pub namespace: Option<String>,
    /// Connection settings.
    pub cluster: ClusterConnection,
    /// Credentials.
    pub credentials: Credentials,
}

//! The kubeconfig file as it is written: hand-written serde types for clusters, users and
//! contexts, and the merged view of one or more files.

use std::path::PathBuf;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::secret::Secret;

/// Exec credential API versions kcsr-submit speaks (client-go `exec.go: apiVersions`).
pub const EXEC_API_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// The cluster extension whose value is passed to exec plugins as `spec.cluster.config`.
pub const EXEC_CLUSTER_EXTENSION: &str = "client.authentication.k8s.io/exec";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) struct FileConfig {
    #[serde(default)]
    pub(super) clusters: Option<Vec<FileNamed<Cluster>>>,
    #[serde(default)]
    pub(super) users: Option<Vec<FileNamed<AuthInfo>>>,
    #[serde(default)]
    pub(super) contexts: Option<Vec<FileNamed<Context>>>,
    #[serde(default)]
    pub(super) current_context: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct FileNamed<T> {
    #[serde(default)]
    pub(super) name: String,
    #[serde(alias = "user", alias = "context")]
    pub(super) cluster: Option<T>,
}

/// `clusters[].cluster`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub struct Cluster {
    /// API server URL, possibly with a path prefix.
    #[serde(default)]
    pub server: Option<String>,
    /// Name used for SNI and for verifying the server certificate instead of the URL host.
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// Skip server certificate verification (warned on every use).
    #[serde(default)]
    pub insecure_skip_tls_verify: bool,
    /// CA bundle file (resolved against the kubeconfig's directory).
    #[serde(default)]
    pub certificate_authority: Option<PathBuf>,
    /// Base64 of the CA bundle PEM.
    #[serde(default)]
    pub certificate_authority_data: Option<String>,
    /// `http`, `https` or `socks5` proxy.
    #[serde(default)]
    pub proxy_url: Option<String>,
    /// Passed to exec plugins only (we never ask for compression).
    #[serde(default)]
    pub disable_compression: bool,
    /// Named extensions; only the exec one is used.
    #[serde(default)]
    pub extensions: Option<Vec<NamedExtension>>,
}

/// `extensions[]`.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct NamedExtension {
    /// Extension name.
    #[serde(default)]
    pub name: String,
    /// Free-form value.
    #[serde(default)]
    pub extension: Option<serde_json::Value>,
}

/// `users[].user`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub struct AuthInfo {
    /// Client certificate file.
    #[serde(default)]
    pub client_certificate: Option<PathBuf>,
    /// Base64 of the client certificate PEM.
    #[serde(default)]
    pub client_certificate_data: Option<String>,
    /// Client key file.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// Base64 of the client key PEM.
    #[serde(default)]
    pub client_key_data: Option<Secret>,
    /// Bearer token.
    #[serde(default)]
    pub token: Option<Secret>,
    /// File holding a bearer token, re-read about once a minute.
    #[serde(default, rename = "tokenFile")]
    pub token_file: Option<PathBuf>,
    /// Basic-auth user name.
    #[serde(default)]
    pub username: Option<String>,
    /// Basic-auth password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// Exec credential plugin.
    #[serde(default)]
    pub exec: Option<ExecConfig>,
    #[serde(default)]
    pub(super) auth_provider: Option<IgnoredAny>,
    #[serde(default, rename = "as")]
    pub(super) impersonate: Option<String>,
    #[serde(default, rename = "as-groups")]
    pub(super) impersonate_groups: Option<Vec<String>>,
    #[serde(default, rename = "as-uid")]
    pub(super) impersonate_uid: Option<String>,
}

/// `users[].user.exec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ExecConfig {
    /// Program; a relative path containing `/` is resolved against the kubeconfig's directory,
    /// a bare name is looked up on `PATH`.
    #[serde(default)]
    pub command: String,
    /// Arguments, never rewritten.
    #[serde(default)]
    pub args: Option<Vec<String>>,
    /// Extra environment.
    #[serde(default)]
    pub env: Option<Vec<ExecEnvVar>>,
    /// `client.authentication.k8s.io/v1` or `/v1beta1`.
    #[serde(default)]
    pub api_version: String,
    /// Shown when the program is not found.
    #[serde(default)]
    pub install_hint: Option<String>,
    /// Pass the cluster (server, CA, …) in `KUBERNETES_EXEC_INFO`.
    #[serde(default)]
    pub provide_cluster_info: bool,
    /// `Never`, `IfAvailable` or `Always` (defaulted for v1beta1, required for v1).
    #[serde(default)]
    pub interactive_mode: Option<String>,
}

/// `exec.env[]`. The value may be a secret: it is never printed.
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct ExecEnvVar {
    /// Variable name.
    #[serde(default)]
    pub name: String,
    /// Variable value.
    #[serde(default)]
    pub value: String,
}

impl std::fmt::Debug for ExecEnvVar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecEnvVar")
            .field("name", &self.name)
            .field("value", &"[REDACTED]")
            .finish()
    }
}

/// `contexts[].context`.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct Context {
    /// Cluster name.
    #[serde(default)]
    pub cluster: String,
    /// User (auth info) name.
    #[serde(default)]
    pub user: String,
    /// Default namespace (unused: CSRs are cluster-scoped).
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A named entry with the file that defined it.
#[derive(Debug, Clone)]
pub struct Named<T> {
    /// Entry name.
    pub name: String,
    /// Entry value.
    pub value: T,
    /// The kubeconfig file it came from (kubectl's `LocationOfOrigin`).
    pub origin: PathBuf,
}

/// One or more kubeconfig files merged first-wins.
#[derive(Debug, Clone, Default)]
pub struct Kubeconfig {
    /// Clusters by name, first definition wins.
    pub clusters: Vec<Named<Cluster>>,
    /// Users by name, first definition wins.
    pub users: Vec<Named<AuthInfo>>,
    /// Contexts by name, first definition wins.
    pub contexts: Vec<Named<Context>>,
    /// The first non-empty `current-context`.
    pub current_context: Option<String>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
}

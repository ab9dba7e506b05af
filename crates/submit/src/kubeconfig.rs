//! Kubeconfig files: hand-written serde types, loading and first-wins merging like kubectl
//! (`--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`), relative paths resolved against
//! the defining file, context selection and kubectl's validation with its error texts
//! (reference §12, client-go `clientcmd/loader.go`, `merge.go`, `validation.go`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use serde::de::IgnoredAny;
use zeroize::Zeroizing;

use crate::files::MAX_FILE_BYTES;
use crate::secret::Secret;
use kcsr_core::terminal::redact_url;

/// Exec credential API versions kcsr-submit speaks (client-go `exec.go: apiVersions`).
pub const EXEC_API_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// The cluster extension whose value is passed to exec plugins as `spec.cluster.config`.
pub const EXEC_CLUSTER_EXTENSION: &str = "client.authentication.k8s.io/exec";

// ---------------------------------------------------------------------------------------------
// File types
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FileConfig {
    #[serde(default)]
    clusters: Option<Vec<FileNamed<Cluster>>>,
    #[serde(default)]
    users: Option<Vec<FileNamed<AuthInfo>>>,
    #[serde(default)]
    contexts: Option<Vec<FileNamed<Context>>>,
    #[serde(default)]
    current_context: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FileNamed<T> {
    #[serde(default)]
    name: String,
    #[serde(alias = "user", alias = "context")]
    cluster: Option<T>,
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
    auth_provider: Option<IgnoredAny>,
    #[serde(default, rename = "as")]
    impersonate: Option<String>,
    #[serde(default, rename = "as-groups")]
    impersonate_groups: Option<Vec<String>>,
    #[serde(default, rename = "as-uid")]
    impersonate_uid: Option<String>,
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

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why no usable connection could be derived from the kubeconfig.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeconfigError {
    /// `--kubeconfig` names a file that does not exist.
    #[error("kubeconfig {} does not exist", .path.display())]
    ExplicitMissing {
        /// The path given.
        path: PathBuf,
    },
    /// None of the candidate files exists.
    #[error("no kubeconfig found: {detail}")]
    NotFound {
        /// Which files were looked for.
        detail: String,
    },
    /// A file exists but could not be read.
    #[error("cannot read kubeconfig {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Not YAML/JSON, or not shaped like a kubeconfig. The message never quotes file content.
    #[error("kubeconfig {} is not a valid kubeconfig: {message}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Parser message with line and column.
        message: String,
    },
    /// No `--context` and no `current-context`.
    #[error("no context chosen")]
    NoContext,
    /// The chosen context is not defined.
    #[error("context \"{0}\" does not exist")]
    ContextNotFound(String),
    /// The context names an undefined cluster.
    #[error("cluster \"{0}\" does not exist")]
    ClusterNotFound(String),
    /// The context names an undefined user.
    #[error("auth info \"{0}\" does not exist")]
    AuthInfoNotFound(String),
    /// The cluster has no server.
    #[error("no server found for cluster \"{0}\"")]
    NoServer(String),
    /// kubectl's `invalid configuration: …` (one message, or several in brackets).
    #[error("invalid configuration: {}", aggregate(.0))]
    Invalid(Vec<String>),
    /// Valid for kubectl, but something kcsr-submit deliberately does not do.
    #[error("{0}")]
    Unsupported(String),
}

impl KubeconfigError {
    /// One line telling the operator how to fix it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Self::ExplicitMissing { .. } => "check the path given to --kubeconfig".into(),
            Self::NotFound { .. } => {
                "pass --kubeconfig FILE, set KUBECONFIG, or create ~/.kube/config".into()
            }
            Self::NoContext => {
                "pass --context NAME or run `kubectl config use-context NAME`".into()
            }
            Self::ContextNotFound(_) => {
                "list the contexts with `kubectl config get-contexts`".into()
            }
            Self::ClusterNotFound(_) | Self::AuthInfoNotFound(_) => {
                "the context refers to an entry missing from every kubeconfig file read".into()
            }
            Self::NoServer(_) => "set clusters[].cluster.server in the kubeconfig".into(),
            _ => return None,
        })
    }
}

// Go's `utilerrors.NewAggregate(...).Error()`.
fn aggregate(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// Where the kubeconfig comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeconfigSource {
    /// `--kubeconfig`: only this file, which must exist.
    Explicit(PathBuf),
    /// `KUBECONFIG`: these files, deduplicated, empty entries dropped; missing ones skipped.
    EnvList(Vec<PathBuf>),
    /// `~/.kube/config`.
    Default(PathBuf),
}

impl KubeconfigSource {
    /// Chooses the source like kubectl, from the process environment.
    pub fn from_env(explicit: Option<&Path>) -> Result<Self, KubeconfigError> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Self::choose(
            explicit,
            std::env::var_os("KUBECONFIG").as_deref(),
            home.as_deref(),
        )
    }

    /// Chooses the source from explicit inputs (testable without touching the environment).
    pub fn choose(
        explicit: Option<&Path>,
        kubeconfig_env: Option<&OsStr>,
        home: Option<&Path>,
    ) -> Result<Self, KubeconfigError> {
        if let Some(path) = explicit {
            return Ok(Self::Explicit(path.to_path_buf()));
        }
        if let Some(list) = kubeconfig_env.filter(|v| !v.is_empty()) {
            let mut paths: Vec<PathBuf> = Vec::new();
            for entry in std::env::split_paths(list) {
                if entry.as_os_str().is_empty() || paths.contains(&entry) {
                    continue;
                }
                paths.push(entry);
            }
            if !paths.is_empty() {
                return Ok(Self::EnvList(paths));
            }
        }
        match home {
            Some(home) => Ok(Self::Default(home.join(".kube").join("config"))),
            None => Err(KubeconfigError::NotFound {
                detail: "no --kubeconfig, no KUBECONFIG and no HOME to find ~/.kube/config".into(),
            }),
        }
    }

    /// Reads and merges the files.
    pub fn load(&self) -> Result<Kubeconfig, KubeconfigError> {
        match self {
            Self::Explicit(path) => {
                if !path.exists() {
                    return Err(KubeconfigError::ExplicitMissing { path: path.clone() });
                }
                Kubeconfig::merge_files(std::slice::from_ref(path))
            }
            Self::EnvList(paths) => {
                let existing: Vec<PathBuf> = paths.iter().filter(|p| p.exists()).cloned().collect();
                if existing.is_empty() {
                    let names: Vec<String> =
                        paths.iter().map(|p| p.display().to_string()).collect();
                    return Err(KubeconfigError::NotFound {
                        detail: format!(
                            "none of the files in KUBECONFIG exists ({})",
                            names.join(", ")
                        ),
                    });
                }
                Kubeconfig::merge_files(&existing)
            }
            Self::Default(path) => {
                if !path.exists() {
                    return Err(KubeconfigError::NotFound {
                        detail: format!(
                            "{} does not exist and neither --kubeconfig nor KUBECONFIG is set",
                            path.display()
                        ),
                    });
                }
                Kubeconfig::merge_files(std::slice::from_ref(path))
            }
        }
    }
}

/// Parses one kubeconfig document (YAML or JSON).
fn parse(text: &str, path: &Path) -> Result<FileConfig, KubeconfigError> {
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    // The project's bounded YAML reader; kubeconfigs hold tokens and keys, so parse errors
    // never quote the file (Snippets::Hide).
    kcsr_core::yaml::parse_one::<Option<FileConfig>>(
        text.as_bytes(),
        kcsr_core::yaml::Snippets::Hide,
    )
    .map(Option::unwrap_or_default)
    .map_err(|e| KubeconfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn resolve_path(dir: &Path, p: &mut Option<PathBuf>) {
    if let Some(path) = p.as_mut()
        && path.is_relative()
        && !path.as_os_str().is_empty()
    {
        *path = dir.join(&*path);
    }
}

fn blank_to_none(s: &mut Option<String>) {
    if s.as_deref().is_some_and(str::is_empty) {
        *s = None;
    }
}

fn blank_path_to_none(p: &mut Option<PathBuf>) {
    if p.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
        *p = None;
    }
}

fn blank_secret_to_none(s: &mut Option<Secret>) {
    if s.as_ref().is_some_and(Secret::is_empty) {
        *s = None;
    }
}

impl Cluster {
    fn normalize(&mut self, dir: &Path) {
        blank_to_none(&mut self.server);
        blank_to_none(&mut self.tls_server_name);
        blank_to_none(&mut self.certificate_authority_data);
        blank_to_none(&mut self.proxy_url);
        blank_path_to_none(&mut self.certificate_authority);
        resolve_path(dir, &mut self.certificate_authority);
    }
}

impl AuthInfo {
    fn normalize(&mut self, dir: &Path) {
        blank_path_to_none(&mut self.client_certificate);
        blank_path_to_none(&mut self.client_key);
        blank_path_to_none(&mut self.token_file);
        blank_to_none(&mut self.client_certificate_data);
        blank_secret_to_none(&mut self.client_key_data);
        blank_secret_to_none(&mut self.token);
        blank_to_none(&mut self.username);
        blank_secret_to_none(&mut self.password);
        resolve_path(dir, &mut self.client_certificate);
        resolve_path(dir, &mut self.client_key);
        resolve_path(dir, &mut self.token_file);
        if let Some(exec) = self.exec.as_mut() {
            // Only a command with a path separator is relative to the file; a bare name is
            // looked up on PATH (client-go `ResolveLocalPaths`).
            if exec.command.contains('/') && Path::new(&exec.command).is_relative() {
                exec.command = dir.join(&exec.command).to_string_lossy().into_owned();
            }
        }
    }
}

impl Kubeconfig {
    /// Parses one kubeconfig from text; relative paths resolve against `path`'s directory.
    pub fn from_text(text: &str, path: &Path) -> Result<Self, KubeconfigError> {
        let mut config = Self::default();
        config.merge_text(text, path)?;
        Ok(config)
    }

    /// Reads and merges files in order, first definition of each name winning.
    pub fn merge_files(paths: &[PathBuf]) -> Result<Self, KubeconfigError> {
        let mut config = Self::default();
        for path in paths {
            let data = kcsr_fs::read_limited_following(path, MAX_FILE_BYTES).map_err(|source| {
                KubeconfigError::Read {
                    path: path.clone(),
                    source,
                }
            })?;
            let data = Zeroizing::new(data);
            let text = std::str::from_utf8(&data).map_err(|_| KubeconfigError::Parse {
                path: path.clone(),
                message: "the file is not UTF-8 text".into(),
            })?;
            config.merge_text(text, path)?;
        }
        Ok(config)
    }

    fn merge_text(&mut self, text: &str, path: &Path) -> Result<(), KubeconfigError> {
        let file = parse(text, path)?;
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
        self.files.push(absolute.clone());
        for entry in file.clusters.unwrap_or_default() {
            let mut value = entry.cluster.unwrap_or_default();
            value.normalize(&dir);
            insert_first(&mut self.clusters, entry.name, value, &absolute);
        }
        for entry in file.users.unwrap_or_default() {
            let mut value = entry.cluster.unwrap_or_default();
            value.normalize(&dir);
            insert_first(&mut self.users, entry.name, value, &absolute);
        }
        for entry in file.contexts.unwrap_or_default() {
            let value = entry.cluster.unwrap_or_default();
            insert_first(&mut self.contexts, entry.name, value, &absolute);
        }
        if self.current_context.is_none() {
            self.current_context = file.current_context.filter(|c| !c.is_empty());
        }
        Ok(())
    }

    /// Looks up a context by name.
    pub fn context(&self, name: &str) -> Option<&Named<Context>> {
        self.contexts.iter().find(|c| c.name == name)
    }

    /// Chooses the context (`--context`, else `current-context`) and validates everything it
    /// needs, reading the CA, certificate and key files it names.
    pub fn resolve(
        &self,
        context_override: Option<&str>,
    ) -> Result<ResolvedContext, KubeconfigError> {
        let context_name = match context_override.filter(|c| !c.is_empty()) {
            Some(name) => name.to_owned(),
            None => self
                .current_context
                .clone()
                .ok_or(KubeconfigError::NoContext)?,
        };
        let context = self
            .context(&context_name)
            .ok_or_else(|| KubeconfigError::ContextNotFound(context_name.clone()))?;
        let cluster_name = context.value.cluster.clone();
        let user_name = context.value.user.clone();
        let cluster = self
            .clusters
            .iter()
            .find(|c| c.name == cluster_name)
            .ok_or_else(|| KubeconfigError::ClusterNotFound(cluster_name.clone()))?;
        // kubectl allows a context without a user (anonymous); so do we.
        let user = if user_name.is_empty() {
            None
        } else {
            Some(
                self.users
                    .iter()
                    .find(|u| u.name == user_name)
                    .ok_or_else(|| KubeconfigError::AuthInfoNotFound(user_name.clone()))?,
            )
        };
        let server = cluster
            .value
            .server
            .clone()
            .ok_or_else(|| KubeconfigError::NoServer(cluster_name.clone()))?;

        let mut errors = Vec::new();
        let connection = resolve_cluster(&cluster_name, &cluster.value, &server, &mut errors);
        let credentials = match user {
            Some(user) => resolve_user(&user.name, &user.value, &mut errors)?,
            None => Credentials::default(),
        };
        if !errors.is_empty() {
            return Err(KubeconfigError::Invalid(errors));
        }
        let connection = connection.ok_or_else(|| {
            KubeconfigError::Invalid(vec![format!(
                "cluster {cluster_name:?} has an unusable configuration"
            )])
        })?;
        Ok(ResolvedContext {
            context_name,
            cluster_name,
            user_name,
            namespace: context.value.namespace.clone().filter(|n| !n.is_empty()),
            cluster: connection,
            credentials,
        })
    }
}

fn insert_first<T>(entries: &mut Vec<Named<T>>, name: String, value: T, origin: &Path) {
    if entries.iter().any(|e| e.name == name) {
        return;
    }
    entries.push(Named {
        name,
        value,
        origin: origin.to_path_buf(),
    });
}

// ---------------------------------------------------------------------------------------------
// Resolved context
// ---------------------------------------------------------------------------------------------

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

fn decode_b64(field: &str, owner: &str, value: &str, errors: &mut Vec<String>) -> Option<Vec<u8>> {
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    match base64::engine::general_purpose::STANDARD.decode(compact) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            errors.push(format!("{field} for {owner} is not valid base64: {e}"));
            None
        }
    }
}

fn read_field_file(
    field: &str,
    owner: &str,
    path: &Path,
    errors: &mut Vec<String>,
) -> Option<Vec<u8>> {
    match kcsr_fs::read_limited_following(path, MAX_FILE_BYTES) {
        Ok(data) => Some(data),
        Err(e) => {
            errors.push(format!(
                "unable to read {field} {} for {owner} due to {e}",
                path.display()
            ));
            None
        }
    }
}

fn resolve_cluster(
    name: &str,
    cluster: &Cluster,
    server: &str,
    errors: &mut Vec<String>,
) -> Option<ClusterConnection> {
    let mut ca = None;
    if cluster.certificate_authority_data.is_some() && cluster.certificate_authority.is_some() {
        errors.push(format!(
            "certificate-authority-data and certificate-authority are both specified for {name}. certificate-authority-data will override."
        ));
    }
    if let Some(data) = &cluster.certificate_authority_data {
        ca = decode_b64("certificate-authority-data", name, data, errors).map(|pem| PemSource {
            pem,
            origin: format!("certificate-authority-data of cluster {name:?}"),
        });
    } else if let Some(path) = &cluster.certificate_authority {
        ca = read_field_file("certificate-authority", name, path, errors).map(|pem| PemSource {
            pem,
            origin: path.display().to_string(),
        });
    }
    let has_ca =
        cluster.certificate_authority_data.is_some() || cluster.certificate_authority.is_some();
    if cluster.insecure_skip_tls_verify && has_ca {
        errors.push(
            "specifying a root certificates file with the insecure flag is not allowed".into(),
        );
    }
    if let Some(proxy) = &cluster.proxy_url {
        let scheme = proxy.split_once("://").map(|(s, _)| s).unwrap_or("");
        match scheme {
            "http" => {}
            "https" | "socks5" => errors.push(format!(
                "proxy-url {:?} of cluster {name:?}: kcsr-submit supports only http:// proxies (HTTPS reaches the API server through an HTTP CONNECT tunnel)",
                redact_url(proxy)
            )),
            other => errors.push(format!(
                "unsupported scheme {other:?}, must be http, https, or socks5"
            )),
        }
    }
    let server = match normalize_server(server, has_ca || cluster.insecure_skip_tls_verify) {
        Ok(s) => s,
        Err(message) => {
            errors.push(format!(
                "server {:?} of cluster {name:?}: {message}",
                redact_url(server)
            ));
            return None;
        }
    };
    let exec_extension = cluster
        .extensions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|e| e.name == EXEC_CLUSTER_EXTENSION)
        .and_then(|e| e.extension.clone());
    Some(ClusterConnection {
        server,
        ca,
        tls_server_name: cluster.tls_server_name.clone(),
        insecure_skip_tls_verify: cluster.insecure_skip_tls_verify,
        proxy_url: cluster.proxy_url.clone(),
        disable_compression: cluster.disable_compression,
        exec_extension,
    })
}

/// `https://host[:port][/prefix]` without a trailing slash. A host without a scheme becomes
/// https when TLS material is configured (kubectl would use http otherwise, and so refuse it).
fn normalize_server(server: &str, tls_configured: bool) -> Result<String, String> {
    let server = server.trim();
    let with_scheme = if server.contains("://") {
        server.to_owned()
    } else if tls_configured {
        format!("https://{server}")
    } else {
        format!("http://{server}")
    };
    let Some(rest) = with_scheme.strip_prefix("https://") else {
        return Err(
            "kcsr-submit talks to the API server only over https (credentials would travel in clear text)"
                .into(),
        );
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err("the URL has no host".into());
    }
    if rest.contains(['?', '#', '@']) {
        return Err("the URL must not contain a query, a fragment or user info".into());
    }
    Ok(with_scheme.trim_end_matches('/').to_owned())
}

fn resolve_user(
    name: &str,
    user: &AuthInfo,
    errors: &mut Vec<String>,
) -> Result<Credentials, KubeconfigError> {
    if user.impersonate.is_some()
        || user.impersonate_uid.is_some()
        || user
            .impersonate_groups
            .as_ref()
            .is_some_and(|g| !g.is_empty())
    {
        return Err(KubeconfigError::Unsupported(format!(
            "user {name:?} uses impersonation (as/as-groups/as-uid), which kcsr-submit does not support: the CSR's requestor would not be the credential's owner"
        )));
    }
    if user.auth_provider.is_some() && user.exec.is_none() {
        return Err(KubeconfigError::Unsupported(format!(
            "user {name:?} uses an auth-provider plugin; those were removed from kubectl in 1.26: use the provider's exec plugin instead (e.g. gke-gcloud-auth-plugin, kubelogin)"
        )));
    }
    let mut creds = Credentials::default();

    // Client certificate and key (validation.go: validateAuthInfo).
    if user.client_certificate_data.is_some() && user.client_certificate.is_some() {
        errors.push(format!(
            "client-cert-data and client-cert are both specified for {name}. client-cert-data will override."
        ));
    }
    if user.client_key_data.is_some() && user.client_key.is_some() {
        errors.push(format!(
            "client-key-data and client-key are both specified for {name}; client-key-data will override"
        ));
    }
    let has_cert = user.client_certificate_data.is_some() || user.client_certificate.is_some();
    let has_key = user.client_key_data.is_some() || user.client_key.is_some();
    if has_cert && !has_key {
        errors.push(format!(
            "client-key-data or client-key must be specified for {name} to use the clientCert authentication method."
        ));
    }
    if has_key && !has_cert {
        errors.push(format!(
            "client-cert-data or client-cert must be specified for {name} to use the clientCert authentication method."
        ));
    }
    if let Some(data) = &user.client_certificate_data {
        creds.client_cert =
            decode_b64("client-cert-data", name, data, errors).map(|pem| PemSource {
                pem,
                origin: format!("client-certificate-data of user {name:?}"),
            });
    } else if let Some(path) = &user.client_certificate {
        creds.client_cert =
            read_field_file("client-cert", name, path, errors).map(|pem| PemSource {
                pem,
                origin: path.display().to_string(),
            });
    }
    if let Some(data) = &user.client_key_data {
        let compact: Zeroizing<String> = Zeroizing::new(
            data.expose()
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect(),
        );
        match base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) {
            Ok(pem) => {
                creds.client_key = Some(SecretPem {
                    pem: Zeroizing::new(pem),
                    origin: format!("client-key-data of user {name:?}"),
                });
            }
            // The base64 error could name an offending byte of the key: leave it out.
            Err(_) => errors.push(format!("client-key-data for {name} is not valid base64")),
        }
    } else if let Some(path) = &user.client_key {
        match kcsr_fs::read_secret(path, MAX_FILE_BYTES, kcsr_fs::Links::Follow) {
            Ok(pem) => {
                creds.client_key = Some(SecretPem {
                    pem,
                    origin: path.display().to_string(),
                });
            }
            Err(e) => errors.push(format!(
                "unable to read client-key {} for {name} due to {e}",
                path.display()
            )),
        }
    }

    // Token and basic auth are exclusive; a client certificate may coexist with either.
    let mut methods = Vec::new();
    if user.token.is_some() || user.token_file.is_some() {
        methods.push("token");
    }
    if user.username.is_some() || user.password.is_some() {
        methods.push("basicAuth");
    }
    if methods.len() > 1 {
        errors.push(format!(
            "more than one authentication method found for {name}; found [{}], only one is allowed",
            methods.join(" ")
        ));
    }
    creds.token.clone_from(&user.token);
    if user.token.is_none() {
        creds.token_file.clone_from(&user.token_file);
    }
    if let Some(username) = &user.username {
        creds.basic = Some(BasicAuth {
            username: username.clone(),
            password: user
                .password
                .clone()
                .unwrap_or_else(|| Secret::new(String::new())),
        });
    }

    if let Some(exec) = &user.exec {
        validate_exec(name, exec, user.auth_provider.is_some(), errors);
        creds.exec = Some(exec.clone());
    }
    Ok(creds)
}

fn validate_exec(name: &str, exec: &ExecConfig, has_auth_provider: bool, errors: &mut Vec<String>) {
    if exec.command.is_empty() {
        errors.push(format!(
            "command must be specified for {name} to use exec authentication plugin"
        ));
    }
    if exec.api_version.is_empty() {
        errors.push(format!(
            "apiVersion must be specified for {name} to use exec authentication plugin"
        ));
    } else if !EXEC_API_VERSIONS.contains(&exec.api_version.as_str()) {
        errors.push(format!(
            "exec plugin: invalid apiVersion {:?} for {name} (supported: {})",
            exec.api_version,
            EXEC_API_VERSIONS.join(", ")
        ));
    }
    for var in exec.env.as_deref().unwrap_or_default() {
        if var.name.is_empty() {
            errors.push(format!(
                "env variable name must be specified for {name} to use exec authentication plugin"
            ));
        }
    }
    match exec.interactive_mode.as_deref() {
        None | Some("") => {
            if exec.api_version == "client.authentication.k8s.io/v1" {
                errors.push(format!(
                    "interactiveMode must be specified for {name} to use exec authentication plugin"
                ));
            }
        }
        Some("Never" | "IfAvailable" | "Always") => {}
        Some(other) => errors.push(format!("invalid interactiveMode for {name}: {other:?}")),
    }
    if has_auth_provider {
        errors.push(format!(
            "authProvider cannot be provided in combination with an exec plugin for {name}"
        ));
    }
}

#[cfg(test)]
mod tests;

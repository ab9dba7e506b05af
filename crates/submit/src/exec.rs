//! Exec credential plugins (`client.authentication.k8s.io/v1` and `v1beta1`), as client-go's
//! `plugin/pkg/client/auth/exec/exec.go` runs them: `KUBERNETES_EXEC_INFO`, `interactiveMode`,
//! `installHint`, credentials cached until `expirationTimestamp`, re-run after a 401.

use std::io::{IsTerminal as _, Read as _};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kcsr_core::time::now_unix;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::kubeconfig::{ClusterConnection, ExecConfig};
use crate::secret::Secret;

/// Largest plugin output read.
const MAX_OUTPUT_BYTES: u64 = 1 << 20;
/// How long a non-interactive plugin may run (an interactive one may wait for a person).
pub const DEFAULT_PLUGIN_TIMEOUT: Duration = Duration::from_secs(120);
const INTERACTIVE_PLUGIN_TIMEOUT: Duration = Duration::from_secs(600);

/// `exec.interactiveMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InteractiveMode {
    /// Stdin is always given to the plugin; it is an error if there is none.
    Always,
    /// Stdin is given to the plugin when it is a terminal.
    IfAvailable,
    /// Stdin is never given to the plugin.
    Never,
}

impl InteractiveMode {
    fn from_config(config: &ExecConfig) -> Self {
        match config.interactive_mode.as_deref() {
            Some("Never") => Self::Never,
            Some("Always") => Self::Always,
            // Defaulted for v1beta1; validated as present for v1.
            _ => Self::IfAvailable,
        }
    }
}

/// What the plugin returned.
#[derive(Debug, Clone)]
pub enum ExecCredential {
    /// A bearer token.
    Token(Secret),
    /// A client certificate (chain) and key, both PEM.
    ClientCertificate {
        /// Certificate PEM.
        cert_pem: String,
        /// Key PEM.
        key_pem: Secret,
    },
}

/// A credential with its expiry and a generation number that tells a 401 handler whether the
/// cache was already rotated by someone else.
#[derive(Debug)]
pub struct IssuedCredential {
    /// The credential.
    pub credential: ExecCredential,
    /// `status.expirationTimestamp` in Unix seconds; `None` caches it for the process lifetime.
    pub expires_at: Option<i64>,
    /// Increases with every plugin run.
    pub generation: u64,
}

/// Why the plugin gave no usable credential. Messages follow client-go's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The program does not exist.
    #[error("exec: executable {command} not found{}", install_hint_suffix(.install_hint.as_deref()))]
    NotFound {
        /// The command.
        command: String,
        /// `installHint` from the kubeconfig.
        install_hint: Option<String>,
    },
    /// The program could not be started.
    #[error("exec: executable {command} could not be started: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Non-zero exit.
    #[error("exec: executable {command} failed with exit code {}", .code.map_or_else(|| "none (killed by a signal)".to_owned(), |c| c.to_string()))]
    Failed {
        /// The command.
        command: String,
        /// Exit code.
        code: Option<i32>,
    },
    /// It ran longer than allowed and was killed.
    #[error("exec: executable {command} did not finish within {} s and was stopped", .after.as_secs())]
    Timeout {
        /// The command.
        command: String,
        /// The limit.
        after: Duration,
    },
    /// `interactiveMode: Always` without a standard input.
    #[error("exec plugin cannot support interactive mode: standard input is unavailable")]
    StdinUnavailable,
    /// Output was not an ExecCredential (the message never quotes the output).
    #[error("decoding stdout: {0}")]
    Decode(String),
    /// Output of another apiVersion.
    #[error(
        "exec plugin is configured to use API version {configured}, plugin returned version {returned}"
    )]
    WrongApiVersion {
        /// From the kubeconfig.
        configured: String,
        /// From the plugin.
        returned: String,
    },
    /// No status.
    #[error("exec plugin didn't return a status field")]
    NoStatus,
    /// Neither token nor certificate.
    #[error("exec plugin didn't return a token or cert/key pair")]
    NoCredential,
    /// Only one half of a pair.
    #[error("exec plugin returned only certificate or key, not both")]
    HalfPair,
    /// Unparsable expiry.
    #[error("exec plugin returned an invalid status.expirationTimestamp {0:?}")]
    BadExpiry(String),
}

fn install_hint_suffix(hint: Option<&str>) -> String {
    match hint {
        Some(hint) if !hint.is_empty() => format!(
            "\n\nIt looks like you are trying to use a client-go credential plugin that is not installed.\n\n{hint}"
        ),
        _ => String::new(),
    }
}

/// `spec.cluster` of `KUBERNETES_EXEC_INFO` (only with `provideClusterInfo: true`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
struct ExecCluster {
    server: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_server_name: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    insecure_skip_tls_verify: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_authority_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proxy_url: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    disable_compression: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<serde_json::Value>,
}

impl ExecCluster {
    fn from_connection(c: &ClusterConnection) -> Self {
        use base64::Engine as _;
        Self {
            server: c.server.clone(),
            tls_server_name: c.tls_server_name.clone(),
            insecure_skip_tls_verify: c.insecure_skip_tls_verify,
            certificate_authority_data: c
                .ca
                .as_ref()
                .map(|ca| base64::engine::general_purpose::STANDARD.encode(&ca.pem)),
            proxy_url: c.proxy_url.clone(),
            disable_compression: c.disable_compression,
            config: c.exec_extension.clone(),
        }
    }
}

#[derive(Deserialize)]
struct PluginOutput {
    #[serde(default, rename = "apiVersion")]
    api_version: String,
    #[serde(default)]
    status: Option<PluginStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PluginStatus {
    #[serde(default)]
    token: Option<Secret>,
    #[serde(default)]
    client_certificate_data: Option<String>,
    #[serde(default)]
    client_key_data: Option<Secret>,
    #[serde(default)]
    expiration_timestamp: Option<String>,
}

/// Runs a user's exec plugin and caches what it returns.
#[derive(Debug)]
pub struct ExecAuthenticator {
    config: ExecConfig,
    cluster: Option<ExecCluster>,
    stdin_is_terminal: bool,
    timeout: Duration,
    cache: Mutex<Option<Arc<IssuedCredential>>>,
}

impl ExecAuthenticator {
    /// For the exec config of a user; `cluster` is passed to the plugin when it asks for it
    /// (`provideClusterInfo: true`).
    pub fn new(config: ExecConfig, cluster: &ClusterConnection) -> Self {
        let cluster = config
            .provide_cluster_info
            .then(|| ExecCluster::from_connection(cluster));
        Self {
            config,
            cluster,
            stdin_is_terminal: std::io::stdin().is_terminal(),
            timeout: DEFAULT_PLUGIN_TIMEOUT,
            cache: Mutex::new(None),
        }
    }

    /// Overrides the terminal detection (tests; a process whose stdin is redirected).
    pub fn with_stdin_terminal(mut self, is_terminal: bool) -> Self {
        self.stdin_is_terminal = is_terminal;
        self
    }

    /// Overrides how long a non-interactive plugin may run.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The cached credential while it has not expired, else a fresh one from the plugin.
    pub fn credential(&self) -> Result<Arc<IssuedCredential>, ExecError> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cred) = cache.as_ref()
            && !is_expired(cred.expires_at, now_unix())
        {
            return Ok(cred.clone());
        }
        let generation = cache.as_ref().map_or(1, |c| c.generation + 1);
        let fresh = Arc::new(self.run(generation)?);
        *cache = Some(fresh.clone());
        Ok(fresh)
    }

    /// After a 401 with `stale`: re-runs the plugin, unless another caller already did.
    pub fn refresh(&self, stale: &IssuedCredential) -> Result<Arc<IssuedCredential>, ExecError> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cred) = cache.as_ref()
            && cred.generation > stale.generation
        {
            return Ok(cred.clone());
        }
        let fresh = Arc::new(self.run(stale.generation + 1)?);
        *cache = Some(fresh.clone());
        Ok(fresh)
    }

    fn exec_info(&self, interactive: bool) -> String {
        let mut spec = serde_json::json!({ "interactive": interactive });
        if let Some(cluster) = &self.cluster {
            spec["cluster"] = serde_json::to_value(cluster).unwrap_or(serde_json::Value::Null);
        }
        serde_json::json!({
            "kind": "ExecCredential",
            "apiVersion": self.config.api_version,
            "spec": spec,
        })
        .to_string()
    }

    fn run(&self, generation: u64) -> Result<IssuedCredential, ExecError> {
        let command = &self.config.command;
        let interactive = self.interactive()?;
        let mut child = self.spawn(interactive)?;
        let stdout = child.stdout.take();
        let reader = std::thread::spawn(move || {
            let mut out = Zeroizing::new(Vec::new());
            if let Some(stdout) = stdout {
                // A read error leaves what was read; decoding reports the rest.
                let _ = stdout.take(MAX_OUTPUT_BYTES + 1).read_to_end(&mut out);
            }
            out
        });
        let limit = if interactive {
            INTERACTIVE_PLUGIN_TIMEOUT
        } else {
            self.timeout
        };
        let status = wait_or_kill(&mut child, command, limit)?;
        let output = reader
            .join()
            .map_err(|_| ExecError::Decode("reading the plugin output failed".into()))?;
        if !status.success() {
            return Err(ExecError::Failed {
                command: command.clone(),
                code: status.code(),
            });
        }
        if output.len() as u64 > MAX_OUTPUT_BYTES {
            return Err(ExecError::Decode(format!(
                "the output is larger than {MAX_OUTPUT_BYTES} bytes"
            )));
        }
        let credential = parse_output(&output, &self.config.api_version)?;
        Ok(IssuedCredential {
            generation,
            ..credential
        })
    }

    /// Whether the plugin gets the operator's stdin (`interactiveMode`).
    fn interactive(&self) -> Result<bool, ExecError> {
        Ok(match InteractiveMode::from_config(&self.config) {
            InteractiveMode::Never => false,
            InteractiveMode::IfAvailable => self.stdin_is_terminal,
            InteractiveMode::Always => {
                if !self.stdin_is_terminal {
                    return Err(ExecError::StdinUnavailable);
                }
                true
            }
        })
    }

    /// Starts the plugin with its arguments, its environment and `KUBERNETES_EXEC_INFO`; its
    /// stdout is piped, its stderr goes to the operator.
    fn spawn(&self, interactive: bool) -> Result<Child, ExecError> {
        let command = &self.config.command;
        let mut cmd = Command::new(command);
        cmd.args(self.config.args.as_deref().unwrap_or_default());
        for var in self.config.env.as_deref().unwrap_or_default() {
            cmd.env(&var.name, &var.value);
        }
        cmd.env("KUBERNETES_EXEC_INFO", self.exec_info(interactive))
            .stdin(if interactive {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            // Like kubectl: the plugin talks to the operator on stderr.
            .stderr(Stdio::inherit());
        cmd.spawn().map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ExecError::NotFound {
                    command: command.clone(),
                    install_hint: self.config.install_hint.clone(),
                }
            } else {
                ExecError::Spawn {
                    command: command.clone(),
                    source,
                }
            }
        })
    }
}

/// Waits for the plugin to exit; past `limit` it is killed.
fn wait_or_kill(
    child: &mut Child,
    command: &str,
    limit: Duration,
) -> Result<ExitStatus, ExecError> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ExecError::Timeout {
                    command: command.to_owned(),
                    after: limit,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(source) => {
                return Err(ExecError::Spawn {
                    command: command.to_owned(),
                    source,
                });
            }
        }
    }
}

fn is_expired(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_some_and(|at| now >= at)
}

/// Decodes and checks an exec plugin's stdout (an `ExecCredential` JSON object) against the
/// kubeconfig's `apiVersion`. Public as the entry point for fuzzing and property tests; errors
/// never quote the output, which holds a token or key. The returned generation is 0.
pub fn parse_output(stdout: &[u8], api_version: &str) -> Result<IssuedCredential, ExecError> {
    let output: PluginOutput = serde_json::from_slice(stdout).map_err(|e| {
        // serde_json messages may quote a value (a token); keep only the kind and position.
        ExecError::Decode(format!(
            "{} at line {} column {}",
            match e.classify() {
                serde_json::error::Category::Io => "read error",
                serde_json::error::Category::Syntax => "invalid JSON",
                serde_json::error::Category::Data => "unexpected JSON shape",
                serde_json::error::Category::Eof => "truncated JSON",
            },
            e.line(),
            e.column()
        ))
    })?;
    if output.api_version != api_version {
        return Err(ExecError::WrongApiVersion {
            configured: api_version.to_owned(),
            returned: output.api_version,
        });
    }
    let status = output.status.ok_or(ExecError::NoStatus)?;
    let expires_at = match status.expiration_timestamp.as_deref() {
        None | Some("") => None,
        Some(ts) => Some(
            kcsr_core::time::parse_rfc3339(ts)
                .ok_or_else(|| ExecError::BadExpiry(ts.to_owned()))?,
        ),
    };
    let cert = status.client_certificate_data.filter(|c| !c.is_empty());
    let key = status.client_key_data.filter(|k| !k.is_empty());
    let credential = match (cert, key) {
        (Some(cert_pem), Some(key_pem)) => ExecCredential::ClientCertificate { cert_pem, key_pem },
        (Some(_), None) | (None, Some(_)) => return Err(ExecError::HalfPair),
        (None, None) => match status.token.filter(|t| !t.is_empty()) {
            Some(token) => ExecCredential::Token(token),
            None => return Err(ExecError::NoCredential),
        },
    };
    Ok(IssuedCredential {
        credential,
        expires_at,
        generation: 0,
    })
}

#[cfg(test)]
mod tests;

//! Resolving a context like kubectl's validation (client-go `clientcmd/validation.go`, with its
//! error texts): the cluster's server, CA and proxy, and the user's credentials.

use std::path::Path;

use base64::Engine as _;
use zeroize::Zeroizing;

use super::error::KubeconfigError;
use super::file::{
    AuthInfo, Cluster, EXEC_API_VERSIONS, EXEC_CLUSTER_EXTENSION, ExecConfig, Kubeconfig,
};
use super::resolved::{
    BasicAuth, ClusterConnection, Credentials, PemSource, ResolvedContext, SecretPem,
};
use crate::files::MAX_FILE_BYTES;
use crate::secret::Secret;
use kcsr_core::terminal::redact_url;

impl Kubeconfig {
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
    refuse_unsupported(name, user)?;
    let mut creds = Credentials::default();
    check_client_cert_pair(name, user, errors);
    creds.client_cert = client_cert(name, user, errors);
    creds.client_key = client_key(name, user, errors);
    token_or_basic(name, user, &mut creds, errors);
    if let Some(exec) = &user.exec {
        validate_exec(name, exec, user.auth_provider.is_some(), errors);
        creds.exec = Some(exec.clone());
    }
    Ok(creds)
}

/// What kubectl accepts but kcsr-submit deliberately does not do.
fn refuse_unsupported(name: &str, user: &AuthInfo) -> Result<(), KubeconfigError> {
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
    Ok(())
}

/// Client certificate and key (validation.go: validateAuthInfo): one source each, both or
/// neither.
fn check_client_cert_pair(name: &str, user: &AuthInfo, errors: &mut Vec<String>) {
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
}

fn client_cert(name: &str, user: &AuthInfo, errors: &mut Vec<String>) -> Option<PemSource> {
    if let Some(data) = &user.client_certificate_data {
        decode_b64("client-cert-data", name, data, errors).map(|pem| PemSource {
            pem,
            origin: format!("client-certificate-data of user {name:?}"),
        })
    } else if let Some(path) = &user.client_certificate {
        read_field_file("client-cert", name, path, errors).map(|pem| PemSource {
            pem,
            origin: path.display().to_string(),
        })
    } else {
        None
    }
}

/// The client key, kept in wiped buffers; its errors never quote it.
fn client_key(name: &str, user: &AuthInfo, errors: &mut Vec<String>) -> Option<SecretPem> {
    if let Some(data) = &user.client_key_data {
        let compact: Zeroizing<String> = Zeroizing::new(
            data.expose()
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect(),
        );
        match base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) {
            Ok(pem) => Some(SecretPem {
                pem: Zeroizing::new(pem),
                origin: format!("client-key-data of user {name:?}"),
            }),
            // The base64 error could name an offending byte of the key: leave it out.
            Err(_) => {
                errors.push(format!("client-key-data for {name} is not valid base64"));
                None
            }
        }
    } else if let Some(path) = &user.client_key {
        match kcsr_fs::read_secret(path, MAX_FILE_BYTES, kcsr_fs::Links::Follow) {
            Ok(pem) => Some(SecretPem {
                pem,
                origin: path.display().to_string(),
            }),
            Err(e) => {
                errors.push(format!(
                    "unable to read client-key {} for {name} due to {e}",
                    path.display()
                ));
                None
            }
        }
    } else {
        None
    }
}

/// Token and basic auth are exclusive; a client certificate may coexist with either.
fn token_or_basic(name: &str, user: &AuthInfo, creds: &mut Credentials, errors: &mut Vec<String>) {
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

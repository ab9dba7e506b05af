//! A blocking client for the Kubernetes REST API, built from a resolved kubeconfig context:
//! JSON in and out, a timeout and a size limit on every call, retries for 429/5xx and dropped
//! connections, credentials from token, token file, basic auth, client certificate or exec
//! plugin (re-run once on 401), and errors that say what went wrong without leaking secrets.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use kcsr_core::terminal::redact_url;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::ServerName;
use serde::Serialize;
use serde::de::DeserializeOwned;
use ureq::Agent;
use ureq::http::{self, HeaderValue, Method};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector as _, TcpConnector};

use crate::exec::{ExecAuthenticator, ExecCredential, IssuedCredential};
use crate::kubeconfig::{BasicAuth, ResolvedContext};
use crate::retry::{self, RetryPolicy, RetryState};
use crate::secret::Secret;
use crate::status::{ApiError, Status};
use crate::tls::{self, ClientIdentity, KubeTlsConnector, ServerTrust, TlsFailure, TlsSettings};
use crate::watch::WatchStream;

pub use crate::client_error::ClientError;

/// Default per-call timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default response size limit.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 << 20;
/// How often a `tokenFile` is re-read (client-go: about once a minute).
const TOKEN_FILE_REFRESH: Duration = Duration::from_secs(60);

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

/// Credentials attached to each request.
enum Auth {
    None,
    Token(Secret),
    TokenFile(TokenFile),
    Basic(BasicAuth),
    Exec(Box<ExecAuthenticator>),
}

struct TokenFile {
    path: PathBuf,
    cache: Mutex<Option<(Secret, Instant)>>,
}

impl TokenFile {
    fn token(&self, user: &str) -> Result<Secret, ClientError> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((token, read_at)) = cache.as_ref()
            && read_at.elapsed() < TOKEN_FILE_REFRESH
        {
            return Ok(token.clone());
        }
        let problem = |problem: String| ClientError::TokenFile {
            user: user.to_owned(),
            path: self.path.clone(),
            problem,
        };
        let data = kcsr_fs::read_secret(&self.path, 1 << 20, kcsr_fs::Links::Follow)
            .map_err(|e| problem(format!("cannot be read: {e}")))?;
        let text = std::str::from_utf8(&data).map_err(|_| problem("is not UTF-8 text".into()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(problem("is empty".into()));
        }
        let token = Secret::new(token.to_owned());
        *cache = Some((token.clone(), Instant::now()));
        Ok(token)
    }
}

/// Trust and proxy settings, kept to build agents for exec-plugin client certificates.
struct TransportBase {
    trust: ServerTrust,
    server_name: Option<ServerName<'static>>,
    proxy: Option<ureq::Proxy>,
}

/// A connection to one API server as one user.
pub struct Client {
    server: String,
    cluster_name: String,
    user_name: String,
    /// The name the server certificate must carry (tls-server-name or the URL host).
    expected_name: String,
    options: ClientOptions,
    provider: Arc<CryptoProvider>,
    base: TransportBase,
    /// Agent for kubeconfig credentials (and tokens from exec plugins).
    agent: Agent,
    /// Agent for the exec plugin's current client certificate, by credential generation.
    exec_agent: Mutex<Option<(u64, Agent)>>,
    auth: Auth,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .field("cluster", &self.cluster_name)
            .field("user", &self.user_name)
            .finish_non_exhaustive()
    }
}

struct Prepared {
    agent: Agent,
    authorization: Option<Secret>,
    exec: Option<Arc<IssuedCredential>>,
}

impl Client {
    /// Builds a client for the context: checks the CA bundle, the client certificate/key pair,
    /// the server name and proxy, and warns about `insecure-skip-tls-verify`.
    pub fn new(context: &ResolvedContext, options: ClientOptions) -> Result<Self, ClientError> {
        let provider = tls::crypto_provider();
        let cluster = &context.cluster;
        let cluster_name = context.cluster_name.clone();
        let user_name = context.user_name.clone();

        if cluster.insecure_skip_tls_verify {
            (options.on_warning)(&format!(
                "insecure-skip-tls-verify is set for cluster {cluster_name:?}: the API server's certificate is NOT verified, so anyone on the network path can impersonate it and capture the credentials of user {user_name:?}"
            ));
        }
        let roots = match &cluster.ca {
            Some(ca) => Some(tls::parse_ca_bundle(ca)?),
            None => None,
        };
        let server_name = match &cluster.tls_server_name {
            Some(name) => Some(tls::server_name(&cluster_name, name)?),
            None => None,
        };
        let expected_name = cluster
            .tls_server_name
            .clone()
            .unwrap_or_else(|| host_of(&cluster.server));
        let proxy = match &cluster.proxy_url {
            Some(url) => Some(ureq::Proxy::new(url).map_err(|source| ClientError::Proxy {
                cluster: cluster_name.clone(),
                url: redact_url(url).into_owned(),
                source: Box::new(source),
            })?),
            None => None,
        };
        let base = TransportBase {
            trust: ServerTrust::for_cluster(
                &cluster_name,
                roots,
                cluster.insecure_skip_tls_verify,
            )?,
            server_name,
            proxy,
        };

        let creds = &context.credentials;
        let identity = match (&creds.client_cert, &creds.client_key) {
            (Some(cert), Some(key)) => {
                Some(ClientIdentity::from_pem(&user_name, cert, key, &provider)?)
            }
            _ => None,
        };
        let has_static = identity.is_some()
            || creds.token.is_some()
            || creds.token_file.is_some()
            || creds.basic.is_some();
        let auth = if let Some(token) = &creds.token {
            Auth::Token(token.clone())
        } else if let Some(path) = &creds.token_file {
            Auth::TokenFile(TokenFile {
                path: path.clone(),
                cache: Mutex::new(None),
            })
        } else if let Some(basic) = &creds.basic {
            Auth::Basic(basic.clone())
        } else if let (Some(exec), false) = (&creds.exec, has_static) {
            let mut authenticator = ExecAuthenticator::new(exec.clone(), cluster);
            if let Some(is_terminal) = options.stdin_is_terminal {
                authenticator = authenticator.with_stdin_terminal(is_terminal);
            }
            Auth::Exec(Box::new(authenticator))
        } else {
            Auth::None
        };
        let agent = build_agent(&cluster_name, &base, identity, &options, provider.clone())?;
        Ok(Self {
            server: cluster.server.clone(),
            cluster_name,
            user_name,
            expected_name,
            options,
            provider,
            base,
            agent,
            exec_agent: Mutex::new(None),
            auth,
        })
    }

    /// The server URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The cluster name from the kubeconfig.
    pub fn cluster_name(&self) -> &str {
        &self.cluster_name
    }

    /// The user name from the kubeconfig.
    pub fn user_name(&self) -> &str {
        &self.user_name
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.options.timeout
    }

    /// GET `path` and decode the JSON answer.
    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json(Method::GET, path, None)
    }

    /// POST a JSON body to `path` and decode the JSON answer.
    pub fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let body = encode(body)?;
        self.json(Method::POST, path, Some(body))
    }

    /// PUT a JSON body to `path` and decode the JSON answer.
    pub fn put_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let body = encode(body)?;
        self.json(Method::PUT, path, Some(body))
    }

    /// DELETE `path`; the answer (the deleted object or a Status) is returned as JSON.
    pub fn delete(&self, path: &str) -> Result<serde_json::Value, ClientError> {
        self.json(Method::DELETE, path, None)
    }

    /// Starts a watch (`path` must carry `watch=true` and should carry `timeoutSeconds`):
    /// newline-delimited events, read as they arrive. `timeout` bounds the whole stream.
    pub fn watch<T: DeserializeOwned>(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<WatchStream<T>, ClientError> {
        let response = self.send(&Method::GET, path, None, Some(timeout))?;
        let reader = response
            .into_body()
            .into_with_config()
            .limit(u64::MAX)
            .reader();
        Ok(WatchStream::new(
            reader,
            self.options.max_response_bytes,
            path.to_owned(),
        ))
    }

    fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let response = self.send(&method, path, body.as_deref(), None)?;
        let bytes = self.read_body(&method, path, response)?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            method: method.to_string(),
            path: path.to_owned(),
            message: format!("not the JSON expected ({e})"),
        })
    }

    fn read_body(
        &self,
        method: &Method,
        path: &str,
        response: http::Response<ureq::Body>,
    ) -> Result<Vec<u8>, ClientError> {
        let limit = self.options.max_response_bytes;
        response
            .into_body()
            .into_with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => ClientError::TooLarge {
                    method: method.to_string(),
                    path: path.to_owned(),
                    limit,
                },
                other => self.transport_error(method, path, other, 1),
            })
    }

    /// Sends with retries; returns a 2xx response, or the error.
    fn send(
        &self,
        method: &Method,
        path: &str,
        body: Option<&[u8]>,
        watch_timeout: Option<Duration>,
    ) -> Result<http::Response<ureq::Body>, ClientError> {
        if !path.starts_with('/') {
            return Err(ClientError::Request(format!(
                "path {path:?} must start with /"
            )));
        }
        let url = format!("{}{}", self.server, path);
        let mut retry = RetryState::new(self.options.retry);
        let mut reauthenticated = false;
        loop {
            let prepared = self.prepare()?;
            let request = self.build_request(method, &url, body, &prepared, watch_timeout)?;
            match prepared.agent.run(request) {
                Ok(response) => {
                    let code = response.status().as_u16();
                    if code == 401
                        && !reauthenticated
                        && let (Auth::Exec(exec), Some(stale)) = (&self.auth, &prepared.exec)
                    {
                        // The plugin's credential may have been revoked or rotated early.
                        reauthenticated = true;
                        exec.refresh(stale).map_err(|source| ClientError::Exec {
                            user: self.user_name.clone(),
                            source,
                        })?;
                        continue;
                    }
                    if retry::is_retryable_status(code) {
                        let retry_after = response
                            .headers()
                            .get(http::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(retry::parse_retry_after);
                        if let Some(delay) = retry.next_delay(retry_after) {
                            drop(response);
                            std::thread::sleep(delay);
                            continue;
                        }
                    }
                    if (200..300).contains(&code) {
                        return Ok(response);
                    }
                    return Err(self.api_error(method, path, response, retry.attempts()));
                }
                Err(err) => {
                    if is_retryable_error(&err)
                        && let Some(delay) = retry.next_delay(None)
                    {
                        std::thread::sleep(delay);
                        continue;
                    }
                    return Err(self.transport_error(method, path, err, retry.attempts()));
                }
            }
        }
    }

    fn api_error(
        &self,
        method: &Method,
        path: &str,
        response: http::Response<ureq::Body>,
        attempts: u32,
    ) -> ClientError {
        let code = response.status().as_u16();
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Error bodies are small; a huge one is cut rather than refused.
        let body = response
            .into_body()
            .into_with_config()
            .limit(64 << 10)
            .read_to_vec()
            .unwrap_or_default();
        let mut status = Status::from_response(code, &body);
        if let (300..=399, Some(location)) = (code, location) {
            status.message = format!(
                "the server redirects to {location}; kcsr-submit does not follow redirects (check the server URL)"
            );
        }
        ClientError::from(ApiError {
            method: method.to_string(),
            path: path.to_owned(),
            status,
            attempts,
        })
    }

    fn transport_error(
        &self,
        method: &Method,
        path: &str,
        err: ureq::Error,
        attempts: u32,
    ) -> ClientError {
        if let Some(tls) = rustls_error(&err) {
            let failure = TlsFailure::of(&tls);
            let message = failure.explain(&self.cluster_name, &self.user_name, &self.expected_name);
            return ClientError::Tls {
                server: self.server.clone(),
                failure,
                message,
                source: Box::new(err),
            };
        }
        match err {
            ureq::Error::Timeout(_) => ClientError::Timeout {
                method: method.to_string(),
                path: path.to_owned(),
                after: self.options.timeout,
                source: Box::new(err),
            },
            ureq::Error::BodyExceedsLimit(limit) => ClientError::TooLarge {
                method: method.to_string(),
                path: path.to_owned(),
                limit,
            },
            other => ClientError::Connect {
                server: self.server.clone(),
                attempts,
                source: Box::new(other),
            },
        }
    }

    fn prepare(&self) -> Result<Prepared, ClientError> {
        let user = &self.user_name;
        Ok(match &self.auth {
            Auth::None => Prepared {
                agent: self.agent.clone(),
                authorization: None,
                exec: None,
            },
            Auth::Token(token) => Prepared {
                agent: self.agent.clone(),
                authorization: Some(bearer(token)),
                exec: None,
            },
            Auth::TokenFile(file) => Prepared {
                agent: self.agent.clone(),
                authorization: Some(bearer(&file.token(user)?)),
                exec: None,
            },
            Auth::Basic(basic) => {
                let raw = zeroize::Zeroizing::new(format!(
                    "{}:{}",
                    basic.username,
                    basic.password.expose()
                ));
                Prepared {
                    agent: self.agent.clone(),
                    authorization: Some(Secret::new(format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
                    ))),
                    exec: None,
                }
            }
            Auth::Exec(exec) => {
                let cred = exec.credential().map_err(|source| ClientError::Exec {
                    user: user.clone(),
                    source,
                })?;
                match &cred.credential {
                    ExecCredential::Token(token) => Prepared {
                        agent: self.agent.clone(),
                        authorization: Some(bearer(token)),
                        exec: Some(cred.clone()),
                    },
                    ExecCredential::ClientCertificate { cert_pem, key_pem } => {
                        let agent = self.exec_cert_agent(cred.generation, cert_pem, key_pem)?;
                        Prepared {
                            agent,
                            authorization: None,
                            exec: Some(cred.clone()),
                        }
                    }
                }
            }
        })
    }

    fn exec_cert_agent(
        &self,
        generation: u64,
        cert_pem: &str,
        key_pem: &Secret,
    ) -> Result<Agent, ClientError> {
        let mut cached = self.exec_agent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, agent)) = cached.as_ref()
            && *g == generation
        {
            return Ok(agent.clone());
        }
        let identity = ClientIdentity::from_pem_bytes(
            &self.user_name,
            cert_pem.as_bytes(),
            "clientCertificateData from the exec plugin",
            key_pem.expose().as_bytes(),
            "clientKeyData from the exec plugin",
            &self.provider,
        )?;
        let agent = build_agent(
            &self.cluster_name,
            &self.base,
            Some(identity),
            &self.options,
            self.provider.clone(),
        )?;
        *cached = Some((generation, agent.clone()));
        Ok(agent)
    }

    fn build_request(
        &self,
        method: &Method,
        url: &str,
        body: Option<&[u8]>,
        prepared: &Prepared,
        watch_timeout: Option<Duration>,
    ) -> Result<http::Request<Vec<u8>>, ClientError> {
        let mut builder = http::Request::builder()
            .method(method.clone())
            .uri(url)
            .header(http::header::ACCEPT, "application/json");
        if body.is_some() {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
        }
        if let Some(auth) = &prepared.authorization {
            let mut value = HeaderValue::from_str(auth.expose()).map_err(|_| {
                ClientError::Request(format!(
                    "the credentials of user {:?} contain characters not allowed in an HTTP header",
                    self.user_name
                ))
            })?;
            value.set_sensitive(true);
            builder = builder.header(http::header::AUTHORIZATION, value);
        }
        let request = builder
            .body(body.map(<[u8]>::to_vec).unwrap_or_default())
            .map_err(|e| ClientError::Request(format!("{method} {url}: {e}")))?;
        Ok(match watch_timeout {
            Some(timeout) => prepared
                .agent
                .configure_request(request)
                .timeout_global(Some(timeout))
                .build(),
            None => request,
        })
    }
}

fn bearer(token: &Secret) -> Secret {
    Secret::new(format!("Bearer {}", token.expose()))
}

fn encode<B: Serialize + ?Sized>(body: &B) -> Result<Vec<u8>, ClientError> {
    serde_json::to_vec(body).map_err(|e| ClientError::Request(format!("cannot encode JSON: {e}")))
}

fn build_agent(
    cluster: &str,
    base: &TransportBase,
    identity: Option<ClientIdentity>,
    options: &ClientOptions,
    provider: Arc<CryptoProvider>,
) -> Result<Agent, ClientError> {
    let tls_config = tls::client_config(
        TlsSettings {
            cluster: cluster.to_owned(),
            trust: base.trust.clone(),
            identity,
        },
        provider,
    )?;
    let config = Agent::config_builder()
        // Error statuses carry a Status body we want to read.
        .http_status_as_error(false)
        .https_only(true)
        // Only the kubeconfig's proxy-url; never HTTPS_PROXY/ALL_PROXY from the environment.
        .proxy(base.proxy.clone())
        // Credentials must not follow a redirect to another host.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(options.timeout))
        .user_agent(options.user_agent.as_str())
        .build();
    let connector = ()
        .chain(ConnectProxyConnector::default())
        .chain(TcpConnector::default())
        .chain(KubeTlsConnector::new(tls_config, base.server_name.clone()));
    Ok(Agent::with_parts(
        config,
        connector,
        DefaultResolver::default(),
    ))
}

/// The rustls error inside a ureq error, if any.
fn rustls_error(err: &ureq::Error) -> Option<rustls::Error> {
    match err {
        ureq::Error::Rustls(e) => Some(e.clone()),
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .cloned(),
        _ => None,
    }
}

/// Connection-level failures worth another attempt: refused, reset, closed early.
fn is_retryable_error(err: &ureq::Error) -> bool {
    use std::io::ErrorKind;
    match err {
        ureq::Error::ConnectionFailed => true,
        ureq::Error::Io(io) => {
            rustls_error(err).is_none()
                && matches!(
                    io.kind(),
                    ErrorKind::ConnectionRefused
                        | ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::BrokenPipe
                        | ErrorKind::UnexpectedEof
                        | ErrorKind::NotConnected
                )
        }
        ureq::Error::Protocol(_) => true,
        _ => false,
    }
}

fn host_of(server: &str) -> String {
    let rest = server.split_once("://").map_or(server, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6).to_owned();
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .to_owned()
}

/// Percent-encodes a query value (field selectors, names).
pub fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_extraction() {
        assert_eq!(host_of("https://api.example:6443/prefix"), "api.example");
        assert_eq!(host_of("https://[::1]:6443"), "::1");
        assert_eq!(host_of("https://10.0.0.1"), "10.0.0.1");
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_escape("metadata.name=alice"), "metadata.name%3Dalice");
        assert_eq!(query_escape("a b/c"), "a%20b%2Fc");
    }
}

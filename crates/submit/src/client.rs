//! A blocking client for the Kubernetes REST API, built from a resolved kubeconfig context:
//! JSON in and out, a timeout and a size limit on every call, retries for 429/5xx and dropped
//! connections, credentials from token, token file, basic auth, client certificate or exec
//! plugin (re-run once on 401), and errors that say what went wrong without leaking secrets.

mod auth;
mod options;
mod transport;
mod url;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use serde::Serialize;
use serde::de::DeserializeOwned;
use ureq::Agent;
use ureq::http::{self, HeaderValue, Method};

use crate::exec::{ExecCredential, IssuedCredential};
use crate::kubeconfig::ResolvedContext;
use crate::retry::{self, RetryState};
use crate::secret::Secret;
use crate::status::{ApiError, Status};
use crate::tls::{self, ClientIdentity, TlsFailure};
use crate::watch::WatchStream;
use auth::Auth;
use transport::{TransportBase, build_agent, is_retryable_error, rustls_error};
use url::host_of;

pub use crate::client_error::ClientError;
pub use options::{ClientOptions, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, WarningSink};
pub use url::query_escape;

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
        let base = TransportBase::for_cluster(&cluster_name, &user_name, cluster, &options)?;
        let expected_name = cluster
            .tls_server_name
            .clone()
            .unwrap_or_else(|| host_of(&cluster.server));
        let creds = &context.credentials;
        let identity = match (&creds.client_cert, &creds.client_key) {
            (Some(cert), Some(key)) => {
                Some(ClientIdentity::from_pem(&user_name, cert, key, &provider)?)
            }
            _ => None,
        };
        let auth = Auth::for_credentials(creds, identity.is_some(), cluster, &options);
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
        let presented = self.auth.present(&self.user_name)?;
        let agent = match presented.exec.as_deref() {
            Some(IssuedCredential {
                credential: ExecCredential::ClientCertificate { cert_pem, key_pem },
                generation,
                ..
            }) => self.exec_cert_agent(*generation, cert_pem, key_pem)?,
            _ => self.agent.clone(),
        };
        Ok(Prepared {
            agent,
            authorization: presented.authorization,
            exec: presented.exec,
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

fn encode<B: Serialize + ?Sized>(body: &B) -> Result<Vec<u8>, ClientError> {
    serde_json::to_vec(body).map_err(|e| ClientError::Request(format!("cannot encode JSON: {e}")))
}

//! The transport under every request: trust and proxy settings from the kubeconfig, and the
//! ureq agent built on them (rustls on aws-lc-rs, no redirects, no proxy from the
//! environment); which transport failures are worth another attempt.

use std::sync::Arc;

use kcsr_core::terminal::redact_url;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::ServerName;
use ureq::Agent;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector as _, TcpConnector};

use super::options::ClientOptions;
use crate::client_error::ClientError;
use crate::kubeconfig::ClusterConnection;
use crate::tls::{self, ClientIdentity, KubeTlsConnector, ServerTrust, TlsSettings};

/// Trust and proxy settings, kept to build agents for exec-plugin client certificates.
pub(super) struct TransportBase {
    trust: ServerTrust,
    server_name: Option<ServerName<'static>>,
    proxy: Option<ureq::Proxy>,
}

impl TransportBase {
    /// Checks the cluster's CA bundle, server name and proxy, and warns about
    /// `insecure-skip-tls-verify` (naming `user`, whose credentials are at stake).
    pub(super) fn for_cluster(
        cluster_name: &str,
        user_name: &str,
        cluster: &ClusterConnection,
        options: &ClientOptions,
    ) -> Result<Self, ClientError> {
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
            Some(name) => Some(tls::server_name(cluster_name, name)?),
            None => None,
        };
        let proxy = match &cluster.proxy_url {
            Some(url) => Some(ureq::Proxy::new(url).map_err(|source| ClientError::Proxy {
                cluster: cluster_name.to_owned(),
                url: redact_url(url).into_owned(),
                source: Box::new(source),
            })?),
            None => None,
        };
        Ok(Self {
            trust: ServerTrust::for_cluster(cluster_name, roots, cluster.insecure_skip_tls_verify)?,
            server_name,
            proxy,
        })
    }
}

pub(super) fn build_agent(
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
pub(super) fn rustls_error(err: &ureq::Error) -> Option<rustls::Error> {
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
pub(super) fn is_retryable_error(err: &ureq::Error) -> bool {
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

//! TLS to the API server: rustls on aws-lc-rs (the FIPS module with the `fips` feature), trust
//! in the cluster's CA only, the client certificate checked against its key before use,
//! `tls-server-name` for SNI and verification, and TLS failures explained in operator terms.
//!
//! We build the rustls `ClientConfig` ourselves and plug it into ureq through a small
//! [`Connector`](ureq::unversioned::transport::Connector): ureq's own TLS setup cannot take a
//! server-name override, silently drops unparsable CA certificates and panics on a key that
//! does not match the certificate (dependencies.md §3.1).

use std::fmt;
use std::io::{Read as _, Write as _};
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

use crate::kubeconfig::{PemSource, SecretPem};

mod danger;
mod failure;

pub use failure::TlsFailure;

/// The process's crypto provider: AWS-LC, or its FIPS 140-3 module with the `fips` feature.
/// Installed as the process default too, so nothing can fall back to another provider.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            #[cfg(feature = "fips")]
            let provider = rustls::crypto::default_fips_provider();
            #[cfg(not(feature = "fips"))]
            let provider = rustls::crypto::aws_lc_rs::default_provider();
            let provider = Arc::new(provider);
            // Err means a default is already installed (another caller won): fine, we always
            // pass ours explicitly.
            let _ = CryptoProvider::install_default(provider.as_ref().clone());
            provider
        })
        .clone()
}

/// Why TLS could not be set up from the kubeconfig. Messages never include key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsSetupError {
    /// No CA and no insecure flag.
    #[error(
        "cluster {cluster:?} has no certificate-authority or certificate-authority-data; kcsr-submit trusts only the cluster's own CA"
    )]
    NoCa {
        /// Cluster name.
        cluster: String,
    },
    /// The CA bundle has no certificate, or one that is not usable as a trust anchor.
    #[error("the CA bundle {origin} is unusable: {problem}")]
    BadCa {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// The client certificate is unusable.
    #[error("the client certificate {origin} is unusable: {problem}")]
    BadClientCert {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// The client key is unusable (no details that could quote the key).
    #[error("the client key {origin} is unusable: {problem}")]
    BadClientKey {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// Certificate and key are not a pair.
    #[error(
        "the client certificate ({cert_origin}) and key ({key_origin}) of user {user:?} do not match"
    )]
    KeyMismatch {
        /// User name.
        user: String,
        /// Certificate origin.
        cert_origin: String,
        /// Key origin.
        key_origin: String,
    },
    /// `tls-server-name` is not a DNS name or IP address.
    #[error(
        "tls-server-name {name:?} of cluster {cluster:?} is not a valid DNS name or IP address"
    )]
    BadServerName {
        /// Cluster name.
        cluster: String,
        /// The value.
        name: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[source] rustls::Error),
}

impl TlsSetupError {
    /// One line telling the operator what to do, where there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::KeyMismatch { .. } => Some(
                "the kubeconfig pairs a certificate with another key: re-create the user entry"
                    .into(),
            ),
            Self::NoCa { .. } => {
                Some("add certificate-authority-data of the cluster's CA to the kubeconfig".into())
            }
            _ => None,
        }
    }
}

/// A client certificate chain and its key, checked to be a pair.
pub struct ClientIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("chain_len", &self.chain.len())
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl ClientIdentity {
    /// Parses a certificate chain and key PEM and checks with rustls that the key belongs to
    /// the first certificate.
    pub fn from_pem(
        user: &str,
        cert: &PemSource,
        key: &SecretPem,
        provider: &CryptoProvider,
    ) -> Result<Self, TlsSetupError> {
        Self::from_pem_bytes(
            user,
            &cert.pem,
            &cert.origin,
            &key.pem,
            &key.origin,
            provider,
        )
    }

    /// Like [`ClientIdentity::from_pem`], from raw PEM bytes (exec plugin output).
    pub fn from_pem_bytes(
        user: &str,
        cert_pem: &[u8],
        cert_origin: &str,
        key_pem: &[u8],
        key_origin: &str,
        provider: &CryptoProvider,
    ) -> Result<Self, TlsSetupError> {
        let bad_cert = |problem: String| TlsSetupError::BadClientCert {
            origin: cert_origin.to_owned(),
            problem,
        };
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad_cert(format!("not valid PEM ({e})")))?;
        if chain.is_empty() {
            return Err(bad_cert("no CERTIFICATE block found".into()));
        }
        let bad_key = |problem: &str| TlsSetupError::BadClientKey {
            origin: key_origin.to_owned(),
            problem: problem.to_owned(),
        };
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
            rustls_pki_types::pem::Error::NoItemsFound => bad_key(
                "no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block found (an encrypted key must be decrypted first)",
            ),
            _ => bad_key("not valid PEM"),
        })?;
        match rustls::sign::CertifiedKey::from_der(chain.clone(), key.clone_key(), provider) {
            Ok(_) => Ok(Self { chain, key }),
            Err(rustls::Error::InconsistentKeys(_)) => Err(TlsSetupError::KeyMismatch {
                user: user.to_owned(),
                cert_origin: cert_origin.to_owned(),
                key_origin: key_origin.to_owned(),
            }),
            Err(rustls::Error::InvalidCertificate(e)) => {
                Err(bad_cert(format!("cannot be parsed ({e:?})")))
            }
            Err(_) => Err(bad_key(
                "not a key rustls can use (supported: RSA, ECDSA P-256/P-384, Ed25519)",
            )),
        }
    }
}

/// Parses a CA bundle and checks that every certificate in it is a usable trust anchor.
pub fn parse_ca_bundle(ca: &PemSource) -> Result<RootCertStore, TlsSetupError> {
    let bad = |problem: String| TlsSetupError::BadCa {
        origin: ca.origin.clone(),
        problem,
    };
    let certs = CertificateDer::pem_slice_iter(&ca.pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not valid PEM ({e})")))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE block found".into()));
    }
    let mut store = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        store
            .add(cert)
            .map_err(|e| bad(format!("certificate #{} cannot be parsed: {e}", i + 1)))?;
    }
    Ok(store)
}

/// How the API server's certificate is judged: there is no third way (anchors and the insecure
/// flag together, or neither), so no combination is checked at run time.
#[derive(Debug, Clone)]
pub enum ServerTrust {
    /// Verified against the cluster's own CA bundle.
    Roots(RootCertStore),
    /// `insecure-skip-tls-verify`: not verified at all ([`danger`]); the caller has warned.
    InsecureSkipVerify,
}

impl ServerTrust {
    /// The kubeconfig's choice: the insecure flag wins over a CA (the CA is still read, so a
    /// broken bundle is an error either way); neither is an error.
    pub fn for_cluster(
        cluster: &str,
        roots: Option<RootCertStore>,
        insecure_skip_tls_verify: bool,
    ) -> Result<Self, TlsSetupError> {
        match (roots, insecure_skip_tls_verify) {
            (_, true) => Ok(Self::InsecureSkipVerify),
            (Some(roots), false) => Ok(Self::Roots(roots)),
            (None, false) => Err(TlsSetupError::NoCa {
                cluster: cluster.to_owned(),
            }),
        }
    }
}

/// What the TLS layer needs from the kubeconfig.
#[derive(Debug)]
pub struct TlsSettings {
    /// Cluster name, for messages.
    pub cluster: String,
    /// How the server's certificate is judged.
    pub trust: ServerTrust,
    /// Client certificate and key.
    pub identity: Option<ClientIdentity>,
}

/// Builds the rustls client configuration (TLS 1.2 and 1.3, AWS-LC).
pub fn client_config(
    settings: TlsSettings,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsSetupError::Rustls)?;
    let builder = match settings.trust {
        ServerTrust::InsecureSkipVerify => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(danger::InsecureVerifier { provider })),
        ServerTrust::Roots(roots) => builder.with_root_certificates(roots),
    };
    let config = match settings.identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain, identity.key)
            .map_err(TlsSetupError::Rustls)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Parses `tls-server-name`.
pub fn server_name(cluster: &str, name: &str) -> Result<ServerName<'static>, TlsSetupError> {
    ServerName::try_from(name.to_owned()).map_err(|_| TlsSetupError::BadServerName {
        cluster: cluster.to_owned(),
        name: name.to_owned(),
    })
}

/// The ureq connector that wraps the TCP (or proxy tunnel) transport in our rustls session.
pub struct KubeTlsConnector {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl KubeTlsConnector {
    /// With the client configuration and the `tls-server-name` override.
    pub fn new(config: Arc<ClientConfig>, server_name: Option<ServerName<'static>>) -> Self {
        Self {
            config,
            server_name,
        }
    }
}

impl fmt::Debug for KubeTlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeTlsConnector")
            .field("server_name", &self.server_name)
            .finish()
    }
}

fn uri_server_name(details: &ConnectionDetails<'_>) -> Result<ServerName<'static>, ureq::Error> {
    let host = details
        .uri
        .host()
        .ok_or(ureq::Error::Tls("the server URL has no host"))?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(bare.to_owned())
        .map_err(|_| ureq::Error::Tls("the server host is not a valid DNS name or IP address"))
}

/// Surfaces a rustls error carried inside an `io::Error` as `ureq::Error::Rustls`, so the
/// client can explain it.
fn io_to_ureq(e: std::io::Error) -> ureq::Error {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return ureq::Error::Rustls(tls.clone());
    }
    ureq::Error::from(e)
}

impl<In: Transport> Connector<In> for KubeTlsConnector {
    type Out = Either<In, KubeTlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails<'_>,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Err(ureq::Error::ConnectionFailed);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => uri_server_name(details)?,
        };
        let mut conn = ClientConnection::new(self.config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).map_err(io_to_ureq)?;
        }
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(KubeTlsTransport {
            buffers,
            stream: StreamOwned { conn, sock },
        })))
    }
}

/// A TLS session over the chained transport.
pub struct KubeTlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for KubeTlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeTlsTransport").finish()
    }
}

impl KubeTlsTransport {
    /// After a failed write or read: a TLS 1.3 server that rejects the client certificate
    /// sends its alert after our handshake finished, and closes. The write of the request
    /// then fails with EPIPE/ECONNRESET while the alert that says why is still unread.
    fn pending_alert(&mut self) -> Option<ureq::Error> {
        let StreamOwned { conn, sock } = &mut self.stream;
        for _ in 0..4 {
            match conn.read_tls(sock) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if let Err(tls) = conn.process_new_packets() {
                        return Some(ureq::Error::Rustls(tls));
                    }
                }
            }
        }
        None
    }
}

impl Transport for KubeTlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        if let Err(e) = self.stream.write_all(output) {
            return Err(self.pending_alert().unwrap_or_else(|| io_to_ureq(e)));
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = match self.stream.read(input) {
            Ok(n) => n,
            Err(e) => return Err(self.pending_alert().unwrap_or_else(|| io_to_ureq(e))),
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

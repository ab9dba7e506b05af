//! Start-up for one user: log in to its token, find the key, check it is the certificate's
//! key, and build the TLS client configuration that trusts only the extension's CA (the
//! station's pin) and presents the certificate with the token-backed key.

use std::sync::Arc;

use kcsr_token::Logins;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::AgentUser;
use crate::fail::{Fail, Result};
use crate::proxy::ServedUser;
use crate::signer::{Resolver, TokenCell, TokenSigningKey};

/// The process's crypto provider: AWS-LC (its FIPS module with the `fips` feature).
fn provider() -> Arc<CryptoProvider> {
    #[cfg(feature = "fips")]
    let provider = rustls::crypto::default_fips_provider();
    #[cfg(not(feature = "fips"))]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    Arc::new(provider)
}

/// Prepares one user, or says why it cannot be served. A token that an earlier user's key is
/// in logs in with the PIN given then (`logins`): asked once per token, not once per user.
pub(crate) fn prepare(user: AgentUser, logins: &mut Logins) -> Result<ServedUser> {
    let name = &user.name;
    let cert = kcsr_core::cert::parse_first(&user.cert_pem).map_err(|e| {
        Fail::new(format!(
            "the client certificate of user {name:?} (its kcsr.io/agent extension) is unreadable: {e}"
        ))
    })?;
    let token = logins.open(&user.pkcs11)?;
    let label = token.label().to_owned();
    let key = token.find_key()?.map_err(|_| {
        Fail::new(format!(
            "the PKCS#11 token {label:?} holds no key {} for user {name:?}",
            user.pkcs11.object.as_deref().unwrap_or("named by the URI")
        ))
        .hint("insert the token the certificate was issued for (the URI is in the kubeconfig's kcsr.io/agent extension)")
    })?;
    if key.public_key().spki_der != cert.public_key.spki_der {
        return Err(Fail::new(format!(
            "the key in PKCS#11 token {label:?} does not match the certificate of user {name:?} (key {}, certificate {})",
            key.public_key().fingerprint,
            cert.public_key.fingerprint
        ))
        .hint("insert the token the certificate was issued for, or write the kubeconfig again with kcsr assemble"));
    }
    let cell = Arc::new(TokenCell::new(key, label));
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&user.cert_pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Fail::new(format!("the client certificate of user {name:?}: {e}")))?;
    let mut roots = RootCertStore::empty();
    let mut cas = 0;
    for ca in CertificateDer::pem_slice_iter(&user.ca_pem) {
        let ca = ca.map_err(|e| Fail::new(format!("the CA of user {name:?}'s cluster: {e}")))?;
        roots.add(ca).map_err(|e| {
            Fail::new(format!(
                "the CA of user {name:?}'s cluster is unusable: {e}"
            ))
        })?;
        cas += 1;
    }
    if cas == 0 {
        return Err(Fail::new(format!(
            "the kcsr.io/agent extension of user {name:?} has no CA certificate"
        ))
        .hint("write the kubeconfig again with kcsr assemble"));
    }
    let versions: &[&rustls::SupportedProtocolVersion] = if cell.tls13() {
        rustls::DEFAULT_VERSIONS
    } else {
        // An RSA key without PSS in its token can only sign TLS 1.2's PKCS#1 v1.5.
        &[&rustls::version::TLS12]
    };
    let certified = Arc::new(CertifiedKey::new(
        chain,
        Arc::new(TokenSigningKey(cell.clone())),
    ));
    let mut tls = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| Fail::new(format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(Resolver(certified)));
    // Every connection is authenticated by a signature the token makes now: a resumed session
    // would let requests through after the token was pulled out.
    tls.resumption = rustls::client::Resumption::disabled();
    Ok(ServedUser {
        name: user.name,
        bearer: user.bearer,
        upstream: user.upstream,
        tls: Arc::new(tls),
        token: cell,
    })
}

/// The agent's own TLS server for kubectl: the certificate and key `kcsr assemble` made for
/// the loopback hop (kubectl pins the certificate as the cluster entry's CA).
pub(crate) fn serving(user: &AgentUser) -> Result<Arc<ServerConfig>> {
    let name = &user.name;
    let bad = |what: String| {
        Fail::new(format!(
            "the serving certificate of user {name:?} (its kcsr.io/agent extension) {what}"
        ))
        .hint("write the kubeconfig again with kcsr assemble")
    };
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&user.serving_cert_pem)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| bad(format!("is unreadable: {e}")))?;
    // Never the parser's message: it could quote the key.
    let key = PrivateKeyDer::from_pem_slice(&user.serving_key_pem)
        .map_err(|_| bad("has a key that is not a PEM private key".to_owned()))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Fail::new(format!("TLS configuration: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| bad(format!("does not go with its key: {e}")))?;
    Ok(Arc::new(config))
}

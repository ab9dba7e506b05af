//! Authentication (reference §4.1, §6, §14): client certificates signed by the client CA
//! (user = CN, groups = O + `system:authenticated`, extra credential-id) and static bearer
//! tokens. Present-but-invalid credentials are 401; none at all is `system:anonymous`.
//!
//! The TLS layer asks for a client certificate (advertising the client CA) but accepts any,
//! like Go's `VerifyClientCertIfGiven` + the x509 authenticator: a certificate from another CA
//! or an expired one must reach the HTTP layer and get the 401 Status, not a handshake alert.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::prelude::FromDer as _;

use crate::clock::real_now;
use crate::http::Request;
use crate::identity::UserInfo;
use crate::locks::lock;
use crate::state::Shared;
use crate::status::ApiError;

#[derive(Debug)]
pub(crate) struct AnyClientCert {
    pub hints: Vec<DistinguishedName>,
    pub algs: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Checked per request in `authenticate` (401 instead of a handshake failure).
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

pub(crate) fn client_verifier(
    sh_ca_subject: &[u8],
    provider: &rustls::crypto::CryptoProvider,
) -> Arc<dyn ClientCertVerifier> {
    Arc::new(AnyClientCert {
        hints: vec![DistinguishedName::from(sh_ca_subject.to_vec())],
        algs: provider.signature_verification_algorithms,
    })
}

/// `x509.go: CommonNameUserConversion` after verifying the chain to the client CA.
fn user_from_cert(sh: &Shared, der: &[u8]) -> Option<UserInfo> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    let (_, ca) =
        x509_parser::certificate::X509Certificate::from_der(&sh.client_ca.cert_der).ok()?;
    if cert.issuer().as_raw() != ca.subject().as_raw() {
        return None;
    }
    cert.verify_signature(Some(ca.public_key())).ok()?;
    // Validity on the real clock: the injectable clock is for API timestamps and GC.
    let now = x509_parser::time::ASN1Time::from_timestamp(real_now()).ok()?;
    if !cert.validity().is_valid_at(now) {
        return None;
    }
    // The chain must be usable for client auth.
    if let Ok(Some(eku)) = cert.extended_key_usage()
        && !eku.value.client_auth
        && !eku.value.any
    {
        return None;
    }
    let name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        return None;
    }
    let mut groups: Vec<String> = cert
        .subject()
        .iter_organization()
        .filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect();
    if !groups.iter().any(|g| g == "system:authenticated") {
        groups.push("system:authenticated".into());
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let mut extra = BTreeMap::new();
    extra.insert(
        "authentication.kubernetes.io/credential-id".to_string(),
        vec![format!("X509SHA256={hex}")],
    );
    Some(UserInfo {
        name,
        uid: String::new(),
        groups,
        extra,
    })
}

/// The union authenticator: first success wins; any failure without a success is 401.
pub(crate) fn authenticate(
    sh: &Shared,
    peer: Option<&[u8]>,
    req: &Request,
) -> Result<UserInfo, ApiError> {
    let mut failed = false;
    if let Some(der) = peer {
        match user_from_cert(sh, der) {
            Some(u) => return Ok(u),
            None => failed = true,
        }
    }
    if let Some(auth) = req.header("authorization") {
        let token = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "))
            .map(str::trim);
        match token.and_then(|t| lock(&sh.tokens).get(t).cloned()) {
            Some(u) => return Ok(u),
            None => failed = true,
        }
    }
    if failed || !sh.anonymous {
        return Err(ApiError::unauthorized());
    }
    Ok(UserInfo::anonymous())
}

//! What the operator gives `kcsr cluster add`: the server and its CA, signers' CA files, the
//! TLS server name.

use std::path::Path;

use kcsr_core::cert::{self, CertInfo};
use kcsr_core::pem;

use crate::fail::{Fail, Result};
use crate::report;

/// Largest kubeconfig or CA file read.
pub(super) const MAX_INPUT_BYTES: u64 = 1 << 20;

/// Where the server and its CA came from.
pub(super) struct ServerSource {
    pub(super) server: String,
    pub(super) ca_pem: String,
    pub(super) tls_server_name: Option<String>,
    pub(super) source: String,
}

/// Reads a CA bundle (PEM, or one DER certificate) and returns it as PEM. Refuses a file
/// holding a private key without showing any of it.
pub(super) fn read_cas(path: &Path, flag: &str) -> Result<String> {
    let data = kcsr_fs::read_limited(path, MAX_INPUT_BYTES)
        .map_err(|e| Fail::new(format!("{flag} {}: {e}", path.display())))?;
    cas_pem(&data, &format!("{flag} {}", path.display()))
}

/// The certificates of `data` as PEM; `what` names where they came from.
pub(super) fn cas_pem(data: &[u8], what: &str) -> Result<String> {
    if pem::contains_private_key_marker(data) {
        return Err(Fail::new(format!(
            "{what} holds a private key; a CA file holds only certificates"
        ))
        .hint("give the CA certificate (ca.crt), never its key"));
    }
    let cas: Vec<CertInfo> = cert::parse_all(data).map_err(|e| {
        Fail::new(format!("{what}: {e}"))
            .hint("give the CA certificate as PEM (-----BEGIN CERTIFICATE-----) or DER")
    })?;
    for ca in &cas {
        if !ca.is_ca {
            report::say(&format!(
                "warning: {what}: {} is not a CA certificate (no basicConstraints CA:TRUE); it is pinned as given",
                report::sanitize(&ca.subject.display)
            ));
        }
    }
    Ok(cas
        .iter()
        .map(|c| pem::encode("CERTIFICATE", &c.der))
        .collect())
}

/// An https URL with a host and no credentials.
pub(super) fn check_server(url: &str) -> Result<String> {
    let fail = |why: &str| {
        Fail::new(format!("server {:?} {why}", report::sanitize(url)))
            .hint("give the API server's URL, e.g. --server https://10.0.0.1:6443")
    };
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(fail("is not an https:// URL"));
    };
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(fail("holds spaces or control characters"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(Fail::new(
            "the server URL holds credentials (user@host); a pin never keeps credentials",
        )
        .hint("give the URL without the user part, e.g. https://10.0.0.1:6443"));
    }
    if authority.is_empty() || authority.starts_with(':') {
        return Err(fail("has no host"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

pub(super) fn check_tls_server_name(name: &str) -> Result<String> {
    if name.is_empty()
        || name.len() > 253
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    {
        return Err(Fail::new(format!(
            "tls-server-name {:?} is not a host name",
            report::sanitize(name)
        ))
        .hint("give the name the API server's certificate holds, e.g. kubernetes.default.svc"));
    }
    Ok(name.to_owned())
}

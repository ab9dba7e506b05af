//! Signer names (reference §4.2 `ValidateSignerName`, §9).

use std::fmt;
use std::str::FromStr;

use crate::names::{is_dns1123_label, is_dns1123_subdomain};

/// `kubernetes.io/kube-apiserver-client`: client certificates for the API server.
pub const KUBE_APISERVER_CLIENT: &str = "kubernetes.io/kube-apiserver-client";
/// `kubernetes.io/kube-apiserver-client-kubelet`: kubelet client certificates.
pub const KUBELET_CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// `kubernetes.io/kubelet-serving`: kubelet serving certificates.
pub const KUBELET_SERVING: &str = "kubernetes.io/kubelet-serving";
/// `kubernetes.io/legacy-unknown`: v1beta1 only.
pub const LEGACY_UNKNOWN: &str = "kubernetes.io/legacy-unknown";

/// Maximum length of a signer name: 253 + 1 + 253 + 63 + 1 (reference §4.2).
const MAX_SIGNER_LEN: usize = 571;

/// The signer kinds kcsr knows the rules of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `kubernetes.io/kube-apiserver-client`.
    KubeApiserverClient,
    /// `kubernetes.io/kube-apiserver-client-kubelet`.
    KubeletClient,
    /// `kubernetes.io/kubelet-serving`.
    KubeletServing,
    /// `kubernetes.io/legacy-unknown`.
    LegacyUnknown,
}

/// A syntactically valid signer name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SignerName(String);

/// Why a signer name was refused; messages follow the API server's (reference §4.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// Empty.
    #[error("signer name is empty")]
    Empty,
    /// Not `domain/path`.
    #[error(
        "signer name {0:?} must be a fully qualified domain and path of the form 'example.com/signer-name'"
    )]
    Form(String),
    /// The domain part is not at least two DNS-1123 labels.
    #[error(
        "signer name {0:?}: the domain part should be a domain with at least two segments separated by dots, each a lowercase DNS-1123 label"
    )]
    Domain(String),
    /// The path part is not made of DNS-1123 subdomains.
    #[error(
        "signer name {0:?}: the path part must be lowercase DNS-1123 subdomains separated by dots"
    )]
    Path(String),
    /// Longer than 571 characters.
    #[error("signer name {0:?} is longer than 571 characters")]
    TooLong(String),
}

impl SignerName {
    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain part (before the `/`).
    pub fn domain(&self) -> &str {
        self.0.split('/').next().unwrap_or_default()
    }

    /// Which built-in signer this is, if any.
    pub fn builtin(&self) -> Option<Builtin> {
        match self.0.as_str() {
            KUBE_APISERVER_CLIENT => Some(Builtin::KubeApiserverClient),
            KUBELET_CLIENT => Some(Builtin::KubeletClient),
            KUBELET_SERVING => Some(Builtin::KubeletServing),
            LEGACY_UNKNOWN => Some(Builtin::LegacyUnknown),
            _ => None,
        }
    }

    /// The default signer, `kubernetes.io/kube-apiserver-client`.
    pub fn client() -> Self {
        Self(KUBE_APISERVER_CLIENT.to_owned())
    }
}

impl FromStr for SignerName {
    type Err = SignerError;

    /// Accepts the full name or one of the short forms `client`, `kubelet-client`,
    /// `kubelet-serving`, `legacy-unknown`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let full = match s {
            "client" => KUBE_APISERVER_CLIENT,
            "kubelet-client" => KUBELET_CLIENT,
            "kubelet-serving" => KUBELET_SERVING,
            "legacy-unknown" => LEGACY_UNKNOWN,
            other => other,
        };
        if full.is_empty() {
            return Err(SignerError::Empty);
        }
        let parts: Vec<&str> = full.split('/').collect();
        let [domain, path] = parts.as_slice() else {
            return Err(SignerError::Form(full.to_owned()));
        };
        if full.len() > MAX_SIGNER_LEN {
            return Err(SignerError::TooLong(full.to_owned()));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if domain.len() > 253 || labels.len() < 2 || !labels.iter().all(|l| is_dns1123_label(l)) {
            return Err(SignerError::Domain(full.to_owned()));
        }
        if path.is_empty() || !path.split('.').all(is_dns1123_subdomain) {
            return Err(SignerError::Path(full.to_owned()));
        }
        Ok(Self(full.to_owned()))
    }
}

impl fmt::Display for SignerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms_expand() {
        assert_eq!(
            "client".parse::<SignerName>().unwrap().as_str(),
            KUBE_APISERVER_CLIENT
        );
        assert_eq!(
            "kubelet-serving".parse::<SignerName>().unwrap().builtin(),
            Some(Builtin::KubeletServing)
        );
    }

    #[test]
    fn follows_validate_signer_name() {
        assert!("example.com/my-signer".parse::<SignerName>().is_ok());
        assert!(
            "clusterissuers.cert-manager.io/ca-issuer"
                .parse::<SignerName>()
                .is_ok()
        );
        assert!(matches!(
            "example.com".parse::<SignerName>(),
            Err(SignerError::Form(_))
        ));
        assert!(matches!(
            "a/b/c".parse::<SignerName>(),
            Err(SignerError::Form(_))
        ));
        assert!(matches!(
            "localhost/x".parse::<SignerName>(),
            Err(SignerError::Domain(_))
        ));
        assert!(matches!(
            "Example.com/x".parse::<SignerName>(),
            Err(SignerError::Domain(_))
        ));
        assert!(matches!(
            "example.com/X".parse::<SignerName>(),
            Err(SignerError::Path(_))
        ));
        assert!(matches!("".parse::<SignerName>(), Err(SignerError::Empty)));
    }
}

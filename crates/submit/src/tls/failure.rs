//! Why a TLS handshake or session failed, sorted from rustls's error, with the message and
//! the hint for each kind.

use rustls::{AlertDescription, CertificateError};

/// Why a TLS handshake or session failed, kept typed so that the message and the hint are
/// chosen from the failure, not from each other's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsFailure {
    /// The server's certificate is not signed by the kubeconfig's CA.
    UnknownIssuer,
    /// The server's certificate does not carry the expected name; `presented`: the names it
    /// does carry, when rustls says.
    WrongName {
        /// The names in the certificate.
        presented: Option<Vec<String>>,
    },
    /// The server's certificate has expired.
    Expired,
    /// The server's certificate is not valid yet.
    NotValidYet,
    /// The server's certificate was rejected for another reason (rustls's words).
    Rejected(String),
    /// The server asks for a client certificate and the user has none.
    ClientCertRequired,
    /// The server rejected the client certificate (the alert).
    ClientCertRejected(String),
    /// The server ended the handshake with another alert.
    Alert(String),
    /// The server did not speak TLS.
    NotTls,
    /// Anything else (rustls's words).
    Other(String),
}

impl TlsFailure {
    /// Sorts a rustls error.
    pub fn of(err: &rustls::Error) -> Self {
        match err {
            rustls::Error::InvalidCertificate(cert) => match cert {
                CertificateError::UnknownIssuer => Self::UnknownIssuer,
                CertificateError::NotValidForName => Self::WrongName { presented: None },
                CertificateError::NotValidForNameContext { presented, .. } => Self::WrongName {
                    presented: Some(presented.clone()),
                },
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    Self::Expired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    Self::NotValidYet
                }
                other => Self::Rejected(format!("{other:?}")),
            },
            rustls::Error::AlertReceived(alert) => match alert {
                AlertDescription::CertificateRequired => Self::ClientCertRequired,
                AlertDescription::BadCertificate
                | AlertDescription::UnknownCA
                | AlertDescription::CertificateExpired
                | AlertDescription::CertificateUnknown
                | AlertDescription::UnsupportedCertificate
                | AlertDescription::CertificateRevoked
                | AlertDescription::AccessDenied => Self::ClientCertRejected(format!("{alert:?}")),
                other => Self::Alert(format!("{other:?}")),
            },
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                Self::NotTls
            }
            other => Self::Other(other.to_string()),
        }
    }

    /// The failure in operator terms: `cluster` and `user` as the kubeconfig names them,
    /// `expected_name` the name the server certificate must carry.
    pub fn explain(&self, cluster: &str, user: &str, expected_name: &str) -> String {
        match self {
            Self::UnknownIssuer => format!(
                "the server's certificate is not signed by the CA in the kubeconfig (cluster {cluster:?})"
            ),
            Self::WrongName { presented: None } => format!(
                "the server's certificate is not valid for {expected_name}; set tls-server-name in cluster {cluster:?} to a name the certificate is issued for, or fix the server URL"
            ),
            Self::WrongName {
                presented: Some(presented),
            } => format!(
                "the server's certificate is not valid for {expected_name} (it is valid for: {}); set tls-server-name in cluster {cluster:?} to one of those names, or fix the server URL",
                presented.join(", ")
            ),
            Self::Expired => {
                "the server's certificate has expired (or this machine's clock is wrong)".into()
            }
            Self::NotValidYet => {
                "the server's certificate is not valid yet (or this machine's clock is wrong)"
                    .into()
            }
            Self::Rejected(why) => format!("the server's certificate was rejected ({why})"),
            Self::ClientCertRequired => format!(
                "the server requires a client certificate and user {user:?} has none in the kubeconfig"
            ),
            Self::ClientCertRejected(alert) => format!(
                "the server rejected the client certificate of user {user:?} (TLS alert {alert}): it is not signed by a CA the server trusts, or has expired"
            ),
            Self::Alert(alert) => format!("the server ended the TLS handshake (alert {alert})"),
            Self::NotTls => {
                "the server did not answer with TLS: is the server URL an https endpoint of the API server?".into()
            }
            Self::Other(why) => format!("TLS with the server failed ({why})"),
        }
    }

    /// What to do about it, where the kubeconfig can fix it.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::WrongName { .. } => Some(
                "set clusters[].cluster.tls-server-name to a DNS name in the server's certificate",
            ),
            Self::UnknownIssuer => Some(
                "check certificate-authority(-data) of the cluster in the kubeconfig, and that the server URL points at this cluster",
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_follows_the_failure_not_its_wording() {
        let unknown = TlsFailure::of(&rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert_eq!(unknown, TlsFailure::UnknownIssuer);
        assert!(unknown.hint().unwrap().contains("certificate-authority"));
        let name = TlsFailure::of(&rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        ));
        assert!(name.hint().unwrap().contains("tls-server-name"));
        assert!(
            name.explain("c", "u", "api.example")
                .contains("not valid for api.example")
        );
        // The client certificate's rejection says "not signed by a CA" but is not the
        // server's unknown issuer: no kubeconfig CA hint.
        let rejected = TlsFailure::of(&rustls::Error::AlertReceived(AlertDescription::UnknownCA));
        assert!(
            rejected
                .explain("c", "u", "h")
                .contains("not signed by a CA")
        );
        assert_eq!(rejected.hint(), None);
        assert_eq!(
            TlsFailure::of(&rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired
            ))
            .hint(),
            None
        );
    }
}

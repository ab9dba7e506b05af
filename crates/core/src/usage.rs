//! Key usages as the API spells them (reference §2 `allValidUsages`, §10 mapping to X.509).

use std::fmt;
use std::str::FromStr;

/// One value of `spec.usages`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)]
pub enum Usage {
    Any,
    CertSign,
    ClientAuth,
    CodeSigning,
    ContentCommitment,
    CrlSign,
    DataEncipherment,
    DecipherOnly,
    DigitalSignature,
    EmailProtection,
    EncipherOnly,
    IpsecEndSystem,
    IpsecTunnel,
    IpsecUser,
    KeyAgreement,
    KeyEncipherment,
    MicrosoftSgc,
    NetscapeSgc,
    OcspSigning,
    ServerAuth,
    Signing,
    Smime,
    Timestamping,
}

const ALL: [(Usage, &str); 23] = [
    (Usage::Any, "any"),
    (Usage::CertSign, "cert sign"),
    (Usage::ClientAuth, "client auth"),
    (Usage::CodeSigning, "code signing"),
    (Usage::ContentCommitment, "content commitment"),
    (Usage::CrlSign, "crl sign"),
    (Usage::DataEncipherment, "data encipherment"),
    (Usage::DecipherOnly, "decipher only"),
    (Usage::DigitalSignature, "digital signature"),
    (Usage::EmailProtection, "email protection"),
    (Usage::EncipherOnly, "encipher only"),
    (Usage::IpsecEndSystem, "ipsec end system"),
    (Usage::IpsecTunnel, "ipsec tunnel"),
    (Usage::IpsecUser, "ipsec user"),
    (Usage::KeyAgreement, "key agreement"),
    (Usage::KeyEncipherment, "key encipherment"),
    (Usage::MicrosoftSgc, "microsoft sgc"),
    (Usage::NetscapeSgc, "netscape sgc"),
    (Usage::OcspSigning, "ocsp signing"),
    (Usage::ServerAuth, "server auth"),
    (Usage::Signing, "signing"),
    (Usage::Smime, "s/mime"),
    (Usage::Timestamping, "timestamping"),
];

impl Usage {
    /// The API spelling, e.g. `client auth`.
    pub fn as_str(self) -> &'static str {
        ALL.iter()
            .find(|(u, _)| *u == self)
            .map(|(_, s)| *s)
            .unwrap_or("any")
    }

    /// Every valid spelling, sorted as the API server lists them in its error message.
    pub fn supported_values() -> String {
        let mut names: Vec<&str> = ALL.iter().map(|(_, s)| *s).collect();
        names.sort_unstable();
        names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A usage string the API does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported usage {value:?}: supported values: {supported}")]
pub struct UsageError {
    /// The offending value.
    pub value: String,
    /// The list of valid values.
    pub supported: String,
}

impl FromStr for Usage {
    type Err = UsageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL.iter()
            .find(|(_, name)| *name == s)
            .map(|(u, _)| *u)
            .ok_or_else(|| UsageError {
                value: s.to_owned(),
                supported: Self::supported_values(),
            })
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_api_spelling() {
        for (u, s) in ALL {
            assert_eq!(s.parse::<Usage>().unwrap(), u);
            assert_eq!(u.as_str(), s);
        }
        let err = "Client Auth".parse::<Usage>().unwrap_err();
        assert!(err.to_string().contains("\"client auth\""), "{err}");
    }
}

//! The isolated station's own state (decision 0009): cluster pins and the record of every
//! request it wrote. The station trusts these because only it writes them; what comes back on
//! the media is checked against them. Serialisation only: the offline binary owns the files.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cert::{self, CertInfo};
use crate::names::is_dns1123_subdomain;

/// `apiVersion` of the station's files.
pub const API_VERSION: &str = "kcsr.dev/v1";
/// `kind` of a pin.
pub const PIN_KIND: &str = "ClusterPin";
/// `kind` of a record.
pub const RECORD_KIND: &str = "RequestRecord";
/// The signers whose CA `kcsr cluster add --client-ca` pins: both are client signers that
/// kube-controller-manager signs with the same cluster-signing CA by default.
pub const CLIENT_SIGNERS: [&str; 2] = [
    "kubernetes.io/kube-apiserver-client",
    "kubernetes.io/kube-apiserver-client-kubelet",
];

/// A pin's name: a DNS-1123 subdomain, because it names a file in the station and the
/// cluster, user and context entries of kubeconfigs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClusterName(String);

impl ClusterName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ClusterName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_dns1123_subdomain(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "cluster name {s:?} is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253 characters), e.g. prod or prod.example"
            ))
        }
    }
}

impl TryFrom<String> for ClusterName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ClusterName> for String {
    fn from(n: ClusterName) -> Self {
        n.0
    }
}

impl fmt::Display for ClusterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a station file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StationError(pub String);

/// One pinned cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterPin {
    /// [`API_VERSION`].
    pub api_version: String,
    /// [`PIN_KIND`].
    pub kind: String,
    /// The pin's name.
    pub name: ClusterName,
    /// The API server URL (`https://…`).
    pub server: String,
    /// kubeconfig `tls-server-name`, when the server's certificate names another host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
    /// The CA bundle that signs the API server's certificate, PEM.
    pub certificate_authority: String,
    /// Signer name → the CA bundle that signs its certificates, PEM.
    #[serde(default, rename = "signerCAs")]
    pub signer_cas: BTreeMap<String, String>,
    /// When the pin was made, RFC 3339.
    pub added_at: String,
    /// How it was made (for the operator: a file and context, or flags).
    pub source: String,
}

impl ClusterPin {
    /// Reads a pin and checks that its certificates parse and its server is https.
    pub fn parse(data: &[u8]) -> Result<Self, StationError> {
        let pin: Self = serde_json::from_slice(data)
            .map_err(|e| StationError(format!("not a cluster pin: {e}")))?;
        if pin.api_version != API_VERSION || pin.kind != PIN_KIND {
            return Err(StationError(format!(
                "apiVersion {:?} kind {:?} is not a {API_VERSION} {PIN_KIND}",
                pin.api_version, pin.kind
            )));
        }
        if !pin.server.starts_with("https://") {
            return Err(StationError(format!(
                "server {:?} is not an https:// URL",
                pin.server
            )));
        }
        pin.server_cas()?;
        for signer in pin.signer_cas.keys() {
            pin.signer_cas(signer)?;
        }
        Ok(pin)
    }

    /// The pin as JSON, as it is stored.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The server CA certificates.
    pub fn server_cas(&self) -> Result<Vec<CertInfo>, StationError> {
        cert::parse_all(self.certificate_authority.as_bytes())
            .map_err(|e| StationError(format!("certificateAuthority: {e}")))
    }

    /// The server CA fingerprints (`sha256:HEX`), sorted.
    pub fn server_fingerprints(&self) -> Result<Vec<String>, StationError> {
        Ok(fingerprints(&self.server_cas()?))
    }

    /// The pinned CA certificates of `signer`, if any are pinned.
    pub fn signer_cas(&self, signer: &str) -> Result<Option<Vec<CertInfo>>, StationError> {
        self.signer_cas
            .get(signer)
            .map(|pem| {
                cert::parse_all(pem.as_bytes())
                    .map_err(|e| StationError(format!("signerCAs[{signer:?}]: {e}")))
            })
            .transpose()
    }
}

/// `sha256:HEX` of each CA, sorted and without repeats.
pub fn fingerprints(cas: &[CertInfo]) -> Vec<String> {
    let mut v: Vec<String> = cas.iter().map(CertInfo::ca_fingerprint).collect();
    v.sort();
    v.dedup();
    v
}

/// Whether `s` has the `sha256:` + 64 lowercase hex form of a CA fingerprint.
pub fn is_ca_fingerprint(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// `keyFile` of a request whose key is in a PKCS#11 token (its URI is `pkcs11Uri`).
pub const PKCS11_KEY_FILE: &str = "pkcs11";

/// The station's record of one request it wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestRecord {
    /// [`API_VERSION`].
    pub api_version: String,
    /// [`RECORD_KIND`].
    pub kind: String,
    /// The CSR object name.
    pub name: String,
    /// The file stem on the media.
    pub stem: String,
    /// The certificate's CN.
    pub user: String,
    /// The certificate's O values.
    #[serde(default)]
    pub groups: Vec<String>,
    /// `certificates.k8s.io/v1` or `/v1beta1`.
    pub csr_api_version: String,
    /// `spec.signerName`, `None` when a v1beta1 request left it to the server.
    pub signer_name: Option<String>,
    /// `spec.usages`.
    pub usages: Vec<String>,
    /// `spec.expirationSeconds`.
    pub expiration_seconds: Option<i64>,
    /// SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex.
    pub public_key_sha256: String,
    /// The key file: relative to the key directory for keys kcsr keeps, else as given;
    /// [`PKCS11_KEY_FILE`] for a key in a token.
    pub key_file: String,
    /// The PKCS#11 URI of a key in a token (RFC 7512, without `pin-source`), decision 0011.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11_uri: Option<String>,
    /// SHA-256 of the manifest bytes written to the media, lowercase hex.
    pub manifest_sha256: String,
    /// The binding asked for ([`crate::rbac::Grant`]'s text form) when it is the only one.
    pub grant: Option<String>,
    /// Every binding asked for, in order (decision 0010); empty in records written before.
    #[serde(default)]
    pub grants: Vec<String>,
    /// The change ticket (`kcsr.dev/ticket`).
    #[serde(default)]
    pub ticket: Option<String>,
    /// Who ran kcsr (`kcsr.dev/operator`).
    #[serde(default)]
    pub operator: Option<String>,
    /// The pin the request was made for.
    pub cluster: Option<ClusterName>,
    /// That pin's server CA fingerprints at request time.
    #[serde(default)]
    pub cluster_ca_sha256: Vec<String>,
    /// That pin's CA fingerprints for the request's signer at request time.
    #[serde(default)]
    pub signer_ca_sha256: Vec<String>,
    /// When the station wrote it, RFC 3339 (`kcsr.dev/created`).
    pub created: String,
    /// When the connected side stops accepting it, RFC 3339 (`kcsr.dev/not-after`).
    pub not_after: String,
    /// The signing key's `SHA256:` fingerprint.
    pub station: String,
    /// Where the request stands; records written before decision 0010 read as `written`.
    #[serde(default)]
    pub state: RequestState,
    /// When it reached that state, RFC 3339 (absent for `written`: that is `created`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_at: Option<String>,
    /// What `kcsr assemble` verified when it turned the certificate into a kubeconfig.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assembled: Option<Assembled>,
    /// Why the request came back without a certificate (`<stem>.denied.yaml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied: Option<Denial>,
}

/// Where a request stands in the station's record (decision 0010).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RequestState {
    /// Written onto the media.
    #[default]
    Written,
    /// Its certificate was verified and written into a kubeconfig.
    Assembled,
    /// It came back Denied or Failed.
    Denied,
    /// Taken off the media before it was sent.
    Withdrawn,
    /// Its user was offboarded: never renewed.
    Offboarded,
    /// Its key was removed after its certificates expired.
    Retired,
}

impl RequestState {
    /// The state's name as it is stored (serde's lowercase name: a test proves they agree).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Written => "written",
            Self::Assembled => "assembled",
            Self::Denied => "denied",
            Self::Withdrawn => "withdrawn",
            Self::Offboarded => "offboarded",
            Self::Retired => "retired",
        }
    }

    /// Whether the request's user is still served by it: renewed, assembled, counted.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Written | Self::Assembled)
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `kcsr assemble` verified of a request's certificate, and what the bundle's audit
/// record said about its approval and bindings (as the connected side reported them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Assembled {
    /// When assemble verified it, RFC 3339.
    pub at: String,
    /// Certificate serial, hex.
    pub serial: String,
    /// Certificate NotBefore, RFC 3339.
    pub not_before: String,
    /// Certificate NotAfter, RFC 3339.
    pub not_after: String,
    /// SHA-256 of the certificate's DER, hex.
    #[serde(default)]
    pub certificate_sha256: String,
    /// The approver, as the bundle's audit record names it.
    #[serde(default)]
    pub approved_by: Option<String>,
    /// When it was approved, RFC 3339, as the bundle says.
    #[serde(default)]
    pub approved_at: Option<String>,
    /// Who created the CSR object, as the bundle says.
    #[serde(default)]
    pub submitted_by: Option<String>,
    /// The bindings as the bundle reports them.
    #[serde(default)]
    pub bindings: Vec<crate::bundle::BindingAudit>,
}

/// Why a request came back without a certificate (`<stem>.denied.yaml`, decision 0010), as the
/// media said: the station cannot check it, so it only ever marks a request still `written`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Denial {
    /// `Denied` or `Failed`.
    pub condition: String,
    /// The condition's reason.
    #[serde(default)]
    pub reason: Option<String>,
    /// The condition's message.
    #[serde(default)]
    pub message: Option<String>,
    /// When, RFC 3339.
    #[serde(default)]
    pub at: Option<String>,
    /// Who denied it (`kcsr-submit deny`).
    #[serde(default)]
    pub by: Option<String>,
}

impl RequestRecord {
    /// Every grant the request asked for, in order: `grants`, or `grant` in records written
    /// before several were possible.
    pub fn grant_list(&self) -> Vec<String> {
        if self.grants.is_empty() {
            self.grant.iter().cloned().collect()
        } else {
            self.grants.clone()
        }
    }

    /// Moves the record to `state` at `at` (RFC 3339).
    pub fn set_state(&mut self, state: RequestState, at: &str) {
        self.state = state;
        self.state_at = Some(at.to_owned());
    }

    /// Reads a record.
    pub fn parse(data: &[u8]) -> Result<Self, StationError> {
        let r: Self = serde_json::from_slice(data)
            .map_err(|e| StationError(format!("not a request record: {e}")))?;
        if r.api_version != API_VERSION || r.kind != RECORD_KIND {
            return Err(StationError(format!(
                "apiVersion {:?} kind {:?} is not a {API_VERSION} {RECORD_KIND}",
                r.api_version, r.kind
            )));
        }
        Ok(r)
    }

    /// The record as JSON, as it is stored.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_are_dns_subdomains() {
        assert!("prod".parse::<ClusterName>().is_ok());
        assert!("prod.eu-1".parse::<ClusterName>().is_ok());
        for bad in ["", "Prod", "prod/x", "../x", "a b", "-a", "a\u{1b}"] {
            assert!(bad.parse::<ClusterName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn records_without_a_state_read_as_written_and_states_round_trip() {
        let old = r#"{"apiVersion":"kcsr.dev/v1","kind":"RequestRecord","name":"a-1","stem":"a","user":"a","csrApiVersion":"certificates.k8s.io/v1","signerName":null,"usages":[],"expirationSeconds":null,"publicKeySha256":"00","keyFile":"a.key.pem","manifestSha256":"00","grant":null,"cluster":null,"created":"2026-11-29T00:00:00Z","notAfter":"2026-12-13T00:00:00Z","station":""}"#;
        let mut r = RequestRecord::parse(old.as_bytes()).unwrap();
        assert_eq!(r.state, RequestState::Written);
        assert_eq!(r.state_at, None);
        assert!(!r.to_json().contains("stateAt"));
        r.state = RequestState::Retired;
        r.state_at = Some("2027-01-01T00:00:00Z".to_owned());
        let json = r.to_json();
        assert!(json.contains(r#""state": "retired""#), "{json}");
        assert!(
            json.contains(r#""stateAt": "2027-01-01T00:00:00Z""#),
            "{json}"
        );
        assert_eq!(RequestRecord::parse(json.as_bytes()).unwrap(), r);
        assert!(!RequestState::Retired.is_active() && RequestState::Assembled.is_active());
    }

    #[test]
    fn each_state_is_stored_under_the_name_as_str_gives() {
        use RequestState::*;
        for state in [Written, Assembled, Denied, Withdrawn, Offboarded, Retired] {
            let stored = serde_json::to_string(&state).unwrap();
            assert_eq!(stored, format!("\"{}\"", state.as_str()));
            assert_eq!(
                serde_json::from_str::<RequestState>(&stored).unwrap(),
                state
            );
            assert_eq!(state.to_string(), state.as_str());
        }
    }

    #[test]
    fn fingerprint_form() {
        assert!(is_ca_fingerprint(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_ca_fingerprint(&format!("sha256:{}", "A".repeat(64))));
        assert!(!is_ca_fingerprint(&"a".repeat(64)));
        assert!(!is_ca_fingerprint("sha256:abc"));
    }

    #[test]
    fn a_record_written_before_decision_0010_reads_as_written() {
        let old = r#"{"apiVersion":"kcsr.dev/v1","kind":"RequestRecord","name":"alice-1","stem":"alice","user":"alice","groups":["dev"],"csrApiVersion":"certificates.k8s.io/v1","signerName":"kubernetes.io/kube-apiserver-client","usages":["client auth"],"expirationSeconds":600,"publicKeySha256":"ab","keyFile":"alice.key.pem","manifestSha256":"cd","grant":"ClusterRole/view","cluster":null,"clusterCaSha256":[],"signerCaSha256":[],"created":"2026-11-29T00:00:00Z","notAfter":"2026-12-13T00:00:00Z","station":"SHA256:x"}"#;
        let mut r = RequestRecord::parse(old.as_bytes()).unwrap();
        assert_eq!(r.state, RequestState::Written);
        assert_eq!((r.ticket.as_deref(), r.operator.as_deref()), (None, None));
        assert_eq!(r.grant_list(), vec!["ClusterRole/view".to_owned()]);
        r.set_state(RequestState::Offboarded, "2026-12-01T00:00:00Z");
        let again = RequestRecord::parse(r.to_json().as_bytes()).unwrap();
        assert_eq!(again, r);
        assert!(
            r.to_json().contains("\"state\": \"offboarded\""),
            "{}",
            r.to_json()
        );
    }

    #[test]
    fn a_pin_with_a_bad_name_or_server_is_refused() {
        let text = |name: &str, server: &str| {
            format!(
                r#"{{"apiVersion":"kcsr.dev/v1","kind":"ClusterPin","name":"{name}","server":"{server}","certificateAuthority":"","addedAt":"x","source":"y"}}"#
            )
        };
        let e = ClusterPin::parse(text("Bad Name", "https://a").as_bytes()).unwrap_err();
        assert!(e.0.contains("DNS-1123"), "{e}");
        let e = ClusterPin::parse(text("prod", "http://a").as_bytes()).unwrap_err();
        assert!(e.0.contains("https://"), "{e}");
    }
}

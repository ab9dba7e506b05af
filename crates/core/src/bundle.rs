//! The certificate bundle `kcsr-submit` writes back onto the media (`<stem>.bundle.yaml`) and
//! `kcsr assemble` reads: everything the offline side needs to build a kubeconfig, plus an
//! audit record. Only public material: certificates, CA certificates, names, times.

use serde::{Deserialize, Serialize};

use crate::yaml;

/// `apiVersion` of the bundle.
pub const API_VERSION: &str = "kcsr.dev/v1";
/// `kind` of the bundle.
pub const KIND: &str = "CertificateBundle";

/// A certificate bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bundle {
    /// [`API_VERSION`].
    pub api_version: String,
    /// [`KIND`].
    pub kind: String,
    /// The CSR object name.
    pub name: String,
    /// The user the certificate names (its CN).
    pub user: String,
    /// The groups (its O values).
    #[serde(default)]
    pub groups: Vec<String>,
    /// The signer that issued it.
    pub signer_name: String,
    /// The cluster it is for.
    pub cluster: BundleCluster,
    /// The issued certificate, PEM (leaf first).
    pub certificate: String,
    /// The CA that signs client certificates, PEM, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<String>,
    /// Who did what, when.
    pub audit: Audit,
}

/// The cluster a bundle's certificate is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleCluster {
    /// The cluster's name in the submitter's kubeconfig.
    pub name: String,
    /// The API server URL.
    pub server: String,
    /// The CA that signs the API server's certificate, PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    /// kubeconfig `tls-server-name`, if the submitter used one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
}

/// The audit record of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Audit {
    /// SHA-256 of the request's public key (DER SubjectPublicKeyInfo).
    pub public_key_sha256: String,
    /// SHA-256 of the CSR manifest file as it was on the media.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    /// The station key that signed the media's `SHA256SUMS`, as kcsr-submit saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_signer: Option<MediaSigner>,
    /// Certificate serial, hex.
    pub serial: String,
    /// Certificate NotBefore, RFC 3339.
    pub not_before: String,
    /// Certificate NotAfter, RFC 3339.
    pub not_after: String,
    /// Requested lifetime in seconds, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_expiration_seconds: Option<i64>,
    /// Who created the CSR object (`spec.username` as the server recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_by: Option<String>,
    /// When the object was created, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<String>,
    /// Approval reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_reason: Option<String>,
    /// Approval message (names the approver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_message: Option<String>,
    /// When it was approved, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<String>,
    /// When kcsr-submit fetched the certificate, RFC 3339.
    pub fetched_at: String,
    /// kcsr version that wrote the bundle.
    pub kcsr_version: String,
    /// The approver's user name as the API server reported it to kcsr-submit when it
    /// approved (decision 0010): read back only from an Approved condition with reason
    /// `KcsrApprove` and the message `Approved by USER with kcsr-submit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The change ticket (signed annotation `kcsr.dev/ticket`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// Who ran kcsr on the station (signed annotation `kcsr.dev/operator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// When the station wrote the request, RFC 3339 (signed annotation `kcsr.dev/created`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<String>,
    /// The bindings the request's grants asked for, in grant order, as kcsr-submit last saw
    /// them on the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<BindingAudit>,
}

/// One granted binding as kcsr-submit last saw it (decision 0010).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BindingAudit {
    /// The grant, as the `kcsr.dev/grant` annotation says it (`ClusterRole/view`).
    pub grant: String,
    /// The binding's name (`<object-name>`, then `<object-name>-2`, …).
    pub name: String,
    /// One of [`BINDING_STATES`].
    pub state: String,
    /// The user name that created it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// What [`BindingAudit::state`] may say: `created` (by this kcsr-submit run), `exists` (found
/// on the cluster as granted), `missing` (not on the cluster), `refused` (the server refused
/// it, the role does not exist, or another binding holds the name), `unknown` (the
/// credentials may not read bindings, so nobody could tell).
pub const BINDING_STATES: [&str; 5] = ["created", "exists", "missing", "refused", "unknown"];

/// Who signed the media a request came on (decision 0009).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MediaSigner {
    /// The principals of the `allowed_signers` line that accepted the key; absent when the
    /// connected side had no allowed signers (the key was shown, nobody vouched for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The key's OpenSSH fingerprint, `SHA256:…`.
    pub fingerprint: String,
}

impl Bundle {
    /// Reads a bundle file.
    pub fn parse(data: &[u8]) -> Result<Self, yaml::YamlError> {
        let b: Self = yaml::parse_one(data, yaml::Snippets::Show)?;
        if b.api_version != API_VERSION || b.kind != KIND {
            return Err(yaml::YamlError::Parse(format!(
                "apiVersion {:?} kind {:?} is not a kcsr certificate bundle ({API_VERSION} {KIND})",
                b.api_version, b.kind
            )));
        }
        Ok(b)
    }

    /// The bundle as YAML.
    pub fn to_yaml(&self) -> Result<String, yaml::YamlError> {
        yaml::to_string(self)
    }
}

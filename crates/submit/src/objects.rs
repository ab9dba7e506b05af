//! A read-only view of `CertificateSigningRequest` objects as the server returns them
//! (reference §2), plus the state computations kubectl does (§8 `extractCSRStatus`).
//!
//! The raw JSON is kept next to the view: approval PUTs the whole object back (§7).

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use kcsr_core::csr::{self, CsrInfo};
use kcsr_core::manifest::ApiVersion;

/// API path of the CSR collection for a version.
pub fn collection_path(version: ApiVersion) -> String {
    format!(
        "/apis/certificates.k8s.io/{}/certificatesigningrequests",
        version.as_str()
    )
}

/// API path of one CSR.
pub fn object_path(version: ApiVersion, name: &str) -> String {
    format!("{}/{name}", collection_path(version))
}

/// `metadata` fields we read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Object name.
    #[serde(default)]
    pub name: String,
    /// Object UID.
    #[serde(default)]
    pub uid: String,
    /// `resourceVersion`.
    #[serde(default)]
    pub resource_version: String,
    /// `creationTimestamp`.
    #[serde(default)]
    pub creation_timestamp: Option<String>,
}

/// `spec` fields we read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// base64 of the PEM CSR.
    #[serde(default)]
    pub request: String,
    /// Signer (absent on some v1beta1 objects).
    #[serde(default)]
    pub signer_name: Option<String>,
    /// Usages.
    #[serde(default)]
    pub usages: Vec<String>,
    /// Requested lifetime.
    #[serde(default)]
    pub expiration_seconds: Option<i64>,
    /// Who created it (set by the server).
    #[serde(default)]
    pub username: String,
    /// The creator's groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// One `status.conditions[]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Approved`, `Denied`, `Failed`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// `True` / `False`.
    #[serde(default)]
    pub status: String,
    /// Reason.
    #[serde(default)]
    pub reason: String,
    /// Message.
    #[serde(default)]
    pub message: String,
    /// `lastUpdateTime`.
    #[serde(default)]
    pub last_update_time: Option<String>,
    /// `lastTransitionTime`.
    #[serde(default)]
    pub last_transition_time: Option<String>,
}

/// `status` fields we read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CsrStatus {
    /// Conditions.
    #[serde(default)]
    pub conditions: Option<Vec<Condition>>,
    /// base64 of the PEM certificate, once issued.
    #[serde(default)]
    pub certificate: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct View {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    spec: Spec,
    #[serde(default)]
    status: Option<CsrStatus>,
}

/// A CSR object from the server.
#[derive(Debug, Clone)]
pub struct CsrObject {
    /// `metadata`.
    pub meta: Meta,
    /// `spec`.
    pub spec: Spec,
    /// `status`.
    pub status: CsrStatus,
    /// The object as received.
    pub raw: Value,
}

/// Where a CSR stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Neither approved nor denied.
    Pending,
    /// Approved, no certificate yet.
    Approved,
    /// Approved and issued.
    Issued,
    /// Denied (reason, message).
    Denied(String, String),
    /// Failed (reason, message).
    Failed(String, String),
}

impl CsrObject {
    /// Reads the view out of the JSON.
    pub fn from_value(raw: Value) -> Result<Self, String> {
        let view: View = serde_json::from_value(raw.clone())
            .map_err(|e| format!("unexpected CertificateSigningRequest object: {e}"))?;
        Ok(Self {
            meta: view.metadata,
            spec: view.spec,
            status: view.status.unwrap_or_default(),
            raw,
        })
    }

    /// The conditions.
    pub fn conditions(&self) -> &[Condition] {
        self.status.conditions.as_deref().unwrap_or_default()
    }

    /// The first condition of a type.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions().iter().find(|c| c.kind == kind)
    }

    /// The certificate PEM bytes, if issued.
    pub fn certificate_pem(&self) -> Result<Option<Vec<u8>>, String> {
        match self.status.certificate.as_deref() {
            None | Some("") => Ok(None),
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map(Some)
                .map_err(|e| format!("status.certificate is not base64: {e}")),
        }
    }

    /// Whether status.certificate is non-empty.
    pub fn is_issued(&self) -> bool {
        self.status
            .certificate
            .as_deref()
            .is_some_and(|c| !c.is_empty())
    }

    /// The state; Denied and Failed win (client-go's `WaitForCertificate`, §8).
    pub fn state(&self) -> State {
        if let Some(c) = self.condition("Denied") {
            return State::Denied(c.reason.clone(), c.message.clone());
        }
        if let Some(c) = self.condition("Failed") {
            return State::Failed(c.reason.clone(), c.message.clone());
        }
        if self.condition("Approved").is_some() {
            if self.is_issued() {
                State::Issued
            } else {
                State::Approved
            }
        } else {
            State::Pending
        }
    }

    /// kubectl's CONDITION column (`printers.go: extractCSRStatus`).
    pub fn condition_column(&self) -> String {
        let mut out = if self.condition("Denied").is_some() {
            "Denied".to_owned()
        } else if self.condition("Approved").is_some() {
            "Approved".to_owned()
        } else {
            "Pending".to_owned()
        };
        if self.condition("Failed").is_some() {
            out.push_str(",Failed");
        }
        if self.is_issued() {
            out.push_str(",Issued");
        }
        out
    }

    /// The CSR in `spec.request`, decoded and parsed.
    pub fn decode_request(&self) -> Result<CsrInfo, String> {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(self.spec.request.trim())
            .map_err(|e| format!("spec.request is not base64: {e}"))?;
        csr::parse(&pem).map_err(|e| format!("spec.request: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(status: Value) -> CsrObject {
        CsrObject::from_value(serde_json::json!({
            "metadata": {"name": "a", "resourceVersion": "5"},
            "spec": {"request": "", "usages": ["client auth"]},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn condition_column_like_kubectl() {
        assert_eq!(obj(serde_json::json!({})).condition_column(), "Pending");
        let o = obj(
            serde_json::json!({"conditions":[{"type":"Approved","status":"True"}],"certificate":"eA=="}),
        );
        assert_eq!(o.condition_column(), "Approved,Issued");
        assert_eq!(o.state(), State::Issued);
        let o = obj(
            serde_json::json!({"conditions":[{"type":"Approved"},{"type":"Failed","reason":"R","message":"M"}]}),
        );
        assert_eq!(o.condition_column(), "Approved,Failed");
        assert_eq!(o.state(), State::Failed("R".into(), "M".into()));
        let o = obj(serde_json::json!({"conditions":[{"type":"Denied","reason":"No"}]}));
        assert_eq!(o.condition_column(), "Denied");
    }
}

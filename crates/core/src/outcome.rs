//! The two small files of decision 0010 that travel beside requests: `<stem>.denied.yaml`
//! (`RequestDenied`, written back by the connected side for a request that ended Denied or
//! Failed) and `<slug>.offboard.yaml` (`OffboardRequest`, written and signed by the station to
//! have a user's bindings removed). Only names, reasons and times: nothing secret.

use serde::{Deserialize, Serialize};

use crate::yaml;

/// `apiVersion` of both files.
pub const API_VERSION: &str = "kcsr.dev/v1";
/// `kind` of `<stem>.denied.yaml`.
pub const DENIED_KIND: &str = "RequestDenied";
/// `kind` of `<slug>.offboard.yaml`.
pub const OFFBOARD_KIND: &str = "OffboardRequest";

/// A request that ended Denied or Failed, as the connected side saw it on the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestDenied {
    /// [`API_VERSION`].
    pub api_version: String,
    /// [`DENIED_KIND`].
    pub kind: String,
    /// The CSR object name.
    pub name: String,
    /// The user the request was for (its CN).
    pub user: String,
    /// `Denied` or `Failed`.
    pub condition: String,
    /// The condition's reason.
    #[serde(default)]
    pub reason: String,
    /// The condition's message.
    #[serde(default)]
    pub message: String,
    /// When, RFC 3339 (the condition's time, else when kcsr-submit saw it).
    pub at: String,
    /// Who denied it, for a denial made with `kcsr-submit deny` (the user name the API server
    /// reported for the credential that denied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// A signed request to remove every binding whose only subject is `user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OffboardRequest {
    /// [`API_VERSION`].
    pub api_version: String,
    /// [`OFFBOARD_KIND`].
    pub kind: String,
    /// The user whose bindings go.
    pub user: String,
    /// When the station wrote it, RFC 3339.
    pub created: String,
    /// After this time (RFC 3339) the connected side refuses it, like a request's
    /// `kcsr.dev/not-after`.
    pub not_after: String,
    /// The change ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// Who ran kcsr on the station.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

fn check_kind(api_version: &str, kind: &str, want: &str) -> Result<(), yaml::YamlError> {
    if api_version == API_VERSION && kind == want {
        return Ok(());
    }
    Err(yaml::YamlError::Parse(format!(
        "apiVersion {api_version:?} kind {kind:?} is not a kcsr {want} ({API_VERSION} {want})"
    )))
}

impl RequestDenied {
    /// Reads a `<stem>.denied.yaml`.
    pub fn parse(data: &[u8]) -> Result<Self, yaml::YamlError> {
        let d: Self = yaml::parse_one(data, yaml::Snippets::Show)?;
        check_kind(&d.api_version, &d.kind, DENIED_KIND)?;
        Ok(d)
    }

    /// The file as YAML.
    pub fn to_yaml(&self) -> Result<String, yaml::YamlError> {
        yaml::to_string(self)
    }
}

impl OffboardRequest {
    /// Reads a `<slug>.offboard.yaml`.
    pub fn parse(data: &[u8]) -> Result<Self, yaml::YamlError> {
        let o: Self = yaml::parse_one(data, yaml::Snippets::Show)?;
        check_kind(&o.api_version, &o.kind, OFFBOARD_KIND)?;
        Ok(o)
    }

    /// The file as YAML.
    pub fn to_yaml(&self) -> Result<String, yaml::YamlError> {
        yaml::to_string(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_files_round_trip_and_refuse_other_kinds() {
        let denied = RequestDenied {
            api_version: API_VERSION.into(),
            kind: DENIED_KIND.into(),
            name: "alice-1a2b".into(),
            user: "alice".into(),
            condition: "Denied".into(),
            reason: "KcsrDeny".into(),
            message: "Denied by ops with kcsr-submit".into(),
            at: "2026-11-29T10:00:00Z".into(),
            by: Some("ops".into()),
        };
        let text = denied.to_yaml().unwrap();
        assert_eq!(RequestDenied::parse(text.as_bytes()).unwrap(), denied);
        assert!(OffboardRequest::parse(text.as_bytes()).is_err());

        let off = OffboardRequest {
            api_version: API_VERSION.into(),
            kind: OFFBOARD_KIND.into(),
            user: "bob".into(),
            created: "2026-11-29T10:00:00Z".into(),
            not_after: "2026-12-13T10:00:00Z".into(),
            ticket: Some("CHG-7".into()),
            operator: None,
        };
        let text = off.to_yaml().unwrap();
        assert!(text.contains("notAfter: "), "{text}");
        assert_eq!(OffboardRequest::parse(text.as_bytes()).unwrap(), off);
        let e = RequestDenied::parse(text.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let wrong = text.replace(OFFBOARD_KIND, "Offboard");
        assert!(OffboardRequest::parse(wrong.as_bytes()).is_err());
    }
}

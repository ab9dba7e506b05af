//! `kcsr-submit whoami`: who the API server thinks the kubeconfig's credentials are
//! (`SelfSubjectReview`, like `kubectl auth whoami`), to check credentials before real work.

use serde::{Deserialize, Serialize};

use crate::client::{Client, ClientError};
use crate::sanitize;

/// API versions tried in order; older clusters (< 1.28) only serve beta/alpha.
const VERSIONS: [&str; 3] = ["v1", "v1beta1", "v1alpha1"];

/// The user as the API server authenticated it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserInfo {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// UID, when the authenticator sets one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Extra attributes.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct Review {
    #[serde(default)]
    status: ReviewStatus,
}

#[derive(Default, Deserialize)]
struct ReviewStatus {
    #[serde(default, rename = "userInfo")]
    user_info: UserInfo,
}

/// Asks the server who we are.
pub fn whoami(client: &Client) -> Result<UserInfo, ClientError> {
    let mut last = None;
    for version in VERSIONS {
        let body = serde_json::json!({
            "apiVersion": format!("authentication.k8s.io/{version}"),
            "kind": "SelfSubjectReview",
        });
        let path = format!("/apis/authentication.k8s.io/{version}/selfsubjectreviews");
        match client.post_json::<_, Review>(&path, &body) {
            Ok(review) => return Ok(review.status.user_info),
            Err(e) if e.as_api().is_some_and(|a| a.is_not_found()) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| ClientError::Request("no SelfSubjectReview version".into())))
}

/// The text report: one attribute per line, server strings sanitised.
pub fn render_text(user: &UserInfo) -> String {
    let mut out = format!("Username  {}\n", sanitize::one_line(&user.username));
    if !user.uid.is_empty() {
        out.push_str(&format!("UID       {}\n", sanitize::one_line(&user.uid)));
    }
    let groups: Vec<String> = user.groups.iter().map(|g| sanitize::one_line(g)).collect();
    out.push_str(&format!("Groups    [{}]\n", groups.join(" ")));
    for (key, values) in &user.extra {
        let values: Vec<String> = values.iter().map(|v| sanitize::one_line(v)).collect();
        out.push_str(&format!(
            "Extra: {}  [{}]\n",
            sanitize::one_line(key),
            values.join(" ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_report_is_sanitised() {
        let user = UserInfo {
            username: "alice\u{1b}[2J".into(),
            groups: vec!["dev".into(), "system:authenticated".into()],
            ..UserInfo::default()
        };
        assert_eq!(
            render_text(&user),
            "Username  alice\nGroups    [dev system:authenticated]\n"
        );
    }
}

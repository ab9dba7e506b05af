//! ClusterRoleBinding / RoleBinding manifests: the classic `kubectl create clusterrolebinding`
//! step, written onto the media next to the CSR manifest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::manifest::{MANAGED_BY_LABEL, ObjectMeta};
use crate::names::{ObjectName, UserName};

/// The RBAC API group.
pub const GROUP: &str = "rbac.authorization.k8s.io";

/// A subject of a binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// `rbac.authorization.k8s.io` for users and groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// The name.
    pub name: String,
    /// For service accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// What a binding grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    /// Always `rbac.authorization.k8s.io`.
    pub api_group: String,
    /// `ClusterRole` or `Role`.
    pub kind: String,
    /// The role's name.
    pub name: String,
}

/// A ClusterRoleBinding or RoleBinding manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingManifest {
    /// `rbac.authorization.k8s.io/v1`.
    pub api_version: String,
    /// `ClusterRoleBinding` or `RoleBinding`.
    pub kind: String,
    /// Name (and namespace for a RoleBinding).
    pub metadata: ObjectMeta,
    /// Who is bound.
    #[serde(default)]
    pub subjects: Vec<Subject>,
    /// To what.
    pub role_ref: RoleRef,
}

/// The role a binding refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// `--clusterrole ROLE`: a ClusterRoleBinding.
    ClusterRole(String),
    /// `--clusterrole ROLE --namespace NS`: a RoleBinding to a ClusterRole in NS.
    ClusterRoleInNamespace(String, String),
    /// `--role ROLE --namespace NS`: a RoleBinding to a Role in NS.
    Role(String, String),
}

/// The text form carried in the `kcsr.dev/grant` annotation: `ClusterRole/NAME`,
/// `ClusterRole/NAMESPACE/NAME` (a RoleBinding to a ClusterRole) or `Role/NAMESPACE/NAME`.
impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClusterRole(r) => write!(f, "ClusterRole/{r}"),
            Self::ClusterRoleInNamespace(r, ns) => write!(f, "ClusterRole/{ns}/{r}"),
            Self::Role(r, ns) => write!(f, "Role/{ns}/{r}"),
        }
    }
}

impl std::str::FromStr for Grant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| !p.is_empty() && !p.chars().any(char::is_control);
        match parts.as_slice() {
            ["ClusterRole", r] if ok(r) => Ok(Self::ClusterRole((*r).to_owned())),
            ["ClusterRole", ns, r] if ok(ns) && ok(r) => Ok(Self::ClusterRoleInNamespace(
                (*r).to_owned(),
                (*ns).to_owned(),
            )),
            ["Role", ns, r] if ok(ns) && ok(r) => Ok(Self::Role((*r).to_owned(), (*ns).to_owned())),
            _ => Err(format!(
                "{s:?} is not a grant: expected ClusterRole/NAME, ClusterRole/NAMESPACE/NAME or Role/NAMESPACE/NAME"
            )),
        }
    }
}

impl Grant {
    /// The role's name.
    pub fn role(&self) -> &str {
        match self {
            Self::ClusterRole(r) | Self::ClusterRoleInNamespace(r, _) | Self::Role(r, _) => r,
        }
    }

    /// The namespace of a RoleBinding; `None` for a ClusterRoleBinding.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Self::ClusterRole(_) => None,
            Self::ClusterRoleInNamespace(_, ns) | Self::Role(_, ns) => Some(ns),
        }
    }
}

impl BindingManifest {
    /// A binding for `user`, named after the CSR object so it is recognisably the request's.
    pub fn for_user(name: &ObjectName, user: &UserName, grant: &Grant) -> Self {
        let (kind, namespace, role_kind, role) = match grant {
            Grant::ClusterRole(r) => ("ClusterRoleBinding", None, "ClusterRole", r),
            Grant::ClusterRoleInNamespace(r, ns) => {
                ("RoleBinding", Some(ns.clone()), "ClusterRole", r)
            }
            Grant::Role(r, ns) => ("RoleBinding", Some(ns.clone()), "Role", r),
        };
        let mut labels = BTreeMap::new();
        labels.insert(MANAGED_BY_LABEL.to_owned(), "kcsr".to_owned());
        Self {
            api_version: format!("{GROUP}/v1"),
            kind: kind.to_owned(),
            metadata: ObjectMeta {
                name: name.as_str().to_owned(),
                namespace,
                labels,
                annotations: BTreeMap::new(),
            },
            subjects: vec![Subject {
                kind: "User".to_owned(),
                api_group: Some(GROUP.to_owned()),
                name: user.as_str().to_owned(),
                namespace: None,
            }],
            role_ref: RoleRef {
                api_group: GROUP.to_owned(),
                kind: role_kind.to_owned(),
                name: role.clone(),
            },
        }
    }

    /// The manifest as YAML.
    pub fn to_yaml(&self) -> Result<String, crate::yaml::YamlError> {
        crate::yaml::to_string(self)
    }
}

#[cfg(test)]
mod grant_tests {
    use super::Grant;

    #[test]
    fn grant_text_round_trips_and_rejects_other_shapes() {
        for g in [
            Grant::ClusterRole("view".into()),
            Grant::ClusterRole("system:aggregate-to-view".into()),
            Grant::ClusterRoleInNamespace("edit".into(), "team-a".into()),
            Grant::Role("deployer".into(), "team-a".into()),
        ] {
            assert_eq!(g.to_string().parse::<Grant>(), Ok(g.clone()), "{g}");
        }
        assert_eq!(
            Grant::Role("r".into(), "ns".into()).to_string(),
            "Role/ns/r"
        );
        for bad in [
            "",
            "ClusterRole",
            "ClusterRole/",
            "Role/ns",
            "Role//r",
            "Group/x",
            "ClusterRole/a/b/c",
            "ClusterRole/a\u{1b}b",
        ] {
            assert!(bad.parse::<Grant>().is_err(), "{bad:?}");
        }
    }
}

//! ClusterRoleBinding / RoleBinding manifests: the classic `kubectl create clusterrolebinding`
//! step, written onto the media next to the CSR manifest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::names::{ObjectName, UserName};
use crate::object_meta::{MANAGED_BY_LABEL, ObjectMeta};

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
        // Both become segments of an API path on the connected side, so they are checked here,
        // where every reader of the annotation parses them: a role is a DNS-1123 subdomain or
        // an RBAC name with `:` (`system:aggregate-to-view`), never `.`/`..`, `%`, `,` (the
        // annotation's separator) or a control character; a namespace is a DNS-1123 label.
        let role = |r: &str| {
            !r.is_empty()
                && r != "."
                && r != ".."
                && !r
                    .chars()
                    .any(|c| c.is_control() || matches!(c, ',' | '%' | '/'))
                && (crate::names::is_dns1123_subdomain(r) || r.contains(':'))
        };
        let ns = |n: &str| crate::names::is_dns1123_label(n);
        match parts.as_slice() {
            ["ClusterRole", r] if role(r) => Ok(Self::ClusterRole((*r).to_owned())),
            ["ClusterRole", n, r] if ns(n) && role(r) => Ok(Self::ClusterRoleInNamespace(
                (*r).to_owned(),
                (*n).to_owned(),
            )),
            ["Role", n, r] if ns(n) && role(r) => Ok(Self::Role((*r).to_owned(), (*n).to_owned())),
            _ => Err(format!(
                "{s:?} is not a grant: expected ClusterRole/NAME, ClusterRole/NAMESPACE/NAME or Role/NAMESPACE/NAME"
            )),
        }
    }
}

impl Grant {
    /// The `kcsr.dev/grant` annotation of several grants: their text forms joined by `,`, in
    /// the order asked (decision 0010).
    pub fn join(grants: &[Self]) -> String {
        grants
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Reads a `kcsr.dev/grant` annotation: one or more grants separated by `,`, in the order
    /// asked; the same grant twice is refused (it would name two bindings for one right).
    pub fn parse_list(s: &str) -> Result<Vec<Self>, String> {
        let mut grants: Vec<Self> = Vec::new();
        for part in s.split(',') {
            let grant: Self = part.parse()?;
            if grants.contains(&grant) {
                return Err(format!("{grant} is asked for twice"));
            }
            grants.push(grant);
        }
        Ok(grants)
    }

    /// `ClusterRole` or `Role`: the kind of role the binding refers to.
    pub fn role_kind(&self) -> &'static str {
        match self {
            Self::ClusterRole(_) | Self::ClusterRoleInNamespace(..) => "ClusterRole",
            Self::Role(..) => "Role",
        }
    }

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

    /// The bindings of `grants` for `user`, in order: the first named `name`, binding `i`
    /// (0-based) after it `name-<i+1>` (decision 0010).
    pub fn for_grants(
        name: &ObjectName,
        user: &UserName,
        grants: &[Grant],
    ) -> Result<Vec<Self>, crate::names::NameError> {
        grants
            .iter()
            .enumerate()
            .map(|(i, g)| Ok(Self::for_user(&binding_name(name, i)?, user, g)))
            .collect()
    }
}

/// The name of binding `index` (0-based, in grant order) of the request `name`: `name` for the
/// first, `name-<index+1>` after. Fails only when that name would be too long.
pub fn binding_name(
    name: &ObjectName,
    index: usize,
) -> Result<ObjectName, crate::names::NameError> {
    if index == 0 {
        Ok(name.clone())
    } else {
        format!("{name}-{}", index + 1).parse()
    }
}

/// The `<stem>.binding.yaml` of a request: its bindings as one YAML stream, one document per
/// grant in order, separated by `---`. One grant gives exactly one document, as kcsr wrote
/// before requests could carry several; `None` without grants. The connected side creates
/// bindings only when the file is byte for byte this text for the signed grants.
pub fn bindings_yaml(
    name: &ObjectName,
    user: &UserName,
    grants: &[Grant],
) -> Result<Option<String>, String> {
    if grants.is_empty() {
        return Ok(None);
    }
    let docs = BindingManifest::for_grants(name, user, grants).map_err(|e| e.to_string())?;
    let mut out = String::new();
    for (i, b) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&b.to_yaml().map_err(|e| e.to_string())?);
    }
    Ok(Some(out))
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
            "ClusterRole/a,b",
            "Role/n,s/r",
            // Path segments on the connected side: never a traversal or an escape.
            "Role/../x",
            "Role/./x",
            "ClusterRole/..",
            "ClusterRole/a%2fb",
            "Role/Team/x",
        ] {
            assert!(bad.parse::<Grant>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn several_grants_travel_as_one_annotation_in_order() {
        let grants = vec![
            Grant::ClusterRole("view".into()),
            Grant::Role("deployer".into(), "team-a".into()),
            Grant::ClusterRoleInNamespace("edit".into(), "team-b".into()),
        ];
        let text = Grant::join(&grants);
        assert_eq!(
            text,
            "ClusterRole/view,Role/team-a/deployer,ClusterRole/team-b/edit"
        );
        assert_eq!(Grant::parse_list(&text), Ok(grants));
        assert!(Grant::parse_list("ClusterRole/view,").is_err());
        assert!(Grant::parse_list("").is_err());
        assert_eq!(
            Grant::parse_list("ClusterRole/view,Role/a/b,ClusterRole/view"),
            Err("ClusterRole/view is asked for twice".to_owned())
        );
    }

    #[test]
    fn one_binding_file_holds_every_grant_in_order_and_one_grant_is_as_before() {
        use super::{BindingManifest, bindings_yaml};
        use crate::names::{ObjectName, UserName};
        let name: ObjectName = "alice-0123456789".parse().unwrap();
        let user: UserName = "alice".parse().unwrap();
        let view = Grant::ClusterRole("view".into());
        let one = bindings_yaml(&name, &user, std::slice::from_ref(&view))
            .unwrap()
            .unwrap();
        assert_eq!(
            one,
            BindingManifest::for_user(&name, &user, &view)
                .to_yaml()
                .unwrap()
        );
        let deployer = Grant::Role("deployer".into(), "team-a".into());
        let two = bindings_yaml(&name, &user, &[view, deployer])
            .unwrap()
            .unwrap();
        let docs = crate::manifest::parse_documents(two.as_bytes()).unwrap();
        let names: Vec<(String, Option<String>)> = docs
            .iter()
            .map(|d| match d {
                crate::manifest::Document::Binding(b) => {
                    (b.metadata.name.clone(), b.metadata.namespace.clone())
                }
                crate::manifest::Document::Csr(_) => panic!("a CSR in the binding file"),
            })
            .collect();
        assert_eq!(
            names,
            vec![
                ("alice-0123456789".to_owned(), None),
                ("alice-0123456789-2".to_owned(), Some("team-a".to_owned()))
            ]
        );
        assert!(two.starts_with(&one) && two[one.len()..].starts_with("---\n"));
        assert_eq!(bindings_yaml(&name, &user, &[]), Ok(None));
    }
}

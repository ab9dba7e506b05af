//! RBAC objects as the cluster holds them: whether a granted binding exists (and who created
//! it, when kcsr-submit did), whether the role a grant names exists, every binding that names
//! a user or a group (offboarding), and deleting one exactly as it was reviewed.

use serde_json::Value;

use kcsr_core::rbac::{BindingManifest, GROUP, Grant, Subject};

use crate::client::{Client, ClientError, query_escape};
use crate::problem::Problem;
use crate::sanitize::one_line;

/// Annotation kcsr-submit puts on a binding it creates: the user name the API server reported
/// for the credential that created it (SelfSubjectReview), read back into the bundle's
/// `bindings[].by`. Anyone who may create bindings could write it; it records, it does not
/// prove.
pub const CREATED_BY_ANNOTATION: &str = "kcsr.dev/created-by";

const BASE: &str = "/apis/rbac.authorization.k8s.io/v1";

/// The API collection of a binding kind, in `namespace` for RoleBindings.
pub fn collection(kind: &str, namespace: Option<&str>) -> Option<String> {
    match (kind, namespace) {
        ("ClusterRoleBinding", _) => Some(format!("{BASE}/clusterrolebindings")),
        ("RoleBinding", Some(ns)) => Some(format!("{BASE}/namespaces/{ns}/rolebindings")),
        _ => None,
    }
}

/// Whether two binding objects grant the same: roleRef kind and name, and the same subjects.
pub fn same_binding(ours: &Value, theirs: &Value) -> bool {
    let role = |v: &Value| {
        (
            v["roleRef"]["kind"].as_str().unwrap_or("").to_owned(),
            v["roleRef"]["name"].as_str().unwrap_or("").to_owned(),
        )
    };
    let subjects = |v: &Value| {
        let mut s: Vec<(String, String, String)> = v["subjects"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        (
                            s["kind"].as_str().unwrap_or("").to_owned(),
                            s["name"].as_str().unwrap_or("").to_owned(),
                            s["namespace"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        s.sort();
        s
    };
    role(ours) == role(theirs) && subjects(ours) == subjects(theirs)
}

/// What the cluster holds under a granted binding's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The binding as granted; `by` from [`CREATED_BY_ANNOTATION`].
    Same {
        /// Who created it, when kcsr-submit did.
        by: Option<String>,
    },
    /// Another binding holds the name: what it grants.
    Different(String),
    /// No binding of that name.
    Missing,
    /// These credentials may not read it (403): nobody here can tell.
    Unreadable(String),
}

/// Looks up the binding `b` by its name.
pub fn look(client: &Client, b: &BindingManifest) -> Result<Found, Problem> {
    let Some(collection) = collection(&b.kind, b.metadata.namespace.as_deref()) else {
        return Err(Problem::failed(format!(
            "binding {}: kind {:?} without a namespace cannot be looked up",
            one_line(&b.metadata.name),
            one_line(&b.kind)
        )));
    };
    let ours = serde_json::to_value(b)
        .map_err(|e| Problem::failed(format!("cannot encode a binding: {e}")))?;
    match client.get_json::<Value>(&format!("{collection}/{}", b.metadata.name)) {
        Ok(theirs) if same_binding(&ours, &theirs) => Ok(Found::Same {
            by: theirs["metadata"]["annotations"][CREATED_BY_ANNOTATION]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(one_line),
        }),
        Ok(theirs) => Ok(Found::Different(format!(
            "roleRef {} and subjects {}",
            one_line(&theirs["roleRef"].to_string()),
            one_line(&theirs["subjects"].to_string())
        ))),
        Err(e) if e.as_api().is_some_and(|a| a.is_not_found()) => Ok(Found::Missing),
        Err(e) if e.as_api().is_some_and(|a| a.is_forbidden()) => Ok(Found::Unreadable(
            crate::sanitize::for_terminal(&e.to_string()),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Whether the role a grant names exists on the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// It does.
    Exists,
    /// It does not (a typo like `veiw`, or a Role not made in that namespace yet).
    Missing,
    /// These credentials may not read roles (403).
    Unreadable,
}

/// The API path of the role `grant` refers to.
pub fn role_path(grant: &Grant) -> String {
    match grant {
        Grant::ClusterRole(r) | Grant::ClusterRoleInNamespace(r, _) => {
            format!("{BASE}/clusterroles/{r}")
        }
        Grant::Role(r, ns) => format!("{BASE}/namespaces/{ns}/roles/{r}"),
    }
}

/// Looks up the role of `grant`.
pub fn role(client: &Client, grant: &Grant) -> Result<Role, Problem> {
    match client.get_json::<Value>(&role_path(grant)) {
        Ok(_) => Ok(Role::Exists),
        Err(e) if e.as_api().is_some_and(|a| a.is_not_found()) => Ok(Role::Missing),
        Err(e) if e.as_api().is_some_and(|a| a.is_forbidden()) => Ok(Role::Unreadable),
        Err(e) => Err(e.into()),
    }
}

/// A binding as listed from the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterBinding {
    /// `ClusterRoleBinding` or `RoleBinding`.
    pub kind: String,
    /// A RoleBinding's namespace.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// `metadata.uid`, to delete exactly the object reviewed.
    pub uid: String,
    /// `roleRef.kind/roleRef.name`.
    pub role: String,
    /// Its subjects.
    pub subjects: Vec<Subject>,
}

impl ClusterBinding {
    fn from_value(kind: &str, v: &Value) -> Option<Self> {
        let name = v["metadata"]["name"].as_str()?.to_owned();
        let subjects = match v.get("subjects") {
            None | Some(Value::Null) => Vec::new(),
            Some(s) => serde_json::from_value(s.clone()).ok()?,
        };
        Some(Self {
            kind: kind.to_owned(),
            namespace: v["metadata"]["namespace"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            name,
            uid: v["metadata"]["uid"].as_str().unwrap_or("").to_owned(),
            role: format!(
                "{}/{}",
                v["roleRef"]["kind"].as_str().unwrap_or(""),
                v["roleRef"]["name"].as_str().unwrap_or("")
            ),
            subjects,
        })
    }

    /// `kubectl`'s name for it: `clusterrolebinding.rbac.authorization.k8s.io/NAME`, with the
    /// namespace of a RoleBinding.
    pub fn label(&self) -> String {
        let ns = self
            .namespace
            .as_deref()
            .map_or_else(String::new, |ns| format!(" -n {}", one_line(ns)));
        format!(
            "{}.{GROUP}/{}{ns}",
            self.kind.to_ascii_lowercase(),
            one_line(&self.name)
        )
    }

    /// Whether a subject is the user `user` (kind `User`).
    pub fn names_user(&self, user: &str) -> bool {
        self.subjects
            .iter()
            .any(|s| s.kind == "User" && s.name == user)
    }

    /// Whether every subject is the user `user`: deleting the binding takes from nobody else.
    pub fn only_user(&self, user: &str) -> bool {
        !self.subjects.is_empty()
            && self
                .subjects
                .iter()
                .all(|s| s.kind == "User" && s.name == user)
    }

    /// The groups among its subjects that are in `groups`.
    pub fn groups_in<'a>(&self, groups: &'a [String]) -> Vec<&'a str> {
        groups
            .iter()
            .filter(|g| {
                self.subjects
                    .iter()
                    .any(|s| s.kind == "Group" && &s.name == *g)
            })
            .map(String::as_str)
            .collect()
    }

    fn path(&self) -> Option<String> {
        collection(&self.kind, self.namespace.as_deref()).map(|c| format!("{c}/{}", self.name))
    }
}

/// Every ClusterRoleBinding and RoleBinding (all namespaces), page by page.
pub fn list_all(client: &Client) -> Result<Vec<ClusterBinding>, ClientError> {
    let mut out = Vec::new();
    for (kind, path) in [
        ("ClusterRoleBinding", format!("{BASE}/clusterrolebindings")),
        ("RoleBinding", format!("{BASE}/rolebindings")),
    ] {
        let mut next = String::new();
        loop {
            let mut url = format!("{path}?limit=500");
            if !next.is_empty() {
                url.push_str(&format!("&continue={}", query_escape(&next)));
            }
            let page: Value = client.get_json(&url)?;
            for item in page["items"].as_array().into_iter().flatten() {
                if let Some(b) = ClusterBinding::from_value(kind, item) {
                    out.push(b);
                }
            }
            next = page["metadata"]["continue"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            if next.is_empty() {
                break;
            }
        }
    }
    Ok(out)
}

/// What deleting a reviewed binding did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted now.
    Deleted,
    /// Gone already.
    Gone,
    /// It changed since the review (another object, or other subjects): left alone.
    Changed,
}

/// Deletes `b` if it is still the object reviewed (same uid) and still names only `user`.
pub fn delete(client: &Client, b: &ClusterBinding, user: &str) -> Result<Deleted, Problem> {
    let Some(path) = b.path() else {
        return Err(Problem::failed(format!(
            "{}: cannot be deleted without a namespace",
            b.label()
        )));
    };
    let now = match client.get_json::<Value>(&path) {
        Ok(v) => v,
        Err(e) if e.as_api().is_some_and(|a| a.is_not_found()) => return Ok(Deleted::Gone),
        Err(e) => return Err(e.into()),
    };
    let Some(now) = ClusterBinding::from_value(&b.kind, &now) else {
        return Ok(Deleted::Changed);
    };
    if now.uid != b.uid || !now.only_user(user) {
        return Ok(Deleted::Changed);
    }
    match client.delete(&path) {
        Ok(_) => Ok(Deleted::Deleted),
        Err(e) if e.as_api().is_some_and(|a| a.is_not_found()) => Ok(Deleted::Gone),
        Err(e) => {
            let forbidden = e.as_api().is_some_and(|a| a.is_forbidden());
            let mut p = Problem::from(e);
            p.message = format!("{} was not deleted: {}", b.label(), p.message);
            if forbidden {
                p.hint = Some(format!(
                    "these credentials may not delete {}s: someone who may (a cluster admin) runs kcsr-submit approve MEDIA_DIR",
                    b.kind
                ));
            }
            Err(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_user_means_nobody_else_loses_anything() {
        let b = |subjects: Value| {
            ClusterBinding::from_value(
                "ClusterRoleBinding",
                &json!({"metadata": {"name": "x", "uid": "u"}, "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": subjects}),
            )
            .unwrap()
        };
        let alone = b(json!([{"kind": "User", "name": "bob"}]));
        assert!(alone.only_user("bob") && alone.names_user("bob"));
        assert!(!alone.only_user("alice"));
        let shared = b(json!([{"kind": "User", "name": "bob"}, {"kind": "User", "name": "eve"}]));
        assert!(!shared.only_user("bob") && shared.names_user("bob"));
        let group = b(json!([{"kind": "Group", "name": "dev"}]));
        assert!(!group.only_user("bob"));
        assert_eq!(group.groups_in(&["ops".into(), "dev".into()]), ["dev"]);
        assert!(!b(Value::Null).only_user("bob"));
        assert_eq!(alone.role, "ClusterRole/view");
        assert_eq!(
            alone.label(),
            "clusterrolebinding.rbac.authorization.k8s.io/x"
        );
    }

    #[test]
    fn role_paths() {
        assert_eq!(
            role_path(&Grant::ClusterRole("veiw".into())),
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/veiw"
        );
        assert_eq!(
            role_path(&Grant::ClusterRoleInNamespace("edit".into(), "a".into())),
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/edit"
        );
        assert_eq!(
            role_path(&Grant::Role("deployer".into(), "a".into())),
            "/apis/rbac.authorization.k8s.io/v1/namespaces/a/roles/deployer"
        );
    }
}

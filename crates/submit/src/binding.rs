//! The binding that travels with a request: created only when it is exactly the binding of the
//! request's signed `kcsr.dev/grant` for the request's own user under the request's name
//! (decision 0009), and shown in the review with what it means.

use serde::Serialize;

use kcsr_core::names::{ObjectName, UserName};
use kcsr_core::rbac::{BindingManifest, Grant};

use crate::sanitize::one_line;

/// A binding the media holds and the request's grant asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBinding {
    /// What is sent: built from the grant, never the media's bytes.
    pub manifest: BindingManifest,
    /// The grant it implements.
    pub grant: Grant,
}

/// The binding as reported in `--json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingReport {
    /// `ClusterRoleBinding` or `RoleBinding`.
    pub kind: String,
    /// Its name (the request's).
    pub name: String,
    /// The namespace of a RoleBinding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The grant, as the annotation says it (`ClusterRole/view`).
    pub grant: String,
    /// The one subject: the request's user (kind `User`).
    pub user: String,
    /// `created`, `exists`, `dry-run`, or `pending-approval` (created once the request is
    /// approved with kcsr-submit).
    pub state: String,
}

impl PlannedBinding {
    /// The report, in `state`.
    pub fn report(&self, state: &str) -> BindingReport {
        BindingReport {
            kind: self.manifest.kind.clone(),
            name: self.manifest.metadata.name.clone(),
            namespace: self.manifest.metadata.namespace.clone(),
            grant: self.grant.to_string(),
            user: self
                .manifest
                .subjects
                .first()
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            state: state.to_owned(),
        }
    }

    /// One line for the review: kind, name, role, scope and subject.
    pub fn describe(&self) -> String {
        let scope = match self.grant.namespace() {
            None => "cluster-wide".to_owned(),
            Some(ns) => format!("in namespace {}", one_line(ns)),
        };
        format!(
            "{} {}: {} {}, {scope}, to User {:?}",
            self.manifest.kind,
            one_line(&self.manifest.metadata.name),
            self.manifest.role_ref.kind,
            one_line(&self.manifest.role_ref.name),
            one_line(
                self.manifest
                    .subjects
                    .first()
                    .map_or("", |s| s.name.as_str())
            )
        )
    }

    /// What the approver must know before it is created.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.grant.role() == "cluster-admin" {
            out.push(format!(
                "WARNING: {} grants cluster-admin: full control of every resource{}",
                one_line(&self.manifest.metadata.name),
                match self.grant.namespace() {
                    None => " in every namespace, including RBAC itself".to_owned(),
                    Some(ns) => format!(" in namespace {}", one_line(ns)),
                }
            ));
        }
        out.push(format!(
            "note: a User binding applies to every credential the cluster takes for {:?} (OIDC, tokens, other certificates), not only this certificate",
            one_line(
                self.manifest
                    .subjects
                    .first()
                    .map_or("", |s| s.name.as_str())
            )
        ));
        out
    }
}

/// The binding for `grant` for the request `name` of `user`, as the station writes it.
pub fn expected(name: &str, user: &str, grant: &Grant) -> Result<BindingManifest, String> {
    let name: ObjectName = name
        .parse()
        .map_err(|e| format!("object name {:?}: {e}", one_line(name)))?;
    let user: UserName = user
        .parse()
        .map_err(|e| format!("user {:?}: {e}", one_line(user)))?;
    Ok(BindingManifest::for_user(&name, &user, grant))
}

/// The media's binding file, checked against the request: `Ok` with what to create, or the
/// reason it is refused.
pub fn check(
    name: &str,
    user: Option<&str>,
    grant: Option<&Grant>,
    on_media: &BindingManifest,
) -> Result<PlannedBinding, String> {
    let Some(grant) = grant else {
        return Err(format!(
            "the request carries no {} annotation, so the station asked for no binding, but the media holds {}",
            kcsr_core::manifest::GRANT_ANNOTATION,
            summary(on_media)
        ));
    };
    let Some(user) = user else {
        return Err("the request names no single user (CN), so no binding can be for it".into());
    };
    let want = expected(name, user, grant)?;
    if *on_media != want {
        return Err(format!(
            "the media holds {}, but the request's {} {grant} asks for {}",
            summary(on_media),
            kcsr_core::manifest::GRANT_ANNOTATION,
            summary(&want)
        ));
    }
    Ok(PlannedBinding {
        manifest: want,
        grant: grant.clone(),
    })
}

/// `ClusterRoleBinding NAME: ClusterRole cluster-admin -> Group "system:authenticated"`.
fn summary(b: &BindingManifest) -> String {
    let subjects: Vec<String> = b
        .subjects
        .iter()
        .map(|s| format!("{} {:?}", one_line(&s.kind), one_line(&s.name)))
        .collect();
    format!(
        "{} {}{}: {} {} -> {}",
        one_line(&b.kind),
        one_line(&b.metadata.name),
        b.metadata
            .namespace
            .as_deref()
            .map_or_else(String::new, |ns| format!(" in namespace {}", one_line(ns))),
        one_line(&b.role_ref.kind),
        one_line(&b.role_ref.name),
        if subjects.is_empty() {
            "(no subjects)".to_owned()
        } else {
            subjects.join(", ")
        }
    )
}

/// Warnings about the certificate's own identity: names Kubernetes gives special powers.
pub fn identity_warnings(user: Option<&str>, groups: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for g in groups {
        match g.as_str() {
            "system:masters" => out.push(
                "WARNING: group system:masters bypasses all authorization (RBAC cannot restrict it), and the certificate cannot be revoked before it expires".to_owned(),
            ),
            "system:nodes" => out.push(
                "WARNING: group system:nodes: the certificate acts as a node (the Node authorizer grants it node rights)".to_owned(),
            ),
            _ => {}
        }
    }
    if let Some(node) = user.and_then(|u| u.strip_prefix("system:node:")) {
        out.push(format!(
            "WARNING: user system:node:{}: the certificate acts as the kubelet of node {:?}",
            one_line(node),
            one_line(node)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kcsr_core::rbac::Subject;

    #[test]
    fn only_the_grants_own_binding_passes() {
        let grant = Grant::ClusterRole("view".into());
        let good = expected("alice-1", "alice", &grant).unwrap();
        let planned = check("alice-1", Some("alice"), Some(&grant), &good).unwrap();
        assert_eq!(planned.manifest, good);
        assert!(planned.describe().contains("cluster-wide"));

        let mut group = good.clone();
        group.role_ref.name = "cluster-admin".into();
        group.subjects = vec![Subject {
            kind: "Group".into(),
            api_group: Some(kcsr_core::rbac::GROUP.into()),
            name: "system:authenticated".into(),
            namespace: None,
        }];
        let e = check("alice-1", Some("alice"), Some(&grant), &group).unwrap_err();
        assert!(
            e.contains("cluster-admin") && e.contains("Group \"system:authenticated\""),
            "{e}"
        );
        // Another user, another name, no grant at all.
        let bob = expected("alice-1", "bob", &grant).unwrap();
        assert!(check("alice-1", Some("alice"), Some(&grant), &bob).is_err());
        let other = expected("other", "alice", &grant).unwrap();
        assert!(check("alice-1", Some("alice"), Some(&grant), &other).is_err());
        assert!(check("alice-1", Some("alice"), None, &good).is_err());
        let admin = Grant::ClusterRole("cluster-admin".into());
        let planned = check(
            "alice-1",
            Some("alice"),
            Some(&admin),
            &expected("alice-1", "alice", &admin).unwrap(),
        )
        .unwrap();
        assert!(planned.warnings()[0].starts_with("WARNING: "));
    }

    #[test]
    fn special_identities_are_warned_about() {
        assert_eq!(identity_warnings(Some("alice"), &["dev".into()]).len(), 0);
        let w = identity_warnings(
            Some("system:node:n1"),
            &["system:masters".into(), "system:nodes".into()],
        );
        assert_eq!(w.len(), 3, "{w:?}");
    }
}

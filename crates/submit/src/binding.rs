//! The bindings that travel with a request: created only when the media's binding file is
//! exactly the bindings of the request's signed `kcsr.dev/grant` grants for the request's own
//! user, named `<name>`, `<name>-2`, … in grant order (decisions 0009 and 0010), and shown in
//! the review with what they mean.

use serde::Serialize;

use kcsr_core::names::{ObjectName, UserName};
use kcsr_core::rbac::{self, BindingManifest, Grant};

use crate::sanitize::one_line;
use crate::state::BindingState;

/// A binding the media holds and the request's grant asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBinding {
    /// What is sent: built from the grant, never the media's bytes.
    pub manifest: BindingManifest,
    /// The grant it implements.
    pub grant: Grant,
}

/// A binding as reported in `--json` and kept in the bundle's audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingReport {
    /// `ClusterRoleBinding` or `RoleBinding`.
    pub kind: String,
    /// Its name (`<name>`, `<name>-2`, …).
    pub name: String,
    /// The namespace of a RoleBinding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The grant, as the annotation says it (`ClusterRole/view`).
    pub grant: String,
    /// The one subject: the request's user (kind `User`).
    pub user: String,
    /// `pending-approval` (created once the request is approved), `created`, `exists`,
    /// `missing`, `refused`, `unknown` (these credentials may not read bindings), `dry-run`
    /// or `failed`.
    pub state: BindingState,
    /// Who created it, when known (this run's user, or the binding's `kcsr.dev/created-by`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Why it is `refused`, `unknown` or `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl BindingReport {
    /// Whether the binding is on the cluster as granted.
    pub fn exists(&self) -> bool {
        matches!(self.state, BindingState::Created | BindingState::Exists)
    }

    /// The binding in the bundle's audit form.
    pub fn audit(&self) -> kcsr_core::bundle::BindingAudit {
        let state = match self.state {
            s @ (BindingState::Created
            | BindingState::Exists
            | BindingState::Missing
            | BindingState::Refused
            | BindingState::Forbidden) => s.as_str(),
            BindingState::PendingApproval => "missing",
            _ => "unknown",
        };
        kcsr_core::bundle::BindingAudit {
            grant: self.grant.clone(),
            name: self.name.clone(),
            state: state.to_owned(),
            by: self.by.clone(),
        }
    }
}

impl PlannedBinding {
    /// The report, in `state`.
    pub fn report(&self, state: BindingState) -> BindingReport {
        BindingReport {
            by: None,
            detail: None,
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
            state,
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

/// Binding `index` of the request `name` of `user` for `grant`, as the station writes it.
pub fn expected(
    name: &str,
    index: usize,
    user: &str,
    grant: &Grant,
) -> Result<BindingManifest, String> {
    // Named as the station names it (kcsr_core::rbac::binding_name); the error names the value.
    let object = name
        .parse::<ObjectName>()
        .and_then(|request| rbac::binding_name(&request, index))
        .map_err(|e| format!("binding name: {e}"))?;
    let user: UserName = user
        .parse()
        .map_err(|e| format!("user {:?}: {e}", one_line(user)))?;
    Ok(BindingManifest::for_user(&object, &user, grant))
}

/// The media's binding file (all its documents, in order), checked against the request: `Ok`
/// with what to create, or the reason it is refused.
pub fn check(
    name: &str,
    user: Option<&str>,
    grants: &[Grant],
    on_media: &[BindingManifest],
) -> Result<Vec<PlannedBinding>, String> {
    let annotation = kcsr_core::manifest::GRANT_ANNOTATION;
    if grants.is_empty() {
        let held: Vec<String> = on_media.iter().map(summary).collect();
        return Err(format!(
            "the request carries no {annotation} annotation, so the station asked for no binding, but the media holds {}",
            held.join("; ")
        ));
    }
    let Some(user) = user else {
        return Err("the request names no single user (CN), so no binding can be for it".into());
    };
    let want = grants
        .iter()
        .enumerate()
        .map(|(i, g)| expected(name, i, user, g))
        .collect::<Result<Vec<_>, _>>()?;
    if on_media.len() != want.len() {
        let held: Vec<String> = on_media.iter().map(summary).collect();
        let asked: Vec<String> = want.iter().map(summary).collect();
        return Err(format!(
            "the media holds {} binding(s) ({}), but the request's {annotation} asks for {} ({})",
            on_media.len(),
            held.join("; "),
            want.len(),
            asked.join("; ")
        ));
    }
    let mut out = Vec::new();
    for ((held, want), grant) in on_media.iter().zip(want).zip(grants) {
        if *held != want {
            return Err(format!(
                "the media holds {}, but the request's {annotation} {grant} asks for {}",
                summary(held),
                summary(&want)
            ));
        }
        out.push(PlannedBinding {
            manifest: want,
            grant: grant.clone(),
        });
    }
    Ok(out)
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
    fn only_the_grants_own_bindings_pass() {
        let grant = Grant::ClusterRole("view".into());
        let good = expected("alice-1", 0, "alice", &grant).unwrap();
        let planned = check(
            "alice-1",
            Some("alice"),
            std::slice::from_ref(&grant),
            std::slice::from_ref(&good),
        )
        .unwrap();
        assert_eq!(planned[0].manifest, good);
        assert!(planned[0].describe().contains("cluster-wide"));

        let mut group = good.clone();
        group.role_ref.name = "cluster-admin".into();
        group.subjects = vec![Subject {
            kind: "Group".into(),
            api_group: Some(rbac::GROUP.into()),
            name: "system:authenticated".into(),
            namespace: None,
        }];
        let one = std::slice::from_ref(&grant);
        let e = check("alice-1", Some("alice"), one, &[group]).unwrap_err();
        assert!(
            e.contains("cluster-admin") && e.contains("Group \"system:authenticated\""),
            "{e}"
        );
        // Another user, another name, no grant at all.
        let bob = expected("alice-1", 0, "bob", &grant).unwrap();
        assert!(check("alice-1", Some("alice"), one, &[bob]).is_err());
        let other = expected("other", 0, "alice", &grant).unwrap();
        assert!(check("alice-1", Some("alice"), one, &[other]).is_err());
        assert!(check("alice-1", Some("alice"), &[], std::slice::from_ref(&good)).is_err());
        let admin = Grant::ClusterRole("cluster-admin".into());
        let planned = check(
            "alice-1",
            Some("alice"),
            std::slice::from_ref(&admin),
            &[expected("alice-1", 0, "alice", &admin).unwrap()],
        )
        .unwrap();
        assert!(planned[0].warnings()[0].starts_with("WARNING: "));
    }

    #[test]
    fn several_grants_need_every_binding_in_order_under_its_name() {
        let grants = [
            Grant::ClusterRole("view".into()),
            Grant::Role("deployer".into(), "team-a".into()),
        ];
        let first = expected("bob-9", 0, "bob", &grants[0]).unwrap();
        let second = expected("bob-9", 1, "bob", &grants[1]).unwrap();
        assert_eq!(second.metadata.name, "bob-9-2");
        assert_eq!(
            expected("bob-9", 2, "bob", &grants[0])
                .unwrap()
                .metadata
                .name,
            "bob-9-3"
        );
        // A request name one short of the longest has no room for `-2`: named in the error.
        let long = format!("{}.b", vec!["a".repeat(59); 4].join("."));
        assert_eq!(long.len() + 1, kcsr_core::names::MAX_STEM_LEN);
        assert!(expected(&long, 0, "bob", &grants[0]).is_ok());
        let e = expected(&long, 1, "bob", &grants[0]).unwrap_err();
        assert!(
            e.starts_with("binding name: ") && e.contains(&format!("{long}-2")),
            "{e}"
        );
        let planned = check(
            "bob-9",
            Some("bob"),
            &grants,
            &[first.clone(), second.clone()],
        )
        .unwrap();
        assert_eq!(planned.len(), 2);
        assert_eq!(
            planned[1].manifest.metadata.namespace.as_deref(),
            Some("team-a")
        );
        // One missing, swapped, or the second under the first's name.
        let e = check("bob-9", Some("bob"), &grants, std::slice::from_ref(&first)).unwrap_err();
        assert!(
            e.contains("holds 1 binding(s)") && e.contains("asks for 2"),
            "{e}"
        );
        assert!(
            check(
                "bob-9",
                Some("bob"),
                &grants,
                &[second.clone(), first.clone()]
            )
            .is_err()
        );
        let mut renamed = second;
        renamed.metadata.name = "bob-9".into();
        assert!(check("bob-9", Some("bob"), &grants, &[first, renamed]).is_err());
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

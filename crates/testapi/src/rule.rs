//! The test's rule table: authorization rules a test gives the server, standing in for any
//! authorizer besides RBAC (a webhook); see [`crate::rbac`] for where they are asked.

/// Whom a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A user name (certificate CN or token user).
    User(String),
    /// A group (certificate O, token group, or `system:authenticated`).
    Group(String),
}

/// One RBAC rule: `verbs` on `resources` (`certificatesigningrequests`,
/// `certificatesigningrequests/approval`, `signers`, …) in `api_groups`, optionally limited
/// to `resource_names` (for `signers`: a signer name or `domain/*`). `"*"` matches anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub subject: Subject,
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

impl Rule {
    /// An empty rule for a user, in API group `certificates.k8s.io`.
    pub fn user(name: &str) -> Rule {
        Rule {
            subject: Subject::User(name.to_string()),
            verbs: Vec::new(),
            api_groups: vec!["certificates.k8s.io".into()],
            resources: Vec::new(),
            resource_names: Vec::new(),
        }
    }
    /// An empty rule for a group, in API group `certificates.k8s.io`.
    pub fn group(name: &str) -> Rule {
        Rule {
            subject: Subject::Group(name.to_string()),
            ..Rule::user("")
        }
    }
    /// The verbs (`create`, `get`, `list`, `watch`, `update`, `patch`, `delete`, `approve`,
    /// `sign`, or `*`).
    pub fn verbs(mut self, verbs: &[&str]) -> Rule {
        self.verbs = owned(verbs);
        self
    }
    /// The resources, with subresources as `resource/sub`.
    pub fn resources(mut self, resources: &[&str]) -> Rule {
        self.resources = owned(resources);
        self
    }
    /// Limits the rule to these object (or signer) names.
    pub fn names(mut self, names: &[&str]) -> Rule {
        self.resource_names = owned(names);
        self
    }
    /// Replaces the API groups (default `certificates.k8s.io`; `""` is the core group).
    pub fn api_groups(mut self, groups: &[&str]) -> Rule {
        self.api_groups = owned(groups);
        self
    }
    /// What a requester needs (reference §5.3): create/get/list/watch on CSRs.
    pub fn requester(subject: Subject) -> Rule {
        Rule {
            subject,
            ..Rule::user("")
        }
        .verbs(&["create", "get", "list", "watch"])
        .resources(&["certificatesigningrequests"])
    }
    /// What an approver for `signer` needs (reference §5.3): get/list/watch CSRs, update
    /// `/approval`, and `approve` on `signers` named `signer` (a name or `domain/*`). Returns
    /// the three rules.
    pub fn approver(subject: Subject, signer: &str) -> Vec<Rule> {
        let base = Rule {
            subject,
            ..Rule::user("")
        };
        vec![
            base.clone()
                .verbs(&["get", "list", "watch"])
                .resources(&["certificatesigningrequests"]),
            base.clone()
                .verbs(&["update", "patch"])
                .resources(&["certificatesigningrequests/approval"]),
            base.verbs(&["approve"])
                .resources(&["signers"])
                .names(&[signer]),
        ]
    }
}
